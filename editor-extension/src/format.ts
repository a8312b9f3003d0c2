/** How runs, connections and health read to a user. Pure string building, unit-tested. */
import { Connection, HealthResult, ListConnectionsResult, Routing, RunStatus } from './protocol';
import type { StepView } from './runTracker';

export function formatMs(ms: number | undefined): string {
  if (ms === undefined || ms === null || !Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

export function clockTime(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** The last path segment of a URI or path, decoded: what a user calls "the file". */
export function fileLabel(uri: string): string {
  const path = uri.replace(/[?#].*$/, '');
  const last = path.split('/').filter(Boolean).pop() ?? uri;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

export interface RunSummary {
  agentId: string;
  file: string;
  routing?: Routing;
  status: RunStatus | 'failed';
  firstTokenMs?: number;
  totalMs?: number;
  errorCode?: string;
}

/**
 * The one routing line per run in the "ModelWire" output channel:
 * `12:01:02 explain app.py → "Local Ollama" provider=ollama model=llama3.2 source=settings first-token=412 ms total=1.30 s succeeded`
 */
export function routingLine(run: RunSummary, at: Date): string {
  const route = run.routing
    ? `→ "${run.routing.connectionName}" provider=${run.routing.providerId} model=${run.routing.modelRef} source=${run.routing.source}`
    : '→ (no connection)';
  const outcome = run.errorCode ? `${run.status} ${run.errorCode}` : run.status;
  return (
    `${clockTime(at)} ${run.agentId} ${run.file} ${route} ` +
    `first-token=${formatMs(run.firstTokenMs)} total=${formatMs(run.totalMs)} ${outcome}`
  );
}

/**
 * An orchestrator's steps under its routing line, one indented line each; a child run
 * shows its own routing and timing:
 * `  2. run_agent review · ok · 1.24 s → "Work OpenAI" provider=openai model=gpt-4o-mini source=settings succeeded`
 */
export function stepLines(steps: readonly StepView[]): string[] {
  return steps.map((s) => {
    const outcome = s.errorCode ? `${s.outcome} ${s.errorCode}` : s.outcome;
    let line = `  ${s.index}. ${s.tool} ${s.target} · ${outcome} · ${formatMs(s.durationMs)}`;
    const c = s.child;
    if (c?.routing) {
      const r = c.routing;
      line +=
        ` → "${r.connectionName}" provider=${r.providerId} model=${r.modelRef} source=${r.source}` +
        ` first-token=${formatMs(c.timings?.firstTokenMs)} ${c.errorCode && c.status === 'failed' ? `failed ${c.errorCode}` : c.status}`;
    }
    return line;
  });
}

/** A peer's host chooses its model: say so rather than "no model". */
export function modelLabel(connection: Pick<Connection, 'providerId'>, model: string | undefined, none = 'no model'): string {
  return model ?? (connection.providerId === 'peer' ? "the host's model" : none);
}

/** Status bar text for the current scope: "$(plug) Local Ollama · llama3.2". */
export function statusBarText(listing: ListConnectionsResult | undefined): string {
  const current = defaultConnection(listing);
  if (!current) {
    return listing && listing.connections.length === 0
      ? '$(plug) ModelWire: add a connection'
      : '$(plug) ModelWire: no default connection';
  }
  const model = effectiveModel(listing, current);
  // The embedded model is a 135M toy: the status bar must not let it pass for a real one.
  const name = current.providerId === 'embedded' ? `${current.name} (small local demo model)` : current.name;
  return `$(plug) ${name} · ${modelLabel(current, model)}`;
}

export function defaultConnection(listing: ListConnectionsResult | undefined): Connection | undefined {
  if (!listing?.defaultConnectionId) return undefined;
  return listing.connections.find((c) => c.id === listing.defaultConnectionId);
}

/** The model a run in this scope would use: the setting, else the connection's default. */
export function effectiveModel(
  listing: ListConnectionsResult | undefined,
  connection: Connection,
): string | undefined {
  const setting = listing?.defaultModel;
  if (setting) {
    // `connection-name/model` names the connection too; show only the model part.
    const prefix = `${connection.name}/`;
    return setting.startsWith(prefix) ? setting.slice(prefix.length) : setting;
  }
  return connection.defaultModel || undefined;
}

export function healthText(name: string, health: HealthResult): string {
  if (health.reachable && health.error) {
    // The server answered but refused: a wrong key must never read as "reachable".
    const hint = typeof health.error.hint === 'string' && health.error.hint ? ` ${health.error.hint}` : '';
    return `${name} answered, but: ${health.error.message}${hint}`;
  }
  if (health.reachable) {
    const parts = [health.version ? `version ${health.version}` : undefined,
      health.modelCount !== undefined ? `${health.modelCount} model${health.modelCount === 1 ? '' : 's'}` : undefined,
      health.latencyMs !== undefined ? formatMs(health.latencyMs) : undefined].filter(Boolean);
    return `${name} is reachable${parts.length ? ` (${parts.join(', ')})` : ''}.`;
  }
  const err = health.error;
  if (!err) return `${name} is not reachable.`;
  const hint = typeof err.hint === 'string' && err.hint ? ` ${err.hint}` : '';
  return `${err.message}${hint}`;
}

export function connectionDescription(c: Connection): string {
  return [c.providerId, c.defaultModel || 'no default model', c.hasSecret ? 'key stored' : undefined]
    .filter(Boolean)
    .join(' · ');
}
