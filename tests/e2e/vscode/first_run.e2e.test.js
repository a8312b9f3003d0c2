'use strict';
/**
 * ModelWire's first run in a real VS Code (code-server 4.100.3 + Debian's Chromium), as a
 * new user meets it: a fresh user-data dir with NO ModelWire setting (no
 * `modelwire.server.python`), a fresh MODELWIRE_HOME (no connection), and a workspace that
 * is a copy of the repo's samples/ folder. Two launches:
 *
 *  A. the workspace has a `.venv` with modelwire (a symlink to the repo's .venv: Python
 *     takes its prefix from the path it was started by, so sys.prefix is <workspace>/.venv):
 *     the sidecar starts on it, the status bar and the run header say Embedded is a small
 *     local demo model, the extension warms Embedded up before any run, Explain on
 *     inventory.py streams into the run panel, routed to Embedded, and the first answer
 *     brings the offer to add Ollama/OpenAI, whose button starts Add Connection.
 *  B. no `.venv`, but the Python extension (a test double, python-extension-double/, whose
 *     active environment is the repo's .venv): the sidecar starts on that interpreter.
 *  C. neither, and `python3` without modelwire: the notification says which interpreter was
 *     tried and the fix; "Set Interpreter" opens the setting (code-server is a remote
 *     window: the Remote tab); typing the interpreter there starts the sidecar.
 *
 * Run: node tests/e2e/vscode/first_run.e2e.test.js (inside scripts/with-keyring; the
 * pytest wrapper tests/e2e/test_vscode_first_run.py does that). Screenshots and timings
 * land in test-artifacts/vscode-first-run/.
 */
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test, before, after } = require('node:test');
const H = require('./harness');

const SUITE_LIMIT_MS = Number(process.env.MODELWIRE_E2E_LIMIT_MS || 9 * 60 * 1000);
const CI = (process.env.CI || '').trim().toLowerCase() === 'true';
const ARTIFACTS = path.join(H.REPO, 'test-artifacts', 'vscode-first-run');
const REPO_VENV = path.join(H.REPO, '.venv');
const DOUBLE = path.join(__dirname, 'python-extension-double');
// Editor hygiene only: no update checks, experiments or telemetry leave the machine. Not
// one ModelWire setting (asserted below).
const EDITOR_SETTINGS = {
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'workbench.tips.enabled': false,
  'chat.disableAIFeatures': true,
};

// The machine is shared: each run says how loaded it was (1-minute load average, 2 cores).
const timings = { started: Date.now(), loadAtStart: fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0] };
let launch; // the current code-server + browser
let broken = false;

function step(name, fn, timeoutMs = 120000) {
  test(name, { timeout: timeoutMs }, async (t) => {
    if (broken) return t.skip('an earlier step failed');
    try {
      await fn(t);
      if (launch?.wb) await launch.wb.shot(name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 60));
    } catch (err) {
      broken = true;
      if (launch?.wb) await launch.wb.shot(`FAILED-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 50)}`);
      throw err;
    }
  });
}

/** An output channel's lines as VS Code persists them ("ModelWire" or "ModelWire Server"). */
function channelLines(channel) {
  const re = new RegExp(`output_logging_[^/]+/\\d+-${channel.replace(/ /g, ' ')}\\.log$`);
  return H.listFiles(path.join(launch.root, 'user-data', 'logs'))
    .filter((f) => re.test(f))
    .flatMap((f) => fs.readFileSync(f, 'utf8').split('\n'))
    .map((l) => l.trim())
    .filter(Boolean);
}

function routingLines() {
  return channelLines('ModelWire').filter((l) => /^\d\d:\d\d:\d\d \w+ /.test(l));
}

/** The screenshot also illustrates docs/editors/vscode.md (MODELWIRE_E2E_DOCS_IMG=1). */
async function docShot(name, docImage) {
  const file = await launch.wb.shot(name);
  if (process.env.MODELWIRE_E2E_DOCS_IMG === '1' && fs.existsSync(file)) {
    fs.copyFileSync(file, path.join(H.REPO, 'docs', 'editors', 'img', docImage));
  }
}

async function statusIs(re, timeoutMs = 15000) {
  return H.waitFor(`status bar matching ${re}`, async () => {
    const text = await launch.wb.statusText();
    return re.test(text) ? text : false;
  }, timeoutMs, 200);
}

/** Show an output channel by name, through "Output: Show Output Channels…" like a user. */
async function showChannel(name) {
  const { wb, page } = launch;
  await wb.command('Output: Show Output Channels');
  const input = page.locator('.quick-input-widget input.input');
  await input.waitFor({ state: 'visible', timeout: 10000 });
  await input.fill(name);
  await H.waitFor(`channel ${name} in the list`, async () => {
    const rows = await page.locator('.quick-input-list .monaco-list-row').allInnerTexts();
    return rows.length > 0 && rows[0].replace(/\u00a0/g, ' ').trim().startsWith(name);
  }, 10000);
  await page.keyboard.press('Enter');
  await H.waitFor('the Output view', async () => (await page.locator('.part.panel .view-lines').count()) > 0, 10000);
}

/** A toast slides in: wait until it stands still, so that its picture can be read. */
async function standsStill(toast) {
  let last = '';
  await H.waitFor('the notification to stop moving', async () => {
    const box = JSON.stringify(await toast.boundingBox());
    const still = box === last;
    last = box;
    return still;
  }, 5000, 150);
}

/** The run panel of `title` ("Explain · inventory.py"): header, answer, footer as text. */
async function runPanel(title) {
  for (const frame of launch.page.frames()) {
    try {
      const parts = await frame.evaluate(() => {
        const get = (id) => document.getElementById(id)?.innerText ?? null;
        return get('header') !== null && get('answer') !== null ? { header: get('header'), answer: get('answer'), footer: get('footer') ?? '' } : null;
      });
      if (parts && parts.header.includes(title)) return parts;
    } catch {
      /* a frame that went away or is not ours */
    }
  }
  return undefined;
}

/** A fresh root, the samples workspace, code-server with the .vsix (and `extra` extensions). */
async function startLaunch(name, { venv, pythonDouble, plainPython }) {
  const root = H.makeRoot();
  H.log(`${name}: temp root ${root}`);
  const procs = new H.Processes(root);
  // Known at once, so a launch that fails half-way is still stopped (code-server included).
  launch = { name, root, procs };
  const workspace = path.join(root, 'workspace', 'samples');
  fs.cpSync(path.join(H.REPO, 'samples'), workspace, { recursive: true });
  if (venv) fs.symlinkSync(REPO_VENV, path.join(workspace, '.venv'));
  const doubleLog = path.join(root, 'logs', 'python-extension-double.jsonl');
  const extra = pythonDouble ? { MODELWIRE_TEST_PYTHON_ENV: REPO_VENV, MODELWIRE_TEST_PYTHON_DOUBLE_LOG: doubleLog } : {};
  if (plainPython) {
    // `python3` on PATH is a bare venv: surely without modelwire, whatever the machine has.
    const plain = path.join(root, 'plain-python');
    require('node:child_process').execFileSync(H.PYTHON, ['-m', 'venv', '--without-pip', plain], { timeout: 60000 });
    extra.PATH = `${path.join(plain, 'bin')}${path.delimiter}${process.env.PATH}`;
  }
  const env = H.childEnv(root, extra);
  const settingsFile = path.join(root, 'user-data', 'User', 'settings.json');
  fs.writeFileSync(settingsFile, JSON.stringify(EDITOR_SETTINGS, null, 2));
  H.installExtension(root, H.findVsix(), env);
  if (pythonDouble) H.installFolderExtension(root, DOUBLE, env);
  const t0 = Date.now();
  const cs = await H.startCodeServer(procs, root, workspace, env);
  const { browser, page } = await H.launchBrowser(root);
  launch.browser = browser;
  const shots = path.join(ARTIFACTS, name);
  fs.mkdirSync(shots, { recursive: true });
  const wb = new H.Workbench(page, shots);
  await page.goto(`${cs.url}/?folder=${encodeURIComponent(workspace)}`);
  await page.locator('.monaco-workbench').waitFor({ timeout: 30000 });
  const loaded = Date.now();
  timings[`${name}.codeServerToWindowMs`] = loaded - t0;
  return Object.assign(launch, { workspace, env, settingsFile, doubleLog, cs, browser, page, wb, loaded });
}

async function stopLaunch() {
  const l = launch;
  launch = undefined;
  if (!l) return;
  try {
    await l.browser?.close();
  } catch {
    /* the browser is gone */
  }
  await l.procs.killAll();
  if (process.env.MODELWIRE_E2E_KEEP) return;
  try {
    fs.cpSync(path.join(l.root, 'logs'), path.join(ARTIFACTS, l.name, 'logs'), { recursive: true });
    const vsLogs = path.join(l.root, 'user-data', 'logs');
    if (fs.existsSync(vsLogs)) fs.cpSync(vsLogs, path.join(ARTIFACTS, l.name, 'logs', 'vscode'), { recursive: true });
  } catch (err) {
    H.log(`could not keep the logs: ${err.message}`);
  }
  fs.rmSync(l.root, { recursive: true, force: true });
}

/** No setting of ModelWire's anywhere: user settings, the workspace's .vscode. */
function assertNoModelWireSettings() {
  const user = JSON.parse(fs.readFileSync(launch.settingsFile, 'utf8'));
  assert.deepEqual(Object.keys(user).filter((k) => k.startsWith('modelwire.')), [], 'no ModelWire user setting');
  assert.ok(!fs.existsSync(path.join(launch.workspace, '.vscode')), 'no workspace settings');
  assert.deepEqual(fs.readdirSync(launch.env.MODELWIRE_HOME), [], 'a fresh MODELWIRE_HOME: no connections');
}

/** Wait for the Server channel's "Starting the sidecar" line and return it. */
async function sidecarStartLine(timeoutMs = 60000) {
  return H.waitFor('"Starting the sidecar" in the ModelWire Server channel', async () => channelLines('ModelWire Server').find((l) => l.startsWith('Starting the sidecar:')), timeoutMs, 250);
}

before(async () => {
  const watchdog = setTimeout(async () => {
    process.stderr.write(`e2e: the first-run suite ran over ${SUITE_LIMIT_MS} ms; stopping everything\n`);
    await stopLaunch();
    process.exit(1);
  }, SUITE_LIMIT_MS);
  watchdog.unref();
  for (const [what, file] of [['code-server (run scripts/setup-editor)', H.CODE_SERVER], ['Chromium (apt-get install chromium)', H.CHROMIUM], ['the .venv python (run scripts/setup)', H.PYTHON]]) {
    if (!fs.existsSync(file)) throw new Error(`missing ${what}: ${file}`);
  }
  if (!H.findVsix()) throw new Error('missing editor-extension/modelwire-*.vsix (run scripts/setup-editor)');
  // The first run is the Embedded model's: without it there is nothing to answer.
  let embedded = false;
  try {
    embedded = require('node:child_process').execFileSync(H.PYTHON, ['-c', 'from modelwire.adapters.embedded import embedded_status; print(embedded_status()[0])'], { encoding: 'utf8' }).trim() === 'True';
  } catch {
    embedded = false;
  }
  if (!embedded) {
    const why = 'the Embedded model is missing: run scripts/setup --all';
    if (CI) throw new Error(why);
    throw new Error(`${why} (the first run is Embedded's; this suite cannot run without it)`);
  }
  fs.rmSync(ARTIFACTS, { recursive: true, force: true });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await stopLaunch();
  timings.totalMs = Date.now() - timings.started;
  timings.loadAtEnd = fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  fs.writeFileSync(path.join(ARTIFACTS, 'timings.json'), JSON.stringify(timings, null, 2));
  H.log(`first-run timings: ${JSON.stringify(timings)}`);
});

// ---- A. a workspace .venv that has modelwire --------------------------------------------

step('A: a new user opens samples/ with a .venv: the sidecar starts on it, no setting needed', async () => {
  launch = await startLaunch('venv', { venv: true });
  assertNoModelWireSettings();
  // The .venv is the repo's, through a symlink: Python's prefix is the workspace's .venv.
  const prefix = require('node:child_process').execFileSync(path.join(launch.workspace, '.venv', 'bin', 'python'), ['-c', 'import sys, modelwire; print(sys.prefix)'], { encoding: 'utf8' }).trim();
  assert.equal(prefix, path.join(launch.workspace, '.venv'));
  const line = await sidecarStartLine();
  assert.equal(line, `Starting the sidecar: ${path.join(launch.workspace, '.venv', 'bin', 'python')} -m modelwire serve (interpreter from workspace-venv)`);
  const text = await statusIs(/Embedded \(small local demo model\) · \S+/, 90000);
  timings['venv.windowToStatusMs'] = Date.now() - launch.loaded;
  H.log(`status bar: ${text}`);
});

step('A: the status bar says Embedded is a small local demo model; the Server channel names the interpreter', async () => {
  await launch.wb.openFile('inventory.py');
  await statusIs(/Embedded \(small local demo model\)/);
  await showChannel('ModelWire Server');
  const squash = (t) => t.replace(/\s+/g, '');
  await H.waitFor('the interpreter line in the Output view', async () => squash(await launch.wb.panelText()).includes(squash('(interpreter from workspace-venv)')), 10000, 250);
  await docShot('first-run-status-bar', 'vscode-first-run-status.png');
});

step('A: the extension warms Embedded up at start, before any run', async () => {
  // The sidecar logs the model server's start; with no run yet, only modelwire/warmUp starts it.
  const ready = await H.waitFor('"embedded model … ready" in the ModelWire Server channel', async () => channelLines('ModelWire Server').find((l) => /embedded model \S+ ready \(pid \d+\) in [\d.]+ s/.test(l)), 120000, 250);
  assert.deepEqual(routingLines(), [], `no run has been made yet: ${routingLines().join(' | ')}`);
  assert.equal(channelLines('ModelWire Server').filter((l) => /starting embedded model server pid/.test(l)).length, 1, 'one model server start');
  timings['venv.windowToWarmMs'] = Date.now() - launch.loaded;
  H.log(`warm-up: ${ready}`);
}, 150000);

step('A: Explain on inventory.py streams into the run panel, on Embedded, labelled a demo model', async () => {
  const { wb } = launch;
  await wb.openFile('inventory.py');
  const asked = Date.now();
  await wb.command('ModelWire: Run Agent on File');
  await wb.pick('Run Agent on', 'Explain');
  // Sample the panel while it streams: the answer must grow in steps before the outcome.
  const lengths = new Set();
  let firstTokenAt;
  const final = await H.waitFor('the Explain run to finish in its panel', async () => {
    const p = await runPanel('Explain · inventory.py');
    if (!p) return false;
    const answer = p.answer.trim();
    if (answer && !firstTokenAt) firstTokenAt = Date.now();
    if (!/succeeded|failed|cancelled/.test(p.footer)) {
      if (answer) lengths.add(answer.length);
      return false;
    }
    return p;
  }, 150000, 100);
  timings['venv.windowToFirstTokenInPanelMs'] = firstTokenAt - launch.loaded;
  timings['venv.explainToFirstTokenInPanelMs'] = firstTokenAt - asked;
  timings['venv.explainToDoneMs'] = Date.now() - asked;
  assert.ok(lengths.size >= 2, `the answer streamed (saw ${lengths.size} partial lengths before the outcome)`);
  assert.match(final.footer, /succeeded · first token/);
  assert.match(final.header, /Embedded \(embedded, small local demo model\) · \S+ · source: fallback/);
  assert.match(final.header, /Embedded is a small local demo model: fine for a first try, weak on real code\./);
  assert.ok(final.answer.trim().length > 20, `an answer: ${final.answer.slice(0, 200)}`);
  const routing = await H.waitFor('the routing line', async () => routingLines()[0], 10000, 250);
  assert.match(routing, /explain inventory\.py → "Embedded" provider=embedded model=\S+ source=fallback first-token=\S+ \S+ total=\S+ \S+ succeeded$/);
  timings['venv.routingLine'] = routing;
}, 200000);

step('A: after the first answer the user is offered a real model; the button starts Add Connection', async () => {
  const { wb, page } = launch;
  const toast = await wb.waitNotification(/answered with the Embedded model/, 20000);
  const text = (await toast.innerText()).replace(/\u00a0/g, ' ');
  assert.match(text, /small local demo model/);
  assert.match(text, /Add Ollama or an OpenAI-compatible server/);
  await standsStill(toast);
  await docShot('first-answer-embedded-and-offer', 'vscode-first-run-answer.png');
  await toast.locator('.monaco-button', { hasText: 'Add Connection' }).first().click();
  await wb.waitQuickTitle('Add Connection (1/5)');
  const rows = (await page.locator('.quick-input-list .monaco-list-row').allInnerTexts()).join(' | ');
  assert.match(rows, /Ollama/);
  assert.match(rows, /OpenAI/);
  await wb.shot('add-connection-started');
  await page.keyboard.press('Escape');
  // Leaving the flow changes nothing: still the demo model, still no connection stored.
  await statusIs(/Embedded \(small local demo model\)/);
  assert.ok(!fs.existsSync(path.join(launch.workspace, '.vscode')), 'nothing written to the workspace');
});

step('A: close the window', async () => {
  timings['venv.launchMs'] = Date.now() - launch.loaded;
  await stopLaunch();
});

// ---- B. no .venv, the Python extension's active environment ------------------------------

step('B: with no .venv, the Python extension\'s active environment runs the sidecar', async () => {
  launch = await startLaunch('python-extension', { venv: false, pythonDouble: true });
  assertNoModelWireSettings();
  assert.ok(!fs.existsSync(path.join(launch.workspace, '.venv')), 'no .venv in this workspace');
  const line = await sidecarStartLine();
  assert.equal(line, `Starting the sidecar: ${path.join(REPO_VENV, 'bin', 'python')} -m modelwire serve (interpreter from python-extension)`);
  // The extension asked for the workspace folder's environment and resolved it to the executable.
  const calls = fs.readFileSync(launch.doubleLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const active = calls.find((c) => c.call === 'getActiveEnvironmentPath');
  assert.ok(active, `getActiveEnvironmentPath was called: ${JSON.stringify(calls)}`);
  assert.equal(active.resource, require('node:url').pathToFileURL(launch.workspace).toString());
  const resolved = calls.find((c) => c.call === 'resolveEnvironment');
  assert.deepEqual([resolved?.env, resolved?.executable], [REPO_VENV, path.join(REPO_VENV, 'bin', 'python')]);
  await statusIs(/Embedded \(small local demo model\) · \S+/, 90000);
  timings['python-extension.windowToStatusMs'] = Date.now() - launch.loaded;
  await launch.wb.openFile('inventory.py');
  await showChannel('ModelWire Server');
  const squash = (t) => t.replace(/\s+/g, '');
  await H.waitFor('the interpreter line in the Output view', async () => squash(await launch.wb.panelText()).includes(squash('(interpreter from python-extension)')), 10000, 250);
});

step('B: close the window', async () => {
  timings['python-extension.launchMs'] = Date.now() - launch.loaded;
  await stopLaunch();
});

// ---- C. nothing has modelwire: the failure a new user can meet, and its fix -------------

step('C: no interpreter has modelwire: the notification says which was tried; "Set Interpreter" opens the setting in this remote window; setting it starts the sidecar', async () => {
  launch = await startLaunch('no-interpreter', { venv: false, pythonDouble: false, plainPython: true });
  const { wb, page } = launch;
  assertNoModelWireSettings();
  const toast = await wb.waitNotification(/ModelWire cannot start: "python3" \(the default python3\) cannot import modelwire/, 60000);
  const text = (await toast.innerText()).replace(/\u00a0/g, ' ');
  assert.match(text, /No other candidate has it \(the Python extension's interpreter, a \.venv in the workspace\)\. Install it into that interpreter with "python3" -m pip install -e \/path\/to\/modelwire, or set modelwire\.server\.python/);
  await statusIs(/ModelWire: not running/);
  await standsStill(toast);
  await docShot('cannot-start-notification', 'vscode-first-run-no-interpreter.png');
  await toast.locator('.monaco-button', { hasText: 'Set Interpreter' }).first().click();
  // code-server is a remote window: the machine-overridable setting is in the Remote tab.
  const editor = page.locator('.settings-editor');
  await editor.waitFor({ state: 'visible', timeout: 15000 });
  const item = editor.locator('.setting-item-contents', { hasText: 'Server: Python' }).first();
  await item.waitFor({ state: 'visible', timeout: 15000 });
  const shown = await editor.innerText();
  assert.ok(!/No Settings Found/i.test(shown), `the tab shows the setting: ${shown.slice(0, 300)}`);
  assert.match((await editor.locator('.settings-tabs-widget .action-item .checked').first().innerText().catch(() => '')).trim(), /Remote/, 'the Remote tab, where the machine setting lives');
  await wb.shot('set-interpreter-remote-tab');
  await item.locator('input').first().fill(H.PYTHON);
  await item.locator('input').first().press('Enter');
  // The setting restarts the sidecar on it; the first run is then Embedded's, as in A.
  await H.waitFor('the sidecar started from the setting', async () => channelLines('ModelWire Server').some((l) => l === `Starting the sidecar: ${H.PYTHON} -m modelwire serve (interpreter from setting)`), 60000, 250);
  await statusIs(/Embedded \(small local demo model\) · \S+/, 90000);
});

step('C: close the window', async () => {
  await stopLaunch();
});
