import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chatPrompt, DEFAULT_PROMPT_BYTES, isPeer, PEER_NOTE, PEER_OVERHEAD_BYTES, PEER_PROMPT_BYTES, promptBudget } from '../src/chat/conversation';

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

test("for a peer the attached text and the instructions count against the 8 KB too", () => {
  const alone = promptBudget('peer');
  const withFile = promptBudget('peer', 3000);
  assert.equal(alone.bytes - withFile.bytes, 3000);
  assert.equal(alone.bytes, PEER_PROMPT_BYTES - PEER_OVERHEAD_BYTES);
  // Two 2.5 KB answers fit beside a small file; beside a 3 KB file the older one goes.
  const turns = [1, 2].map((n) => ({ question: `q${n}`, answer: 'y'.repeat(2500) }));
  const small = chatPrompt(turns, 'q3', promptBudget('peer', 100).bytes);
  const large = chatPrompt(turns, 'q3', withFile.bytes);
  assert.ok('prompt' in small && 'prompt' in large);
  assert.equal(small.dropped, 0);
  assert.equal(large.dropped, 1);
  assert.ok(Buffer.byteLength(large.prompt) + 3000 + PEER_OVERHEAD_BYTES <= PEER_PROMPT_BYTES);
  // Other connections keep their larger budget whatever is attached.
  assert.equal(promptBudget('ollama', 3000).bytes, DEFAULT_PROMPT_BYTES);
  assert.equal(promptBudget('ollama').note, '');
});

test('a peer whose attached file leaves no room says so instead of failing on the host', () => {
  const budget = promptBudget('peer', 7500);
  assert.equal(budget.bytes, 0);
  assert.match(budget.error ?? '', /attached text is 8 KB; a shared model takes 8 KB per question.*Select the lines/);
});

test("a peer's question that is too large names the peer's limit, not the remaining bytes", () => {
  const budget = promptBudget('peer', 100);
  const result = chatPrompt([], 'z'.repeat(9000), budget.bytes, budget.limit);
  assert.ok('error' in result);
  assert.equal(result.error, 'The question is 9 KB; this connection takes 8 KB per question, the attached text and instructions included.');
  assert.equal(isPeer('peer'), true);
  assert.equal(isPeer('openai'), false);
  assert.match(PEER_NOTE, /8 KB per question.*stateless/);
});
