import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runDocumentText } from '../src/runView';

const routing = { connectionId: 'c1', connectionName: 'Local Ollama', providerId: 'ollama', modelRef: 'llama3.2', source: 'settings' as const };

test('a streaming run shows its routing and the text so far', () => {
  const text = runDocumentText({ title: 'Explain', file: 'app.py', routing, status: 'running', output: 'This file', done: false });
  assert.equal(text, '# Explain · app.py\n\n_Local Ollama (ollama) · llama3.2 · source: settings_\n\nThis file\n');
});

test('a finished run ends with its outcome; a failed one with the code and hint', () => {
  const ok = runDocumentText({ title: 'Explain', file: 'a.py', routing, status: 'succeeded', output: 'Done.', firstTokenMs: 100, totalMs: 900, done: true });
  assert.match(ok, /---\n_succeeded · first token 100 ms · total 900 ms_\n$/);
  const failed = runDocumentText({ title: 'Explain', file: 'a.py', status: 'failed', output: '', done: true, error: { code: 'ENDPOINT_UNREACHABLE', message: 'Ollama is not running at http://localhost:9', hint: 'Start it with `ollama serve`.' } });
  assert.match(failed, /\*\*failed: ENDPOINT_UNREACHABLE\*\* — Ollama is not running at http:\/\/localhost:9\. Start it with `ollama serve`\./);
});

test("a review whose answer could not be read as findings says so under the answer", () => {
  const notice = "The model's review could not be read as findings; its answer is shown as text.";
  const text = runDocumentText({ title: 'Review', file: 'a.py', routing, status: 'succeeded', output: 'Looks fine to me', done: true, diagnosticsCount: 0, notice });
  assert.match(text, /Looks fine to me[\s\S]*> \*\*Note:\*\* The model's review could not be read as findings/);
});

test('the embedded connection is labelled a small local demo model', () => {
  const embedded = { ...routing, connectionName: 'Embedded', providerId: 'embedded', modelRef: 'SmolLM2-135M-Instruct', source: 'fallback' as const };
  const text = runDocumentText({ title: 'Explain', file: 'a.py', routing: embedded, status: 'running', output: '', done: false });
  assert.match(text, /Embedded \(embedded, small local demo model\) · SmolLM2-135M-Instruct · source: fallback/);
});
