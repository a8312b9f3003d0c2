/**
 * Running an agent on the current file or selection: pick the agent, stream the answer
 * into its (file, agent) output, show progress with a working Cancel, write one routing
 * line per run to the "ModelWire" output channel, and say what went wrong with a way out
 * (runRecovery.ts). Everything VS Code-specific comes in through interfaces (runHost.ts),
 * so the whole run path is unit-tested.
 */
import { CancelSource } from './cancel';
import { ErrorInfo, toErrorInfo } from './errors';
import { fileLabel, routingLine, stepLines } from './format';
import * as P from './protocol';
import { LineLog, RunHost, RunOutput, RunOutputs } from './runHost';
import { RecoveryDeps, reportFailure, reportNotice, suggestRealModel } from './runRecovery';
import { progressMessage, RunTracker, TrackedRun } from './runTracker';
import { RunView } from './runView';
import { CancelToken, Progress, SettingsStore, Sidecar, Ui } from './ui';

/** What a run is about: a document, maybe a range, and the folder whose settings apply. */
export interface RunTarget {
  uri: string;
  range?: P.Range;
  folder?: { uri: string; name: string };
}

export interface RunOptions {
  /** Route this run to a connection the user picked (NO_DEFAULT_CONNECTION, "Run on Embedded"). */
  connectionId?: string;
  /** The user's own words for the run (a chat turn, a finding to fix): startRun's `prompt`. */
  prompt?: string;
  /** Show the run here instead of its (file, agent) panel (the chat view). */
  output?: RunOutput;
  /**
   * Show a progress notification with Cancel (default). The chat view says "false": its
   * transcript shows the progress and its Stop button cancels, so a notification per turn
   * would only pile up over the view.
   */
  notify?: boolean;
}

/** The progress and token of a run shown without a notification: its own view reports. */
const SILENT: Progress = { report: () => undefined };
const NEVER: CancelToken = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose: () => undefined }) };

export interface RunControllerDeps {
  sidecar: Sidecar;
  tracker: RunTracker;
  outputs: RunOutputs;
  log: LineLog;
  ui: Ui;
  host: RunHost;
  settings: SettingsStore;
  /** Told after every run: its outcome says something about the connection's health. */
  finished?: () => void;
  /** Told when a run has its id (the Runs view lists it). */
  started?: () => void;
}

export class RunController {
  private readonly cancels = new Map<number, () => void>();

  constructor(private readonly d: RunControllerDeps) {}

  async runAgent(mode: 'file' | 'selection', agentArg?: string, options: RunOptions = {}): Promise<P.RunRecord | undefined> {
    const editor = this.d.host.activeEditor();
    if (!editor) {
      void this.d.ui.warn('ModelWire: open a file first, then run an agent on it.');
      return undefined;
    }
    if (mode === 'selection' && !editor.selection) {
      void this.d.ui.warn('ModelWire: select some text first (or use "ModelWire: Run Agent on File").');
      return undefined;
    }
    const agent = await this.chooseAgent(editor.folder, mode === 'file' ? `Run Agent on ${fileLabel(editor.uri)}` : 'Run Agent on Selection', agentArg);
    if (!agent) return undefined;
    return this.start(agent, { uri: editor.uri, range: mode === 'selection' ? editor.selection : undefined, folder: editor.folder }, options);
  }

  /**
   * The context menu's and keybindings' entry: a named agent (or a pick among the
   * workspace's own) on the selection when there is one, else on the file.
   */
  async runOnEditor(agentId: string | undefined, onlyWorkspace = false): Promise<P.RunRecord | undefined> {
    const editor = this.d.host.activeEditor();
    if (!editor) {
      void this.d.ui.warn('ModelWire: open a file first, then run an agent on it.');
      return undefined;
    }
    const agent = await this.chooseAgent(editor.folder, `Run a workspace agent on ${fileLabel(editor.uri)}`, agentId, onlyWorkspace);
    if (!agent) return undefined;
    return this.start(agent, { uri: editor.uri, range: editor.selection, folder: editor.folder });
  }

  /** An agent on a range of a file (a finding's code actions: explain it, fix it). */
  async runOnRange(agentId: string, uri: string, range: P.Range, prompt?: string): Promise<P.RunRecord | undefined> {
    const folder = this.d.settings.folders().find((f) => uri.startsWith(f.uri.endsWith('/') ? f.uri : `${f.uri}/`));
    const agent = await this.chooseAgent(folder, agentId, agentId);
    if (!agent) return undefined;
    return this.start(agent, { uri, range, folder }, prompt ? { prompt } : {});
  }

  /** The agent named by a command argument (context menu, keybinding), else the user's pick. */
  private async chooseAgent(folder: RunTarget['folder'], title: string, agentArg?: string, onlyWorkspace = false): Promise<P.AgentInfo | undefined> {
    let agents: P.AgentInfo[];
    try {
      agents = (await this.d.sidecar.request<P.ListAgentsResult>(P.LIST_AGENTS, folder ? { scopeUri: folder.uri } : {})).agents;
    } catch (err) {
      await reportFailure(this.recovery(), toErrorInfo(err));
      return undefined;
    }
    if (agentArg) {
      const named = agents.find((a) => a.id === agentArg);
      if (!named) void this.d.ui.error(`ModelWire: there is no agent "${agentArg}".`);
      return named;
    }
    // Chat and fix run on the user's own words: they have their own entry points.
    agents = agents.filter((a) => !a.needsPrompt);
    if (onlyWorkspace) {
      agents = agents.filter((a) => a.origin === 'workspace');
      if (agents.length === 0) {
        void this.d.ui.info('ModelWire: this folder has no agents of its own yet (.modelwire/agents/*.md).');
        return undefined;
      }
    }
    return this.d.ui.pick(
      agents.map((a) => ({
        label: a.title,
        description: `${a.id}${a.output === 'diagnostics' ? ' · findings in Problems' : ''}${a.origin === 'workspace' ? ' · workspace' : ''}`,
        detail: a.description || undefined,
        value: a,
      })),
      { title, placeholder: 'Agent' },
    );
  }

  async start(agent: P.AgentInfo, target: RunTarget, options: RunOptions = {}): Promise<P.RunRecord | undefined> {
    const file = fileLabel(target.uri);
    const run = this.d.tracker.begin(agent.id, agent.title, target.uri);
    const view: RunView = { title: agent.title, file, uri: target.uri, range: target.range, status: 'queued', output: '', done: false };
    const output = options.output ?? this.d.outputs.open(view, `${target.uri}#${agent.id}`);
    output.bind?.(view);
    const requestCancel = new CancelSource();
    const started = Date.now();
    let firstDeltaAt: number | undefined;

    let progressReport: ((message: string) => void) | undefined;
    const unsubscribe = this.d.tracker.onEvent((r, event) => {
      if (r !== run) return;
      if (event.kind === 'delta' && !event.parentRunId && firstDeltaAt === undefined) firstDeltaAt = Date.now();
      if (event.kind === 'started') this.d.started?.();
      Object.assign(view, { routing: r.routing, status: r.status, output: r.output, queuePosition: r.queuePosition, loadingMs: r.loadingMs, steps: r.steps, progress: progressMessage(r) });
      output.update();
      progressReport?.(progressMessage(r));
    });
    const stopTicking = this.d.host.every(1000, () => {
      view.progress = progressMessage(run);
      output.update();
      progressReport?.(view.progress);
    });
    const cancel = () => {
      if (run.cancelRequested) return;
      run.cancelRequested = true;
      progressReport?.(progressMessage(run));
      if (run.runId) {
        this.d.sidecar.request<P.CancelRunResult>(P.CANCEL_RUN, { runId: run.runId }).catch(() => requestCancel.cancel());
      } else {
        requestCancel.cancel(); // $/cancelRequest on startRun
      }
    };
    this.cancels.set(run.key, cancel);
    // Closing the run's panel means the user no longer wants the answer: stop paying for it.
    output.onClosed(() => {
      if (this.cancels.has(run.key)) cancel();
    });

    let record: P.RunRecord | undefined;
    let failure: ErrorInfo | undefined;
    try {
      const task = async (progress: Progress, token: CancelToken): Promise<P.RunRecord> => {
        progressReport = (message) => progress.report(message);
        progressReport(progressMessage(run));
        token.onCancellationRequested(cancel);
        const params: P.StartRunParams = {
          agentId: agent.id,
          textDocument: { uri: target.uri },
          clientRunId: run.clientRunId,
          ...(target.range ? { range: target.range } : {}),
          ...(options.connectionId ? { connectionId: options.connectionId } : {}),
          ...(options.prompt ? { prompt: options.prompt } : {}),
        };
        return this.d.sidecar.request<P.RunRecord>(P.START_RUN, params, requestCancel.token);
      };
      record = options.notify === false ? await task(SILENT, NEVER) : await this.d.ui.progress(`ModelWire: ${agent.title} on ${file}`, true, task);
      this.d.tracker.settle(run, record.runId);
    } catch (err) {
      failure = toErrorInfo(err);
    } finally {
      stopTicking();
      unsubscribe();
      this.cancels.delete(run.key);
      requestCancel.dispose();
      this.d.tracker.finish(run);
    }

    // A failed or cancelled run still has a record: fetch it for routing and timings.
    if (!record && run.runId) {
      try {
        record = await this.d.sidecar.request<P.RunRecord>(P.GET_RUN, { runId: run.runId });
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
    this.d.log.appendLine(routingLine({ agentId: agent.id, file, routing, status, firstTokenMs, totalMs, errorCode }, new Date()));
    for (const line of stepLines(run.steps)) this.d.log.appendLine(line);

    const error = failure && !cancelled ? failure : !cancelled && run.error ? { ...run.error, hint: run.error.hint ?? '' } : undefined;
    Object.assign(view, {
      routing,
      status,
      output: record?.output || run.output,
      firstTokenMs,
      totalMs,
      error: error ? { code: error.code, message: error.message, hint: error.hint } : undefined,
      diagnosticsCount: record?.diagnosticsCount,
      notice: run.notice,
      steps: run.steps,
      done: true,
    });
    output.update(true);
    this.d.finished?.();
    if (run.notice && status === 'succeeded') await reportNotice(this.recovery(), agent.title, file, run.notice);
    if (error && status === 'failed') {
      await reportFailure(this.recovery(), { ...error, hint: error.hint ?? '', cancelled: false, data: failure?.data }, {
        routing,
        target,
        rerun: (connectionId) => this.start(agent, target, { ...options, connectionId }),
      });
    } else if (status === 'succeeded' && routing?.providerId === 'embedded') {
      await suggestRealModel(this.recovery());
    }
    return record;
  }

  private recovery(): RecoveryDeps {
    return { ui: this.d.ui, sidecar: this.d.sidecar, settings: this.d.settings, host: this.d.host, log: this.d.log };
  }

  /** "ModelWire: Cancel Run" (and Escape in a run panel): the only running run, or the one the user picks. */
  async cancelRun(): Promise<void> {
    const runs = this.d.tracker.activeRuns().filter((r) => !r.cancelRequested);
    if (runs.length === 0) {
      void this.d.ui.info('ModelWire: no run is in progress.');
      return;
    }
    const run: TrackedRun | undefined =
      runs.length === 1
        ? runs[0]
        : await this.d.ui.pick(
            runs.map((r) => ({ label: `${r.agentTitle} · ${fileLabel(r.uri)}`, description: progressMessage(r), value: r })),
            { title: 'Cancel Run', placeholder: 'Which run?' },
          );
    if (run) this.cancels.get(run.key)?.();
  }

  /** Cancel one run by its sidecar id (the Runs view's Cancel). */
  cancelRunId(runId: string): boolean {
    const run = this.d.tracker.activeRuns().find((r) => r.runId === runId);
    if (!run) return false;
    this.cancels.get(run.key)?.();
    return true;
  }

  /** Run a past run's agent again on its file (the Runs view's Re-run). */
  async rerun(record: P.RunRecord): Promise<P.RunRecord | undefined> {
    const folder = this.d.settings.folders().find((f) => record.uri.startsWith(f.uri.endsWith('/') ? f.uri : `${f.uri}/`));
    const agent = await this.chooseAgent(folder, 'Re-run', record.agentId);
    if (!agent) return undefined;
    return this.start(agent, { uri: record.uri, folder });
  }

  /** Open a past run (from the history) in its output. */
  async showRecord(record: P.RunRecord): Promise<void> {
    let full = record;
    try {
      full = await this.d.sidecar.request<P.RunRecord>(P.GET_RUN, { runId: record.runId });
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
    this.d.outputs.open(view, `history#${full.runId}`).update(true);
  }

  dispose(): void {
    for (const cancel of this.cancels.values()) cancel();
  }
}
