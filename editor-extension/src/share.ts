/**
 * "ModelWire: Share Model…" in VS Code: runs the share child with the sidecar's own
 * interpreter, shows the panel and the status bar item "Sharing · N clients · Ready/Busy",
 * and stops sharing on Stop, on closing the panel, and when the window closes (dispose).
 * One share per window.
 */
import * as vscode from 'vscode';
import { Deps } from './flows';
import { errorText } from './errors';
import { chooseShare, ShareChoice, shareArgs, ShareStatus, statusText } from './shareFlow';
import { newNonce, PanelModel, panelHtml, safeQrUri } from './sharePanel';
import { qrDataUri, ShareProcess } from './shareProcess';

export const STOP_SHARING = 'modelwire.stopSharing';

interface Log {
  appendLine(line: string): void;
}

interface Session {
  process: ShareProcess;
  panel: vscode.WebviewPanel;
  model: PanelModel;
  nonce: string;
  closed: boolean;
  releaseSecret?: () => void;
}

export class ShareController implements vscode.Disposable {
  private session: Session | undefined;
  /** The panel of the last share, kept to show how it ended; replaced by the next share's. */
  private ended: vscode.WebviewPanel | undefined;
  private readonly item: vscode.StatusBarItem;

  constructor(
    private readonly deps: Deps,
    private readonly interpreter: () => string | undefined,
    private readonly log: Log,
  ) {
    this.item = vscode.window.createStatusBarItem('modelwire.sharing', vscode.StatusBarAlignment.Left, 99);
    this.item.name = 'ModelWire Sharing';
    this.item.command = STOP_SHARING;
  }

  async share(): Promise<void> {
    if (this.session) {
      this.session.panel.reveal();
      void this.deps.ui.info('ModelWire: this window is already sharing a model; stop it first to share another.');
      return;
    }
    const python = this.interpreter();
    if (!python) {
      void this.deps.ui.error('ModelWire: the sidecar is not running, so there is no interpreter to share from. Run "ModelWire: Restart Server".');
      return;
    }
    const choice = await chooseShare(this.deps, this.deps.settings.activeFolder()?.uri);
    if (!choice) return;
    this.start(python, choice);
  }

  private start(python: string, choice: ShareChoice): void {
    // One panel per window: a stopped share's panel would read like a second share.
    this.ended?.dispose();
    this.ended = undefined;
    const what = `${choice.connection.name} · ${choice.model ?? 'its default model'}${choice.agent ? ` · agent ${choice.agent}` : ''}`;
    const panel = vscode.window.createWebviewPanel('modelwire.share', 'ModelWire: Sharing', vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [],
    });
    const model: PanelModel = { what, status: { state: 'Starting', clients: 0 }, lines: [] };
    const folder = this.deps.settings.activeFolder();
    const cwd = folder ? vscode.Uri.parse(folder.uri).fsPath : undefined;
    const process = new ShareProcess(python, shareArgs(choice), {
      onServerId: (id) => this.onServerId(session, python, id),
      onStatus: (status) => this.onStatus(session, status),
      onLine: (line) => {
        session.model.lines = [...session.model.lines.slice(-19), line];
        this.log.appendLine(`[share] ${line}`);
        if (!session.closed) void panel.webview.postMessage({ type: 'line', text: line });
      },
      onExit: (error) => this.onExit(session, error ? errorText(error) : undefined),
    }, cwd);
    const session: Session = { process, panel, model, nonce: newNonce(), closed: false };
    this.session = session;
    panel.webview.onDidReceiveMessage((m: unknown) => {
      const type = typeof m === 'object' && m !== null ? (m as { type?: unknown }).type : undefined;
      if (type === 'copy' && session.model.serverId) {
        void vscode.env.clipboard.writeText(session.model.serverId);
        void this.deps.ui.info('ModelWire: Server ID copied. Give it privately: anyone who has it can use this model.');
      } else if (type === 'stop') {
        this.stop();
      }
    });
    panel.onDidDispose(() => {
      session.closed = true;
      if (this.ended === panel) this.ended = undefined;
      if (this.session === session && session.process.running) {
        this.stop();
        void this.deps.ui.info('ModelWire: sharing stopped because its panel was closed.');
      }
    });
    this.render(session);
    this.showStatus(model.status);
    this.log.appendLine(`[share] starting: ${python} ${shareArgs(choice).slice(0, 4).join(' ')} …`);
    process.start();
  }

  private onServerId(session: Session, python: string, id: string): void {
    session.releaseSecret = this.deps.sidecar.holdSecret(id);
    session.model.serverId = id;
    this.render(session);
    void qrDataUri(python, id).then((qr) => {
      if (this.session !== session) return;
      session.model.qrDataUri = safeQrUri(qr.uri);
      session.model.qrProblem = session.model.qrDataUri ? undefined : (qr.problem ?? 'No QR code: the drawing was not a PNG.');
      this.render(session);
    });
  }

  private onStatus(session: Session, status: ShareStatus): void {
    session.model.status = status;
    if (this.session !== session) return;
    this.showStatus(status);
    if (!session.closed) void session.panel.webview.postMessage({ type: 'status', text: statusText(status) });
  }

  private onExit(session: Session, error: string | undefined): void {
    session.releaseSecret?.();
    session.model.status = { state: 'Stopped', clients: 0 };
    session.model.serverId = undefined;
    session.model.qrDataUri = undefined;
    session.model.error = error;
    if (this.session === session) {
      this.session = undefined;
      if (!session.closed) this.ended = session.panel;
      this.item.hide();
      void vscode.commands.executeCommand('setContext', 'modelwire.sharing', false);
    }
    this.log.appendLine(`[share] stopped${error ? `: ${error}` : ''}`);
    this.render(session);
    if (error) void this.deps.ui.error(`ModelWire: sharing failed: ${error}`);
  }

  private render(session: Session): void {
    if (session.closed) return;
    session.panel.webview.html = panelHtml(session.model, session.nonce, session.panel.webview.cspSource);
  }

  private showStatus(status: ShareStatus): void {
    this.item.text = `$(broadcast) ${statusText(status)}`;
    this.item.tooltip = 'ModelWire is sharing a model from this window. Click to stop sharing.';
    this.item.show();
    void vscode.commands.executeCommand('setContext', 'modelwire.sharing', true);
  }

  /** Stop the share child (clients see HOST_DISCONNECTED). */
  stop(): void {
    const session = this.session;
    if (!session) {
      void this.deps.ui.info('ModelWire: this window is not sharing a model.');
      return;
    }
    session.process.stop();
  }

  dispose(): void {
    this.session?.process.stop();
    this.ended?.dispose();
    this.item.dispose();
  }
}
