import assert from 'node:assert/strict';
import { test } from 'node:test';
import { effectiveModel, fileLabel, formatMs, healthText, routingLine, statusBarText, stepLines } from '../src/format';
import { Connection, ListConnectionsResult } from '../src/protocol';

const ollama: Connection = { id: 'c1', name: 'Local Ollama', providerId: 'ollama', baseUrl: 'http://localhost:11434', defaultModel: 'llama3.2', hasSecret: false, createdAt: '', updatedAt: '' };
const openai: Connection = { ...ollama, id: 'c2', name: 'Team OpenAI', providerId: 'openai', defaultModel: 'gpt-4o-mini', hasSecret: true };

test('the routing line names agent, file, connection, provider, model, source, timings and outcome', () => {
  const line = routingLine(
    { agentId: 'explain', file: 'app.py', routing: { connectionId: 'c1', connectionName: 'Local Ollama', providerId: 'ollama', modelRef: 'llama3.2', source: 'settings' }, status: 'succeeded', firstTokenMs: 412, totalMs: 1300 },
    new Date(2025, 0, 1, 9, 5, 7),
  );
  assert.equal(line, '09:05:07 explain app.py → "Local Ollama" provider=ollama model=llama3.2 source=settings first-token=412 ms total=1.30 s succeeded');
});

test('a failed run ends its routing line with the error code', () => {
  const line = routingLine({ agentId: 'explain', file: 'a.py', status: 'failed', errorCode: 'ENDPOINT_UNREACHABLE', totalMs: 20 }, new Date());
  assert.match(line, /→ \(no connection\) first-token=– total=20 ms failed ENDPOINT_UNREACHABLE$/);
});

test('status bar shows the default connection and the model the scope would use', () => {
  const listing: ListConnectionsResult = { connections: [ollama, openai], defaultConnectionId: 'c2', defaultSource: 'settings' };
  assert.equal(statusBarText(listing), '$(plug) Team OpenAI · gpt-4o-mini');
  assert.equal(statusBarText({ ...listing, defaultModel: 'Team OpenAI/gpt-4.1' }), '$(plug) Team OpenAI · gpt-4.1');
  assert.equal(statusBarText({ connections: [ollama, openai] }), '$(plug) ModelWire: no default connection');
  assert.equal(statusBarText({ connections: [] }), '$(plug) ModelWire: add a connection');
  const embedded: Connection = { ...ollama, id: 'embedded', name: 'Embedded', providerId: 'embedded', defaultModel: 'SmolLM2-135M-Instruct' };
  assert.equal(statusBarText({ connections: [embedded], defaultConnectionId: 'embedded', defaultSource: 'fallback' }), '$(plug) Embedded (small local demo model) · SmolLM2-135M-Instruct');
  assert.equal(effectiveModel({ connections: [], defaultModel: 'qwen2.5' }, ollama), 'qwen2.5');
});

test('health reads as reachable with details, or as the error and its hint', () => {
  assert.equal(healthText('Local Ollama', { connectionId: 'c1', reachable: true, version: '0.12.3', modelCount: 2, latencyMs: 12, checkedAt: '' }), 'Local Ollama is reachable (version 0.12.3, 2 models, 12 ms).');
  assert.equal(
    healthText('Local Ollama', { connectionId: 'c1', reachable: false, checkedAt: '', error: { code: 'ENDPOINT_UNREACHABLE', message: 'Ollama is not running at http://localhost:11434.', hint: 'Start it with `ollama serve`.' } }),
    'Ollama is not running at http://localhost:11434. Start it with `ollama serve`.',
  );
  // A 401 is an answer, not a working connection.
  assert.equal(
    healthText('Team OpenAI', { connectionId: 'c2', reachable: true, checkedAt: '', error: { code: 'AUTH_FAILED', message: 'The server refused the API key (401).', hint: 'Check the key.' } }),
    'Team OpenAI answered, but: The server refused the API key (401). Check the key.',
  );
});

test('durations and file labels', () => {
  assert.equal(formatMs(undefined), '–');
  assert.equal(formatMs(999.6), '1000 ms');
  assert.equal(formatMs(12_345), '12.3 s');
  assert.equal(fileLabel('file:///w/a/my%20file.py'), 'my file.py');
  assert.equal(fileLabel('untitled:Untitled-1'), 'untitled:Untitled-1');
});

test('an orchestrator prints one indented line per step, a child with its own routing', () => {
  const work = { connectionId: 'c2', connectionName: 'Work OpenAI', providerId: 'openai', modelRef: 'gpt-4o-mini', source: 'settings' as const };
  const lines = stepLines([
    { index: 1, tool: 'read_file', target: 'util.py', outcome: 'ok', durationMs: 2 },
    { index: 2, tool: 'run_agent', target: 'review', outcome: 'ok', durationMs: 1240, child: { runId: 'rC', status: 'succeeded', routing: work, timings: { queuedAt: 'x', firstTokenMs: 410 } } },
    { index: 3, tool: 'read_file', target: '../secret', outcome: 'error', errorCode: 'OUTSIDE_WORKSPACE', durationMs: 0.4 },
  ]);
  assert.deepEqual(lines, [
    '  1. read_file util.py · ok · 2 ms',
    '  2. run_agent review · ok · 1.24 s → "Work OpenAI" provider=openai model=gpt-4o-mini source=settings first-token=410 ms succeeded',
    '  3. read_file ../secret · error OUTSIDE_WORKSPACE · 0 ms',
  ]);
});
