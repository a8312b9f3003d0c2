import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import * as P from '../src/protocol';
import { chooseShare, isShareable, parseChildError, parseStateLine, plainLine, shareArgs, statusText } from '../src/shareFlow';
import { panelHtml, safeQrUri } from '../src/sharePanel';
import { LineReader, ShareEvents, ShareProcess } from '../src/shareProcess';
import { FakeSidecar, MemorySettings, ScriptedUi } from './fakes';

const SERVER_ID = '4wBqpZM9xaSheZzJSMawUKKwhdpChKbZ5eu5ky4Vigw';
const caps = { listModels: true, pullModel: false, streaming: true };
const PROVIDERS: P.ProviderDescriptor[] = [
  { id: 'ollama', displayName: 'Ollama', protocol: 'ollama', auth: 'none', defaultBaseUrl: 'http://localhost:11434', localOnly: true, capabilities: caps, origin: 'core' },
  { id: 'openai', displayName: 'OpenAI-compatible', protocol: 'openai', auth: 'apiKey', defaultBaseUrl: 'https://api.openai.com/v1', localOnly: false, capabilities: caps, origin: 'core' },
  { id: 'peer', displayName: 'Shared model', protocol: 'peer', auth: 'apiKey', defaultBaseUrl: 'peer://hyperswarm', localOnly: false, capabilities: caps, origin: 'core' },
];

function conn(id: string, name: string, providerId: string, baseUrl: string, hasSecret = false): P.Connection {
  return { id, name, providerId, baseUrl, hasSecret, createdAt: 't', updatedAt: 't' };
}

const CONNECTIONS = [
  conn('a', 'Local Ollama', 'ollama', 'http://localhost:11434'),
  conn('b', 'llama.cpp here', 'openai', 'http://127.0.0.1:8080/v1'),
  conn('c', 'Work OpenAI', 'openai', 'https://api.openai.com/v1', true),
  conn('d', 'Keyless remote', 'openai', 'http://10.0.0.5:8080/v1'),
  conn('e', 'Friend', 'peer', 'peer://hyperswarm', true),
];

test('only what the sidecar would share is offered: local, keyless, not a peer', () => {
  const byId = new Map(PROVIDERS.map((p) => [p.id, p]));
  assert.deepEqual(CONNECTIONS.filter((c) => isShareable(c, byId.get(c.providerId))).map((c) => c.id), ['a', 'b']);
  assert.equal(isShareable(conn('x', 'x', 'gone', 'http://localhost'), undefined), false);
});

test('Share Model picks connection, model, agent and builds the child arguments', async () => {
  const fake = new FakeSidecar((method) => {
    switch (method) {
      case P.LIST_PROVIDERS: return { providers: PROVIDERS };
      case P.LIST_CONNECTIONS: return { connections: CONNECTIONS };
      case P.LIST_AGENTS: return { agents: [{ id: 'review', title: 'Review', description: 'd', input: 'file', output: 'text', origin: 'builtin' }] };
      case P.LIST_MODELS: return { connectionId: 'b', models: [{ id: 'qwen2.5:0.5b' }], fetchedAt: 't', cached: true };
      default: return new Error(`unexpected ${method}`);
    }
  });
  const ui = new ScriptedUi([{ pick: 'llama.cpp here' }, { pick: 'qwen2.5:0.5b' }, { pick: 'review' }]);
  const choice = await chooseShare({ ui, sidecar: fake, settings: new MemorySettings() });
  assert.deepEqual(ui.shown[0].items, ['Local Ollama', 'llama.cpp here']);
  // Three steps, each saying what it is for (the model is what peers get, not a default).
  assert.deepEqual(
    ui.shown.filter((s) => s.kind === 'pick').map((s) => s.text.split(':')[0]),
    ['Share Model (1/3)', 'Share Model (2/3)', 'Share Model (3/3)'],
  );
  assert.match(ui.shown[1].text, /model of llama\.cpp here: Which model do peers get/);
  assert.deepEqual(shareArgs(choice!), ['-m', 'modelwire', 'share', 'b', '--model', 'qwen2.5:0.5b', '--agent', 'review', '--no-qr']);
  const none = new ScriptedUi([{ pick: 'Local Ollama' }, { pick: 'qwen2.5:0.5b' }, { pick: 'No agent' }]);
  assert.deepEqual(shareArgs((await chooseShare({ ui: none, sidecar: fake, settings: new MemorySettings() }))!), ['-m', 'modelwire', 'share', 'a', '--model', 'qwen2.5:0.5b', '--no-qr']);
});

test('nothing shareable: a warning that says what can be shared', async () => {
  const fake = new FakeSidecar((method) =>
    method === P.LIST_PROVIDERS ? { providers: PROVIDERS } : method === P.LIST_CONNECTIONS ? { connections: CONNECTIONS.slice(2) } : { agents: [] },
  );
  const ui = new ScriptedUi([]);
  assert.equal(await chooseShare({ ui, sidecar: fake, settings: new MemorySettings() }), undefined);
  assert.match(ui.shown[0].text, /Ollama, Embedded, or an OpenAI-compatible server on localhost without a key/);
});

test('state lines are read from their fixed shape only', () => {
  assert.deepEqual(parseStateLine('[10:01:02] Ready · clients 0'), { state: 'Ready', clients: 0 });
  assert.deepEqual(parseStateLine('[10:01:02] client abcd1234 prompt 1234abcd · Busy · clients 2'), { state: 'Busy', clients: 2 });
  assert.deepEqual(parseStateLine('[10:01:02] Stopped'), { state: 'Stopped', clients: 0 });
  assert.equal(parseStateLine('[10:01:02] client abcd1234 summary: Ready · clients 9 and more'), undefined);
  assert.equal(parseStateLine('Ready · clients 99999999999'), undefined);
  assert.equal(statusText({ state: 'Busy', clients: 1 }), 'Sharing · 1 client · Busy');
  assert.equal(statusText({ state: 'Ready', clients: 3 }), 'Sharing · 3 clients · Ready');
});

test('untrusted lines lose control characters and are bounded', () => {
  assert.equal(plainLine('a\u001b[31mred\u0007\u202eb'), 'a [31mred  b');
  assert.equal(plainLine('x'.repeat(5000)).length, 2001);
  const got: string[] = [];
  const reader = new LineReader((l) => got.push(l), 10);
  reader.push('short\nabc');
  reader.push('defghijklmnop-rest-of-long-line');
  reader.push('-still\nnext\n');
  assert.deepEqual(got, ['short', 'abcdefghij', 'next']);
});

test("the CLI's error lines become code, message and hint (SHARE_NOT_ALLOWED)", () => {
  const stderr = "error: Connection 'Work' has a key: it cannot be shared.\nhint: Share a local connection.  [SHARE_NOT_ALLOWED]\n";
  assert.deepEqual(parseChildError(stderr), { code: 'SHARE_NOT_ALLOWED', message: "Connection 'Work' has a key: it cannot be shared.", hint: 'Share a local connection.' });
  assert.equal(parseChildError('Traceback...\n'), undefined);
});

test('the panel escapes everything, hides the Server ID by default, and allows no network', () => {
  const html = panelHtml(
    { what: '<img src=x onerror=alert(1)>', serverId: SERVER_ID, status: { state: 'Ready', clients: 0 }, lines: ['<script>alert(1)</script>'], qrDataUri: 'data:image/png;base64,iVBORw0KGgo=' },
    'NONCE123',
    'vscode-resource:',
  );
  assert.ok(!html.includes('<img src=x'));
  assert.ok(!html.includes('<script>alert(1)'));
  assert.match(html, /<code id="sid" class="hidden">4wBqpZM9/);
  assert.match(html, /<p id="qrbox" class="hidden"><img alt="QR code of the Server ID"[^>]*src="data:image\/png;base64,iVBORw0KGgo="/);
  assert.match(html, /default-src 'none'; img-src data:;/);
  assert.match(html, /Sharing stops when this window closes/);
  assert.equal(html.match(/<script/g)?.length, 1);
  assert.equal(safeQrUri('data:image/svg+xml;base64,PHN2Zz4='), undefined);
  // Stopped: said plainly; no "waiting for the Server ID", no Server ID, no Stop button.
  const stopped = panelHtml({ what: 'x', serverId: SERVER_ID, status: { state: 'Stopped', clients: 0 }, lines: ['[10:00:00] Stopped'] }, 'N', 'c:');
  assert.match(stopped, /Sharing has stopped: that Server ID no longer reaches this model/);
  assert.ok(!stopped.includes(SERVER_ID) && !stopped.includes('waiting for the Server ID') && !stopped.includes('id="stop"'));
  assert.match(stopped, /Sharing · 0 clients · Stopped/);
  assert.match(panelHtml({ what: 'x', status: { state: 'Starting', clients: 0 }, lines: [] }, 'N', 'c:'), /waiting for the Server ID/);
  assert.equal(safeQrUri('data:image/png;base64,AAA" onload="x'), undefined);
  assert.equal(safeQrUri(`data:image/png;base64,${'A'.repeat(300_000)}`), undefined);
});

/** A scripted stand-in for `python -m modelwire share`: a node script printing the CLI's lines. */
function fakeChild(body: string): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mw-share-')), 'child.js');
  fs.writeFileSync(file, body);
  return file;
}

function run(script: string, stopAfterServerId = false): Promise<{ ids: string[]; states: string[]; lines: string[]; error: string | undefined }> {
  return new Promise((resolve) => {
    const seen = { ids: [] as string[], states: [] as string[], lines: [] as string[] };
    const events: ShareEvents = {
      onServerId: (id) => {
        seen.ids.push(id);
        if (stopAfterServerId) setTimeout(() => proc.stop(), 100);
      },
      onStatus: (s) => seen.states.push(statusText(s)),
      onLine: (l) => seen.lines.push(l),
      onExit: (e) => resolve({ ...seen, error: e ? `${e.code}: ${e.message} | ${e.hint}` : undefined }),
    };
    const proc: ShareProcess = new ShareProcess(process.execPath, [fakeChild(script)], events);
    proc.start();
  });
}

test('the child: Server ID first, then states; SIGTERM stops it cleanly', async () => {
  const got = await run(
    `console.log(${JSON.stringify(SERVER_ID)});
     console.log('[10:00:00] Ready · clients 0');
     console.log('[10:00:01] client abcd1234 connected · Ready · clients 1');
     console.log('[10:00:02] client abcd1234 prompt 1234abcd · Busy · clients 1');
     process.on('SIGTERM', () => { console.log('[10:00:03] Stopped'); process.exit(0); });
     setInterval(() => {}, 1000);`,
    true,
  );
  assert.deepEqual(got.ids, [SERVER_ID]);
  assert.deepEqual(got.states, ['Sharing · 0 clients · Ready', 'Sharing · 1 client · Ready', 'Sharing · 1 client · Busy', 'Sharing · 0 clients · Stopped']);
  assert.equal(got.error, undefined);
  assert.ok(got.lines.every((l) => !l.includes(SERVER_ID)));
});

test('the child refusing (SHARE_NOT_ALLOWED) reports its message and hint', async () => {
  const got = await run(
    `process.stderr.write("error: Connection 'Work' has a key: it cannot be shared.\\nhint: Share a local connection: Ollama, Embedded, or an OpenAI-compatible server on localhost without a key.  [SHARE_NOT_ALLOWED]\\n");
     process.exit(1);`,
  );
  assert.deepEqual(got.ids, []);
  assert.equal(got.error, "SHARE_NOT_ALLOWED: Connection 'Work' has a key: it cannot be shared. | Share a local connection: Ollama, Embedded, or an OpenAI-compatible server on localhost without a key.");
});

test('a child that prints garbage instead of a Server ID is not believed, and a crash is reported', async () => {
  const got = await run(`console.log('<b>' + 'x'.repeat(100000)); process.exit(2);`);
  assert.deepEqual(got.ids, []);
  assert.ok(got.lines.every((l) => l.length <= 201));
  assert.match(got.error!, /^SHARE_FAILED: modelwire share stopped \(exit code 2\)/);
});
