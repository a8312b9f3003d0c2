import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as P from '../src/protocol';
import { RunController } from '../src/runs';
import { RunTracker } from '../src/runTracker';
import { FakeSidecar, MemorySettings, rpcError, ScriptedUi, Answer } from './fakes';
import { FakeHost, FakeLog, FakeOutputs } from './runFakes';

const FOLDER = { uri: 'file:///w/alpha', name: 'alpha' };
const FILE = 'file:///w/alpha/app.py';
const REVIEW: P.AgentInfo = { id: 'review', title: 'Review', description: '', input: 'file', output: 'diagnostics', origin: 'builtin', needsPrompt: false };
const EXPLAIN: P.AgentInfo = { ...REVIEW, id: 'explain', title: 'Explain', output: 'text' };
const OLLAMA: P.Connection = { id: 'c1', name: 'Local Ollama', providerId: 'ollama', baseUrl: 'http://localhost:11434', defaultModel: 'llama3.2', hasSecret: false, createdAt: '', updatedAt: '' };
const OPENAI: P.Connection = { ...OLLAMA, id: 'c2', name: 'Team OpenAI', providerId: 'openai', baseUrl: 'https://api.example.com/v1' };
const EMBEDDED: P.Connection = { ...OLLAMA, id: 'embedded', name: 'Embedded', providerId: 'embedded', baseUrl: 'managed://embedded', defaultModel: 'smollm2' };
const NOTICE = "The model's review could not be read as findings; its answer is shown as text.";

function routingOf(c: P.Connection, source: P.RoutingSource = 'settings'): P.Routing {
  return { connectionId: c.id, connectionName: c.name, providerId: c.providerId, modelRef: c.defaultModel ?? 'm', source };
}

/**
 * A sidecar that plays a run the way the real one does: events over the tracker, then the
 * record (or the error). `script` decides each startRun by its params.
 */
function harness(answers: Answer[], script: (params: P.StartRunParams, emit: (e: Record<string, unknown>) => void) => P.RunRecord | Error) {
  const tracker = new RunTracker();
  let n = 0;
  const sidecar = new FakeSidecar((method, params) => {
    switch (method) {
      case P.LIST_AGENTS:
        return { agents: [EXPLAIN, REVIEW] };
      case P.LIST_CONNECTIONS:
        return { connections: [OLLAMA, OPENAI, EMBEDDED] };
      case P.START_RUN: {
        const runId = `r${++n}`;
        let seq = 0;
        const emit = (e: Record<string, unknown>) => tracker.handle({ runId, seq: ++seq, clientRunId: params.clientRunId, ...e } as P.RunEvent);
        return script(params, emit);
      }
      case P.GET_RUN:
        return new Error('no record');
      case P.CANCEL_RUN:
        return { runId: params.runId, cancelled: true };
      default:
        return new Error(`unexpected ${method}`);
    }
  });
  const ui = new ScriptedUi(answers);
  const host = new FakeHost({ uri: FILE, folder: FOLDER });
  const outputs = new FakeOutputs();
  const log = new FakeLog();
  const settings = new MemorySettings([FOLDER], FOLDER);
  const runs = new RunController({ sidecar, tracker, outputs, log, ui, host, settings });
  return { runs, sidecar, ui, host, outputs, log, settings, tracker };
}

function record(routing: P.Routing, status: P.RunStatus, extra: Partial<P.RunRecord> = {}): P.RunRecord {
  return { runId: 'r', agentId: 'x', uri: FILE, routing, status, timings: { queuedAt: 't', firstTokenMs: 5, totalMs: 9 }, output: '', ...extra };
}

test('a review whose answer could not be read as findings warns and shows the notice in the run view', async () => {
  const h = harness([{ pick: 'Review' }], (_p, emit) => {
    emit({ kind: 'started', routing: routingOf(EMBEDDED, 'fallback') });
    emit({ kind: 'delta', text: 'The code looks fine.' });
    emit({ kind: 'end', status: 'succeeded', notice: NOTICE, errorCode: null });
    return record(routingOf(EMBEDDED, 'fallback'), 'succeeded', { output: 'The code looks fine.', diagnosticsCount: 0 });
  });
  await h.runs.runAgent('file');
  const warning = h.ui.shown.find((s) => s.kind === 'warn');
  assert.match(warning?.text ?? '', /Review on app\.py found no findings it could read\. The model's review could not be read as findings/);
  assert.equal(h.outputs.opened[0].view.notice, NOTICE);
  assert.ok(h.log.lines.some((l) => l.includes(`note: ${NOTICE}`)));
});

test('NO_DEFAULT_CONNECTION asks which connection, runs there, and offers to remember it for the folder', async () => {
  const h = harness(
    [{ pick: 'Explain' }, { button: 'Choose Connection…' }, { pick: 'Team OpenAI' }, { button: 'Remember' }],
    (params, emit) => {
      if (!params.connectionId) {
        return rpcError('NO_DEFAULT_CONNECTION', 'No default connection for this workspace folder; there are 2 to choose from.', 'Set modelwire.defaultConnection.');
      }
      const target = [OLLAMA, OPENAI, EMBEDDED].find((c) => c.id === params.connectionId)!;
      emit({ kind: 'started', routing: routingOf(target, 'explicit') });
      emit({ kind: 'end', status: 'succeeded' });
      return record(routingOf(target, 'explicit'), 'succeeded');
    },
  );
  await h.runs.runAgent('file');
  const starts = h.sidecar.calls.filter((c) => c.method === P.START_RUN);
  assert.deepEqual(starts.map((c) => c.params.connectionId), [undefined, 'c2']);
  assert.match(h.log.lines.find((l) => l.includes('"Team OpenAI"')) ?? '', /source=explicit .* succeeded$/);
  const offer = h.ui.shown.find((s) => s.text.includes('use "Team OpenAI" for every run in folder "alpha"'));
  assert.match(offer?.text ?? '', /writes \.vscode\/settings\.json/);
  await new Promise((r) => setImmediate(r));
  assert.equal(h.settings.read('defaultConnection', { kind: 'folder', ...FOLDER }), 'Team OpenAI');
});

test('a local server that is down offers "Run on Embedded instead", which runs there once', async () => {
  const h = harness([{ pick: 'Explain' }, { button: 'Run on Embedded instead' }], (params, emit) => {
    const target = params.connectionId === 'embedded' ? EMBEDDED : OLLAMA;
    emit({ kind: 'started', routing: routingOf(target) });
    if (target === OLLAMA) return rpcError('ENDPOINT_UNREACHABLE', 'Ollama is not running at http://localhost:11434.', 'Start it with `ollama serve`.');
    emit({ kind: 'end', status: 'succeeded' });
    return record(routingOf(target, 'explicit'), 'succeeded');
  });
  await h.runs.runAgent('file');
  const error = h.ui.shown.find((s) => s.kind === 'error');
  assert.deepEqual(error?.items, ['Run on Embedded instead', 'Test Connection', 'Show Output']);
  assert.deepEqual(h.sidecar.calls.filter((c) => c.method === P.START_RUN).map((c) => c.params.connectionId), [undefined, 'embedded']);
  // Routing itself is untouched: nothing was written.
  assert.equal(h.settings.values.size, 0);
  // The embedded model's first answer comes with the offer of a real one, once.
  assert.ok(h.ui.shown.some((s) => s.kind === 'info' && /small local demo model/.test(s.text) && s.items?.includes('Add Connection…')));
});

test('a hosted server that fails is not offered the Embedded stand-in', async () => {
  const h = harness([{ pick: 'Explain' }], (_p, emit) => {
    emit({ kind: 'started', routing: routingOf(OPENAI) });
    return rpcError('ENDPOINT_UNREACHABLE', 'Cannot reach https://api.example.com/v1.', '');
  });
  await h.runs.runAgent('file');
  assert.ok(!h.ui.shown.find((s) => s.kind === 'error')?.items?.includes('Run on Embedded instead'));
});

test("closing the run's output cancels the run", async () => {
  let fail: (e: Error) => void = () => {};
  const h = harness([{ pick: 'Explain' }], (_p, emit) => {
    emit({ kind: 'started', routing: routingOf(OLLAMA) });
    emit({ kind: 'delta', text: 'partial' });
    return new Promise<P.RunRecord>((_resolve, reject) => (fail = reject)) as unknown as P.RunRecord;
  });
  const done = h.runs.runAgent('file');
  await new Promise((r) => setImmediate(r));
  h.outputs.opened[0].close();
  const cancel = h.sidecar.calls.find((c) => c.method === P.CANCEL_RUN);
  assert.deepEqual(cancel?.params, { runId: 'r1' });
  fail(Object.assign(new Error('cancelled'), { code: -32800 }));
  await done;
  assert.match(h.log.lines[0], /cancelled$/);
});

test('a second run of the same agent on the same file reuses its output', async () => {
  const h = harness([{ pick: 'Explain' }, { pick: 'Explain' }], (_p, emit) => {
    emit({ kind: 'started', routing: routingOf(OLLAMA) });
    emit({ kind: 'end', status: 'succeeded' });
    return record(routingOf(OLLAMA), 'succeeded');
  });
  await h.runs.runAgent('file');
  await h.runs.runAgent('file');
  assert.deepEqual(h.outputs.opened.map((o) => o.key), [`${FILE}#explain`, `${FILE}#explain`]);
});

test('with no file open, running an agent says to open one', async () => {
  const h = harness([], () => new Error('unreachable'));
  h.host.editor = undefined;
  assert.equal(await h.runs.runAgent('file'), undefined);
  assert.match(h.ui.shown[0].text, /open a file first/);
});

test('a run with its own view (a chat turn) shows no progress notification; a panel run does', async () => {
  const h = harness([], (_p, emit) => {
    emit({ kind: 'started', routing: routingOf(OLLAMA, 'explicit') });
    emit({ kind: 'delta', text: 'An answer.' });
    emit({ kind: 'end', status: 'succeeded', errorCode: null });
    return record(routingOf(OLLAMA, 'explicit'), 'succeeded', { output: 'An answer.' });
  });
  const output = { bind: () => undefined, update: () => undefined, onClosed: () => undefined };
  const chat = await h.runs.start(EXPLAIN, { uri: FILE }, { output, notify: false });
  assert.equal(chat?.status, 'succeeded');
  assert.deepEqual(h.ui.shown.filter((s) => s.kind === 'progress'), [], 'no notification for the chat turn');
  assert.match(h.log.lines[0], /explain app\.py → "Local Ollama".*succeeded$/, 'the turn still has its routing line');
  await h.runs.start(EXPLAIN, { uri: FILE });
  const shown = h.ui.shown.find((s) => s.kind === 'progress')?.text ?? '';
  assert.equal(shown, 'ModelWire: Explain on app.py', 'a panel run keeps its notification with Cancel');
});
