import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as P from '../src/protocol';

const repo = path.resolve(__dirname, '..', '..', '..');

function readIfExists(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

test('every method name of the sidecar is mirrored with the same value', () => {
  // The names live in methods.py (re-exported by protocol.py).
  const py = ['methods.py', 'protocol.py'].map((f) => readIfExists(path.join(repo, 'server/modelwire', f))).join('\n');
  const names = [...py.matchAll(/^([A-Z_]+) = "(modelwire\/\w+)"$/gm)];
  assert.ok(names.length >= 18, 'methods.py lists the methods');
  for (const [, name, value] of names) {
    assert.equal((P as Record<string, unknown>)[name], value, `${name} in protocol.ts`);
  }
});

test('every error code in errors.py is known to the extension', () => {
  const py = readFileSync(path.join(repo, 'server/modelwire/errors.py'), 'utf8');
  const codes = [...py.matchAll(/^    ([A-Z_]+) = "([A-Z_]+)"$/gm)].map((m) => m[2]);
  assert.ok(codes.includes('ENDPOINT_UNREACHABLE'));
  for (const code of codes) assert.equal((P.ErrorCode as Record<string, string>)[code], code, code);
});
