/**
 * A chat turn is a run: the question and the conversation so far travel as startRun's
 * `prompt`, within the connection's limit. Older turns are left out first (and the user
 * is told); a peer's shared model takes a stateless prompt of at most 8 KB. Pure.
 */

export interface Turn {
  question: string;
  answer: string;
}

/** A peer's shared model answers stateless requests of at most 8 KB (docs/p2p.md). */
export const PEER_PROMPT_BYTES = 8 * 1024;
/** Others: well inside the sidecar's 32 KiB `prompt` bound, leaving room for the code. */
export const DEFAULT_PROMPT_BYTES = 24 * 1024;

export function promptBudget(providerId: string | undefined): { bytes: number; note: string } {
  if (providerId && /peer|p2p|share/i.test(providerId)) {
    return { bytes: PEER_PROMPT_BYTES, note: "a peer's shared model: 8 KB per question, no memory between questions" };
  }
  return { bytes: DEFAULT_PROMPT_BYTES, note: '' };
}

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

/** The prompt for `question` after `turns`, newest turns kept first; `dropped` were left out. */
export function chatPrompt(turns: Turn[], question: string, budgetBytes: number): { prompt: string; dropped: number } | { error: string } {
  const ask = `Question:\n${question.trim()}`;
  if (bytes(ask) > budgetBytes) return { error: `The question is ${Math.ceil(bytes(ask) / 1024)} KB; this connection takes ${Math.floor(budgetBytes / 1024)} KB.` };
  const kept: string[] = [];
  let used = bytes(ask) + 64;
  let dropped = 0;
  for (let i = turns.length - 1; i >= 0; i--) {
    const block = `User: ${turns[i].question.trim()}\nAssistant: ${turns[i].answer.trim()}`;
    if (used + bytes(block) + 2 > budgetBytes) {
      dropped = i + 1;
      break;
    }
    kept.unshift(block);
    used += bytes(block) + 2;
  }
  const history = kept.length ? `The conversation so far:\n\n${kept.join('\n\n')}\n\n` : '';
  return { prompt: `${history}${ask}`, dropped };
}
