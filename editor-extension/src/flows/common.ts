/**
 * What every connection flow shares: its dependencies, the sidecar calls they all make,
 * error display, storing a key, and picking a connection. The flows are plain async
 * functions over `Ui`, `Sidecar` and `SettingsStore` (no vscode import), one per module,
 * each unit-tested with a scripted UI and a fake sidecar.
 */
import { errorText, toErrorInfo } from '../errors';
import { connectionDescription } from '../format';
import * as P from '../protocol';
import { SettingsStore, Sidecar, Ui } from '../ui';

export interface Deps {
  ui: Ui;
  sidecar: Sidecar;
  settings: SettingsStore;
  /** Called whenever connections or health changed (the status bar listens). */
  changed?: () => void;
  /** Unique work-done tokens for pullModel. */
  newToken?: () => string;
  /** Offered when a flow finds no connection (wired to Add Connection). */
  addConnection?: () => Promise<unknown>;
  /** The status-bar picker's "Run on Embedded": one run, routing untouched. */
  runOnEmbedded?: () => Promise<unknown>;
}

export async function listProviders(d: Deps): Promise<P.ProviderDescriptor[]> {
  const result = await d.sidecar.request<P.ListProvidersResult>(P.LIST_PROVIDERS, {});
  return result.providers;
}

export async function listConnections(d: Deps, scopeUri?: string): Promise<P.ListConnectionsResult> {
  return d.sidecar.request<P.ListConnectionsResult>(P.LIST_CONNECTIONS, scopeUri ? { scopeUri } : {});
}

export async function showError(d: Deps, err: unknown, prefix = ''): Promise<void> {
  const info = toErrorInfo(err);
  if (info.cancelled) return;
  await d.ui.error(`${prefix}${errorText(info)}`);
}

/** The active folder as a request's `scopeUri`: a stored key's consent is per folder. */
export function scope(d: Deps): { scopeUri?: string } {
  const folder = d.settings.activeFolder();
  return folder ? { scopeUri: folder.uri } : {};
}

export function uniqueName(base: string, taken: Set<string>): string {
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base} ${i}`)) return `${base} ${i}`;
}

/** Hand a key to the sidecar (the keyring); it is redacted from every log meanwhile. */
export async function storeSecret(d: Deps, connection: P.Connection, secret: string): Promise<boolean> {
  const release = d.sidecar.holdSecret(secret);
  try {
    await d.sidecar.request<P.SecretResult>(P.SET_SECRET, { connectionId: connection.id, secret } satisfies P.SetSecretParams);
    return true;
  } catch (err) {
    await showError(d, err, `The API key of "${connection.name}" was not stored: `);
    return false;
  } finally {
    release();
  }
}

/** Ask for a key in a password box; undefined when the user pressed Escape. */
export function askKey(d: Deps, title: string, prompt: string): Promise<string | undefined> {
  return d.ui.input({ title, prompt, password: true });
}

/** Pick one connection; the scope's default comes first. */
export async function pickConnection(
  d: Deps,
  title: string,
  filter: (c: P.Connection) => boolean = () => true,
): Promise<P.Connection | undefined> {
  const listing = await listConnections(d, d.settings.activeFolder()?.uri);
  const connections = listing.connections.filter(filter);
  if (connections.length === 0) {
    const add = await d.ui.info('ModelWire has no connection yet.', 'Add Connection');
    if (add && d.addConnection) await d.addConnection();
    return undefined;
  }
  connections.sort((a, b) => Number(b.id === listing.defaultConnectionId) - Number(a.id === listing.defaultConnectionId));
  const items = connections.map((c) => ({
    label: c.name,
    description: `${connectionDescription(c)}${c.id === listing.defaultConnectionId ? ' · default here' : ''}`,
    detail: c.baseUrl,
    value: c,
  }));
  return d.ui.pick(items, { title, placeholder: 'Connection' });
}
