/**
 * Add Connection: provider, name, base URL, key (password box), a test, the default
 * model, and whether it becomes a default. A refused key (AUTH_FAILED) goes back to the
 * key; Escape at any step after the connection was created removes it again, so a
 * cancelled connection never lingers in routing (see docs/routing.md §4).
 */
import * as P from '../protocol';
import { baseUrlProblem } from '../urls';
import { chooseModel } from './chooseModel';
import { askKey, Deps, listConnections, listProviders, showError, storeSecret, uniqueName } from './common';
import { askDefaultAfterAdd } from './selectDefault';
import { keyProblem, testWithRetry } from './testConnection';
import { healthText } from '../format';

export const REENTER_KEY = 'Re-enter Key';

export async function addConnection(d: Deps): Promise<P.Connection | undefined> {
  let providers: P.ProviderDescriptor[];
  let before: P.ListConnectionsResult;
  try {
    providers = await listProviders(d);
    // Routing as it is now, for files without a folder setting: the end keeps it unless asked.
    before = await listConnections(d);
  } catch (err) {
    await showError(d, err);
    return undefined;
  }
  const provider = await d.ui.pick(
    providers.map((p) => ({
      label: p.displayName,
      description: [p.id, p.auth === 'apiKey' ? 'API key' : 'no key', p.localOnly ? 'this machine only' : undefined].filter(Boolean).join(' · '),
      detail: p.defaultBaseUrl,
      value: p,
    })),
    { title: 'Add Connection (1/5): provider', placeholder: 'Which kind of server?' },
  );
  if (!provider) return undefined;

  const taken = new Set(before.connections.map((c) => c.name));
  const name = await d.ui.input({
    title: 'Add Connection (2/5): name',
    prompt: 'A name for this connection (used in settings and the status bar)',
    value: uniqueName(provider.protocol === 'ollama' ? 'Local Ollama' : provider.displayName, taken),
    validate: (v) =>
      !v.trim() ? 'Enter a name.' : v.trim().length > 100 ? 'At most 100 characters.' : taken.has(v.trim()) ? 'A connection with this name exists.' : undefined,
  });
  if (name === undefined) return undefined;

  const suggested = provider.protocol === 'ollama' ? d.settings.ollamaBaseUrl() || provider.defaultBaseUrl : provider.defaultBaseUrl;
  const baseUrl = await d.ui.input({
    title: 'Add Connection (3/5): base URL',
    prompt: provider.localOnly ? 'Base URL (this machine only: localhost, 127.0.0.1 or [::1])' : 'Base URL of the server',
    value: suggested,
    validate: (v) => baseUrlProblem(v, provider.localOnly),
  });
  if (baseUrl === undefined) return undefined;

  const keyTitle = 'Add Connection (4/5): API key';
  const keyPrompt = 'API key — kept in the OS keyring by the sidecar, never in settings. Leave empty for a server that needs none.';
  let secret: string | undefined;
  if (provider.auth === 'apiKey') {
    secret = await askKey(d, keyTitle, keyPrompt);
    if (secret === undefined) return undefined;
  }

  let connection: P.Connection;
  try {
    connection = await d.sidecar.request<P.Connection>(P.CREATE_CONNECTION, {
      name: name.trim(),
      providerId: provider.id,
      baseUrl: baseUrl.trim(),
    } satisfies P.CreateConnectionParams);
  } catch (err) {
    await showError(d, err, 'Could not add the connection: ');
    return undefined;
  }
  const rollback = async (why: string) => {
    try {
      if (connection.hasSecret) await d.sidecar.request(P.DELETE_SECRET, { connectionId: connection.id });
      await d.sidecar.request(P.DELETE_CONNECTION, { id: connection.id });
    } catch (err) {
      await showError(d, err, `"${connection.name}" could not be removed again: `);
      return undefined;
    }
    d.changed?.();
    void d.ui.info(`ModelWire: ${why}; "${connection.name}" was not added and routing is as it was.`);
    return undefined;
  };

  // The key, then a test; a refused key goes back to the key box.
  for (;;) {
    if (secret) {
      const stored = await storeSecret(d, connection, secret);
      secret = undefined;
      if (!stored) return rollback('the key could not be stored');
      connection = { ...connection, hasSecret: true };
    }
    const health = await testWithRetry(d, connection);
    if (provider.auth !== 'apiKey' || !keyProblem(health) || !health) break;
    const choice = await d.ui.warn(`ModelWire: ${healthText(connection.name, health)}`, REENTER_KEY, 'Continue');
    if (choice !== REENTER_KEY) break;
    secret = await askKey(d, keyTitle, keyPrompt);
    if (secret === undefined) return rollback('Add Connection was cancelled');
  }

  const model = await chooseModel(d, connection, provider);
  if (model === undefined) return rollback('Add Connection was cancelled at the model step');
  try {
    connection = await d.sidecar.request<P.Connection>(P.UPDATE_CONNECTION, { id: connection.id, defaultModel: model });
  } catch (err) {
    await showError(d, err);
  }
  d.changed?.();
  const routing = await askDefaultAfterAdd(d, connection, before);
  d.changed?.();
  void d.ui.info(`ModelWire: added "${connection.name}" (${provider.displayName}${connection.defaultModel ? `, ${connection.defaultModel}` : ''}). ${routing}`.trim());
  return connection;
}
