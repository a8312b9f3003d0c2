import assert from 'node:assert/strict';
import { test } from 'node:test';
import { affectsAny, LAUNCH_SETTINGS, RestartScheduler } from '../src/settings';

test('only the interpreter setting restarts the sidecar', () => {
  assert.equal(affectsAny((s) => s === 'modelwire.server.python', LAUNCH_SETTINGS), true);
  assert.equal(affectsAny((s) => s === 'modelwire.defaultConnection', LAUNCH_SETTINGS), false);
});

test('a burst of restart requests restarts once', async () => {
  let restarts = 0;
  const s = new RestartScheduler(async () => {
    restarts++;
  }, 20);
  await Promise.all([s.request(), s.request(), s.request()]);
  assert.equal(restarts, 1);
});

test('a request during a restart queues exactly one more', async () => {
  let restarts = 0;
  let release!: () => void;
  const s = new RestartScheduler(
    () =>
      new Promise<void>((resolve) => {
        restarts++;
        release = resolve;
      }),
    5,
  );
  const first = s.request();
  await new Promise((r) => setTimeout(r, 20));
  const second = s.request();
  const third = s.request();
  release();
  await first;
  await new Promise((r) => setTimeout(r, 20));
  release();
  await Promise.all([second, third]);
  assert.equal(restarts, 2);
});
