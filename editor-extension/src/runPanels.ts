/**
 * One webview panel per (file, agent), beside the file: a later run of the same agent on
 * the same file reuses it. The panel follows the stream (redrawn at most every 100 ms),
 * has Stop (and Escape), and a Copy / Insert at cursor / Apply to selection… bar on each
 * code block. Closing it cancels its run. Model text is hostile: the HTML comes from
 * markdown.ts (no raw HTML, links or images), the CSP allows only our own script and
 * style (by nonce and from media/), and the webview may load nothing else.
 */
import * as crypto from 'node:crypto';
import * as vscode from 'vscode';
import { CodeBlock } from './markdown';
import { Proposals } from './proposals';
import { RunOutput, RunOutputs } from './runHost';
import { runPanelParts, RunView } from './runView';

export const RUN_PANEL_TYPE = 'modelwire.run';
const MAX_PANELS = 12;

interface Entry {
  panel: vscode.WebviewPanel;
  view: RunView;
  blocks: CodeBlock[];
  stops: Set<() => void>;
  timer?: ReturnType<typeof setTimeout>;
  ready: boolean;
  /** Closed by the user: its run may still end and report, but nothing is drawn. */
  disposed: boolean;
}

export class RunPanels implements RunOutputs, vscode.Disposable {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly proposals: Proposals,
  ) {}

  open(view: RunView, key: string): RunOutput {
    let entry = this.entries.get(key);
    if (entry) {
      // Listeners of earlier runs stay: the controller ignores those that have ended.
      entry.view = view;
      entry.panel.title = `${view.title} · ${view.file}`;
      // Never over the file it is about: a panel in the file's own group (the user opened
      // the file there) moves beside it instead of hiding it.
      const active = vscode.window.activeTextEditor;
      const covers = active !== undefined && active.viewColumn !== undefined && entry.panel.viewColumn === active.viewColumn;
      entry.panel.reveal(covers ? vscode.ViewColumn.Beside : undefined, true);
    } else {
      entry = this.create(view, key);
    }
    const current = entry;
    const stops = current.stops;
    this.draw(current);
    return {
      update: (now) => this.schedule(current, now),
      // Closing the panel and Stop both mean "I no longer want this answer".
      onClosed: (listener) => stops.add(listener),
    };
  }

  private create(view: RunView, key: string): Entry {
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    const panel = vscode.window.createWebviewPanel(
      RUN_PANEL_TYPE,
      `${view.title} · ${view.file}`,
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: true, localResourceRoots: [media], retainContextWhenHidden: true, enableFindWidget: true },
    );
    panel.iconPath = vscode.Uri.joinPath(media, 'icon.png');
    panel.webview.html = this.shell(panel.webview, media);
    const entry: Entry = { panel, view, blocks: [], stops: new Set(), ready: false, disposed: false };
    this.entries.set(key, entry);
    panel.onDidDispose(() => {
      entry.disposed = true;
      if (entry.timer) clearTimeout(entry.timer);
      this.entries.delete(key);
      for (const stop of entry.stops) stop();
    });
    panel.webview.onDidReceiveMessage((m: { type?: string; act?: string; index?: number }) => {
      if (m?.type === 'ready') {
        entry.ready = true;
        this.draw(entry);
      } else if (m?.type === 'stop') {
        for (const stop of entry.stops) stop();
      } else if (m?.type === 'action' && typeof m.index === 'number') {
        void this.act(entry, String(m.act), m.index);
      }
    });
    this.prune();
    return entry;
  }

  /** Keep the newest panels; a finished one beyond the limit is closed. */
  private prune(): void {
    for (const [, entry] of this.entries) {
      if (this.entries.size <= MAX_PANELS) break;
      if (entry.view.done) entry.panel.dispose();
    }
  }

  private shell(webview: vscode.Webview, media: vscode.Uri): string {
    const nonce = crypto.randomBytes(16).toString('base64');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(media, 'run.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(media, 'run.css'));
    const csp = [
      "default-src 'none'",
      `style-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
      `font-src ${webview.cspSource}`,
      "img-src 'none'",
      "connect-src 'none'",
      "frame-src 'none'",
      "form-action 'none'",
    ].join('; ');
    return `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}"></head>
<body><div id="bar"><button id="stop" title="Cancel this run (Escape)">Stop</button><div id="header"></div></div>
<main id="answer"></main><div id="footer"></div>
<script nonce="${nonce}" src="${script}"></script></body></html>`;
  }

  private schedule(entry: Entry, now = false): void {
    if (now) {
      if (entry.timer) clearTimeout(entry.timer);
      entry.timer = undefined;
      this.draw(entry);
      return;
    }
    if (entry.disposed) return;
    entry.timer ??= setTimeout(() => {
      entry.timer = undefined;
      this.draw(entry);
    }, 100);
  }

  private draw(entry: Entry): void {
    if (entry.disposed) return;
    const parts = runPanelParts(entry.view);
    entry.blocks = parts.blocks;
    if (!entry.ready) return;
    void entry.panel.webview.postMessage({ type: 'state', header: parts.header, body: parts.body, footer: parts.footer, done: entry.view.done });
  }

  private async act(entry: Entry, act: string, index: number): Promise<void> {
    const block = entry.blocks[index];
    if (!block) return;
    if (act === 'copy') {
      await vscode.env.clipboard.writeText(block.code);
      void vscode.window.setStatusBarMessage('ModelWire: code copied', 2000);
    } else if (act === 'insert') {
      await this.proposals.insertAtCursor(entry.view.uri, block.code);
    } else if (act === 'apply') {
      await this.proposals.propose(entry.view.uri, entry.view.range, block.code);
    }
  }

  dispose(): void {
    for (const entry of [...this.entries.values()]) entry.panel.dispose();
  }
}
