import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as P from '../src/protocol';
import { statusBarText } from '../src/format';
import { connectionNodes, runChildren, runNode, TreeRun, unavailableNode } from '../src/views/treeModel';

const OLLAMA: P.Connection = { id: 'c1', name: 'Local Ollama', providerId: 'ollama', baseUrl: 'http://localhost:11434', defaultModel: 'llama3.2', hasSecret: false, createdAt: '', updatedAt: '' };
const EMBEDDED: P.Connection = { ...OLLAMA, id: 'embedded', name: 'Embedded', providerId: 'embedded', baseUrl: 'managed://embedded', defaultModel: 'smollm2' };
const routing: P.Routing = { connectionId: 'c1', connectionName: 'Local Ollama', providerId: 'ollama', modelRef: 'llama3.2', source: 'settings' };

function run(id: string, status: P.RunStatus, extra: Partial<TreeRun> = {}): TreeRun {
  return { runId: id, agentId: 'explain', uri: 'file:///w/alpha/app.py', routing, status, timings: { queuedAt: '2026-12-01T08:00:00Z', totalMs: 900 }, output: '', ...extra };
}

test('connections: the default is marked with its scope and source; Embedded is labelled and cannot be edited', () => {
  const health = new Map<string, P.HealthResult>([['c1', { connectionId: 'c1', reachable: false, checkedAt: '', error: { code: 'ENDPOINT_UNREACHABLE', message: 'Ollama is not running.' } }]]);
  const [ollama, embedded] = connectionNodes({ connections: [OLLAMA, EMBEDDED], defaultConnectionId: 'embedded', defaultSource: 'settings' }, health, 'alpha');
  assert.equal(ollama.icon, 'warning');
  assert.match(ollama.description ?? '', /not working/);
  assert.equal(embedded.description, 'small local demo model · smollm2 · default for folder "alpha" (from settings)');
  assert.equal(embedded.icon, 'star-full');
  assert.equal(embedded.contextValue, 'modelwire.connection.builtin');
  assert.equal(ollama.contextValue, 'modelwire.connection');
});

test('runs: agent, file, folder, routing, outcome and local time; active runs can be cancelled', () => {
  const node = runNode(run('r1', 'failed', { errorCode: 'ENDPOINT_UNREACHABLE' }), [], [{ uri: 'file:///w/alpha', name: 'alpha' }]);
  assert.equal(node.label, 'explain · app.py');
  assert.match(node.description ?? '', /^alpha · Local Ollama · llama3\.2 · failed ENDPOINT_UNREACHABLE · \d\d:\d\d:\d\d$/);
  assert.match(node.tooltip, /source: settings/);
  assert.equal(runNode(run('r2', 'running'), [], []).contextValue, 'modelwire.run.active');
});

test('runs: filtered by outcome at the top level, child runs nested under their parent', () => {
  const runs = [run('p', 'succeeded'), run('c1', 'failed', { parentRunId: 'p' }), run('c2', 'succeeded', { parentRunId: 'p' }), run('x', 'failed'), run('orphan', 'cancelled', { parentRunId: 'gone' })];
  assert.deepEqual(runChildren(runs, undefined, 'all').map((r) => r.runId), ['p', 'x', 'orphan']);
  assert.deepEqual(runChildren(runs, undefined, 'failed').map((r) => r.runId), ['x']);
  assert.deepEqual(runChildren(runs, 'p', 'failed').map((r) => r.runId), ['c1', 'c2']);
  assert.equal(runNode(runs[0], runs, []).collapsible, true);
});

test("a peer connection names its host and model once tested, else says the host chooses", () => {
  const PEER: P.Connection = { ...OLLAMA, id: 'p1', name: "Ana's model", providerId: 'peer', baseUrl: 'peer://hyperswarm', defaultModel: undefined, hasSecret: true };
  const listing: P.ListConnectionsResult = { connections: [PEER], defaultConnectionId: 'p1', defaultSource: 'settings' };
  const [untested] = connectionNodes(listing, new Map(), 'alpha');
  assert.equal(untested.description, `peer · the host's model · default for folder "alpha" (from settings)`);
  const ok = new Map<string, P.HealthResult>([['p1', { connectionId: 'p1', reachable: true, version: `host "Ana's laptop": llama3.2 (ready)`, checkedAt: '' }]]);
  assert.equal(connectionNodes(listing, ok, 'alpha')[0].description, `peer · host "Ana's laptop": llama3.2 (ready) · default for folder "alpha" (from settings)`);
  const down = new Map<string, P.HealthResult>([['p1', { connectionId: 'p1', reachable: false, checkedAt: '', error: { code: 'HOST_OFFLINE', message: 'The host is not sharing.' } }]]);
  assert.match(connectionNodes(listing, down, 'alpha')[0].description ?? '', /^peer · the host's model · .* · not working$/);
  assert.equal(statusBarText(listing), "$(plug) Ana's model · the host's model");
});

test('a sidecar that cannot answer is said in the tree, never shown as "no connection yet"', () => {
  const node = unavailableNode('connections', 'ModelWire\'s sidecar is not running: ModelWire cannot start: the interpreter "/x/python" was not found.');
  assert.equal(node.label, 'Cannot list the connections');
  assert.equal(node.description, 'the sidecar is not running: ModelWire cannot start: the interpreter "/x/python" was not found.');
  assert.match(node.tooltip, /Restart Server/);
  assert.equal(node.icon, 'warning');
  // No inline action (test / edit / delete) applies to it.
  assert.doesNotMatch(node.contextValue, /^modelwire\.(connection|run)/);
});
