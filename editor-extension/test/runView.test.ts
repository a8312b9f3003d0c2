import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runPanelParts, runPanelText } from '../src/runView';

const routing = { connectionId: 'c1', connectionName: 'Local Ollama', providerId: 'ollama', modelRef: 'llama3.2', source: 'settings' as const };

test('a streaming run shows its routing, its progress and the text so far', () => {
  const text = runPanelText({ title: 'Explain', file: 'app.py', routing, status: 'running', output: 'This file', progress: 'waiting for the first token (3 s)', done: false });
  assert.match(text, /Explain · app\.py\nLocal Ollama \(ollama\) · llama3\.2 · source: settings\nwaiting for the first token \(3 s\)/);
  assert.match(text, /This file/);
});

test('a finished run ends with its outcome; a failed one with the code and hint', () => {
  const ok = runPanelText({ title: 'Explain', file: 'a.py', routing, status: 'succeeded', output: 'Done.', firstTokenMs: 100, totalMs: 900, done: true });
  assert.match(ok, /succeeded · first token 100 ms · total 900 ms/);
  const failed = runPanelText({ title: 'Explain', file: 'a.py', status: 'failed', output: '', done: true, error: { code: 'ENDPOINT_UNREACHABLE', message: 'Ollama is not running at http://localhost:9', hint: 'Start it with `ollama serve`.' } });
  assert.match(failed, /failed: ENDPOINT_UNREACHABLE — Ollama is not running at http:\/\/localhost:9\. Start it with `ollama serve`\./);
});

test('a review whose answer could not be read as findings says so under the answer', () => {
  const notice = "The model's review could not be read as findings; its answer is shown as text.";
  const text = runPanelText({ title: 'Review', file: 'a.py', routing, status: 'succeeded', output: 'Looks fine to me', done: true, diagnosticsCount: 0, notice });
  assert.match(text, /Looks fine to me[\s\S]*Note: The model's review could not be read as findings/);
});

test('the embedded connection is labelled a small local demo model', () => {
  const embedded = { ...routing, connectionName: 'Embedded', providerId: 'embedded', modelRef: 'SmolLM2-135M-Instruct', source: 'fallback' as const };
  const text = runPanelText({ title: 'Explain', file: 'a.py', routing: embedded, status: 'running', output: '', done: false });
  assert.match(text, /Embedded \(embedded, small local demo model\) · SmolLM2-135M-Instruct · source: fallback/);
});

test('routing and errors from the wire are escaped in the header and footer', () => {
  const hostile = { ...routing, connectionName: '<img src=x onerror=alert(1)>' };
  const parts = runPanelParts({ title: 'Explain', file: '<b>.py', routing: hostile, status: 'failed', output: '', done: true, error: { code: 'X', message: '<script>x</script>' } });
  assert.doesNotMatch(parts.header + parts.footer, /<img|<script|<b>\.py/);
});
