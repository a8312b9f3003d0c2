/**
 * The Share Model panel's HTML: the Server ID hidden behind a Show button (it is a
 * capability), Copy, the QR code as a PNG data URI, the state, the recent lines. Pure:
 * every value is escaped, the page has a strict CSP (no network, inline script only by
 * nonce), and the QR image must be a base64 PNG data URI or it is left out.
 */
import { ShareStatus, statusText } from './shareFlow';

export interface PanelModel {
  what: string;
  serverId?: string;
  qrDataUri?: string;
  qrProblem?: string;
  status: ShareStatus;
  lines: string[];
  error?: string;
}

const MAX_QR_URI = 200_000;
const PNG_URI = /^data:image\/png;base64,[A-Za-z0-9+/]+=*$/;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function safeQrUri(uri: string | undefined): string | undefined {
  if (!uri) return undefined;
  const text = uri.trim();
  return text.length <= MAX_QR_URI && PNG_URI.test(text) ? text : undefined;
}

export function panelHtml(model: PanelModel, nonce: string, cspSource: string): string {
  const qr = safeQrUri(model.qrDataUri);
  // Once stopped, nothing offers a Server ID or a Stop button that no longer mean anything.
  const stopped = model.status.state === 'Stopped';
  const id = stopped ? undefined : model.serverId;
  const csp = `default-src 'none'; img-src data:; style-src ${cspSource} 'nonce-${nonce}'; script-src 'nonce-${nonce}';`;
  const lines = model.lines.slice(-20).map((l) => `<li>${escapeHtml(l)}</li>`).join('');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<style nonce="${nonce}">
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 1em; }
code { font-family: var(--vscode-editor-font-family); word-break: break-all; }
.hidden { display: none; }
button { margin-right: .5em; }
.error { color: var(--vscode-errorForeground); }
img { image-rendering: pixelated; background: #fff; padding: 8px; }
</style></head><body>
<h2>Sharing ${escapeHtml(model.what)}</h2>
<p id="state"><strong>${escapeHtml(statusText(model.status))}</strong></p>
${model.error ? `<p class="error">${escapeHtml(model.error)}</p>` : ''}
${
  stopped
    ? `<p>Sharing has stopped: that Server ID no longer reaches this model. Run “ModelWire: Share Model…” to share again (with a new Server ID).</p>`
    : id
    ? `<p>Server ID — anyone who has it can use this model; give it privately:</p>
<p><code id="sid" class="hidden">${escapeHtml(id)}</code><code id="mask">••••••••••••••••••••</code></p>
<p><button id="show">Show</button><button id="copy">Copy</button></p>
${qr ? `<p id="qrbox" class="hidden"><img alt="QR code of the Server ID" width="264" height="264" src="${escapeHtml(qr)}"></p>` : `<p>${escapeHtml(model.qrProblem ?? 'No QR code.')}</p>`}`
    : model.error
      ? ''
      : '<p>Starting… waiting for the Server ID.</p>'
}
${
  stopped
    ? ''
    : `<p><strong>Sharing stops when this window closes</strong>, when you run “ModelWire: Stop Sharing”, or when you close this panel.</p>
<p><button id="stop">Stop Sharing</button></p>`
}
<h3>Activity</h3><ul id="lines">${lines}</ul>
<script nonce="${nonce}">
const vscode = acquireVsCodeApi();
const on = (id, f) => { const el = document.getElementById(id); if (el) el.addEventListener('click', f); };
on('show', () => {
  const hidden = document.getElementById('sid').classList.toggle('hidden');
  document.getElementById('mask').classList.toggle('hidden', !hidden);
  const qr = document.getElementById('qrbox'); if (qr) qr.classList.toggle('hidden', hidden);
  document.getElementById('show').textContent = hidden ? 'Show' : 'Hide';
});
on('copy', () => vscode.postMessage({ type: 'copy' }));
on('stop', () => vscode.postMessage({ type: 'stop' }));
// Updates arrive as text and are set with textContent: nothing from the child is HTML.
window.addEventListener('message', (event) => {
  const m = event.data;
  if (!m || typeof m.text !== 'string') return;
  if (m.type === 'status') document.getElementById('state').firstChild.textContent = m.text;
  if (m.type === 'line') {
    const list = document.getElementById('lines');
    const li = document.createElement('li');
    li.textContent = m.text;
    list.appendChild(li);
    while (list.children.length > 20) list.removeChild(list.firstChild);
  }
});
</script></body></html>`;
}

export function newNonce(): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let i = 0; i < 32; i++) out += chars[Math.floor(Math.random() * chars.length)];
  return out;
}
