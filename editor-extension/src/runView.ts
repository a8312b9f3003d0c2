/** What a run's side document says, built from its current state. Pure, unit-tested. */
import { errorText } from './errors';
import { formatMs } from './format';
import { Routing, RunStatus } from './protocol';
import type { StepView } from './runTracker';

export interface RunView {
  title: string;
  file: string;
  routing?: Routing;
  status: RunStatus;
  output: string;
  queuePosition?: number;
  loadingMs?: number;
  firstTokenMs?: number;
  totalMs?: number;
  error?: { code: string; message: string; hint?: string };
  diagnosticsCount?: number;
  /** An orchestrator's tool calls, shown as they happen. */
  steps?: readonly StepView[];
  done: boolean;
}

export function runDocumentText(view: RunView): string {
  const lines = [`# ${view.title} · ${view.file}`, ''];
  if (view.routing) {
    const r = view.routing;
    lines.push(`_${r.connectionName} (${r.providerId}) · ${r.modelRef} · source: ${r.source}_`, '');
  } else if (!view.done) {
    lines.push(view.queuePosition !== undefined ? `_queued (position ${view.queuePosition})…_` : '_waiting for the sidecar…_', '');
  }
  if (view.steps?.length) {
    for (const s of view.steps) {
      const child = s.child?.routing ? ` → ${s.child.routing.connectionName} · ${s.child.routing.modelRef} (${s.child.status})` : '';
      const took = s.durationMs !== undefined ? ` · ${formatMs(s.durationMs)}` : '';
      lines.push(`- step ${s.index}: \`${s.tool}\` ${s.target} — ${s.errorCode ? `${s.outcome} ${s.errorCode}` : s.outcome}${took}${child}`);
    }
    lines.push('');
  }
  if (view.output) lines.push(view.output);
  else if (!view.done && view.routing) {
    lines.push(view.loadingMs !== undefined ? `_loading the model (${Math.round(view.loadingMs / 1000)} s)…_` : '_waiting for the first token…_');
  }
  if (view.done) {
    lines.push('', '---');
    const timing = `first token ${formatMs(view.firstTokenMs)} · total ${formatMs(view.totalMs)}`;
    if (view.error && view.status !== 'cancelled') {
      lines.push(`**${view.status}: ${view.error.code}** — ${errorText({ message: view.error.message, hint: view.error.hint ?? '' })}`);
    } else {
      lines.push(`_${view.status} · ${timing}_`);
    }
    if (view.diagnosticsCount) {
      lines.push('', `${view.diagnosticsCount} finding${view.diagnosticsCount === 1 ? '' : 's'} in the Problems panel.`);
    }
  }
  return lines.join('\n') + '\n';
}
