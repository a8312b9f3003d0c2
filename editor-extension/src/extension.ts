/** Wires the pieces together: channels, the sidecar, the status bar, commands, listeners. */
import * as vscode from 'vscode';
import * as flows from './connectionFlows';
import { connectToSharedModel } from './connectPeer';
import * as P from './protocol';
import { Redactor } from './redact';
import { RUN_SCHEME, RunDocuments } from './runDocuments';
import { RunController } from './runs';
import { RunTracker } from './runTracker';
import { pythonExtensionApi, SidecarManager } from './server';
import { affectsAny, LAUNCH_SETTINGS, RestartScheduler, SECTION, STATUS_SETTINGS } from './settings';
import { ShareController, STOP_SHARING } from './share';
import { StatusBar } from './statusBar';
import { noteEditor, RedactingChannel, VsCodeSettings, VsCodeUi } from './vscodeapi';

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const redactor = new Redactor();
  const log = new RedactingChannel(vscode.window.createOutputChannel('ModelWire'), redactor);
  const serverChannel = new RedactingChannel(vscode.window.createOutputChannel('ModelWire Server'), redactor);
  const tracker = new RunTracker();
  const sidecar = new SidecarManager({ serverChannel, redactor, onRunEvent: (e) => tracker.handle(e) });
  const ui = new VsCodeUi();
  const docs = new RunDocuments();
  const status = new StatusBar(sidecar);
  const runs = new RunController(sidecar, tracker, docs, log, ui, () => status.refresh(true));
  const restarts = new RestartScheduler(() => sidecar.restart());
  let tokens = 0;
  const deps: flows.Deps = {
    ui,
    sidecar,
    settings: new VsCodeSettings(),
    changed: () => status.refresh(true),
    newToken: () => `modelwire-${Date.now()}-${++tokens}`,
  };
  context.subscriptions.push(log, serverChannel, sidecar, docs, runs, status, { dispose: () => restarts.dispose() });
  context.subscriptions.push(vscode.workspace.registerTextDocumentContentProvider(RUN_SCHEME, docs));

  const command = (id: string, fn: (...args: unknown[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  command('modelwire.runAgentOnFile', (agentId?: unknown) => runs.runAgent('file', typeof agentId === 'string' ? agentId : undefined));
  command('modelwire.runAgentOnSelection', (agentId?: unknown) => runs.runAgent('selection', typeof agentId === 'string' ? agentId : undefined));
  command('modelwire.selectDefaultConnection', () => flows.selectDefaultConnection(deps));
  command('modelwire.addConnection', () => flows.addConnection(deps));
  command('modelwire.editConnection', () => flows.editConnection(deps));
  command('modelwire.testConnection', async () => {
    const health = await flows.testConnection(deps);
    if (health) status.noteHealth(health);
  });
  command('modelwire.deleteConnection', () => flows.deleteConnection(deps));
  command('modelwire.pullModel', () => flows.pullModel(deps));
  command('modelwire.connectSharedModel', () => connectToSharedModel(deps));
  // Sharing runs the sidecar's own interpreter; disposing (window close) stops it.
  const sharing = new ShareController(deps, () => sidecar.interpreter?.command, log);
  context.subscriptions.push(sharing);
  command('modelwire.shareModel', () => sharing.share());
  command(STOP_SHARING, () => sharing.stop());
  command('modelwire.showRunHistory', async () => {
    let listing: P.ListRunsResult;
    try {
      listing = await sidecar.request<P.ListRunsResult>(P.LIST_RUNS, { limit: 50 });
    } catch (err) {
      void ui.error(`ModelWire: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (listing.runs.length === 0) {
      void ui.info('ModelWire: no runs yet.');
      return;
    }
    const record = await ui.pick(flows.runHistoryItems(listing.runs), { title: 'Run History', placeholder: 'Newest first; pick one to open its output' });
    if (record) await runs.showRecord(record);
  });
  command('modelwire.showRunRequests', async () => {
    let listing: P.ListRunsResult;
    try {
      listing = await sidecar.request<P.ListRunsResult>(P.LIST_RUNS, { limit: 50 });
    } catch (err) {
      void ui.error(`ModelWire: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    const record = await ui.pick(flows.runHistoryItems(listing.runs), { title: 'Show Requests of Run', placeholder: 'Newest first; pick one to see the model requests it made' });
    if (record) await runs.showRequests(record);
  });
  command('modelwire.cancelRun', () => runs.cancelRun());
  command('modelwire.showOutput', () => log.show(true));
  command('modelwire.restartServer', () => restarts.request());

  context.subscriptions.push(
    vscode.window.onDidChangeActiveTextEditor((editor) => {
      if (editor && editor.document.uri.scheme === RUN_SCHEME) return;
      noteEditor(editor);
      status.refresh();
    }),
    vscode.workspace.onDidChangeWorkspaceFolders(() => status.refresh()),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (affectsAny((s) => e.affectsConfiguration(s), LAUNCH_SETTINGS)) {
        void restarts.request();
      } else if (e.affectsConfiguration(SECTION)) {
        // The language client pushes workspace/didChangeConfiguration itself; give it a
        // moment to arrive before asking the sidecar what the default now is.
        status.refresh(affectsAny((s) => e.affectsConfiguration(s), STATUS_SETTINGS), 300);
      }
    }),
    sidecar.onDidChangeState(() => status.refresh(true, 0)),
  );
  noteEditor(vscode.window.activeTextEditor);

  // The Python extension's interpreter matters only when modelwire.server.python is unset.
  void pythonExtensionApi().then((api) => {
    const event = api?.environments?.onDidChangeActiveEnvironmentPath;
    if (!event) return;
    context.subscriptions.push(
      event(() => {
        if (!vscode.workspace.getConfiguration(SECTION).get<string>('server.python')) void restarts.request();
      }),
    );
  });

  void sidecar.start();
}

export function deactivate(): void {
  // Disposables in context.subscriptions stop the sidecar and any share child.
}
