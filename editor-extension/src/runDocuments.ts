/**
 * Read-only documents on the `modelwire-run:` scheme that show a run's output as it
 * streams: a TextDocumentContentProvider fed by delta events, refreshed at most every
 * 100 ms so a fast stream does not flood the renderer. One document per (file, agent):
 * a new run of the same agent on the same file reuses it. A view is dropped when its
 * document is closed, and at most MAX_VIEWS are kept, so runs do not pile up in memory.
 */
import * as vscode from 'vscode';
import { RunOutput, RunOutputs } from './runHost';
import { runDocumentText, RunView } from './runView';

export const RUN_SCHEME = 'modelwire-run';
const MAX_VIEWS = 20;

interface Entry {
  view: RunView;
  closed: Set<() => void>;
}

export class RunDocuments implements vscode.TextDocumentContentProvider, RunOutputs, vscode.Disposable {
  private readonly entries = new Map<string, Entry>();
  private readonly emitter = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.emitter.event;
  private readonly dirty = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly closeListener: vscode.Disposable;

  constructor() {
    // Tabs, not onDidCloseTextDocument: VS Code disposes a closed document only later.
    this.closeListener = vscode.window.tabGroups.onDidChangeTabs((e) => {
      for (const tab of e.closed) {
        if (!(tab.input instanceof vscode.TabInputText) || tab.input.uri.scheme !== RUN_SCHEME) continue;
        const id = tab.input.uri.toString();
        if (this.isOpen(id)) continue;
        const entry = this.entries.get(id);
        if (!entry) continue;
        this.entries.delete(id);
        for (const listener of entry.closed) listener();
      }
    });
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    const entry = this.entries.get(uri.toString());
    return entry ? runDocumentText(entry.view) : 'This run is no longer in memory; see "ModelWire: Show Run History".';
  }

  /** The run's document (the tab reads "Explain · app.py"), shown beside the file. */
  open(view: RunView, key: string): RunOutput {
    const uri = vscode.Uri.from({ scheme: RUN_SCHEME, path: `/${view.title} · ${view.file}`.replace(/[\\]/g, '_'), query: encodeURIComponent(key) });
    const id = uri.toString();
    const previous = this.entries.get(id);
    const entry: Entry = { view, closed: new Set() };
    this.entries.delete(id); // re-insert: the map's order is the pruning order
    this.entries.set(id, entry);
    if (previous) this.touch(uri, true);
    this.prune();
    void this.show(uri);
    return {
      update: (now) => this.touch(uri, now),
      onClosed: (listener) => entry.closed.add(listener),
    };
  }

  private isOpen(id: string): boolean {
    return vscode.window.tabGroups.all.some((g) => g.tabs.some((t) => t.input instanceof vscode.TabInputText && t.input.uri.toString() === id));
  }

  private prune(): void {
    for (const [id, entry] of this.entries) {
      if (this.entries.size <= MAX_VIEWS) break;
      if (entry.view.done) this.entries.delete(id);
    }
  }

  private async show(uri: vscode.Uri): Promise<void> {
    const doc = await vscode.workspace.openTextDocument(uri);
    if (doc.languageId !== 'markdown') await vscode.languages.setTextDocumentLanguage(doc, 'markdown');
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true, preview: false });
  }

  /** The view changed: refresh its document soon. */
  private touch(uri: vscode.Uri, now = false): void {
    this.dirty.add(uri.toString());
    if (now) return this.flush();
    if (!this.timer) this.timer = setTimeout(() => this.flush(), 100);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const key of this.dirty) this.emitter.fire(vscode.Uri.parse(key));
    this.dirty.clear();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.closeListener.dispose();
    this.emitter.dispose();
  }
}
