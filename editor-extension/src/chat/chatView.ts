/**
 * Chat in the ModelWire view, for any connection: a header naming the connection and
 * model (pick another), the transcript rendered like a run panel, Send / Stop / Clear, and
 * follow-ups that carry the conversation (conversation.ts). The open file or selection
 * can be attached. Every turn is a run of the built-in `chat` agent, with its routing line
 * like any other. Model text is hostile here too: markdown.ts renders it, the CSP allows
 * only our script by nonce.
 */
import * as crypto from 'node:crypto';
import * as vscode from 'vscode';
import { escapeHtml, renderAnswer } from '../markdown';
import * as P from '../protocol';
import { RunOutput } from '../runHost';
import { RunController } from '../runs';
import { routingText, RunView } from '../runView';
import { Sidecar, Ui } from '../ui';
import { chatPrompt, isPeer, PEER_NOTE, promptBudget, Turn } from './conversation';

export const CHAT_VIEW = 'modelwire.chat';

interface Shown extends Turn {
  view?: RunView;
}

export class ChatView implements vscode.WebviewViewProvider, vscode.Disposable {
  private webview: vscode.Webview | undefined;
  private turns: Shown[] = [];
  private connection: P.Connection | undefined;
  private stop: (() => void) | undefined;
  private note = '';
  private scratch: vscode.TextDocument | undefined;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly sidecar: Sidecar,
    private readonly runs: RunController,
    private readonly ui: Ui,
    private readonly activeFolder: () => { uri: string; name: string } | undefined,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    view.webview.options = { enableScripts: true, localResourceRoots: [media] };
    const nonce = crypto.randomBytes(16).toString('base64');
    const src = (f: string) => view.webview.asWebviewUri(vscode.Uri.joinPath(media, f));
    const csp = `default-src 'none'; style-src ${view.webview.cspSource}; script-src 'nonce-${nonce}'; img-src 'none'; connect-src 'none'`;
    view.webview.html = `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}"><link rel="stylesheet" href="${src('run.css')}"><link rel="stylesheet" href="${src('chat.css')}"></head>
<body><div id="chat-header"></div><div id="transcript"></div>
<form id="ask"><textarea id="question" rows="3" placeholder="Ask about your code (Enter sends, Shift+Enter: new line)"></textarea>
<label><input type="checkbox" id="attach" checked> attach the open file or selection</label>
<div class="buttons"><button type="submit" id="send">Send</button><button type="button" id="stopChat">Stop</button><button type="button" id="clear">Clear</button></div></form>
<script nonce="${nonce}" src="${src('chat.js')}"></script></body></html>`;
    this.webview = view.webview;
    view.webview.onDidReceiveMessage((m: { type?: string; text?: string; attach?: boolean }) => {
      if (m?.type === 'ready') void this.refreshHeader();
      else if (m?.type === 'send' && typeof m.text === 'string' && m.text.trim()) void this.send(m.text, m.attach !== false);
      else if (m?.type === 'stop') this.stop?.();
      else if (m?.type === 'clear') {
        this.turns = [];
        this.note = '';
        this.draw();
      } else if (m?.type === 'pickConnection') void this.pickConnection();
    });
    view.onDidDispose(() => (this.webview = undefined));
  }

  /** The connection chat uses: the one picked here, else the folder's default. */
  private async refreshHeader(): Promise<void> {
    if (!this.connection) {
      try {
        const folder = this.activeFolder();
        const listing = await this.sidecar.request<P.ListConnectionsResult>(P.LIST_CONNECTIONS, folder ? { scopeUri: folder.uri } : {});
        this.connection = listing.connections.find((c) => c.id === listing.defaultConnectionId);
      } catch {
        this.connection = undefined;
      }
    }
    this.draw();
  }

  private async pickConnection(): Promise<void> {
    const folder = this.activeFolder();
    const listing = await this.sidecar.request<P.ListConnectionsResult>(P.LIST_CONNECTIONS, folder ? { scopeUri: folder.uri } : {});
    const picked = await this.ui.pick(
      listing.connections.map((c) => ({ label: c.name, description: `${c.providerId} · ${c.defaultModel ?? 'no default model'}`, value: c })),
      { title: 'Chat with which connection?', placeholder: 'Every turn runs there (routing source: explicit)' },
    );
    if (picked) this.connection = picked;
    this.draw();
  }

  async send(question: string, attach: boolean): Promise<void> {
    if (this.stop) return; // one turn at a time
    await this.refreshHeader();
    const target = await this.target(attach);
    const budget = promptBudget(this.connection?.providerId, target.attachedBytes);
    const built = budget.error ? { error: budget.error } : chatPrompt(this.turns, question, budget.bytes, budget.limit);
    if ('error' in built) {
      void this.ui.warn(`ModelWire: ${built.error}`);
      return;
    }
    this.note = built.dropped ? `${built.dropped} earlier turn${built.dropped === 1 ? '' : 's'} left out to fit the limit` : '';
    const agents = (await this.sidecar.request<P.ListAgentsResult>(P.LIST_AGENTS, target.folder ? { scopeUri: target.folder.uri } : {})).agents;
    const agent = agents.find((a) => a.id === 'chat');
    if (!agent) {
      void this.ui.error('ModelWire: this sidecar has no chat agent; update modelwire.');
      return;
    }
    const turn: Shown = { question, answer: '' };
    this.turns.push(turn);
    const stops: Array<() => void> = [];
    this.stop = () => stops.forEach((s) => s());
    const output: RunOutput = {
      bind: (view) => (turn.view = view),
      update: () => {
        turn.answer = turn.view?.output ?? '';
        this.draw();
      },
      onClosed: (listener) => stops.push(listener),
    };
    this.draw();
    try {
      await this.runs.start(agent, target, { connectionId: this.connection?.id, prompt: built.prompt, output, notify: false });
    } finally {
      this.stop = undefined;
      turn.answer = turn.view?.output ?? turn.answer;
      this.draw();
    }
  }

  /**
   * The attached file or selection, else an empty scratch document (a question alone);
   * `attachedBytes` is what the sidecar will send of it (whole lines of a selection).
   */
  private async target(attach: boolean): Promise<{ uri: string; range?: P.Range; folder?: { uri: string; name: string }; attachedBytes: number }> {
    const editor = vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors.find((e) => e.document.uri.scheme === 'file');
    if (attach && editor && (editor.document.uri.scheme === 'file' || editor.document.uri.scheme === 'untitled')) {
      const doc = editor.document;
      const folder = vscode.workspace.getWorkspaceFolder(doc.uri);
      const s = editor.selection;
      const lines = s.isEmpty ? undefined : new vscode.Range(s.start.line, 0, s.end.line, doc.lineAt(s.end.line).text.length);
      return {
        uri: doc.uri.toString(),
        range: s.isEmpty ? undefined : { start: { line: s.start.line, character: s.start.character }, end: { line: s.end.line, character: s.end.character } },
        folder: folder ? { uri: folder.uri.toString(), name: folder.name } : undefined,
        attachedBytes: Buffer.byteLength(doc.getText(lines), 'utf8'),
      };
    }
    this.scratch ??= await vscode.workspace.openTextDocument({ language: 'plaintext', content: '' });
    return { uri: this.scratch.uri.toString(), folder: this.activeFolder(), attachedBytes: 0 };
  }

  private draw(): void {
    if (!this.webview) return;
    const c = this.connection;
    const model = c?.defaultModel ?? '';
    // A peer's limit is said before the first question, not only after a trimmed one.
    const notes = [isPeer(c?.providerId) ? PEER_NOTE : '', this.note].filter(Boolean).join(' · ');
    const header =
      `<div class="who"><b>${escapeHtml(c ? c.name : 'No connection')}</b>${model ? ` · ${escapeHtml(model)}` : ''}` +
      `${c?.providerId === 'embedded' ? ' <span class="demo">(small local demo model)</span>' : ''}` +
      ` <button id="pick" data-act="pick">Change…</button></div>` +
      (notes ? `<div class="note">${escapeHtml(notes)}</div>` : '');
    const transcript = this.turns
      .map((t) => {
        const v = t.view;
        const routing = v?.routing ? `<div class="routing">${escapeHtml(routingText(v.routing))}</div>` : '';
        const status = v && !v.done ? `<div class="progress">${escapeHtml(v.progress ?? v.status)}</div>` : v?.error ? `<div class="error">${escapeHtml(`${v.error.code}: ${v.error.message}`)}</div>` : '';
        return `<div class="turn"><div class="user">${escapeHtml(t.question)}</div>${routing}<div class="assistant">${renderAnswer(v?.output ?? t.answer).html}</div>${status}</div>`;
      })
      .join('');
    void this.webview.postMessage({ type: 'state', header, transcript, running: !!this.stop });
  }

  dispose(): void {
    this.stop?.();
  }
}
