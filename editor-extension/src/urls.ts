/** Client-side checks of a typed base URL, mirroring the sidecar's netpolicy (which still decides). */

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** A reason the URL is not acceptable, or undefined when it is. */
export function baseUrlProblem(value: string, localOnly: boolean): string | undefined {
  const text = value.trim();
  if (!text) return 'Enter a URL such as http://localhost:11434.';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'That is not a URL; use a form such as http://localhost:11434.';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return 'The URL must start with http:// or https://.';
  }
  if (url.username || url.password) {
    return 'Do not put credentials in the URL; the API key has its own box.';
  }
  if (url.search || url.hash) return "Remove everything after '?' or '#'.";
  if (localOnly && !LOOPBACK_HOSTS.has(url.hostname)) {
    return 'This provider is reached on this machine only: use localhost, 127.0.0.1 or [::1] (forward a remote server over SSH).';
  }
  return undefined;
}

/** Is this base URL a server on this machine (so a down one can be stood in for locally)? */
export function isLoopbackUrl(value: string): boolean {
  try {
    return LOOPBACK_HOSTS.has(new URL(value).hostname);
  } catch {
    return false;
  }
}
