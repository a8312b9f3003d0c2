// The run panel's only script (loaded with a nonce under a strict CSP). It draws what the
// extension sends (HTML already rendered and sanitised there) and sends back clicks on the
// code-block buttons, Stop and Escape. It never evaluates anything from the model.
(function () {
  const vscode = acquireVsCodeApi();
  const header = document.getElementById('header');
  const answer = document.getElementById('answer');
  const footer = document.getElementById('footer');
  const stop = document.getElementById('stop');

  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
  }

  window.addEventListener('message', (event) => {
    const m = event.data;
    if (!m || m.type !== 'state') return;
    // Follow the stream unless the user scrolled up to read.
    const follow = nearBottom();
    header.innerHTML = m.header;
    answer.innerHTML = m.body;
    footer.innerHTML = m.footer;
    stop.hidden = !!m.done;
    if (follow) window.scrollTo(0, document.body.scrollHeight);
  });

  document.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-act]');
    if (!button) return;
    vscode.postMessage({ type: 'action', act: button.dataset.act, index: Number(button.dataset.index) });
  });
  stop.addEventListener('click', () => vscode.postMessage({ type: 'stop' }));
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') vscode.postMessage({ type: 'stop' });
  });
  vscode.postMessage({ type: 'ready' });
})();
