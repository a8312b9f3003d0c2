import assert from 'node:assert/strict';
import * as os from 'node:os';
import { test } from 'node:test';
import { expandSetting, interpreterCandidates, interpreterSettingCommand, missingModelwireMessage, pickInterpreter, probeModelwire, resolveInterpreter } from '../src/python';

test('the setting wins, then the Python extension, then python3', async () => {
  const ext = async () => '/envs/py/bin/python';
  assert.deepEqual(await resolveInterpreter({ setting: '/opt/py/bin/python', pythonExtension: ext }), { command: '/opt/py/bin/python', source: 'setting' });
  assert.deepEqual(await resolveInterpreter({ setting: '', pythonExtension: ext }), { command: '/envs/py/bin/python', source: 'python-extension' });
  assert.deepEqual(await resolveInterpreter({ setting: undefined, pythonExtension: async () => undefined }), { command: 'python3', source: 'default' });
  const broken = async () => {
    throw new Error('extension failed');
  };
  assert.equal((await resolveInterpreter({ setting: '', pythonExtension: broken })).source, 'default');
});

test('the setting may use ~, ${workspaceFolder} and paths relative to the folder', () => {
  assert.equal(expandSetting('~/venv/bin/python'), `${os.homedir()}/venv/bin/python`);
  assert.equal(expandSetting('${workspaceFolder}/.venv/bin/python', '/w'), '/w/.venv/bin/python');
  assert.equal(expandSetting('.venv/bin/python', '/w'), '/w/.venv/bin/python');
  assert.equal(expandSetting('python3.12', '/w'), 'python3.12');
});

test('an interpreter without modelwire gives a message with the fix', async () => {
  const exec = async () => ({ code: 1, stdout: '', stderr: "Traceback...\nModuleNotFoundError: No module named 'modelwire'" });
  const probe = await probeModelwire('/usr/bin/python3', exec);
  assert.equal(probe.ok, false);
  const message = missingModelwireMessage({ command: '/usr/bin/python3', source: 'default' }, probe.detail);
  assert.match(message, /cannot import modelwire \(ModuleNotFoundError: No module named 'modelwire'\)/);
  assert.match(message, /-m pip install -e \/path\/to\/modelwire/);
  assert.match(message, /modelwire\.server\.python/);
  // The default is the last resort: the user learns the other places were looked at.
  assert.match(message, /No other candidate has it \(the Python extension's interpreter, a \.venv in the workspace\)\./);
  assert.doesNotMatch(missingModelwireMessage({ command: '/opt/py', source: 'setting' }, probe.detail), /No other candidate/);
});

test('a missing interpreter says so', async () => {
  const probe = await probeModelwire('/nope/python');
  assert.equal(probe.ok, false);
  assert.match(missingModelwireMessage({ command: '/nope/python', source: 'setting' }, probe.detail), /was not found/);
});

test('without a setting, a workspace .venv is tried after the Python extension and before python3', async () => {
  const exists = (file: string) => file === '/w/app/.venv/bin/python';
  const candidates = await interpreterCandidates({ setting: '', pythonExtension: async () => '/envs/py/bin/python', workspaceFolders: ['/w/app', '/w/lib'], exists });
  assert.deepEqual(candidates.map((c) => `${c.source}:${c.command}`), ['python-extension:/envs/py/bin/python', 'workspace-venv:/w/app/.venv/bin/python', 'default:python3']);
  // A setting is the user's explicit choice: never silently replaced by another interpreter.
  assert.deepEqual(await interpreterCandidates({ setting: '/opt/py', pythonExtension: async () => '/x', workspaceFolders: ['/w/app'], exists }), [{ command: '/opt/py', source: 'setting' }]);
});

test('"Set Interpreter" searches for the setting in the Remote tab of a remote window, else in the User tab', () => {
  // An options object, never a bare string: openRemoteSettings ignores a string argument.
  assert.deepEqual(interpreterSettingCommand('ssh-remote', 'modelwire.server.python'), ['workbench.action.openRemoteSettings', { query: 'modelwire.server.python' }]);
  assert.deepEqual(interpreterSettingCommand('127.0.0.1:8080', 'modelwire.server.python')[0], 'workbench.action.openRemoteSettings');
  assert.deepEqual(interpreterSettingCommand(undefined, 'modelwire.server.python'), ['workbench.action.openSettings', { query: 'modelwire.server.python' }]);
});

test('the first interpreter that has modelwire is used; each one passed over is logged with why', async () => {
  const candidates = [
    { command: '/envs/py/bin/python', source: 'python-extension' as const },
    { command: '/w/app/.venv/bin/python', source: 'workspace-venv' as const },
    { command: 'python3', source: 'default' as const },
  ];
  const has = new Set(['/w/app/.venv/bin/python', 'python3']);
  const probe = async (command: string) => (has.has(command) ? { ok: true, detail: '/x/modelwire/__init__.py' } : { ok: false, detail: "ModuleNotFoundError: No module named 'modelwire'" });
  const lines: string[] = [];
  const picked = await pickInterpreter(candidates, (l) => lines.push(l), probe);
  assert.deepEqual(picked.interpreter, candidates[1]);
  assert.ok(picked.probe.ok);
  assert.deepEqual(lines, ["Tried /envs/py/bin/python (python-extension): ModuleNotFoundError: No module named 'modelwire'"]);

  // None has it: the best one is reported, and every one was logged in order.
  lines.length = 0;
  const none = await pickInterpreter(candidates, (l) => lines.push(l), async () => ({ ok: false, detail: 'ENOENT' }));
  assert.deepEqual(none.interpreter, candidates[0]);
  assert.equal(none.probe.ok, false);
  assert.deepEqual(lines.map((l) => l.split(' ')[1]), ['/envs/py/bin/python', '/w/app/.venv/bin/python', 'python3']);

  // The first one works: nothing to explain.
  lines.length = 0;
  const ok = await pickInterpreter([candidates[2]], (l) => lines.push(l), probe);
  assert.deepEqual([ok.interpreter, lines], [candidates[2], []]);
});
