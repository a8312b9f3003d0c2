/**
 * What a run's panel shows, built from its current state: a header (agent, file, routing,
 * progress), the answer rendered from Markdown, and a footer (outcome, timings, error,
 * notice, findings). Pure and unit-tested; everything from the wire is escaped here.
 */
import { errorText } from './errors';
import { formatMs } from './format';
import { escapeHtml, renderAnswer, CodeBlock } from './markdown';
import { Range, Routing, RunStatus } from './protocol';
import type { StepView } from './runTracker';

export interface RunView {
  title: string;
  file: string;
  /** The document the run was about, and its range: where Apply proposes the edit. */
  uri?: string;
  range?: Range;
  routing?: Routing;
  status: RunStatus;
  output: string;
  queuePosition?: number;
  loadingMs?: number;
  /** The progress line while running ("waiting for the first token (3 s)"). */
  progress?: string;
  firstTokenMs?: number;
  totalMs?: number;
  error?: { code: string; message: string; hint?: string };
  diagnosticsCount?: number;
  /** Why a diagnostics answer produced no findings: shown, never a silent empty Problems panel. */
  notice?: string;
  /** An orchestrator's tool calls, shown as they happen. */
  steps?: readonly StepView[];
  done: boolean;
}

/** The embedded provider is a 135M-parameter demo: every place that names it says so. */
export const EMBEDDED_LABEL = 'small local demo model';

export function routingText(r: Routing): string {
  const provider = r.providerId === 'embedded' ? `embedded, ${EMBEDDED_LABEL}` : r.providerId;
  return `${r.connectionName} (${provider}) · ${r.modelRef} · source: ${r.source}`;
}

export interface PanelParts {
  header: string;
  body: string;
  footer: string;
  blocks: CodeBlock[];
}

export function runPanelParts(view: RunView): PanelParts {
  const header = [`<h2>${escapeHtml(`${view.title} · ${view.file}`)}</h2>`];
  if (view.routing) {
    header.push(`<div class="routing">${escapeHtml(routingText(view.routing))}</div>`);
    if (view.routing.providerId === 'embedded') {
      header.push(`<div class="demo">Embedded is a ${EMBEDDED_LABEL}: fine for a first try, weak on real code.</div>`);
    }
  }
  if (view.steps?.length) {
    const items = view.steps.map((s) => {
      const child = s.child?.routing ? ` → ${s.child.routing.connectionName} · ${s.child.routing.modelRef} (${s.child.status})` : '';
      const took = s.durationMs !== undefined ? ` · ${formatMs(s.durationMs)}` : '';
      return `<li>${escapeHtml(`step ${s.index}: ${s.tool} ${s.target} — ${s.errorCode ? `${s.outcome} ${s.errorCode}` : s.outcome}${took}${child}`)}</li>`;
    });
    header.push(`<ul class="steps">${items.join('')}</ul>`);
  }
  if (!view.done) {
    const waiting = view.queuePosition !== undefined ? `queued (position ${view.queuePosition})` : view.routing ? '' : 'waiting for the sidecar…';
    const line = view.progress ?? waiting;
    if (line) header.push(`<div class="progress">${escapeHtml(line)}</div>`);
  }
  const { html, blocks } = renderAnswer(view.output);
  const footer: string[] = [];
  if (view.done) {
    if (view.error && view.status !== 'cancelled') {
      footer.push(`<div class="error"><b>${escapeHtml(`${view.status}: ${view.error.code}`)}</b> — ${escapeHtml(errorText({ message: view.error.message, hint: view.error.hint ?? '' }))}</div>`);
    } else {
      footer.push(`<div>${escapeHtml(`${view.status} · first token ${formatMs(view.firstTokenMs)} · total ${formatMs(view.totalMs)}`)}</div>`);
    }
    if (view.notice) footer.push(`<div class="notice"><b>Note:</b> ${escapeHtml(view.notice)}</div>`);
    if (view.diagnosticsCount) {
      footer.push(`<div>${view.diagnosticsCount} finding${view.diagnosticsCount === 1 ? '' : 's'} in the Problems panel.</div>`);
    }
  }
  return { header: header.join(''), body: html, footer: footer.join(''), blocks };
}

/** The same, as plain text: what a screen reader or a test reads (no markup). */
export function runPanelText(view: RunView): string {
  const strip = (html: string) =>
    html
      .replace(/<\/(div|h2|p|pre|li)>/g, '\n')
      .replace(/<[^>]+>/g, '')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&amp;/g, '&');
  const parts = runPanelParts(view);
  return `${strip(parts.header)}\n${strip(parts.body)}\n${strip(parts.footer)}`.replace(/\n{3,}/g, '\n\n');
}
