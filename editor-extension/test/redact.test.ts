import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REDACTED, Redactor } from '../src/redact';

const KEY = 'mw-e2e-Zq8v1XkP3r';

test('the trace of setSecret never shows the key (pretty and compact JSON)', () => {
  const r = new Redactor();
  const pretty = `[Trace - 10:00:00] Sending request 'modelwire/setSecret - (7)'.\nParams: {\n    "connectionId": "abc",\n    "secret": "${KEY}"\n}`;
  const compact = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'modelwire/setSecret', params: { connectionId: 'abc', secret: KEY } });
  for (const text of [pretty, compact]) {
    const out = r.redact(text);
    assert.ok(!out.includes(KEY), out);
    assert.ok(out.includes(REDACTED));
    assert.ok(out.includes('"connectionId"'));
  }
});

test('a held secret is redacted anywhere, even outside a secret field', () => {
  const r = new Redactor();
  const release = r.hold(KEY);
  assert.equal(r.redact(`error: key ${KEY} rejected`), `error: key ${REDACTED} rejected`);
  release();
});

test('key-shaped tokens are redacted even when never seen', () => {
  const r = new Redactor();
  assert.equal(r.redact('Authorization: Bearer abcdefgh12345'), `Authorization: ${REDACTED}`);
  assert.equal(r.redact('got sk-proj-abcdef123456 back'), `got ${REDACTED} back`);
  assert.equal(r.redact('plain text stays'), 'plain text stays');
});
