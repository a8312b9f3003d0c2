/**
 * Read-only documents on the `modelwire-run:` scheme that show a run's output as it
 * streams: a TextDocumentContentProvider fed by delta events, refreshed at most every
 * 100 ms so a fast stream does not flood the renderer.
 */
import * as vscode from 'vscode';
import { runDocumentText, RunView } from './runView';

export const RUN_SCHEME = 'modelwire-run';

export class RunDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly views = new Map<string, RunView>();
  private readonly emitter = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.emitter.event;
  private readonly dirty = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private counter = 0;

  provideTextDocumentContent(uri: vscode.Uri): string {
    const view = this.views.get(uri.toString());
    return view ? runDocumentText(view) : 'This run is no longer in memory; see "ModelWire: Show Run History".';
  }

  /** A new document for a run; the tab reads "Explain · app.py · 3". */
  create(view: RunView): vscode.Uri {
    this.counter += 1;
    const uri = vscode.Uri.from({ scheme: RUN_SCHEME, path: `/${view.title} · ${view.file} · ${this.counter}`.replace(/[\\]/g, '_') });
    this.views.set(uri.toString(), view);
    return uri;
  }

  async show(uri: vscode.Uri): Promise<void> {
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.languages.setTextDocumentLanguage(doc, 'markdown');
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true, preview: false });
  }

  /** The view changed: refresh its document soon. */
  touch(uri: vscode.Uri, now = false): void {
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
    this.emitter.dispose();
  }
}
