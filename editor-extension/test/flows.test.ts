import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as flows from '../src/flows';
import * as P from '../src/protocol';
import { FakeSidecar, MemorySettings, rpcError, ScriptedUi } from './fakes';

const OLLAMA: P.ProviderDescriptor = {
  id: 'ollama', displayName: 'Ollama', protocol: 'ollama', auth: 'none', defaultBaseUrl: 'http://localhost:11434',
  defaultModel: 'llama3.2', localOnly: true, capabilities: { listModels: true, pullModel: true, streaming: true }, origin: 'core',
};
const OPENAI: P.ProviderDescriptor = {
  id: 'openai', displayName: 'OpenAI-compatible', protocol: 'openai', auth: 'apiKey', defaultBaseUrl: 'https://api.openai.com/v1',
  defaultModel: 'gpt-4o-mini', localOnly: false, capabilities: { listModels: true, pullModel: false, streaming: true }, origin: 'core',
};
const KEY = 'mw-test-key-5f2c9a71';

function conn(id: string, name: string, providerId: string, extra: Partial<P.Connection> = {}): P.Connection {
  return { id, name, providerId, baseUrl: 'http://127.0.0.1:1', hasSecret: false, createdAt: 't', updatedAt: 't', ...extra };
}

/** A sidecar with a connection table, like the real one. */
function sidecar(opts: { reachable?: (attempt: number) => boolean; models?: string[]; health?: (attempt: number) => P.HealthResult; embedded?: boolean } = {}) {
  const connections: P.Connection[] = [];
  let tests = 0;
  const fake = new FakeSidecar((method, params) => {
    switch (method) {
      case P.LIST_PROVIDERS:
        return { providers: [OLLAMA, OPENAI] };
      case P.LIST_CONNECTIONS: {
        if (!opts.embedded) return { connections, defaultConnectionId: connections[0]?.id };
        // Like the sidecar's routing: Embedded when there is no connection, the only one, else none.
        const embedded = conn('embedded', 'Embedded', 'embedded', { baseUrl: 'managed://embedded' });
        const all = [...connections, embedded];
        if (connections.length === 0) return { connections: all, defaultConnectionId: 'embedded', defaultSource: 'fallback' };
        if (connections.length === 1) return { connections: all, defaultConnectionId: connections[0].id, defaultSource: 'single' };
        return { connections: all };
      }
      case P.CREATE_CONNECTION: {
        const c = conn(`id${connections.length + 1}`, params.name, params.providerId, { baseUrl: params.baseUrl });
        connections.push(c);
        return c;
      }
      case P.UPDATE_CONNECTION: {
        const c = connections.find((x) => x.id === params.id)!;
        Object.assign(c, params);
        return c;
      }
      case P.SET_SECRET: {
        const c = connections.find((x) => x.id === params.connectionId)!;
        c.hasSecret = true;
        return { connectionId: c.id, hasSecret: true };
      }
      case P.TEST_CONNECTION: {
        tests++;
        if (opts.health) return opts.health(tests);
        const ok = opts.reachable ? opts.reachable(tests) : true;
        return ok
          ? { connectionId: params.connectionId, reachable: true, checkedAt: 't' }
          : { connectionId: params.connectionId, reachable: false, checkedAt: 't', error: { code: 'ENDPOINT_UNREACHABLE', message: 'Ollama is not running at http://localhost:11434.', hint: 'Start it with `ollama serve`.' } };
      }
      case P.LIST_MODELS:
        return { connectionId: params.connectionId, models: (opts.models ?? ['llama3.2']).map((id) => ({ id })), fetchedAt: 't', cached: !params.refresh };
      case P.DELETE_CONNECTION:
        connections.splice(connections.findIndex((x) => x.id === params.id), 1);
        return { deleted: true };
      case P.DELETE_SECRET:
        return { connectionId: params.connectionId, hasSecret: false };
      default:
        return new Error(`unexpected ${method}`);
    }
  });
  return { fake, connections };
}

test('adding an Ollama connection: provider, name, prefilled URL, no key, model from the list', async () => {
  const { fake, connections } = sidecar({ models: ['llama3.2', 'qwen2.5:0.5b'] });
  const ui = new ScriptedUi([{ pick: 'Ollama' }, { type: 'Local Ollama' }, { type: 'http://127.0.0.1:11500' }, { pick: 'qwen2.5:0.5b' }]);
  const added = await flows.addConnection({ ui, sidecar: fake, settings: new MemorySettings() });
  assert.equal(added?.name, 'Local Ollama');
  assert.equal(connections[0].defaultModel, 'qwen2.5:0.5b');
  assert.deepEqual(fake.methods(), [P.LIST_PROVIDERS, P.LIST_CONNECTIONS, P.CREATE_CONNECTION, P.TEST_CONNECTION, P.LIST_MODELS, P.UPDATE_CONNECTION]);
  const urlPrompt = ui.shown.find((s) => s.kind === 'input' && s.text.includes('base URL'));
  assert.equal(urlPrompt?.value, 'http://localhost:11434');
  assert.ok(!ui.shown.some((s) => s.password), 'no key box for Ollama');
  const modelPick = ui.shown.find((s) => s.kind === 'pick' && s.text.startsWith('Default model'));
  assert.ok(modelPick?.items?.includes('$(refresh) Refresh'));
});

test('adding an OpenAI-compatible connection sends the key to setSecret only, from a password box', async () => {
  const { fake, connections } = sidecar({ models: ['SmolLM2'] });
  const ui = new ScriptedUi([{ pick: 'OpenAI-compatible' }, { type: 'Local llama.cpp' }, { type: 'http://127.0.0.1:8081/v1' }, { type: KEY }, { pick: '$(refresh) Refresh' }, { pick: 'SmolLM2' }]);
  await flows.addConnection({ ui, sidecar: fake, settings: new MemorySettings() });
  const keyBox = ui.shown.find((s) => s.kind === 'input' && s.text.includes('API key'));
  assert.equal(keyBox?.password, true);
  const withKey = fake.calls.filter((c) => JSON.stringify(c.params).includes(KEY));
  assert.deepEqual(withKey.map((c) => c.method), [P.SET_SECRET]);
  assert.deepEqual(fake.held, [KEY], 'the key is held for redaction while in flight');
  assert.ok(!JSON.stringify(ui.shown).includes(KEY), 'the key is never shown');
  assert.equal(connections[0].hasSecret, true);
  const listModels = fake.calls.filter((c) => c.method === P.LIST_MODELS);
  assert.deepEqual(listModels.map((c) => c.params.refresh), [false, true], 'Refresh asks again');
});

test('an unreachable Ollama shows the not-running guidance, and Retry tests again', async () => {
  const { fake } = sidecar({ reachable: (n) => n > 1 });
  const ui = new ScriptedUi([{ pick: 'Ollama' }, { type: 'Local Ollama' }, { type: 'http://localhost:11434' }, { button: 'Retry' }, { pick: 'llama3.2' }]);
  await flows.addConnection({ ui, sidecar: fake, settings: new MemorySettings() });
  const warning = ui.shown.find((s) => s.kind === 'warn');
  assert.equal(warning?.text, 'Ollama is not running at http://localhost:11434. Start it with `ollama serve`.');
  assert.equal(fake.calls.filter((c) => c.method === P.TEST_CONNECTION).length, 2);
});

test('a model name can be typed when the list is empty', async () => {
  const { fake, connections } = sidecar({ models: [] });
  const ui = new ScriptedUi([{ pick: 'Ollama' }, { type: 'O' }, { type: 'http://localhost:11434' }, { pick: 'mistral:7b' }]);
  await flows.addConnection({ ui, sidecar: fake, settings: new MemorySettings() });
  assert.equal(connections[0].defaultModel, 'mistral:7b');
});

test('a non-loopback URL for Ollama is refused before it reaches the sidecar', async () => {
  const { fake } = sidecar();
  const ui = new ScriptedUi([{ pick: 'Ollama' }, { type: 'O' }, { type: 'http://10.0.0.5:11434' }]);
  await assert.rejects(flows.addConnection({ ui, sidecar: fake, settings: new MemorySettings() }), /this machine only/);
  assert.ok(!fake.methods().includes(P.CREATE_CONNECTION));
});

test('selecting a default writes the connection name at the chosen folder and clears its model', async () => {
  const { fake, connections } = sidecar();
  connections.push(conn('a', 'Local Ollama', 'ollama', { defaultModel: 'llama3.2' }), conn('b', 'Team OpenAI', 'openai', { defaultModel: 'gpt-4o-mini' }));
  const folders = [{ uri: 'file:///w/one', name: 'one' }, { uri: 'file:///w/two', name: 'two' }];
  const settings = new MemorySettings(folders, folders[1]);
  await settings.write('defaultModel', 'llama3.2', { kind: 'folder', ...folders[1] });
  const ui = new ScriptedUi([{ pick: 'Team OpenAI' }, { pick: 'Workspace folder: two' }]);
  await flows.selectDefaultConnection({ ui, sidecar: fake, settings });
  assert.equal(settings.read('defaultConnection', { kind: 'folder', ...folders[1] }), 'Team OpenAI');
  assert.equal(settings.read('defaultModel', { kind: 'folder', ...folders[1] }), undefined);
  assert.equal(settings.read('defaultConnection', { kind: 'folder', ...folders[0] }), undefined);
  const scopes = ui.shown.find((s) => s.text.startsWith('Use "Team OpenAI"'));
  assert.deepEqual(scopes?.items, ['Workspace folder: two', 'Workspace folder: one', 'Workspace (all folders)', 'User (every workspace)']);
  assert.deepEqual(fake.calls[0], { method: P.LIST_CONNECTIONS, params: { scopeUri: 'file:///w/two' } });
});

test('renaming a connection keeps the settings that name it pointing at it', async () => {
  const { fake, connections } = sidecar();
  connections.push(conn('a', 'Local Ollama', 'ollama'));
  const settings = new MemorySettings([{ uri: 'file:///w', name: 'w' }]);
  await settings.write('defaultConnection', 'Local Ollama', { kind: 'folder', uri: 'file:///w', name: 'w' });
  await settings.write('defaultModel', 'Local Ollama/llama3.2', { kind: 'user' });
  const ui = new ScriptedUi([{ pick: 'Local Ollama' }, { pick: 'Name' }, { type: 'Laptop Ollama' }]);
  await flows.editConnection({ ui, sidecar: fake, settings });
  assert.equal(connections[0].name, 'Laptop Ollama');
  assert.equal(settings.read('defaultConnection', { kind: 'folder', uri: 'file:///w', name: 'w' }), 'Laptop Ollama');
  assert.equal(settings.read('defaultModel', { kind: 'user' }), 'Laptop Ollama/llama3.2');
});

test('deleting asks first and removes the key with the connection', async () => {
  const { fake, connections } = sidecar();
  connections.push(conn('b', 'Team OpenAI', 'openai', { hasSecret: true }));
  const ui = new ScriptedUi([{ pick: 'Team OpenAI' }, { button: 'Delete' }]);
  await flows.deleteConnection({ ui, sidecar: fake, settings: new MemorySettings() });
  assert.deepEqual(fake.methods().slice(-2), [P.DELETE_SECRET, P.DELETE_CONNECTION]);
  assert.equal(connections.length, 0);
});

test('test connection reports the error with its hint', async () => {
  const { fake, connections } = sidecar({ reachable: () => false });
  connections.push(conn('a', 'Local Ollama', 'ollama'));
  const ui = new ScriptedUi([{ pick: 'Local Ollama' }]);
  const health = await flows.testConnection({ ui, sidecar: fake, settings: new MemorySettings() });
  assert.equal(health?.reachable, false);
  assert.equal(ui.shown.at(-1)?.kind, 'warn');
  assert.match(ui.shown.at(-1)?.text ?? '', /not running.*ollama serve/);
});

test('pulling a model passes a work-done token and reports its progress', async () => {
  const c = conn('a', 'Local Ollama', 'ollama');
  const fake: FakeSidecar = new FakeSidecar((method, params) => {
    if (method === P.LIST_PROVIDERS) return { providers: [OLLAMA, OPENAI] };
    if (method === P.LIST_CONNECTIONS) return { connections: [c, conn('b', 'Team OpenAI', 'openai')] };
    if (method === P.PULL_MODEL) {
      fake.emitProgress(params.workDoneToken, { kind: 'report', message: 'pulling manifest', percentage: 40 });
      return { connectionId: 'a', model: params.model, status: 'success' };
    }
    return new Error(method);
  });
  const ui = new ScriptedUi([{ pick: 'Local Ollama' }, { type: 'qwen2.5:0.5b' }]);
  await flows.pullModel({ ui, sidecar: fake, settings: new MemorySettings(), newToken: () => 'tok-1' });
  const pick = ui.shown.find((s) => s.kind === 'pick');
  assert.deepEqual(pick?.items, ['Local Ollama'], 'only connections that can pull');
  assert.deepEqual(fake.calls.at(-1), { method: P.PULL_MODEL, params: { connectionId: 'a', model: 'qwen2.5:0.5b', workDoneToken: 'tok-1' } });
  assert.ok(ui.shown.some((s) => s.kind === 'progress' && s.text === 'pulling manifest'));
  assert.match(ui.shown.at(-1)?.text ?? '', /qwen2.5:0.5b is ready/);
});

test('a sidecar error while adding is shown with its hint', async () => {
  const fake = new FakeSidecar((method) => {
    if (method === P.LIST_PROVIDERS) return { providers: [OLLAMA] };
    if (method === P.LIST_CONNECTIONS) return { connections: [] };
    return rpcError('NON_LOOPBACK_REJECTED', "Refused 'http://localhost.evil:1'.", 'Use localhost.', -32602);
  });
  const ui = new ScriptedUi([{ pick: 'Ollama' }, { type: 'O' }, { type: 'http://localhost:1' }]);
  await flows.addConnection({ ui, sidecar: fake, settings: new MemorySettings() });
  assert.equal(ui.shown.at(-1)?.text, "Could not add the connection: Refused 'http://localhost.evil:1'. Use localhost.");
});

test('run history items show routing, timings and outcome', () => {
  const [item] = flows.runHistoryItems([
    { runId: 'r', agentId: 'explain', uri: 'file:///w/app.py', status: 'succeeded', output: '', timings: { queuedAt: '2025-01-01T10:00:00Z', firstTokenMs: 200, totalMs: 1500 }, routing: { connectionId: 'c', connectionName: 'Local Ollama', providerId: 'ollama', modelRef: 'llama3.2', source: 'settings' } },
  ]);
  assert.equal(item.label, '$(check) explain · app.py');
  assert.equal(item.description, 'Local Ollama (ollama) · llama3.2 · settings');
  assert.match(item.detail ?? '', /first token 200 ms · total 1.50 s · succeeded/);
});

const AUTH_FAILED_HEALTH = (id: string): P.HealthResult => ({
  connectionId: id, reachable: true, checkedAt: 't',
  error: { code: 'AUTH_FAILED', message: 'The server refused the API key (HTTP 401).', hint: 'Check the key.' },
});

test('a refused key during Add Connection goes back to the key box, and the new key is tested', async () => {
  const { fake } = sidecar({ health: (n) => (n === 1 ? AUTH_FAILED_HEALTH('id1') : { connectionId: 'id1', reachable: true, checkedAt: 't' }) });
  const ui = new ScriptedUi([
    { pick: 'OpenAI-compatible' }, { type: 'Team' }, { type: 'http://127.0.0.1:8081/v1' }, { type: 'wrong-key' },
    { button: 'Re-enter Key' }, { type: KEY }, { pick: 'llama3.2' }, { escape: true },
  ]);
  const added = await flows.addConnection({ ui, sidecar: fake, settings: new MemorySettings() });
  assert.equal(added?.name, 'Team');
  const refused = ui.shown.find((s) => s.kind === 'warn');
  assert.match(refused?.text ?? '', /Team answered, but: The server refused the API key/);
  assert.deepEqual(fake.calls.filter((c) => c.method === P.SET_SECRET).map((c) => c.params.secret), ['wrong-key', KEY]);
  assert.equal(fake.calls.filter((c) => c.method === P.TEST_CONNECTION).length, 2);
  assert.equal(ui.shown.filter((s) => s.kind === 'input' && s.password).length, 2, 'the key box came back');
});

test('Escape at the model step removes the new connection: nothing is added and routing is as it was', async () => {
  const { fake, connections } = sidecar({ embedded: true, reachable: () => false });
  const settings = new MemorySettings();
  const ui = new ScriptedUi([{ pick: 'Ollama' }, { type: 'Local Ollama' }, { type: 'http://localhost:11434' }, { button: 'Continue' }, { escape: true }]);
  assert.equal(await flows.addConnection({ ui, sidecar: fake, settings }), undefined);
  assert.deepEqual(connections, []);
  assert.ok(fake.methods().includes(P.DELETE_CONNECTION));
  assert.match(ui.shown[ui.shown.length - 1].text, /"Local Ollama" was not added and routing is as it was/);
  assert.equal(settings.values.size, 0);
});

test('Add Connection ends with "make it the default?", and the chosen folder gets it', async () => {
  const { fake } = sidecar({ embedded: true });
  const folders = [{ uri: 'file:///w/alpha', name: 'alpha' }];
  const settings = new MemorySettings(folders, folders[0]);
  const ui = new ScriptedUi([{ pick: 'Ollama' }, { type: 'Local Ollama' }, { type: 'http://localhost:11434' }, { pick: 'llama3.2' }, { pick: 'Workspace folder: alpha' }]);
  await flows.addConnection({ ui, sidecar: fake, settings });
  const question = ui.shown.find((s) => s.text.startsWith('Make "Local Ollama" the default?'));
  assert.deepEqual(question?.items, ['Workspace folder: alpha', 'User (every workspace)', 'Not now: keep runs on "Embedded"']);
  assert.equal(settings.read('defaultConnection', { kind: 'folder', ...folders[0] }), 'Local Ollama');
  assert.match(ui.shown[ui.shown.length - 1].text, /added "Local Ollama" \(Ollama, llama3\.2\)\. It is now the default for workspace folder "alpha"\./);
});

test('Escape at the default question keeps runs on the Embedded fallback, in user settings, and says so', async () => {
  const { fake } = sidecar({ embedded: true });
  const settings = new MemorySettings();
  const ui = new ScriptedUi([{ pick: 'Ollama' }, { type: 'Local Ollama' }, { type: 'http://localhost:11434' }, { pick: 'llama3.2' }, { escape: true }]);
  await flows.addConnection({ ui, sidecar: fake, settings });
  assert.equal(settings.read('defaultConnection', { kind: 'user' }), 'Embedded');
  assert.match(ui.shown[ui.shown.length - 1].text, /Runs still go to "Embedded" \(written as modelwire\.defaultConnection in your user settings/);
});

test('a default that comes from settings is not touched by a new connection', async () => {
  const { fake, connections } = sidecar({ embedded: true });
  connections.push(conn('a', 'Local Ollama', 'ollama'));
  const settings = new MemorySettings();
  await settings.write('defaultConnection', 'Local Ollama', { kind: 'user' });
  const ui = new ScriptedUi([{ pick: 'OpenAI-compatible' }, { type: 'Team' }, { type: 'http://127.0.0.1:8081/v1' }, { type: '' }, { pick: 'llama3.2' }, { escape: true }]);
  await flows.addConnection({ ui, sidecar: fake, settings });
  assert.deepEqual([...settings.values.entries()], [['user|defaultConnection', 'Local Ollama']]);
});

test('Test Connection with a refused key is a warning with "Re-enter Key", never "reachable"', async () => {
  const { fake, connections } = sidecar({ health: (n) => (n === 1 ? AUTH_FAILED_HEALTH('a') : { connectionId: 'a', reachable: true, checkedAt: 't', latencyMs: 3 }) });
  connections.push(conn('a', 'Team OpenAI', 'openai', { hasSecret: true }));
  const ui = new ScriptedUi([{ pick: 'Team OpenAI' }, { button: 'Re-enter Key' }, { type: KEY }]);
  const health = await flows.testConnection({ ui, sidecar: fake, settings: new MemorySettings() });
  const warning = ui.shown.find((s) => s.kind === 'warn');
  assert.match(warning?.text ?? '', /answered, but: The server refused the API key/);
  assert.deepEqual(warning?.items, ['Re-enter Key']);
  assert.ok(!ui.shown.some((s) => s.kind === 'info' && /is reachable/.test(s.text) && s.text.includes('refused')));
  assert.equal(health?.error, undefined, 'the second test, with the new key, passed');
  assert.ok(ui.shown.some((s) => s.kind === 'info' && /Team OpenAI is reachable/.test(s.text)));
});

test('the status-bar picker offers Add Connection and Run on Embedded', async () => {
  const { fake } = sidecar({ embedded: true });
  let ran = 0;
  const ui = new ScriptedUi([{ pick: 'Run on Embedded' }]);
  await flows.selectDefaultConnection({ ui, sidecar: fake, settings: new MemorySettings(), addConnection: async () => undefined, runOnEmbedded: async () => ran++ });
  assert.deepEqual(ui.shown[0].items, ['Embedded', '$(add) Add Connection…', '$(play) Run on Embedded']);
  assert.equal(ran, 1);
});

test('a default can be cleared from the picker, at the scope where it is set', async () => {
  const { fake } = sidecar({ embedded: true });
  const settings = new MemorySettings();
  await settings.write('defaultConnection', 'Embedded', { kind: 'user' });
  const ui = new ScriptedUi([{ pick: 'Clear a default…' }, { pick: 'User (every workspace)' }]);
  await flows.selectDefaultConnection({ ui, sidecar: fake, settings });
  assert.equal(settings.read('defaultConnection', { kind: 'user' }), undefined);
  assert.deepEqual(ui.shown[1].items, ['User (every workspace)'], 'only scopes that have a default are offered');
});
