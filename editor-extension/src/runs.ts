/**
 * Running an agent on the current file or selection: pick the agent, stream the output
 * into a read-only document beside the file, show progress with a working Cancel, and
 * write one routing line per run to the "ModelWire" output channel.
 */
import * as vscode from 'vscode';
import { errorText, ErrorInfo, toErrorInfo } from './errors';
import { fileLabel, routingLine, stepLines } from './format';
import * as P from './protocol';
import { RunDocuments } from './runDocuments';
import { progressMessage, RunTracker, TrackedRun } from './runTracker';
import { RunView } from './runView';
import { SidecarManager } from './server';
import { Ui } from './ui';

export class RunController implements vscode.Disposable {
  private readonly cancels = new Map<number, () => void>();

  constructor(
    private readonly sidecar: SidecarManager,
    private readonly tracker: RunTracker,
    private readonly docs: RunDocuments,
    private readonly log: vscode.OutputChannel,
    private readonly ui: Ui,
    /** Told after every run: its outcome says something about the connection's health. */
    private readonly finished: () => void = () => {},
  ) {}

  async runAgent(mode: 'file' | 'selection', agentArg?: string): Promise<P.RunRecord | undefined> {
    const editor = vscode.window.activeTextEditor;
    if (!editor || (editor.document.uri.scheme !== 'file' && editor.document.uri.scheme !== 'untitled')) {
      void this.ui.warn('ModelWire: open a file first, then run an agent on it.');
      return undefined;
    }
    const document = editor.document;
    const selection = editor.selection;
    if (mode === 'selection' && selection.isEmpty) {
      void this.ui.warn('ModelWire: select some text first (or use "ModelWire: Run Agent on File").');
      return undefined;
    }
    const folder = vscode.workspace.getWorkspaceFolder(document.uri);
    let agents: P.AgentInfo[];
    try {
      agents = (await this.sidecar.request<P.ListAgentsResult>(P.LIST_AGENTS, folder ? { scopeUri: folder.uri.toString() } : {})).agents;
    } catch (err) {
      await this.report(toErrorInfo(err));
      return undefined;
    }
    const agent =
      agents.find((a) => a.id === agentArg) ??
      (agentArg
        ? undefined
        : await this.ui.pick(
            agents.map((a) => ({
              label: a.title,
              description: `${a.id}${a.output === 'diagnostics' ? ' · findings in Problems' : ''}${a.origin === 'workspace' ? ' · workspace' : ''}`,
              detail: a.description || undefined,
              value: a,
            })),
            { title: mode === 'file' ? `Run Agent on ${fileLabel(document.uri.toString())}` : 'Run Agent on Selection', placeholder: 'Agent' },
          ));
    if (!agent) {
      if (agentArg) void this.ui.error(`ModelWire: there is no agent "${agentArg}".`);
      return undefined;
    }
    const range: P.Range | undefined =
      mode === 'selection'
        ? { start: { line: selection.start.line, character: selection.start.character }, end: { line: selection.end.line, character: selection.end.character } }
        : undefined;
    return this.start(agent, document, range);
  }

  private async start(agent: P.AgentInfo, document: vscode.TextDocument, range: P.Range | undefined): Promise<P.RunRecord | undefined> {
    const uri = document.uri.toString();
    const file = fileLabel(uri);
    const run = this.tracker.begin(agent.id, agent.title, uri);
    const view: RunView = { title: agent.title, file, status: 'queued', output: '', done: false };
    const docUri = this.docs.create(view);
    const requestCancel = new vscode.CancellationTokenSource();
    const started = Date.now();
    let firstDeltaAt: number | undefined;

    let progressReport: ((message: string) => void) | undefined;
    const unsubscribe = this.tracker.onEvent((r, event) => {
      if (r !== run) return;
      if (event.kind === 'delta' && !event.parentRunId && firstDeltaAt === undefined) firstDeltaAt = Date.now();
      Object.assign(view, { routing: r.routing, status: r.status, output: r.output, queuePosition: r.queuePosition, loadingMs: r.loadingMs, steps: r.steps });
      this.docs.touch(docUri);
      progressReport?.(progressMessage(r));
    });
    const cancel = () => {
      if (run.cancelRequested) return;
      run.cancelRequested = true;
      progressReport?.(progressMessage(run));
      if (run.runId) {
        this.sidecar.request<P.CancelRunResult>(P.CANCEL_RUN, { runId: run.runId }).catch(() => requestCancel.cancel());
      } else {
        requestCancel.cancel(); // $/cancelRequest on startRun
      }
    };
    this.cancels.set(run.key, cancel);
    void this.docs.show(docUri);

    let record: P.RunRecord | undefined;
    let failure: ErrorInfo | undefined;
    try {
      record = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `ModelWire: ${agent.title} on ${file}`, cancellable: true },
        async (progress, token) => {
          progressReport = (message) => progress.report({ message });
          progressReport(progressMessage(run));
          token.onCancellationRequested(cancel);
          const params: P.StartRunParams = {
            agentId: agent.id,
            textDocument: { uri },
            clientRunId: run.clientRunId,
            ...(range ? { range } : {}),
          };
          return this.sidecar.request<P.RunRecord>(P.START_RUN, params, requestCancel.token);
        },
      );
      this.tracker.settle(run, record.runId);
    } catch (err) {
      failure = toErrorInfo(err);
    } finally {
      unsubscribe();
      this.cancels.delete(run.key);
      requestCancel.dispose();
      this.tracker.finish(run);
    }

    // A failed or cancelled run still has a record: fetch it for routing and timings.
    if (!record && run.runId) {
      try {
        record = await this.sidecar.request<P.RunRecord>(P.GET_RUN, { runId: run.runId });
      } catch {
        record = undefined;
      }
    }
    const cancelled = failure?.cancelled || record?.status === 'cancelled' || (failure === undefined && run.status === 'cancelled');
    const status: P.RunStatus = cancelled ? 'cancelled' : record?.status && record.status !== 'running' && record.status !== 'queued' ? record.status : failure ? 'failed' : run.status;
    const errorCode = cancelled ? undefined : (failure?.code ?? record?.errorCode ?? run.error?.code);
    const routing = record?.routing ?? run.routing;
    const firstTokenMs = record?.timings.firstTokenMs ?? run.timings?.firstTokenMs ?? (firstDeltaAt !== undefined ? firstDeltaAt - started : undefined);
    const totalMs = record?.timings.totalMs ?? run.timings?.totalMs ?? Date.now() - started;
    this.log.appendLine(routingLine({ agentId: agent.id, file, routing, status, firstTokenMs, totalMs, errorCode }, new Date()));
    for (const line of stepLines(run.steps)) this.log.appendLine(line);

    const error = failure && !cancelled ? failure : !cancelled && run.error ? { ...run.error, hint: run.error.hint ?? '' } : undefined;
    Object.assign(view, {
      routing,
      status,
      output: record?.output || run.output,
      firstTokenMs,
      totalMs,
      error: error ? { code: error.code, message: error.message, hint: error.hint } : undefined,
      diagnosticsCount: record?.diagnosticsCount,
      done: true,
    });
    this.docs.touch(docUri, true);
    this.finished();
    if (error && status === 'failed') await this.report({ code: error.code, message: error.message, hint: error.hint ?? '', cancelled: false });
    return record;
  }

  /** Errors go to the output channel with their hint, and to a notification. */
  private async report(info: ErrorInfo): Promise<void> {
    if (info.cancelled) return;
    this.log.appendLine(`  ${info.code}: ${errorText(info)}`);
    const actions: string[] = [];
    if (info.code === P.ErrorCode.ENDPOINT_UNREACHABLE || info.code === P.ErrorCode.AUTH_FAILED) actions.push('Test Connection');
    if (info.code === P.ErrorCode.NO_DEFAULT_CONNECTION || info.code === P.ErrorCode.CONNECTION_NOT_FOUND) actions.push('Select Default Connection');
    if (info.code === P.ErrorCode.MODEL_NOT_FOUND) actions.push('Pull Ollama Model');
    actions.push('Show Output');
    const choice = await this.ui.error(`ModelWire: ${errorText(info)}`, ...actions);
    if (choice === 'Test Connection') await vscode.commands.executeCommand('modelwire.testConnection');
    else if (choice === 'Select Default Connection') await vscode.commands.executeCommand('modelwire.selectDefaultConnection');
    else if (choice === 'Pull Ollama Model') await vscode.commands.executeCommand('modelwire.pullModel');
    else if (choice === 'Show Output') this.log.show(true);
  }

  /** "ModelWire: Cancel Run": the only running run, or the one the user picks. */
  async cancelRun(): Promise<void> {
    const runs = this.tracker.activeRuns().filter((r) => !r.cancelRequested);
    if (runs.length === 0) {
      void this.ui.info('ModelWire: no run is in progress.');
      return;
    }
    const run: TrackedRun | undefined =
      runs.length === 1
        ? runs[0]
        : await this.ui.pick(
            runs.map((r) => ({ label: `${r.agentTitle} · ${fileLabel(r.uri)}`, description: progressMessage(r), value: r })),
            { title: 'Cancel Run', placeholder: 'Which run?' },
          );
    if (run) this.cancels.get(run.key)?.();
  }

  /** The exact model requests a run made (the request inspector), as a JSON document. */
  async showRequests(record: P.RunRecord): Promise<void> {
    let result: P.GetRunRequestsResult;
    try {
      result = await this.sidecar.request<P.GetRunRequestsResult>(P.GET_RUN_REQUESTS, { runId: record.runId });
    } catch (err) {
      void this.ui.error(`ModelWire: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (result.requests.length === 0) {
      void this.ui.info('ModelWire: no model requests are stored for this run (none sent, or pruned).');
      return;
    }
    const doc = await vscode.workspace.openTextDocument({ language: 'json', content: JSON.stringify(result, null, 2) });
    await vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.ViewColumn.Beside });
  }

  /** Open a past run (from the history) in a run document. */
  async showRecord(record: P.RunRecord): Promise<void> {
    let full = record;
    try {
      full = await this.sidecar.request<P.RunRecord>(P.GET_RUN, { runId: record.runId });
    } catch {
      // Show what the listing had.
    }
    const view: RunView = {
      title: full.agentId,
      file: fileLabel(full.uri),
      routing: full.routing,
      status: full.status,
      output: full.output,
      firstTokenMs: full.timings.firstTokenMs,
      totalMs: full.timings.totalMs,
      error: full.errorCode ? { code: full.errorCode, message: full.errorMessage ?? '', hint: '' } : undefined,
      diagnosticsCount: full.diagnosticsCount,
      steps: (full.steps ?? []).map((s) => ({ index: s.index, tool: s.tool, target: s.target, outcome: s.outcome, durationMs: s.durationMs, errorCode: s.errorCode, summary: s.summary })),
      done: true,
    };
    const uri = this.docs.create(view);
    await this.docs.show(uri);
  }

  dispose(): void {
    for (const cancel of this.cancels.values()) cancel();
  }
}
