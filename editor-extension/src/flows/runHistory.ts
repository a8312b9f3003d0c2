/** The run history as quick-pick rows: outcome icon, agent and file, routing, time and timings. */
import { formatMs } from '../format';
import * as P from '../protocol';
import { PickItem } from '../ui';

export function runHistoryItems(runs: P.RunRecord[]): PickItem<P.RunRecord>[] {
  const icon: Record<string, string> = { succeeded: '$(check)', failed: '$(error)', cancelled: '$(circle-slash)', interrupted: '$(debug-disconnect)', running: '$(sync~spin)', queued: '$(clock)' };
  return runs.map((r) => {
    const file = r.uri.split('/').pop() ?? r.uri;
    const route = r.routing ? `${r.routing.connectionName} (${r.routing.providerId}) · ${r.routing.modelRef} · ${r.routing.source}` : 'no routing';
    return {
      label: `${icon[r.status] ?? ''} ${r.agentId} · ${decodeURIComponentSafe(file)}`.trim(),
      description: route,
      detail: `${r.timings.queuedAt} · first token ${formatMs(r.timings.firstTokenMs)} · total ${formatMs(r.timings.totalMs)} · ${r.status}${r.errorCode ? ` ${r.errorCode}` : ''}`,
      value: r,
    };
  });
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
