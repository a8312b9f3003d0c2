/**
 * Keeps API keys out of everything the extension writes: the output channels (routing
 * lines, sidecar stderr) and the JSON-RPC trace, which would otherwise print the params
 * of modelwire/setSecret. Pure, so the rules are unit-tested.
 */

export const REDACTED = '[REDACTED]';

// The `secret` field of setSecret params, as the trace prints it (pretty or compact JSON).
const SECRET_FIELD = /("secret"\s*:\s*)"(?:[^"\\]|\\.)*"/g;
// Key-shaped tokens we never saw (OpenAI `sk-…`, bearer tokens), as errors.py does.
const KEY_PATTERN = /\b(?:sk|pk|rk)-[A-Za-z0-9_-]{6,}|\bBearer\s+[A-Za-z0-9._-]{8,}/g;

export class Redactor {
  private readonly secrets = new Map<number, string>();
  private next = 0;

  /** Redact `secret` until the returned function is called (while it is in flight). */
  hold(secret: string): () => void {
    const token = this.next++;
    if (secret) this.secrets.set(token, secret);
    return () => {
      // Keep it a little longer: a trace line can be written after the response.
      setTimeout(() => this.secrets.delete(token), 5000).unref?.();
    };
  }

  redact(text: string): string {
    if (!text) return text;
    let out = text;
    for (const secret of this.secrets.values()) {
      for (const variant of [secret, JSON.stringify(secret).slice(1, -1)]) {
        if (variant.length >= 4 && out.includes(variant)) out = out.split(variant).join(REDACTED);
      }
    }
    out = out.replace(SECRET_FIELD, `$1"${REDACTED}"`);
    return out.replace(KEY_PATTERN, REDACTED);
  }
}
