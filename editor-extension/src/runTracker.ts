/**
 * Follows runs this window started, fed by `modelwire/runEvent` notifications.
 *
 * startRun answers only when the run ends, so each run gets a `clientRunId` that the
 * sidecar echoes in every event: a new run id is bound to the run that chose that id.
 * (First events of concurrent runs can arrive in any order: a run waiting for its
 * folder's settings starts after a later run whose settings are cached.) A sidecar that
 * does not echo it gets the older rule: the oldest run still waiting for a first event.
 * The final record corrects a binding either way. Pure: no vscode import.
 */
import { Routing, RunEvent, RunStatus, RunUsage, StepOutcome, Timings } from './protocol';

/** A child run of an orchestrator's run_agent step, as its own events tell it. */
export interface ChildView {
  runId: string;
  routing?: Routing;
  status: RunStatus;
  timings?: Timings;
  errorCode?: string;
}

/** One tool call of an orchestrator run (the `step` events). */
export interface StepView {
  index: number;
  tool: string;
  target: string;
  outcome: StepOutcome;
  durationMs?: number;
  errorCode?: string;
  summary?: string;
  child?: ChildView;
}

export interface TrackedRun {
  /** Local key, known before the sidecar names the run. */
  readonly key: number;
  /** Sent as startRun's clientRunId; unique within this window's session. */
  readonly clientRunId: string;
  readonly agentId: string;
  readonly agentTitle: string;
  readonly uri: string;
  runId?: string;
  routing?: Routing;
  status: RunStatus;
  queuePosition?: number;
  loadingMs?: number;
  /** Set while the sidecar starts the embedded model server (the `loading` reason). */
  loadingReason?: string;
  /** Local clock (ms) when the run got its slot: the progress counts from here. */
  startedAt?: number;
  output: string;
  lastSeq: number;
  finishReason?: string;
  usage?: RunUsage;
  /** The `end` event's notice: e.g. a review answer that could not be read as findings. */
  notice?: string;
  timings?: Timings;
  error?: { code: string; message: string; hint?: string };
  cancelRequested: boolean;
  /** An orchestrator's steps, in order (empty for other agents). */
  steps: StepView[];
}

export type RunListener = (run: TrackedRun, event: RunEvent) => void;

export class RunTracker {
  private nextKey = 1;
  /** Keeps client run ids unique across windows sharing a sidecar log. */
  private readonly session = Math.random().toString(36).slice(2, 10);
  private readonly pending: TrackedRun[] = [];
  private readonly byRunId = new Map<string, TrackedRun>();
  private readonly active = new Set<TrackedRun>();
  private readonly listeners = new Set<RunListener>();

  begin(agentId: string, agentTitle: string, uri: string): TrackedRun {
    const key = this.nextKey++;
    const run: TrackedRun = {
      key,
      clientRunId: `${this.session}-${key}`,
      agentId,
      agentTitle,
      uri,
      status: 'queued',
      output: '',
      lastSeq: -1,
      cancelRequested: false,
      steps: [],
    };
    this.pending.push(run);
    this.active.add(run);
    return run;
  }

  onEvent(listener: RunListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Runs started here that have not ended, oldest first. */
  activeRuns(): TrackedRun[] {
    return [...this.active].sort((a, b) => a.key - b.key);
  }

  /** Handle one `modelwire/runEvent`; events of runs we did not start are ignored. */
  handle(event: RunEvent): TrackedRun | undefined {
    if (!event || typeof event.runId !== 'string') return undefined;
    if (typeof event.parentRunId === 'string') {
      // A child run's event: it belongs to its parent's step, never to a pending run.
      const parent = this.byRunId.get(event.parentRunId);
      if (!parent || !applyChild(parent, event)) return undefined;
      for (const listener of this.listeners) listener(parent, event);
      return parent;
    }
    let run = this.byRunId.get(event.runId);
    if (!run) {
      run =
        typeof event.clientRunId === 'string'
          ? this.pending.find((r) => r.clientRunId === event.clientRunId)
          : this.pending[0];
      if (!run) return undefined; // another window's run, or one that already ended
      this.bind(run, event.runId);
    }
    if (typeof event.seq === 'number') {
      if (event.seq <= run.lastSeq) return run; // duplicate or late
      run.lastSeq = event.seq;
    }
    apply(run, event, Date.now());
    for (const listener of this.listeners) listener(run, event);
    return run;
  }

  /** The sidecar's answer names the run for certain: fix the binding if it differs. */
  settle(run: TrackedRun, runId: string | undefined): void {
    if (runId && run.runId !== runId) {
      const other = this.byRunId.get(runId);
      if (other && other !== run && run.runId) {
        // Swap: the two runs were bound the wrong way round.
        this.bind(other, run.runId);
      }
      this.bind(run, runId);
    }
  }

  /** Forget a run once its request has answered. */
  finish(run: TrackedRun): void {
    const index = this.pending.indexOf(run);
    if (index >= 0) this.pending.splice(index, 1);
    this.active.delete(run);
    // Keep byRunId a little: late events of a finished run must not bind to a new one.
    setTimeout(() => {
      if (run.runId && this.byRunId.get(run.runId) === run) this.byRunId.delete(run.runId);
    }, 60_000).unref?.();
  }

  private bind(run: TrackedRun, runId: string): void {
    const index = this.pending.indexOf(run);
    if (index >= 0) this.pending.splice(index, 1);
    run.runId = runId;
    this.byRunId.set(runId, run);
  }
}

function apply(run: TrackedRun, event: RunEvent, now: number): void {
  switch (event.kind) {
    case 'queued':
      run.status = 'queued';
      run.queuePosition = event.position;
      break;
    case 'started':
      run.status = 'running';
      run.routing = event.routing;
      run.queuePosition = undefined;
      run.startedAt ??= now;
      break;
    case 'loading':
      run.loadingMs = event.waitedMs;
      // A reasonless `loading` comes from the model server itself: it is up, and has not
      // answered yet (loading weights or reading the prompt). Only the reason says "starting".
      run.loadingReason = typeof event.reason === 'string' && event.reason ? event.reason : undefined;
      break;
    case 'delta':
      run.status = 'running';
      run.output += typeof event.text === 'string' ? event.text : '';
      break;
    case 'retry':
      break;
    case 'step': {
      const known = run.steps.find((s) => s.index === event.step);
      const step: StepView = known ?? { index: event.step, tool: event.tool, target: event.target, outcome: event.outcome };
      Object.assign(step, { outcome: event.outcome, durationMs: event.durationMs, errorCode: event.errorCode, summary: event.summary });
      if (event.childRunId && !step.child) step.child = { runId: event.childRunId, status: 'queued' };
      if (!known) run.steps.push(step);
      break;
    }
    case 'end':
      run.status = event.status;
      run.finishReason = event.finishReason ?? undefined;
      run.usage = event.usage ?? undefined;
      run.timings = event.timings;
      run.notice = typeof event.notice === 'string' && event.notice ? event.notice : undefined;
      break;
    case 'error':
      run.error = { code: event.code, message: event.message, hint: event.hint ?? undefined };
      break;
  }
}

/** Fold a child run's event into its step; false when no step of `parent` names it. */
function applyChild(parent: TrackedRun, event: RunEvent): boolean {
  const child = parent.steps.find((s) => s.child?.runId === event.runId)?.child;
  if (!child) return false;
  if (event.kind === 'started') {
    child.status = 'running';
    child.routing = event.routing;
  } else if (event.kind === 'end') {
    child.status = event.status;
    child.timings = event.timings;
  } else if (event.kind === 'error') {
    child.errorCode = event.code;
  }
  return true;
}

/**
 * The progress notification's message for a run's current state. `now` makes the
 * waiting counters tick: a frozen "loading (1 s)" reads like a hang.
 */
export function progressMessage(run: TrackedRun, now: number = Date.now()): string {
  if (run.cancelRequested) return 'cancelling…';
  if (run.status === 'queued') {
    return run.queuePosition !== undefined ? `queued (position ${run.queuePosition})` : 'queued';
  }
  const where = run.routing ? `${run.routing.connectionName} · ${run.routing.modelRef}` : '';
  const step = run.steps[run.steps.length - 1];
  if (step?.outcome === 'running') return `${where} — step ${step.index}: ${step.tool} ${step.target}`;
  if (!run.output) {
    const waited = run.startedAt !== undefined ? ` (${Math.max(0, Math.round((now - run.startedAt) / 1000))} s)` : '';
    if (run.loadingReason) return `${where} — ${run.loadingReason}${waited}`;
    return `${where} — waiting for the first token${waited}`;
  }
  return `${where} — streaming`;
}
