import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as P from '../src/protocol';
import { SidecarState, StatusBar, StatusItem } from '../src/statusBar';
import { FakeSidecar } from './fakes';

const OPENAI: P.Connection = { id: 'c2', name: 'Team OpenAI', providerId: 'openai', baseUrl: 'http://127.0.0.1:8081/v1', defaultModel: 'smollm2', hasSecret: true, createdAt: '', updatedAt: '' };
const EMBEDDED: P.Connection = { ...OPENAI, id: 'embedded', name: 'Embedded', providerId: 'embedded', baseUrl: 'managed://embedded', defaultModel: 'SmolLM2-135M-Instruct', hasSecret: false };

function bar(listing: P.ListConnectionsResult, health?: P.HealthResult, state: SidecarState = 'running') {
  const fake = new FakeSidecar((method) => (method === P.LIST_CONNECTIONS ? listing : health ?? new Error('no health')));
  const sidecar = Object.assign(fake, { state, lastProblem: 'cannot import modelwire' });
  const item: StatusItem = { text: '', tooltip: undefined, command: undefined, tone: 'normal' };
  const status = new StatusBar({ sidecar, item, activeFolder: () => ({ uri: 'file:///w/alpha', name: 'alpha' }) });
  return { status, item, fake };
}

test('the embedded fallback is labelled a small local demo model and is never health-checked', async () => {
  const { status, item, fake } = bar({ connections: [EMBEDDED], defaultConnectionId: 'embedded', defaultSource: 'fallback' });
  await status.update();
  assert.equal(item.text, '$(plug) Embedded (small local demo model) · SmolLM2-135M-Instruct');
  assert.match(item.tooltip ?? '', /small local demo model/);
  assert.deepEqual(fake.methods(), [P.LIST_CONNECTIONS]);
});

test('a connection whose server refuses the key turns the status bar to warning colours', async () => {
  const refused: P.HealthResult = { connectionId: 'c2', reachable: true, checkedAt: '', error: { code: 'AUTH_FAILED', message: 'The server refused the API key.', hint: '' } };
  const { status, item, fake } = bar({ connections: [OPENAI], defaultConnectionId: 'c2', defaultSource: 'settings' }, refused);
  await status.update();
  assert.equal(item.tone, 'warning');
  // The status bar's own check must never raise a consent prompt.
  assert.deepEqual(fake.calls[1].params, { connectionId: 'c2', interactive: false, scopeUri: 'file:///w/alpha' });
  assert.match(item.tooltip ?? '', /answered, but: The server refused the API key/);
});

test('a sidecar that could not start shows why, and a click opens the output', async () => {
  const { status, item } = bar({ connections: [] }, undefined, 'failed');
  await status.update();
  assert.equal(item.text, '$(warning) ModelWire: not running');
  assert.equal(item.tone, 'error');
  assert.equal(item.command, 'modelwire.showOutput');
  assert.equal(item.tooltip, 'cannot import modelwire');
});

test("a connection a run is streaming from is not health-checked (llama.cpp would stop the run)", async () => {
  const fake = new FakeSidecar((method) => (method === P.LIST_CONNECTIONS ? { connections: [OPENAI], defaultConnectionId: 'c2', defaultSource: 'settings' } : new Error('no health')));
  const sidecar = Object.assign(fake, { state: 'running' as SidecarState, lastProblem: '' });
  const item: StatusItem = { text: '', tooltip: undefined, command: undefined, tone: 'normal' };
  const status = new StatusBar({ sidecar, item, activeFolder: () => undefined, busy: (id) => id === 'c2' });
  await status.update();
  assert.deepEqual(fake.methods(), [P.LIST_CONNECTIONS]);
});
