import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseUrlProblem } from '../src/urls';

test('local-only providers accept loopback URLs only', () => {
  for (const ok of ['http://localhost:11434', 'http://127.0.0.1:8080/', 'http://[::1]:11434']) assert.equal(baseUrlProblem(ok, true), undefined, ok);
  assert.match(baseUrlProblem('http://192.168.1.5:11434', true) ?? '', /this machine only/);
  assert.match(baseUrlProblem('http://localhost@evil.example:11434', true) ?? '', /credentials|this machine/);
});

test('any provider rejects junk, other schemes and credentials', () => {
  assert.equal(baseUrlProblem('https://api.openai.com/v1', false), undefined);
  assert.match(baseUrlProblem('', false) ?? '', /Enter a URL/);
  assert.match(baseUrlProblem('ftp://x', false) ?? '', /http/);
  assert.match(baseUrlProblem('https://u:p@api.example/v1', false) ?? '', /credentials/);
  assert.match(baseUrlProblem('not a url', false) ?? '', /not a URL/);
});
