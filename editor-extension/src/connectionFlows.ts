/**
 * The connection commands as plain async flows over `Ui` and `Sidecar`: add, edit, test,
 * delete, select the default, pull a model. No vscode import, so each flow is unit-tested
 * with a scripted UI and a fake sidecar.
 */
import { errorText, toErrorInfo } from './errors';
import { connectionDescription, formatMs, healthText } from './format';
import * as P from './protocol';
import { DEFAULT_CONNECTION_SETTING, DEFAULT_MODEL_SETTING } from './settings';
import { PickItem, Scope, SettingsStore, Sidecar, Ui } from './ui';
import { baseUrlProblem } from './urls';

export interface Deps {
  ui: Ui;
  sidecar: Sidecar;
  settings: SettingsStore;
  /** Called whenever connections or health changed (the status bar listens). */
  changed?: () => void;
  /** Unique work-done tokens for pullModel. */
  newToken?: () => string;
}

const REFRESH = Symbol('refresh');
const PULL = Symbol('pull');
type ModelChoice = string | typeof REFRESH | typeof PULL;

async function listProviders(d: Deps): Promise<P.ProviderDescriptor[]> {
  const result = await d.sidecar.request<P.ListProvidersResult>(P.LIST_PROVIDERS, {});
  return result.providers;
}

async function listConnections(d: Deps, scopeUri?: string): Promise<P.ListConnectionsResult> {
  return d.sidecar.request<P.ListConnectionsResult>(P.LIST_CONNECTIONS, scopeUri ? { scopeUri } : {});
}

async function showError(d: Deps, err: unknown, prefix = ''): Promise<void> {
  const info = toErrorInfo(err);
  if (info.cancelled) return;
  await d.ui.error(`${prefix}${errorText(info)}`);
}

export function uniqueName(base: string, taken: Set<string>): string {
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base} ${i}`)) return `${base} ${i}`;
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
    if (add) await addConnection(d);
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

/** Test until reachable or the user moves on; returns the last health. */
async function testWithRetry(d: Deps, connection: P.Connection): Promise<P.HealthResult | undefined> {
  for (;;) {
    let health: P.HealthResult;
    try {
      health = await d.ui.progress(`ModelWire: testing ${connection.name}…`, false, () =>
        d.sidecar.request<P.HealthResult>(P.TEST_CONNECTION, { connectionId: connection.id }),
      );
    } catch (err) {
      await showError(d, err);
      return undefined;
    }
    if (health.reachable) return health;
    const choice = await d.ui.warn(healthText(connection.name, health), 'Retry', 'Continue');
    if (choice !== 'Retry') return health;
  }
}

/** Pick a model from the discovered list, with Refresh, Pull (Ollama) and free typing. */
export async function chooseModel(
  d: Deps,
  connection: P.Connection,
  provider: P.ProviderDescriptor | undefined,
): Promise<string | undefined> {
  let refresh = false;
  for (;;) {
    let models: P.ModelEntry[] = [];
    let problem = '';
    try {
      const result = await d.sidecar.request<P.ListModelsResult>(P.LIST_MODELS, { connectionId: connection.id, refresh });
      models = result.models;
    } catch (err) {
      problem = errorText(toErrorInfo(err));
    }
    const items: PickItem<ModelChoice>[] = models.map((m) => ({
      label: m.id,
      description: [m.parameterSize, m.quantization, m.family].filter(Boolean).join(' · ') || undefined,
      value: m.id,
    }));
    if (provider?.defaultModel && !models.some((m) => m.id === provider.defaultModel)) {
      items.push({ label: provider.defaultModel, description: `${provider.displayName}'s usual default (not listed)`, value: provider.defaultModel });
    }
    items.push({ label: '$(refresh) Refresh', description: 'ask the server again', value: REFRESH });
    if (provider?.capabilities.pullModel) {
      items.push({ label: '$(cloud-download) Pull a model…', value: PULL });
    }
    const placeholder = problem
      ? `Could not list models: ${problem} Type a model name, or Refresh.`
      : models.length
        ? 'Default model for this connection (or type a name)'
        : 'No models found. Type a model name, Refresh, or pull one.';
    const choice = await d.ui.pick(items, {
      title: `Default model for ${connection.name}`,
      placeholder,
      typed: (text) => (text.trim() ? { label: text.trim(), description: 'use this name', value: text.trim() } : undefined),
    });
    if (choice === undefined) return undefined;
    if (choice === REFRESH) {
      refresh = true;
      continue;
    }
    if (choice === PULL) {
      await pullModel(d, connection);
      refresh = true;
      continue;
    }
    return choice;
  }
}

export async function addConnection(d: Deps): Promise<P.Connection | undefined> {
  let providers: P.ProviderDescriptor[];
  let existing: P.Connection[];
  try {
    providers = await listProviders(d);
    existing = (await listConnections(d)).connections;
  } catch (err) {
    await showError(d, err);
    return undefined;
  }
  const provider = await d.ui.pick(
    providers.map((p) => ({
      label: p.displayName,
      description: [p.id, p.auth === 'apiKey' ? 'API key' : 'no key', p.localOnly ? 'this machine only' : undefined]
        .filter(Boolean)
        .join(' · '),
      detail: p.defaultBaseUrl,
      value: p,
    })),
    { title: 'Add Connection (1/5): provider', placeholder: 'Which kind of server?' },
  );
  if (!provider) return undefined;

  const taken = new Set(existing.map((c) => c.name));
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

  let secret: string | undefined;
  if (provider.auth === 'apiKey') {
    secret = await d.ui.input({
      title: 'Add Connection (4/5): API key',
      prompt: 'API key — kept in the OS keyring by the sidecar, never in settings. Leave empty for a server that needs none.',
      password: true,
    });
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
  d.changed?.();
  if (secret) {
    const ok = await storeSecret(d, connection, secret);
    secret = undefined;
    if (!ok) return connection;
  }

  await testWithRetry(d, connection);
  const model = await chooseModel(d, connection, provider);
  if (model) {
    try {
      connection = await d.sidecar.request<P.Connection>(P.UPDATE_CONNECTION, { id: connection.id, defaultModel: model });
    } catch (err) {
      await showError(d, err);
    }
  }
  d.changed?.();
  void d.ui.info(`ModelWire: added "${connection.name}" (${provider.displayName}${connection.defaultModel ? `, ${connection.defaultModel}` : ''}).`);
  return connection;
}

async function storeSecret(d: Deps, connection: P.Connection, secret: string): Promise<boolean> {
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

export async function testConnection(d: Deps): Promise<P.HealthResult | undefined> {
  const connection = await pickConnection(d, 'Test Connection');
  if (!connection) return undefined;
  let health: P.HealthResult;
  try {
    health = await d.ui.progress(`ModelWire: testing ${connection.name}…`, false, () =>
      d.sidecar.request<P.HealthResult>(P.TEST_CONNECTION, { connectionId: connection.id }),
    );
  } catch (err) {
    await showError(d, err);
    return undefined;
  }
  d.changed?.();
  const text = `ModelWire: ${healthText(connection.name, health)}`;
  if (health.reachable) void d.ui.info(text);
  else void d.ui.warn(text);
  return health;
}

type EditField = 'name' | 'baseUrl' | 'secret' | 'removeSecret' | 'model';

export async function editConnection(d: Deps): Promise<void> {
  const connection = await pickConnection(d, 'Edit Connection');
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

export async function deleteConnection(d: Deps): Promise<void> {
  const connection = await pickConnection(d, 'Delete Connection');
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

function scopeLabel(scope: Scope): string {
  return scope.kind === 'folder' ? `workspace folder "${scope.name}"` : scope.kind === 'workspace' ? 'this workspace' : 'user settings';
}

/** Pick a connection, then where the choice applies; writes the connection's name. */
export async function selectDefaultConnection(d: Deps): Promise<void> {
  const active = d.settings.activeFolder();
  let listing: P.ListConnectionsResult;
  try {
    listing = await listConnections(d, active?.uri);
  } catch (err) {
    await showError(d, err);
    return;
  }
  if (listing.connections.length === 0) {
    const add = await d.ui.info('ModelWire has no connection yet.', 'Add Connection');
    if (add) await addConnection(d);
    return;
  }
  const connection = await d.ui.pick(
    listing.connections.map((c) => ({
      label: c.name,
      description: `${connectionDescription(c)}${c.id === listing.defaultConnectionId ? ' · current' : ''}`,
      detail: c.baseUrl,
      value: c,
    })),
    { title: 'Select Default Connection', placeholder: 'Which connection runs agents here?' },
  );
  if (!connection) return;
  await makeDefault(d, connection);
}

/**
 * Ask where `connection` becomes the default (this folder first) and write its name there.
 * Shared by Select Default Connection and Connect to Shared Model. True when written.
 */
export async function makeDefault(d: Deps, connection: P.Connection): Promise<boolean> {
  const active = d.settings.activeFolder();
  const folders = d.settings.folders();
  const scopes: PickItem<Scope>[] = [];
  const ordered = active ? [active, ...folders.filter((f) => f.uri !== active.uri)] : folders;
  for (const f of ordered) {
    const now = d.settings.read(DEFAULT_CONNECTION_SETTING, { kind: 'folder', ...f });
    scopes.push({ label: `Workspace folder: ${f.name}`, description: now ? `now: ${now}` : undefined, value: { kind: 'folder', ...f } });
  }
  if (d.settings.isMultiRoot()) {
    const now = d.settings.read(DEFAULT_CONNECTION_SETTING, { kind: 'workspace' });
    scopes.push({ label: 'Workspace (all folders)', description: now ? `now: ${now}` : undefined, value: { kind: 'workspace' } });
  }
  const userNow = d.settings.read(DEFAULT_CONNECTION_SETTING, { kind: 'user' });
  scopes.push({ label: 'User (every workspace)', description: userNow ? `now: ${userNow}` : undefined, value: { kind: 'user' } });
  const scope = scopes.length === 1 ? scopes[0].value : await d.ui.pick(scopes, { title: `Use "${connection.name}" for…`, placeholder: 'Where should this default apply?' });
  if (!scope) return false;
  try {
    await d.settings.write(DEFAULT_CONNECTION_SETTING, connection.name, scope);
    // A model setting belongs to the connection it was chosen for: a new connection at
    // this scope starts from its own default model.
    const model = d.settings.read(DEFAULT_MODEL_SETTING, scope);
    if (model) await d.settings.write(DEFAULT_MODEL_SETTING, undefined, scope);
  } catch (err) {
    await showError(d, err, 'Could not write the setting: ');
    return false;
  }
  d.changed?.();
  void d.ui.info(
    `ModelWire: "${connection.name}" is the default connection for ${scopeLabel(scope)}${connection.defaultModel ? ` (model ${connection.defaultModel})` : ''}.`,
  );
  return true;
}

export async function pullModel(d: Deps, given?: P.Connection): Promise<void> {
  let connection = given;
  if (!connection) {
    let pullable: Set<string>;
    try {
      pullable = new Set((await listProviders(d)).filter((p) => p.capabilities.pullModel).map((p) => p.id));
    } catch (err) {
      await showError(d, err);
      return;
    }
    connection = await pickConnection(d, 'Pull Ollama Model', (c) => pullable.has(c.providerId));
    if (!connection) return;
  }
  const target = connection;
  const model = await d.ui.input({
    title: `Pull a model into ${target.name}`,
    prompt: 'Model name as Ollama knows it',
    placeholder: 'llama3.2',
    validate: (v) => (!v.trim() ? 'Enter a model name, for example llama3.2.' : /\s/.test(v.trim()) ? 'Model names have no spaces.' : undefined),
  });
  if (!model) return;
  const token = d.newToken ? d.newToken() : `modelwire-pull-${Date.now()}`;
  try {
    const result = await d.ui.progress(`ModelWire: pulling ${model.trim()} into ${target.name}`, true, async (progress, cancel) => {
      const sub = d.sidecar.onProgress(token, (value) => {
        if (value.kind === 'end') return;
        progress.report(value.message ?? value.title ?? '', value.percentage);
      });
      try {
        return await d.sidecar.request<P.PullModelResult>(
          P.PULL_MODEL,
          { connectionId: target.id, model: model.trim(), workDoneToken: token } satisfies P.PullModelParams,
          cancel,
        );
      } finally {
        sub.dispose();
      }
    });
    d.changed?.();
    void d.ui.info(`ModelWire: ${result.model} is ready in ${target.name} (${result.status}).`);
  } catch (err) {
    const info = toErrorInfo(err);
    if (info.cancelled) {
      void d.ui.info(`ModelWire: pulling ${model.trim()} was cancelled.`);
      return;
    }
    await showError(d, err, `Pulling ${model.trim()} failed: `);
  }
}

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
