/**
 * The esbuild bundle (dist/extension.js, what `main` names and the .vsix ships) loads on
 * its own: every module it needs is inside it, except `vscode`, which the extension host
 * provides, and Node's built-ins. `npm test` builds it just before this runs. The real
 * activation (vscode-languageclient starting the sidecar, @vscode/python-extension) is
 * proven by the code-server e2e, which installs the packaged .vsix.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import Module, { builtinModules, createRequire } from 'node:module';
import * as path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(__dirname, '..', '..');
const BUNDLE = path.join(ROOT, 'dist', 'extension.js');

type Load = (request: string, parent: unknown, isMain: boolean) => unknown;
const loader = Module as unknown as { _load: Load };

/**
 * A `vscode` module with the names of the real API (read from @types/vscode), each of which
 * answers any property and can be extended or called. The bundle copies the module's own
 * names (esbuild's ES-module interop), so a catch-all proxy alone would not do.
 */
function vscodeStub(): Record<string, unknown> {
  const cache = new Map<string, unknown>();
  const make = (name: string): unknown => {
    const known = cache.get(name);
    if (known) return known;
    const target = function () {
      /* a class or function of the API */
    };
    const proxy = new Proxy(target, {
      get(t, key) {
        if (key === 'prototype') return t.prototype;
        if (typeof key === 'symbol' || key === 'then') return undefined;
        return make(`${name}.${key}`);
      },
    });
    cache.set(name, proxy);
    return proxy;
  };
  const types = fs.readFileSync(path.join(ROOT, 'node_modules', '@types', 'vscode', 'index.d.ts'), 'utf8');
  const names = [...types.matchAll(/^\texport (?:class|namespace|enum|const|let|function) (\w+)/gm)].map((m) => m[1]);
  assert.ok(names.length > 100, 'the API names from @types/vscode');
  return Object.fromEntries(names.map((n) => [n, make(`vscode.${n}`)]));
}

test('the bundle loads with only vscode and Node built-ins outside it, and exports activate/deactivate', () => {
  assert.ok(fs.existsSync(BUNDLE), `${BUNDLE} is missing: npm test builds it with \`node esbuild.mjs\``);
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { main: string };
  assert.equal(path.resolve(ROOT, manifest.main), BUNDLE, 'package.json `main` names the bundle');

  const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
  const outside: string[] = [];
  const vscode = vscodeStub();
  const original = loader._load;
  loader._load = function (request, parent, isMain) {
    const from = (parent as { filename?: string } | undefined)?.filename;
    if (from === BUNDLE) {
      if (request === 'vscode') return vscode;
      if (!builtins.has(request)) outside.push(request);
    }
    return original.call(this, request, parent, isMain);
  };
  try {
    delete require.cache[BUNDLE];
    const ext = createRequire(__filename)(BUNDLE) as { activate?: unknown; deactivate?: unknown };
    assert.equal(typeof ext.activate, 'function');
    assert.equal(typeof ext.deactivate, 'function');
  } finally {
    loader._load = original;
    delete require.cache[BUNDLE];
  }
  assert.deepEqual(outside, [], 'the bundle requires modules it does not contain');
});
