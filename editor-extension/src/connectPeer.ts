/**
 * "ModelWire: Connect to Shared Model…": paste a Server ID, name the connection, create a
 * `peer` connection whose secret is the Server ID, test it, offer it as this folder's
 * default. A plain flow over `Ui` and `Sidecar` (no vscode import) so it is unit-tested.
 * The sidecar decides (INVALID_SERVER_ID); the check here only saves a round trip.
 */
import { Deps, makeDefault, uniqueName } from './flows';
import { errorText, toErrorInfo } from './errors';
import { formatMs, healthText } from './format';
import * as P from './protocol';

export const PEER_PROVIDER_ID = 'peer';
/** The sidecar's `PEER_BASE_URL`; used only when listProviders does not answer with one. */
const PEER_BASE_URL = 'peer://hyperswarm';
const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const TOPIC_BYTES = 32;

/** Bytes of a base58 (Bitcoin alphabet) string, or undefined when it is not base58. */
export function base58Decode(text: string): Uint8Array | undefined {
  if (text.length > 64) return undefined;
  let n = 0n;
  for (const ch of text) {
    const digit = ALPHABET.indexOf(ch);
    if (digit < 0) return undefined;
    n = n * 58n + BigInt(digit);
  }
  const body: number[] = [];
  while (n > 0n) {
    body.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  let zeros = 0;
  while (zeros < text.length && text[zeros] === '1') zeros++;
  return Uint8Array.from([...new Array<number>(zeros).fill(0), ...body]);
}

/** Why `value` is not a Server ID (base58 of 32 bytes), or undefined when it is one. */
export function serverIdProblem(value: string): string | undefined {
  const text = value.trim();
  if (!text) return 'Paste the Server ID the host showed (modelwire share, or Share Model… in VS Code).';
  // Never echo the value: it is a capability.
  if (text.length < 32 || text.length > 44) return 'A Server ID is 32 to 44 characters long.';
  const bytes = base58Decode(text);
  if (!bytes) return 'A Server ID uses base58 letters and digits only (no 0, O, I or l).';
  if (bytes.length !== TOPIC_BYTES) return 'That is not a Server ID (it does not name 32 bytes).';
  return undefined;
}

async function showError(d: Deps, err: unknown, prefix = ''): Promise<void> {
  const info = toErrorInfo(err);
  if (info.cancelled) return;
  await d.ui.error(`${prefix}${errorText(info)}`);
}

/** Remove a connection this flow made and could not complete; a failure here is only logged. */
async function discard(d: Deps, connection: P.Connection): Promise<void> {
  try {
    await d.sidecar.request<P.DeleteConnectionResult>(P.DELETE_CONNECTION, { id: connection.id });
  } catch {
    // Nothing more to do: the user sees the first error, the connection stays listed.
  }
  d.changed?.();
}

/** "X is reachable: host 'laptop': qwen2.5 (ready) · 413 ms" (version carries host and model). */
export function peerHealthText(name: string, health: P.HealthResult): string {
  if (!health.reachable) return healthText(name, health);
  const parts = [health.version, health.latencyMs !== undefined ? formatMs(health.latencyMs) : undefined].filter(Boolean);
  return `${name} is reachable${parts.length ? `: ${parts.join(' · ')}` : ''}.`;
}

/** `noteHealth` gets the test's result (the Connections tree and status bar show it). */
export async function connectToSharedModel(d: Deps, noteHealth?: (health: P.HealthResult) => void): Promise<P.Connection | undefined> {
  let existing: P.Connection[];
  let baseUrl = PEER_BASE_URL;
  try {
    existing = (await d.sidecar.request<P.ListConnectionsResult>(P.LIST_CONNECTIONS, {})).connections;
    const providers = (await d.sidecar.request<P.ListProvidersResult>(P.LIST_PROVIDERS, {})).providers;
    const peer = providers.find((p) => p.id === PEER_PROVIDER_ID);
    if (!peer) {
      await d.ui.error('ModelWire: this sidecar has no shared-model (peer) provider. Update ModelWire, then try again.');
      return undefined;
    }
    baseUrl = peer.defaultBaseUrl || PEER_BASE_URL;
  } catch (err) {
    await showError(d, err);
    return undefined;
  }

  let serverId = await d.ui.input({
    title: 'Connect to Shared Model (1/2): Server ID',
    prompt: 'The Server ID the host shared with you — kept in the OS keyring, never in settings. Anyone who has it can use that model.',
    password: true,
    validate: serverIdProblem,
  });
  if (serverId === undefined) return undefined;
  serverId = serverId.trim();

  const taken = new Set(existing.map((c) => c.name));
  const name = await d.ui.input({
    title: 'Connect to Shared Model (2/2): name',
    prompt: 'A name for this connection (used in settings and the status bar)',
    value: uniqueName('Shared model', taken),
    validate: (v) =>
      !v.trim() ? 'Enter a name.' : v.trim().length > 100 ? 'At most 100 characters.' : taken.has(v.trim()) ? 'A connection with this name exists.' : undefined,
  });
  if (name === undefined) return undefined;

  let connection: P.Connection;
  try {
    connection = await d.sidecar.request<P.Connection>(P.CREATE_CONNECTION, {
      name: name.trim(),
      providerId: PEER_PROVIDER_ID,
      baseUrl,
    } satisfies P.CreateConnectionParams);
  } catch (err) {
    await showError(d, err, 'Could not add the connection: ');
    return undefined;
  }
  d.changed?.();

  const release = d.sidecar.holdSecret(serverId);
  try {
    await d.sidecar.request<P.SecretResult>(P.SET_SECRET, { connectionId: connection.id, secret: serverId } satisfies P.SetSecretParams);
  } catch (err) {
    // A connection without its Server ID is useless; do not leave it behind.
    await showError(d, err, 'The Server ID was not stored: ');
    await discard(d, connection);
    return undefined;
  } finally {
    serverId = '';
    release();
  }
  connection = { ...connection, hasSecret: true };
  d.changed?.();

  let health: P.HealthResult | undefined;
  try {
    health = await d.ui.progress(`ModelWire: reaching the host of ${connection.name}…`, false, () =>
      d.sidecar.request<P.HealthResult>(P.TEST_CONNECTION, { connectionId: connection.id }),
    );
  } catch (err) {
    await showError(d, err, `Could not test ${connection.name}: `);
  }
  if (health) noteHealth?.(health);
  d.changed?.();
  const offer = 'Use as Default Here';
  let choice: string | undefined;
  if (health?.reachable) {
    choice = await d.ui.info(`ModelWire: ${peerHealthText(connection.name, health)}`, offer);
  } else {
    const why = health ? healthText(connection.name, health) : 'it was not tested.';
    choice = await d.ui.warn(
      `ModelWire: added "${connection.name}", but the host did not answer: ${why} It works once the host is sharing again.`,
      offer,
    );
  }
  if (choice === offer) await makeDefault(d, connection);
  return connection;
}
