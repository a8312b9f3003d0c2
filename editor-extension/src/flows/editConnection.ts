/** Edit Connection: name (settings that name it follow), base URL, default model, key. */
import * as P from '../protocol';
import { DEFAULT_CONNECTION_SETTING, DEFAULT_MODEL_SETTING } from '../settings';
import { PickItem, Scope, SettingsStore } from '../ui';
import { baseUrlProblem } from '../urls';
import { chooseModel } from './chooseModel';
import { Deps, listProviders, pickConnection, showError, storeSecret } from './common';

type EditField = 'name' | 'baseUrl' | 'secret' | 'removeSecret' | 'model';

export async function editConnection(d: Deps, given?: P.Connection): Promise<void> {
  const connection = given ?? (await pickConnection(d, 'Edit Connection'));
  if (!connection) return;
  let provider: P.ProviderDescriptor | undefined;
  try {
    provider = (await listProviders(d)).find((p) => p.id === connection.providerId);
  } catch {
    provider = undefined;
  }
  const fields: PickItem<EditField>[] = [
    { label: 'Name', description: connection.name, value: 'name' },
    { label: 'Base URL', description: connection.baseUrl, value: 'baseUrl' },
    { label: 'Default Model', description: connection.defaultModel || 'none', value: 'model' },
  ];
  if (provider?.auth === 'apiKey' || connection.hasSecret) {
    fields.push({ label: connection.hasSecret ? 'Replace API Key' : 'Set API Key', value: 'secret' });
  }
  if (connection.hasSecret) fields.push({ label: 'Remove API Key', value: 'removeSecret' });
  const field = await d.ui.pick(fields, { title: `Edit ${connection.name}`, placeholder: 'What to change' });
  if (!field) return;
  try {
    switch (field) {
      case 'name': {
        const name = await d.ui.input({
          title: `Rename ${connection.name}`,
          prompt: 'New name',
          value: connection.name,
          validate: (v) => (!v.trim() ? 'Enter a name.' : undefined),
        });
        const oldName = connection.name;
        if (!name || name.trim() === oldName) return;
        await d.sidecar.request(P.UPDATE_CONNECTION, { id: connection.id, name: name.trim() });
        await renameInSettings(d.settings, oldName, name.trim());
        break;
      }
      case 'baseUrl': {
        const baseUrl = await d.ui.input({
          title: `Base URL of ${connection.name}`,
          prompt: 'Base URL',
          value: connection.baseUrl,
          validate: (v) => baseUrlProblem(v, provider?.localOnly ?? false),
        });
        if (!baseUrl) return;
        await d.sidecar.request(P.UPDATE_CONNECTION, { id: connection.id, baseUrl: baseUrl.trim() });
        break;
      }
      case 'model': {
        const model = await chooseModel(d, connection, provider);
        if (!model) return;
        await d.sidecar.request(P.UPDATE_CONNECTION, { id: connection.id, defaultModel: model });
        break;
      }
      case 'secret': {
        const secret = await d.ui.input({ title: `API key of ${connection.name}`, prompt: 'API key (kept in the OS keyring)', password: true });
        if (!secret) return;
        if (!(await storeSecret(d, connection, secret))) return;
        break;
      }
      case 'removeSecret':
        await d.sidecar.request(P.DELETE_SECRET, { connectionId: connection.id });
        break;
    }
  } catch (err) {
    await showError(d, err);
    return;
  }
  d.changed?.();
  void d.ui.info(`ModelWire: updated "${connection.name}".`);
}

/** Settings name connections; keep them pointing at a renamed one. */
async function renameInSettings(settings: SettingsStore, from: string, to: string): Promise<void> {
  const scopes: Scope[] = [{ kind: 'user' }, { kind: 'workspace' }, ...settings.folders().map((f) => ({ kind: 'folder' as const, ...f }))];
  for (const scope of scopes) {
    if (settings.read(DEFAULT_CONNECTION_SETTING, scope) === from) await settings.write(DEFAULT_CONNECTION_SETTING, to, scope);
    const model = settings.read(DEFAULT_MODEL_SETTING, scope);
    if (model?.startsWith(`${from}/`)) await settings.write(DEFAULT_MODEL_SETTING, `${to}/${model.slice(from.length + 1)}`, scope);
  }
}
