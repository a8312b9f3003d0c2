// The chat view's only script (nonce, strict CSP): draws what the extension sends (HTML
// rendered and sanitised there) and sends back questions, Stop, Clear and "Change…".
(function () {
  const vscode = acquireVsCodeApi();
  const header = document.getElementById('chat-header');
  const transcript = document.getElementById('transcript');
  const question = document.getElementById('question');
  const attach = document.getElementById('attach');
  const send = document.getElementById('send');
  const stop = document.getElementById('stopChat');

  window.addEventListener('message', (event) => {
    const m = event.data;
    if (!m || m.type !== 'state') return;
    const follow = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    header.innerHTML = m.header;
    transcript.innerHTML = m.transcript;
    send.disabled = !!m.running;
    stop.hidden = !m.running;
    if (follow) window.scrollTo(0, document.body.scrollHeight);
  });
  document.getElementById('ask').addEventListener('submit', (event) => {
    event.preventDefault();
    if (!question.value.trim()) return;
    vscode.postMessage({ type: 'send', text: question.value, attach: attach.checked });
    question.value = '';
  });
  question.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      document.getElementById('ask').requestSubmit();
    } else if (event.key === 'Escape') {
      vscode.postMessage({ type: 'stop' });
    }
  });
  stop.addEventListener('click', () => vscode.postMessage({ type: 'stop' }));
  document.getElementById('clear').addEventListener('click', () => vscode.postMessage({ type: 'clear' }));
  document.addEventListener('click', (event) => {
    if (event.target.closest('button[data-act="pick"]')) vscode.postMessage({ type: 'pickConnection' });
  });
  vscode.postMessage({ type: 'ready' });
})();
