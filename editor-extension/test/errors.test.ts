import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorText, toErrorInfo } from '../src/errors';

test('a sidecar error keeps its code, message and hint', () => {
  const info = toErrorInfo({ code: -32001, message: 'x', data: { code: 'ENDPOINT_UNREACHABLE', message: 'Ollama is not running at http://localhost:1', hint: 'Start it with `ollama serve`.', retryable: true } });
  assert.equal(info.code, 'ENDPOINT_UNREACHABLE');
  assert.equal(info.cancelled, false);
  assert.equal(errorText(info), 'Ollama is not running at http://localhost:1. Start it with `ollama serve`.');
});

test('-32800 and CancellationError both read as cancelled', () => {
  assert.equal(toErrorInfo({ code: -32800, message: 'cancelled' }).cancelled, true);
  assert.equal(toErrorInfo({ name: 'Canceled', message: 'Canceled' }).cancelled, true);
  assert.equal(toErrorInfo({ code: -32800, message: 'c', data: { code: 'GENERATION_ABORTED', message: 'Cancelled.' } }).cancelled, true);
});

test('anything else becomes a client error with its message', () => {
  assert.deepEqual(toErrorInfo(new Error('boom')).message, 'boom');
  assert.equal(toErrorInfo('weird').code, 'CLIENT_ERROR');
});
