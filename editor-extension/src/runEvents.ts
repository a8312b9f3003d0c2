/** The `modelwire/runEvent` notification's shapes (server/modelwire/protocol.py); re-exported by protocol.ts. */
import type { Routing, RunStatus, RunUsage, StepOutcome, Timings } from './protocol';

// --- Run events (notification modelwire/runEvent) ----------------------------------

interface RunEventBase {
  runId: string;
  seq: number;
  /** Present when startRun carried a clientRunId. */
  clientRunId?: string;
  /** Present on the events of a child run (an orchestrator's run_agent step). */
  parentRunId?: string;
}

export type RunEvent =
  | (RunEventBase & { kind: 'queued'; position: number; connectionId?: string })
  | (RunEventBase & { kind: 'started'; routing: Routing })
  /** `reason` is set while the sidecar starts the embedded model server; none: no token yet. */
  | (RunEventBase & { kind: 'loading'; waitedMs: number; reason?: string | null })
  | (RunEventBase & { kind: 'delta'; text: string })
  | (RunEventBase & { kind: 'retry'; reason: string; delayMs: number })
  | (RunEventBase & {
      kind: 'step';
      step: number;
      tool: string;
      target: string;
      outcome: StepOutcome;
      childRunId?: string;
      errorCode?: string;
      durationMs?: number;
      summary?: string;
    })
  | (RunEventBase & {
      kind: 'end';
      status: RunStatus;
      finishReason?: string | null;
      usage?: RunUsage | null;
      timings?: Timings;
      errorCode?: string | null;
      /** Why a diagnostics answer produced no findings (it could not be read as findings). */
      notice?: string | null;
    })
  | (RunEventBase & { kind: 'error'; code: string; message: string; hint?: string });

export type RunEventKind = RunEvent['kind'];

