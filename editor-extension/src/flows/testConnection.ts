/**
 * Test Connection: reachability, version, model count and latency, or the error with its
 * hint. A server that answered but refused the key (`reachable: true` with an `error`)
 * is a failure to the user, with "Re-enter Key".
 */
import { healthText } from '../format';
import * as P from '../protocol';
import { askKey, Deps, pickConnection, scope, showError, storeSecret } from './common';

export const REENTER_KEY = 'Re-enter Key';

/** One health check with a progress notification; undefined when the request failed. */
export async function checkHealth(d: Deps, connection: P.Connection): Promise<P.HealthResult | undefined> {
  try {
    return await d.ui.progress(`ModelWire: testing ${connection.name}…`, false, () =>
      d.sidecar.request<P.HealthResult>(P.TEST_CONNECTION, { connectionId: connection.id, ...scope(d) } satisfies P.TestConnectionParams),
    );
  } catch (err) {
    await showError(d, err);
    return undefined;
  }
}

/** Healthy means reachable AND no error: a 401 is an answer, not a working connection. */
export function healthy(health: P.HealthResult): boolean {
  return health.reachable && !health.error;
}

/** A refused or missing key: the fix is a new key. */
export function keyProblem(health: P.HealthResult | undefined): boolean {
  const code = health?.error?.code;
  return code === P.ErrorCode.AUTH_FAILED || code === P.ErrorCode.SECRET_MISSING;
}

/** Test until reachable or the user moves on; returns the last health. */
export async function testWithRetry(d: Deps, connection: P.Connection): Promise<P.HealthResult | undefined> {
  for (;;) {
    const health = await checkHealth(d, connection);
    if (!health || healthy(health) || keyProblem(health)) return health;
    const choice = await d.ui.warn(healthText(connection.name, health), 'Retry', 'Continue');
    if (choice !== 'Retry') return health;
  }
}

export async function testConnection(d: Deps, given?: P.Connection): Promise<P.HealthResult | undefined> {
  const connection = given ?? (await pickConnection(d, 'Test Connection'));
  if (!connection) return undefined;
  for (;;) {
    const health = await checkHealth(d, connection);
    if (!health) return undefined;
    d.changed?.();
    const text = `ModelWire: ${healthText(connection.name, health)}`;
    if (healthy(health)) {
      void d.ui.info(text);
      return health;
    }
    if (!keyProblem(health)) {
      void d.ui.warn(text);
      return health;
    }
    const choice = await d.ui.warn(text, REENTER_KEY);
    if (choice !== REENTER_KEY) return health;
    const secret = await askKey(d, `API key of ${connection.name}`, 'API key (kept in the OS keyring)');
    if (!secret || !(await storeSecret(d, connection, secret))) return health;
  }
}
