/**
 * What the ModelWire view's two trees show, as plain data: Connections (default marked,
 * per-scope source, last health) and Runs (agent, file, folder, routing, outcome, local
 * time; filtered by outcome; nested by `parentRunId` when records carry one — orchestrator
 * runs and their steps). No vscode import: unit-tested; views/trees.ts draws it.
 */
import { fileLabel, formatMs, healthText, modelLabel } from '../format';
import * as P from '../protocol';
import { EMBEDDED_LABEL } from '../runView';

export interface Node {
  id: string;
  label: string;
  description?: string;
  tooltip: string;
  /** A codicon name. */
  icon: string;
  /** Drives the inline actions in package.json (`viewItem == …`). */
  contextValue: string;
  collapsible: boolean;
}

export function connectionNodes(listing: P.ListConnectionsResult, health: Map<string, P.HealthResult>, folderName?: string): Node[] {
  return listing.connections.map((c) => {
    const isDefault = c.id === listing.defaultConnectionId;
    const builtin = c.providerId === 'embedded';
    const h = health.get(c.id);
    const bad = h && (!h.reachable || h.error);
    const where = folderName ? `folder "${folderName}"` : 'this window';
    const source = listing.defaultSource === 'settings' ? 'from settings' : listing.defaultSource === 'single' ? 'the only connection' : 'fallback';
    // A peer's last good test names its host and model: who answers runs here.
    const host = c.providerId === 'peer' && h?.reachable && !h.error ? h.version : undefined;
    const parts = [builtin ? EMBEDDED_LABEL : c.providerId, host ?? modelLabel(c, c.defaultModel || undefined, 'no default model')];
    if (isDefault) parts.push(`default for ${where} (${source})`);
    if (bad) parts.push('not working');
    const tooltip = [`${c.name} — ${c.baseUrl}`, builtin ? `Embedded is a ${EMBEDDED_LABEL}: fine for a first try, weak on real code.` : '', c.hasSecret ? 'API key stored in the OS keyring.' : '', h ? healthText(c.name, h) : '']
      .filter(Boolean)
      .join('\n');
    return {
      id: `connection:${c.id}`,
      label: c.name,
      description: parts.join(' · '),
      tooltip,
      icon: bad ? 'warning' : isDefault ? 'star-full' : builtin ? 'beaker' : 'plug',
      contextValue: builtin ? 'modelwire.connection.builtin' : 'modelwire.connection',
      collapsible: false,
    };
  });
}

/**
 * The one row a tree shows when the sidecar cannot answer (not running, a bad interpreter):
 * an empty Connections tree would say "No connection yet", which is not true.
 */
export function unavailableNode(what: 'connections' | 'runs', why: string): Node {
  return {
    id: `unavailable:${what}`,
    label: `Cannot list the ${what}`,
    description: why.replace(/^ModelWire's sidecar is not running: /, 'the sidecar is not running: '),
    tooltip: `${why}\nFix it, then run "ModelWire: Restart Server".`,
    icon: 'warning',
    contextValue: 'modelwire.unavailable',
    collapsible: false,
  };
}

export type OutcomeFilter = 'all' | 'succeeded' | 'failed' | 'cancelled' | 'active';

const ICONS: Record<string, string> = {
  succeeded: 'pass',
  failed: 'error',
  cancelled: 'circle-slash',
  interrupted: 'debug-disconnect',
  running: 'sync~spin',
  queued: 'clock',
};

/** The run record, with the parent link the agents work adds (absent until then). */
export type TreeRun = P.RunRecord & { parentRunId?: string };

export function matchesFilter(run: P.RunRecord, filter: OutcomeFilter): boolean {
  if (filter === 'all') return true;
  if (filter === 'active') return run.status === 'running' || run.status === 'queued';
  if (filter === 'failed') return run.status === 'failed' || run.status === 'interrupted';
  return run.status === filter;
}

/** Children of `parent` (undefined: the top level: runs whose parent is not listed). */
export function runChildren(runs: TreeRun[], parent: string | undefined, filter: OutcomeFilter): TreeRun[] {
  const ids = new Set(runs.map((r) => r.runId));
  return runs.filter((r) => {
    const top = !r.parentRunId || !ids.has(r.parentRunId);
    const placed = parent === undefined ? top : r.parentRunId === parent;
    // A filter applies to the top level; a parent's steps are all shown under it.
    return placed && (parent !== undefined || matchesFilter(r, filter));
  });
}

function localTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function runNode(run: TreeRun, runs: TreeRun[], folders: Array<{ uri: string; name: string }>): Node {
  const folder = folders.find((f) => run.uri.startsWith(f.uri.endsWith('/') ? f.uri : `${f.uri}/`));
  const route = run.routing ? `${run.routing.connectionName} · ${run.routing.modelRef}` : 'no connection';
  const outcome = run.errorCode && run.status !== 'cancelled' ? `${run.status} ${run.errorCode}` : run.status;
  const active = run.status === 'running' || run.status === 'queued';
  const tooltip = [
    `${run.agentId} on ${fileLabel(run.uri)}${folder ? ` in folder "${folder.name}"` : ''}`,
    run.routing ? `${run.routing.connectionName} (${run.routing.providerId}) · ${run.routing.modelRef} · source: ${run.routing.source}` : 'no connection was chosen',
    `${outcome} · started ${localTime(run.timings.queuedAt)} · first token ${formatMs(run.timings.firstTokenMs)} · total ${formatMs(run.timings.totalMs)}`,
    run.errorMessage ?? '',
  ]
    .filter(Boolean)
    .join('\n');
  return {
    id: `run:${run.runId}`,
    label: `${run.agentId} · ${fileLabel(run.uri)}`,
    description: `${folder ? `${folder.name} · ` : ''}${route} · ${outcome} · ${localTime(run.timings.queuedAt).slice(11)}`,
    tooltip,
    icon: ICONS[run.status] ?? 'circle-outline',
    contextValue: active ? 'modelwire.run.active' : 'modelwire.run',
    collapsible: runs.some((r) => r.parentRunId === run.runId),
  };
}
