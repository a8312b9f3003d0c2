/** What a run's side document says, built from its current state. Pure, unit-tested. */
import { errorText } from './errors';
import { formatMs } from './format';
import { Routing, RunStatus } from './protocol';

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
  /** Why a diagnostics answer produced no findings: shown, never a silent empty Problems panel. */
  notice?: string;
  done: boolean;
}

/** The embedded provider is a 135M-parameter demo: every place that names it says so. */
export const EMBEDDED_LABEL = 'small local demo model';

export function routingText(r: Routing): string {
  const provider = r.providerId === 'embedded' ? `embedded, ${EMBEDDED_LABEL}` : r.providerId;
  return `${r.connectionName} (${provider}) · ${r.modelRef} · source: ${r.source}`;
}

export function runDocumentText(view: RunView): string {
  const lines = [`# ${view.title} · ${view.file}`, ''];
  if (view.routing) {
    lines.push(`_${routingText(view.routing)}_`, '');
  } else if (!view.done) {
    lines.push(view.queuePosition !== undefined ? `_queued (position ${view.queuePosition})…_` : '_waiting for the sidecar…_', '');
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
    if (view.notice) lines.push('', `> **Note:** ${view.notice}`);
    if (view.diagnosticsCount) {
      lines.push('', `${view.diagnosticsCount} finding${view.diagnosticsCount === 1 ? '' : 's'} in the Problems panel.`);
    }
  }
  return lines.join('\n') + '\n';
}
