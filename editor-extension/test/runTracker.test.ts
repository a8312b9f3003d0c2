import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RunEvent } from '../src/protocol';
import { progressMessage, RunTracker } from '../src/runTracker';

const routing = { connectionId: 'c1', connectionName: 'Local Ollama', providerId: 'ollama', modelRef: 'llama3.2', source: 'settings' as const };
const timings = { queuedAt: '2026-12-01T09:00:00.000Z' };

test('a run gets its id from its first event and accumulates deltas in order', () => {
  const t = new RunTracker();
  const run = t.begin('explain', 'Explain', 'file:///a.py');
  const seen: string[] = [];
  t.onEvent((_r, e) => seen.push(e.kind));
  t.handle({ runId: 'r1', seq: 0, kind: 'queued', position: 0, connectionId: 'c1' });
  t.handle({ runId: 'r1', seq: 1, kind: 'started', routing });
  t.handle({ runId: 'r1', seq: 2, kind: 'delta', text: 'Hello' });
  t.handle({ runId: 'r1', seq: 2, kind: 'delta', text: 'Hello' }); // duplicate
  t.handle({ runId: 'r1', seq: 3, kind: 'delta', text: ', world' });
  t.handle({ runId: 'r1', seq: 4, kind: 'end', status: 'succeeded', finishReason: 'stop', usage: null, timings, errorCode: null, notice: null });
  assert.equal(run.runId, 'r1');
  assert.equal(run.output, 'Hello, world');
  assert.equal(run.status, 'succeeded');
  assert.deepEqual(run.routing, routing);
  assert.deepEqual(seen, ['queued', 'started', 'delta', 'delta', 'end']);
});

test('two runs bind in request order, and the final record fixes a wrong binding', () => {
  const t = new RunTracker();
  const a = t.begin('explain', 'Explain', 'file:///a.py');
  const b = t.begin('review', 'Review', 'file:///b.py');
  t.handle({ runId: 'rB', seq: 0, kind: 'queued', position: 1, connectionId: 'c1' }); // arrives first
  t.handle({ runId: 'rA', seq: 0, kind: 'started', routing });
  assert.equal(a.runId, 'rB');
  t.settle(a, 'rA');
  assert.equal(a.runId, 'rA');
  assert.equal(b.runId, 'rB');
  t.handle({ runId: 'rB', seq: 1, kind: 'delta', text: 'for b' });
  assert.equal(b.output, 'for b');
});

test('client run ids bind runs correctly even when first events arrive out of order', () => {
  const t = new RunTracker();
  const a = t.begin('explain', 'Explain', 'file:///alpha/a.py');
  const b = t.begin('explain', 'Explain', 'file:///beta/b.py');
  assert.notEqual(a.clientRunId, b.clientRunId);
  // b's folder settings were cached, so its run starts first.
  t.handle({ runId: 'rB', seq: 1, kind: 'started', routing, clientRunId: b.clientRunId });
  t.handle({ runId: 'rB', seq: 2, kind: 'delta', text: 'for b', clientRunId: b.clientRunId });
  t.handle({ runId: 'rA', seq: 1, kind: 'started', routing, clientRunId: a.clientRunId });
  t.handle({ runId: 'rA', seq: 2, kind: 'delta', text: 'for a', clientRunId: a.clientRunId });
  assert.equal(a.runId, 'rA');
  assert.equal(b.runId, 'rB');
  assert.equal(a.output, 'for a');
  assert.equal(b.output, 'for b');
  // Another window's run (its client id is not ours) is ignored.
  const c = t.begin('explain', 'Explain', 'file:///c.py');
  assert.equal(t.handle({ runId: 'rX', seq: 1, kind: 'started', routing, clientRunId: 'other-1' }), undefined);
  assert.equal(c.runId, undefined);
});

test('events of runs we did not start are ignored', () => {
  const t = new RunTracker();
  assert.equal(t.handle({ runId: 'other', seq: 0, kind: 'delta', text: 'x' } as RunEvent), undefined);
  const run = t.begin('explain', 'Explain', 'file:///a.py');
  t.finish(run);
  assert.equal(t.handle({ runId: 'late', seq: 0, kind: 'queued', position: 0, connectionId: 'c1' }), undefined);
  assert.deepEqual(t.activeRuns(), []);
});

test('the progress message follows the run', () => {
  const t = new RunTracker();
  const run = t.begin('explain', 'Explain', 'file:///a.py');
  assert.equal(progressMessage(run), 'queued');
  t.handle({ runId: 'r', seq: 0, kind: 'queued', position: 2, connectionId: 'c1' });
  assert.equal(progressMessage(run), 'queued (position 2)');
  t.handle({ runId: 'r', seq: 1, kind: 'started', routing });
  const started = run.startedAt!;
  assert.equal(progressMessage(run, started + 400), 'Local Ollama · llama3.2 — waiting for the first token (0 s)');
  t.handle({ runId: 'r', seq: 2, kind: 'loading', waitedMs: 1000 });
  // The server answered nothing yet: the counter keeps ticking instead of freezing at 1 s.
  assert.equal(progressMessage(run, started + 7200), 'Local Ollama · llama3.2 — waiting for the first token (7 s)');
  t.handle({ runId: 'r', seq: 3, kind: 'delta', text: 'x' });
  assert.equal(progressMessage(run), 'Local Ollama · llama3.2 — streaming');
  run.cancelRequested = true;
  assert.equal(progressMessage(run), 'cancelling…');
});

test('the embedded server starting is said as such, then the wait is for the first token', () => {
  const t = new RunTracker();
  const run = t.begin('explain', 'Explain', 'file:///a.py');
  const embedded = { ...routing, connectionName: 'Embedded', providerId: 'embedded', modelRef: 'smollm2' };
  t.handle({ runId: 'r', seq: 1, kind: 'started', routing: embedded });
  t.handle({ runId: 'r', seq: 2, kind: 'loading', waitedMs: 0, reason: 'starting the embedded model' });
  assert.equal(progressMessage(run, run.startedAt! + 2100), 'Embedded · smollm2 — starting the embedded model (2 s)');
  t.handle({ runId: 'r', seq: 3, kind: 'loading', waitedMs: 1000 });
  assert.equal(progressMessage(run, run.startedAt! + 4000), 'Embedded · smollm2 — waiting for the first token (4 s)');
});

test("the end event's notice is kept on the run", () => {
  const t = new RunTracker();
  const run = t.begin('review', 'Review', 'file:///a.py');
  const notice = "The model's review could not be read as findings; its answer is shown as text.";
  t.handle({ runId: 'r', seq: 1, kind: 'end', status: 'succeeded', finishReason: null, usage: null, timings: { queuedAt: 't' }, errorCode: null, notice });
  assert.equal(run.notice, notice);
});

test("a child run's events fill its parent's step and never bind to another run", () => {
  const t = new RunTracker();
  const parent = t.begin('improve', 'Improve', 'file:///a.py');
  const other = t.begin('explain', 'Explain', 'file:///b.py'); // still waiting for its events
  t.handle({ runId: 'rP', seq: 1, kind: 'started', routing, clientRunId: parent.clientRunId });
  t.handle({ runId: 'rP', seq: 2, kind: 'step', step: 1, tool: 'run_agent', target: 'review', outcome: 'running' });
  t.handle({ runId: 'rP', seq: 3, kind: 'step', step: 1, tool: 'run_agent', target: 'review', outcome: 'running', childRunId: 'rC' });
  const work = { ...routing, connectionName: 'Work OpenAI', providerId: 'openai', modelRef: 'gpt-4o-mini' };
  t.handle({ runId: 'rC', seq: 1, kind: 'started', routing: work, parentRunId: 'rP' });
  t.handle({ runId: 'rC', seq: 2, kind: 'delta', text: 'LINE 1 | error | x', parentRunId: 'rP' });
  t.handle({ runId: 'rC', seq: 3, kind: 'end', status: 'succeeded', finishReason: 'stop', usage: null, timings, errorCode: null, notice: null, parentRunId: 'rP' });
  t.handle({ runId: 'rP', seq: 4, kind: 'step', step: 1, tool: 'run_agent', target: 'review', outcome: 'ok', childRunId: 'rC', durationMs: 1240, summary: 'review: 18 characters' });
  assert.equal(other.runId, undefined);
  assert.equal(parent.output, ''); // the child's text is its own, not the parent's answer
  assert.equal(parent.steps.length, 1);
  assert.deepEqual(parent.steps[0].child, { runId: 'rC', status: 'succeeded', routing: work, timings });
  assert.equal(parent.steps[0].outcome, 'ok');
  assert.match(progressMessage(parent), /waiting for the first token/);
});
