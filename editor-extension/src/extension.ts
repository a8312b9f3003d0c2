/** Wires the pieces together: channels, the sidecar, the status bar, commands, listeners. */
import * as vscode from 'vscode';
import * as flows from './flows';
import { connectToSharedModel } from './connectPeer';
import * as P from './protocol';
import { Redactor } from './redact';
import { CHAT_VIEW, ChatView } from './chat/chatView';
import { EXPLAIN_FINDING, FindingActions, FIX_FINDING } from './findingActions';
import { renderAnswer } from './markdown';
import { PROPOSAL_SCHEME, Proposals } from './proposals';
import { RunPanels } from './runPanels';
import { OutcomeFilter } from './views/treeModel';
import { ConnectionsTree, ModelWireItem, RunsTree } from './views/trees';
import { RunController } from './runs';
import { RunTracker } from './runTracker';
import { pythonExtensionApi, SidecarManager } from './server';
import { affectsAny, LAUNCH_SETTINGS, RestartScheduler, SECTION, STATUS_SETTINGS } from './settings';
import { ShareController, STOP_SHARING } from './share';
import { StatusBar } from './statusBar';
import { activeFolder, noteEditor, RedactingChannel, VsCodeRunHost, VsCodeSettings, VsCodeStatusItem, VsCodeUi } from './vscodeapi';

let sidecarForDeactivate: SidecarManager | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const redactor = new Redactor();
  const log = new RedactingChannel(vscode.window.createOutputChannel('ModelWire'), redactor);
  const serverChannel = new RedactingChannel(vscode.window.createOutputChannel('ModelWire Server'), redactor);
  const tracker = new RunTracker();
  let connectionsChanged = () => {};
  const sidecar = new SidecarManager({ serverChannel, redactor, onRunEvent: (e) => tracker.handle(e), onConnectionsChanged: () => connectionsChanged() });
  sidecarForDeactivate = sidecar;
  const ui = new VsCodeUi();
  const settings = new VsCodeSettings();
  const proposals = new Proposals();
  const panels = new RunPanels(context.extensionUri, proposals);
  const statusItem = new VsCodeStatusItem();
  const status = new StatusBar({
    sidecar,
    item: statusItem,
    activeFolder: () => {
      const f = activeFolder();
      return f ? { uri: f.uri.toString(), name: f.name } : undefined;
    },
    // A run not routed yet may be about to stream from this very connection.
    busy: (connectionId) => tracker.activeRuns().some((r) => !r.routing || r.routing.connectionId === connectionId),
  });
  const folderOf = () => {
    const f = activeFolder();
    return f ? { uri: f.uri.toString(), name: f.name } : undefined;
  };
  const connectionsTree = new ConnectionsTree(sidecar, folderOf);
  const runsTree = new RunsTree(sidecar, () => settings.folders());
  connectionsChanged = () => {
    status.refresh(true);
    connectionsTree.refresh();
  };
  const runs = new RunController({
    sidecar,
    tracker,
    outputs: panels,
    log,
    ui,
    host: new VsCodeRunHost(context.globalState),
    settings,
    finished: () => {
      status.refresh(true);
      // A run's outcome is fresher news about a connection than an old Test Connection.
      connectionsTree.health.clear();
      connectionsTree.refresh();
      runsTree.refresh();
    },
    started: () => runsTree.refresh(),
  });
  const restarts = new RestartScheduler(() => sidecar.restart());
  let tokens = 0;
  const deps: flows.Deps = {
    ui,
    sidecar,
    settings,
    changed: () => {
      status.refresh(true);
      connectionsTree.refresh();
    },
    newToken: () => `modelwire-${Date.now()}-${++tokens}`,
    addConnection: () => flows.addConnection(deps),
    runOnEmbedded: () => runs.runAgent('file', undefined, { connectionId: 'embedded' }),
  };
  context.subscriptions.push(log, serverChannel, sidecar, panels, proposals, statusItem, status, runs, connectionsTree, runsTree, { dispose: () => restarts.dispose() });
  context.subscriptions.push(
    vscode.window.createTreeView('modelwire.connections', { treeDataProvider: connectionsTree, showCollapseAll: false }),
    vscode.window.createTreeView('modelwire.runs', { treeDataProvider: runsTree, showCollapseAll: true }),
  );
  context.subscriptions.push(
    vscode.workspace.registerTextDocumentContentProvider(PROPOSAL_SCHEME, proposals),
    vscode.languages.registerCodeActionsProvider([{ scheme: 'file' }, { scheme: 'untitled' }], new FindingActions(), {
      providedCodeActionKinds: FindingActions.kinds,
    }),
  );

  const command = (id: string, fn: (...args: unknown[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  const agentArg = (arg: unknown) => (typeof arg === 'string' ? arg : undefined);
  command('modelwire.runAgentOnFile', (agentId?: unknown) => runs.runAgent('file', agentArg(agentId)));
  command('modelwire.runAgentOnSelection', (agentId?: unknown) => runs.runAgent('selection', agentArg(agentId)));
  for (const agent of ['explain', 'review', 'document', 'summarize']) command(`modelwire.${agent}`, () => runs.runOnEditor(agent));
  command('modelwire.runWorkspaceAgent', () => runs.runOnEditor(undefined, true));
  command('modelwire.runOnEmbedded', () => runs.runAgent('file', undefined, { connectionId: 'embedded' }));
  command('modelwire.selectDefaultConnection', () => flows.selectDefaultConnection(deps));
  command('modelwire.addConnection', () => flows.addConnection(deps));
  // From the Connections view the item is the argument; from the palette there is none.
  const connectionArg = (arg: unknown) => (arg instanceof ModelWireItem ? arg.connection : undefined);
  command('modelwire.editConnection', (item?: unknown) => flows.editConnection(deps, connectionArg(item)));
  command('modelwire.testConnection', async (item?: unknown) => {
    const health = await flows.testConnection(deps, connectionArg(item));
    if (health) {
      status.noteHealth(health);
      connectionsTree.noteHealth(health);
    }
  });
  command('modelwire.deleteConnection', (item?: unknown) => flows.deleteConnection(deps, connectionArg(item)));
  command('modelwire.refreshViews', () => {
    connectionsTree.refresh();
    runsTree.refresh();
  });
  const runArg = (arg: unknown) => (arg instanceof ModelWireItem ? arg.run : undefined);
  command('modelwire.openRun', (item?: unknown) => {
    const record = runArg(item);
    return record ? runs.showRecord(record) : undefined;
  });
  command('modelwire.cancelRunItem', async (item?: unknown) => {
    const record = runArg(item);
    if (!record) return;
    // A run of this window is cancelled like its Stop button; another window's through the sidecar.
    if (!runs.cancelRunId(record.runId)) await sidecar.request(P.CANCEL_RUN, { runId: record.runId }).catch(() => undefined);
    runsTree.refresh();
  });
  command('modelwire.rerun', (item?: unknown) => {
    const record = runArg(item);
    return record ? runs.rerun(record) : undefined;
  });
  command('modelwire.filterRuns', async () => {
    const filters: Array<{ label: string; value: OutcomeFilter }> = [
      { label: 'All runs', value: 'all' },
      { label: 'Succeeded', value: 'succeeded' },
      { label: 'Failed (or interrupted)', value: 'failed' },
      { label: 'Cancelled', value: 'cancelled' },
      { label: 'Running or queued', value: 'active' },
    ];
    const picked = await ui.pick(filters.map((f) => ({ ...f, description: f.value === runsTree.filter ? 'current' : undefined })), { title: 'Show runs', placeholder: 'Filter the Runs view by outcome' });
    if (!picked) return;
    runsTree.filter = picked;
    runsTree.refresh();
  });
  command('modelwire.pullModel', () => flows.pullModel(deps));
  command('modelwire.connectSharedModel', () =>
    connectToSharedModel(deps, (health) => {
      status.noteHealth(health);
      connectionsTree.noteHealth(health);
    }),
  );
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
    if (!record) return;
    // The exact model requests a run made (the request inspector), as a JSON document.
    let result: P.GetRunRequestsResult;
    try {
      result = await sidecar.request<P.GetRunRequestsResult>(P.GET_RUN_REQUESTS, { runId: record.runId });
    } catch (err) {
      void ui.error(`ModelWire: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (result.requests.length === 0) {
      void ui.info('ModelWire: no model requests are stored for this run (none sent, or pruned).');
      return;
    }
    const doc = await vscode.workspace.openTextDocument({ language: 'json', content: JSON.stringify(result, null, 2) });
    await vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.ViewColumn.Beside });
  });
  command('modelwire.cancelRun', () => runs.cancelRun());
  command(EXPLAIN_FINDING, (uri?: unknown, range?: unknown) =>
    typeof uri === 'string' && range && typeof range === 'object' ? runs.runOnRange('explain', uri, range as P.Range) : undefined,
  );
  command(FIX_FINDING, async (uri?: unknown, range?: unknown, message?: unknown) => {
    if (typeof uri !== 'string' || !range || typeof range !== 'object' || typeof message !== 'string') return;
    const record = await runs.runOnRange('fix', uri, range as P.Range, `Fix this problem a review found in these lines: ${message}`);
    const code = record?.status === 'succeeded' ? renderAnswer(record.output).blocks[0]?.code : undefined;
    if (record?.status === 'succeeded' && code === undefined) void ui.warn('ModelWire: the answer has no code block to apply; see the run panel.');
    if (code !== undefined) await proposals.propose(uri, range as P.Range, code);
  });
  const chat = new ChatView(context.extensionUri, sidecar, runs, ui, folderOf);
  context.subscriptions.push(chat, vscode.window.registerWebviewViewProvider(CHAT_VIEW, chat, { webviewOptions: { retainContextWhenHidden: true } }));
  command('modelwire.chatAboutSelection', () => vscode.commands.executeCommand(`${CHAT_VIEW}.focus`));
  command('modelwire.showOutput', () => log.show(true));
  command('modelwire.restartServer', () => restarts.request());

  context.subscriptions.push(
    vscode.window.onDidChangeActiveTextEditor((editor) => {
      if (editor && editor.document.uri.scheme === PROPOSAL_SCHEME) return;
      noteEditor(editor);
      status.refresh();
      connectionsTree.refresh();
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
    sidecar.onDidChangeState((state) => {
      status.refresh(true, 0);
      connectionsTree.refresh();
      runsTree.refresh();
      // When Embedded answers here, start its model server now: the first Explain then
      // waits for the model, not for the server to load it.
      if (state === 'running') {
        const folder = folderOf();
        void sidecar.request<P.WarmUpResult>(P.WARM_UP, folder ? { scopeUri: folder.uri } : {}).catch(() => undefined);
      }
    }),
  );
  noteEditor(vscode.window.activeTextEditor);

  // The Python extension's interpreter matters only when modelwire.server.python is unset.
  void pythonExtensionApi().then((api) => {
    if (!api) return;
    context.subscriptions.push(
      api.environments.onDidChangeActiveEnvironmentPath(() => {
        if (!vscode.workspace.getConfiguration(SECTION).get<string>('server.python')) void restarts.request();
      }),
    );
  });

  void sidecar.start();
}

/** Returning the stop lets VS Code wait for the sidecar's `shutdown`/`exit`. */
export function deactivate(): Promise<void> | undefined {
  const sidecar = sidecarForDeactivate;
  sidecarForDeactivate = undefined;
  return sidecar?.stop();
}
