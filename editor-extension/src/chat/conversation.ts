/**
 * A chat turn is a run: the question and the conversation so far travel as startRun's
 * `prompt`, within the connection's limit. Older turns are left out first (and the user
 * is told); a peer's shared model takes a stateless prompt of at most 8 KB. Pure.
 *
 * For a peer the 8 KB is the WHOLE prompt the host receives: the sidecar joins the chat
 * agent's instructions, the attached file or selection and this conversation into one
 * (docs/p2p.md), so the conversation gets what is left after those.
 */

export interface Turn {
  question: string;
  answer: string;
}

/** A peer's shared model answers stateless requests of at most 8 KB (docs/p2p.md). */
export const PEER_PROMPT_BYTES = 8 * 1024;
/**
 * What the sidecar adds around a peer chat turn besides the attached text: the chat
 * agent's instructions (about 320 bytes), the file header, fences and joins. Measured
 * at about 450 bytes; kept at 1 KB so a longer file name or language never tips it over.
 */
export const PEER_OVERHEAD_BYTES = 1024;
/** Others: well inside the sidecar's 32 KiB `prompt` bound, leaving room for the code. */
export const DEFAULT_PROMPT_BYTES = 24 * 1024;
/** Below this a peer turn has no room for a question worth asking. */
const PEER_MIN_CONVERSATION_BYTES = 256;

export const PEER_NOTE = 'Shared model: 8 KB per question, file and earlier turns included; stateless';

export function isPeer(providerId: string | undefined): boolean {
  return !!providerId && /peer|p2p|share/i.test(providerId);
}

/**
 * The bytes the conversation may take on `providerId` when `attachedBytes` of code go
 * along, or why nothing fits (a peer whose attached file leaves no room).
 */
export function promptBudget(providerId: string | undefined, attachedBytes = 0): { bytes: number; note: string; error?: string; limit?: string } {
  if (!isPeer(providerId)) return { bytes: DEFAULT_PROMPT_BYTES, note: '' };
  const bytes = PEER_PROMPT_BYTES - PEER_OVERHEAD_BYTES - attachedBytes;
  if (bytes < PEER_MIN_CONVERSATION_BYTES) {
    return {
      bytes: 0,
      note: PEER_NOTE,
      error: `The attached text is ${kb(attachedBytes)} KB; a shared model takes 8 KB per question, instructions and conversation included. Select the lines you ask about, or untick "attach the open file or selection".`,
    };
  }
  return { bytes, note: PEER_NOTE, limit: '8 KB per question, the attached text and instructions included' };
}

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');
const kb = (n: number) => Math.max(1, Math.ceil(n / 1024));

/** The prompt for `question` after `turns`, newest turns kept first; `dropped` were left out. */
export function chatPrompt(
  turns: Turn[],
  question: string,
  budgetBytes: number,
  limit = `${Math.floor(budgetBytes / 1024)} KB`,
): { prompt: string; dropped: number } | { error: string } {
  const ask = `Question:\n${question.trim()}`;
  if (bytes(ask) > budgetBytes) return { error: `The question is ${kb(bytes(ask))} KB; this connection takes ${limit}.` };
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
