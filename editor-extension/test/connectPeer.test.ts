import assert from 'node:assert/strict';
import { test } from 'node:test';
import { base58Decode, connectToSharedModel, serverIdProblem } from '../src/connectPeer';
import * as P from '../src/protocol';
import { FakeSidecar, MemorySettings, rpcError, ScriptedUi } from './fakes';

// base58 of bytes 1..32 (encoded by the sidecar's own modelwire.p2p.base58).
const SERVER_ID = '4wBqpZM9xaSheZzJSMawUKKwhdpChKbZ5eu5ky4Vigw';
// base58 of bytes 1..31 and of bytes 1..33: right alphabet, wrong size.
const SHORT_ID = 'thX6LZfHDZZKUs92febYZhYRcXddmzfzF2NvTkPNE';
const LONG_ID = 'JNArUumxYJcSQpbuxuroRZtcSMVLcy5WbYGt14SRm1Fv';

const PEER: P.ProviderDescriptor = {
  id: 'peer', displayName: 'Shared model (P2P, Server ID)', protocol: 'peer', auth: 'apiKey', defaultBaseUrl: 'peer://hyperswarm',
  defaultModel: 'shared', localOnly: false, capabilities: { listModels: true, pullModel: false, streaming: true }, origin: 'core',
};

function sidecar(opts: { health?: P.HealthResult; secretError?: Error } = {}) {
  const connections: P.Connection[] = [];
  const fake = new FakeSidecar((method, params) => {
    switch (method) {
      case P.LIST_PROVIDERS:
        return { providers: [PEER] };
      case P.LIST_CONNECTIONS:
        return { connections };
      case P.CREATE_CONNECTION: {
        const c: P.Connection = { id: `id${connections.length + 1}`, name: params.name, providerId: params.providerId, baseUrl: params.baseUrl, hasSecret: false, createdAt: 't', updatedAt: 't' };
        connections.push(c);
        return c;
      }
      case P.SET_SECRET:
        return opts.secretError ?? { connectionId: params.connectionId, hasSecret: true };
      case P.TEST_CONNECTION:
        return opts.health ?? { connectionId: params.connectionId, reachable: true, version: "host 'laptop': qwen2.5:0.5b (ready)", modelCount: 1, latencyMs: 412.5, checkedAt: 't' };
      case P.DELETE_CONNECTION:
        connections.splice(connections.findIndex((x) => x.id === params.id), 1);
        return { deleted: true };
      default:
        return new Error(`unexpected ${method}`);
    }
  });
  return { fake, connections };
}

test('a Server ID is base58 of exactly 32 bytes', () => {
  assert.equal(serverIdProblem(SERVER_ID), undefined);
  assert.equal(serverIdProblem(`  ${SERVER_ID}\n`), undefined);
  assert.equal(base58Decode(SERVER_ID)?.length, 32);
  assert.deepEqual([...base58Decode(SERVER_ID)!], Array.from({ length: 32 }, (_, i) => i + 1));
  assert.match(serverIdProblem('')!, /Paste the Server ID/);
  assert.match(serverIdProblem(SHORT_ID)!, /32 bytes/);
  assert.match(serverIdProblem(LONG_ID)!, /32 to 44|32 bytes/);
  assert.match(serverIdProblem(`${SERVER_ID.slice(0, 20)}0${SERVER_ID.slice(21)}`)!, /base58/);
  assert.match(serverIdProblem('x'.repeat(500))!, /32 to 44/);
  // The reason never repeats the value (it is a capability).
  assert.ok(!serverIdProblem(`${SERVER_ID.slice(0, 20)}O${SERVER_ID.slice(21)}`)!.includes(SERVER_ID.slice(0, 10)));
});

test('connecting: password box, peer connection, Server ID as its secret, test shows host and latency, default for this folder', async () => {
  const { fake, connections } = sidecar();
  const folder = { uri: 'file:///w/one', name: 'one' };
  const settings = new MemorySettings([folder], folder);
  const ui = new ScriptedUi([{ type: SERVER_ID }, { type: 'Laptop model' }, { button: 'Use as Default Here' }, { pick: 'Workspace folder: one' }]);
  const noted: P.HealthResult[] = [];
  const made = await connectToSharedModel({ ui, sidecar: fake, settings }, (h) => noted.push(h));
  assert.equal(made?.name, 'Laptop model');
  // The test's result reaches the Connections tree and status bar (host and model shown there).
  assert.deepEqual(noted.map((h) => [h.connectionId, h.reachable]), [['id1', true]]);
  assert.deepEqual(fake.methods(), [P.LIST_CONNECTIONS, P.LIST_PROVIDERS, P.CREATE_CONNECTION, P.SET_SECRET, P.TEST_CONNECTION]);
  assert.deepEqual(fake.calls[2].params, { name: 'Laptop model', providerId: 'peer', baseUrl: 'peer://hyperswarm' });
  assert.deepEqual(fake.calls[3].params, { connectionId: 'id1', secret: SERVER_ID });
  assert.deepEqual(fake.held, [SERVER_ID]);
  const idBox = ui.shown.find((s) => s.kind === 'input' && s.text.includes('Server ID'));
  assert.equal(idBox?.password, true);
  const result = ui.shown.find((s) => s.kind === 'info' && s.text.includes('reachable'));
  assert.match(result!.text, /host 'laptop': qwen2\.5:0\.5b/);
  assert.match(result!.text, /Laptop model is reachable: host 'laptop': qwen2\.5:0\.5b \(ready\) · 41[23] ms/);
  // The shared scope picker (Select Default Connection's) offers this folder first.
  assert.deepEqual(ui.shown.find((s) => s.text.startsWith('Use "Laptop model"'))?.items, ['Workspace folder: one', 'User (every workspace)']);
  assert.equal(settings.read('defaultConnection', { kind: 'folder', ...folder }), 'Laptop model');
  assert.equal(connections.length, 1);
  // The Server ID is never shown back in any message.
  assert.ok(ui.shown.every((s) => !s.text.includes(SERVER_ID)));
});

test('the sidecar refusing the Server ID shows INVALID_SERVER_ID with its hint and leaves no connection', async () => {
  const { fake, connections } = sidecar({
    secretError: rpcError('INVALID_SERVER_ID', 'That is not a Server ID.', 'Copy the whole Server ID the host printed.', -32602),
  });
  const ui = new ScriptedUi([{ type: SERVER_ID }, { type: 'Shared model' }]);
  const made = await connectToSharedModel({ ui, sidecar: fake, settings: new MemorySettings() });
  assert.equal(made, undefined);
  const error = ui.shown.find((s) => s.kind === 'error');
  assert.match(error!.text, /That is not a Server ID\. Copy the whole Server ID the host printed\./);
  assert.equal(connections.length, 0);
  assert.deepEqual(fake.methods(), [P.LIST_CONNECTIONS, P.LIST_PROVIDERS, P.CREATE_CONNECTION, P.SET_SECRET, P.DELETE_CONNECTION]);
});

test('a host that does not answer: the connection stays, the error and hint are shown, default still offered', async () => {
  const { fake, connections } = sidecar({
    health: { connectionId: 'id1', reachable: false, checkedAt: 't', error: { code: 'HOST_NOT_FOUND', message: 'No host is sharing under this Server ID.', hint: 'Ask the host to run modelwire share again.' } },
  });
  const settings = new MemorySettings();
  const ui = new ScriptedUi([{ type: SERVER_ID }, { type: 'Shared model' }, { button: undefined }]);
  await connectToSharedModel({ ui, sidecar: fake, settings });
  const warn = ui.shown.find((s) => s.kind === 'warn');
  assert.match(warn!.text, /No host is sharing under this Server ID\. Ask the host to run modelwire share again\./);
  assert.deepEqual(warn!.items, ['Use as Default Here']);
  assert.equal(connections.length, 1);
  assert.equal(settings.read('defaultConnection', { kind: 'user' }), undefined);
});

test('escape at the Server ID box creates nothing', async () => {
  const { fake } = sidecar();
  const ui = new ScriptedUi([{ escape: true }]);
  assert.equal(await connectToSharedModel({ ui, sidecar: fake, settings: new MemorySettings() }), undefined);
  assert.deepEqual(fake.methods(), [P.LIST_CONNECTIONS, P.LIST_PROVIDERS]);
});

test('a malformed Server ID is refused in the box before any request', async () => {
  const { fake } = sidecar();
  const ui = new ScriptedUi([{ type: SHORT_ID }]);
  await assert.rejects(connectToSharedModel({ ui, sidecar: fake, settings: new MemorySettings() }), /input rejected: .*32 bytes/);
  assert.ok(!fake.methods().includes(P.CREATE_CONNECTION));
});
