/**
 * "ModelWire: Share Model…" before and around the child process: which connections may be
 * shared, the picks (connection, model, optional agent), the child's arguments, and the
 * reading of its lines. Pure (no vscode, no child_process) so all of it is unit-tested.
 * Every line the child prints is untrusted here: bounded, stripped of control characters,
 * and only matched against fixed shapes; nothing is ever rendered as HTML.
 */
import { chooseModel, Deps } from './flows';
import { errorText, toErrorInfo } from './errors';
import { connectionDescription } from './format';
import * as P from './protocol';
import { serverIdProblem } from './connectPeer';
import { PickItem } from './ui';

/** Longest child line we keep; longer ones are cut (the child's lines are short). */
export const MAX_LINE_CHARS = 2000;
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** What the sidecar's `check_shareable` allows, so the picker offers only those. */
export function isShareable(c: P.Connection, provider: P.ProviderDescriptor | undefined): boolean {
  if (!provider || c.hasSecret || provider.protocol === 'peer') return false;
  if (provider.localOnly) return true;
  try {
    return LOOPBACK_HOSTS.has(new URL(c.baseUrl).hostname);
  } catch {
    return false;
  }
}

export interface ShareChoice {
  connection: P.Connection;
  model?: string;
  agent?: string;
}

const NO_AGENT = Symbol('no agent');

/** The picks; undefined when the user stopped or nothing can be shared. */
export async function chooseShare(d: Deps, scopeUri?: string): Promise<ShareChoice | undefined> {
  let providers: P.ProviderDescriptor[];
  let connections: P.Connection[];
  let agents: P.AgentInfo[];
  try {
    providers = (await d.sidecar.request<P.ListProvidersResult>(P.LIST_PROVIDERS, {})).providers;
    connections = (await d.sidecar.request<P.ListConnectionsResult>(P.LIST_CONNECTIONS, scopeUri ? { scopeUri } : {})).connections;
    agents = (await d.sidecar.request<P.ListAgentsResult>(P.LIST_AGENTS, scopeUri ? { scopeUri } : {})).agents;
  } catch (err) {
    const info = toErrorInfo(err);
    if (!info.cancelled) await d.ui.error(`ModelWire: ${errorText(info)}`);
    return undefined;
  }
  const byId = new Map(providers.map((p) => [p.id, p]));
  const shareable = connections.filter((c) => isShareable(c, byId.get(c.providerId)));
  if (shareable.length === 0) {
    await d.ui.warn(
      'ModelWire: no connection here can be shared. Share a local connection: Ollama, Embedded, or an OpenAI-compatible server on localhost without a key.',
    );
    return undefined;
  }
  const connection = await d.ui.pick(
    shareable.map((c) => ({ label: c.name, description: connectionDescription(c), detail: c.baseUrl, value: c })),
    { title: 'Share Model (1/3): connection', placeholder: 'Which local connection do peers use?' },
  );
  if (!connection) return undefined;
  const model = await chooseModel(d, connection, byId.get(connection.providerId), {
    title: `Share Model (2/3): model of ${connection.name}`,
    placeholder: 'Which model do peers get? (or type a name)',
  });
  if (model === undefined) return undefined;
  const items: PickItem<string | typeof NO_AGENT>[] = [
    { label: 'No agent', description: 'peers send their own prompts to the model', value: NO_AGENT },
    ...agents.map((a) => ({ label: a.id, description: a.title, detail: a.description, value: a.id })),
  ];
  const agent = await d.ui.pick(items, { title: 'Share Model (3/3): agent (optional)', placeholder: 'Apply an agent to every prompt?' });
  if (agent === undefined) return undefined;
  return { connection, model, agent: agent === NO_AGENT ? undefined : agent };
}

/** `-m modelwire share …` for the sidecar's interpreter. The connection goes by id. */
export function shareArgs(choice: ShareChoice): string[] {
  const args = ['-m', 'modelwire', 'share', choice.connection.id];
  if (choice.model) args.push('--model', choice.model);
  if (choice.agent) args.push('--agent', choice.agent);
  args.push('--no-qr');
  return args;
}

/** Printable text only (no C0/C1 controls, no bidi overrides), at most `max` characters. */
export function plainLine(line: string, max = MAX_LINE_CHARS): string {
   
  const cleaned = line.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, ' ').trimEnd();
  return cleaned.length > max ? `${cleaned.slice(0, max)}…` : cleaned;
}

export type ShareState = 'Starting' | 'Ready' | 'Busy' | 'Stopped';

export interface ShareStatus {
  state: ShareState;
  clients: number;
}

/** The state a `[hh:mm:ss] … Ready · clients 2` line reports, if it reports one. */
export function parseStateLine(line: string): ShareStatus | undefined {
  const text = plainLine(line, 400);
  const m = /(?:^|·\s|\]\s)(Ready|Busy)\s·\sclients\s(\d{1,6})$/.exec(text);
  if (m) return { state: m[1] as ShareState, clients: Number(m[2]) };
  if (/^\[\d{2}:\d{2}:\d{2}\]\sStopped$/.test(text)) return { state: 'Stopped', clients: 0 };
  return undefined;
}

/** The first stdout line must be a Server ID and nothing else. */
export function parseServerIdLine(line: string): string | undefined {
  const text = line.trim();
  return serverIdProblem(text) === undefined ? text : undefined;
}

export interface ChildError {
  code: string;
  message: string;
  hint: string;
}

/** The `error: …` / `hint: …  [CODE]` lines `modelwire` prints on stderr when it fails. */
export function parseChildError(stderr: string): ChildError | undefined {
  const lines = stderr.split('\n').map((l) => plainLine(l, 500));
  let message: string | undefined;
  for (const line of lines) {
    if (line.startsWith('error: ')) message = line.slice(7);
    const hint = /^hint: (.*?)\s+\[([A-Z_]{2,40})\]$/.exec(line);
    if (hint && message !== undefined) return { code: hint[2], message, hint: hint[1] === '-' ? '' : hint[1] };
  }
  if (message !== undefined) return { code: 'SHARE_FAILED', message, hint: '' };
  return undefined;
}

export function statusText(status: ShareStatus): string {
  const clients = `${status.clients} client${status.clients === 1 ? '' : 's'}`;
  return `Sharing · ${clients} · ${status.state}`;
}
