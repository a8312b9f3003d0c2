/** Delete Connection: asks first, and removes the key from the keyring too. */
import * as P from '../protocol';
import { Deps, pickConnection, showError } from './common';

export async function deleteConnection(d: Deps, given?: P.Connection): Promise<void> {
  const connection = given ?? (await pickConnection(d, 'Delete Connection'));
  if (!connection) return;
  const sure = await d.ui.confirm(
    `Delete the connection "${connection.name}"?${connection.hasSecret ? ' Its API key is removed from the keyring too.' : ''}`,
    'Delete',
  );
  if (!sure) return;
  try {
    if (connection.hasSecret) await d.sidecar.request(P.DELETE_SECRET, { connectionId: connection.id });
    await d.sidecar.request<P.DeleteConnectionResult>(P.DELETE_CONNECTION, { id: connection.id });
  } catch (err) {
    await showError(d, err);
    return;
  }
  d.changed?.();
  void d.ui.info(`ModelWire: deleted "${connection.name}".`);
}
