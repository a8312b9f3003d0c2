import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chatPrompt, PEER_PROMPT_BYTES, promptBudget } from '../src/chat/conversation';

test('a follow-up carries the conversation so far before the new question', () => {
  const result = chatPrompt([{ question: 'What does add do?', answer: 'It sums a and b.' }], 'And with strings?', 4096);
  assert.ok('prompt' in result);
  assert.equal(result.prompt, 'The conversation so far:\n\nUser: What does add do?\nAssistant: It sums a and b.\n\nQuestion:\nAnd with strings?');
  assert.equal(result.dropped, 0);
});

test("older turns are left out first to fit a peer's 8 KB, and the count is reported", () => {
  const long = 'x'.repeat(3000);
  const turns = [1, 2, 3, 4].map((n) => ({ question: `q${n}`, answer: long }));
  const result = chatPrompt(turns, 'q5', promptBudget('peer').bytes);
  assert.ok('prompt' in result);
  assert.ok(Buffer.byteLength(result.prompt) <= PEER_PROMPT_BYTES);
  assert.equal(result.dropped, 2);
  assert.match(result.prompt, /User: q3[\s\S]*User: q4[\s\S]*Question:\nq5$/);
  assert.match(promptBudget('peer').note, /8 KB/);
});

test('a question larger than the limit is refused with the sizes', () => {
  const result = chatPrompt([], 'y'.repeat(9000), PEER_PROMPT_BYTES);
  assert.ok('error' in result);
  assert.match(result.error, /9 KB; this connection takes 8 KB/);
});
