/** Pull an Ollama model, with a progress notification fed by the sidecar's work-done progress. */
import { toErrorInfo } from '../errors';
import * as P from '../protocol';
import { Deps, listProviders, pickConnection, showError } from './common';

export async function pullModel(d: Deps, given?: P.Connection): Promise<void> {
  let connection = given;
  if (!connection) {
    let pullable: Set<string>;
    try {
      pullable = new Set((await listProviders(d)).filter((p) => p.capabilities.pullModel).map((p) => p.id));
    } catch (err) {
      await showError(d, err);
      return;
    }
    connection = await pickConnection(d, 'Pull Ollama Model', (c) => pullable.has(c.providerId));
    if (!connection) return;
  }
  const target = connection;
  const model = await d.ui.input({
    title: `Pull a model into ${target.name}`,
    prompt: 'Model name as Ollama knows it',
    placeholder: 'llama3.2',
    validate: (v) => (!v.trim() ? 'Enter a model name, for example llama3.2.' : /\s/.test(v.trim()) ? 'Model names have no spaces.' : undefined),
  });
  if (!model) return;
  const token = d.newToken ? d.newToken() : `modelwire-pull-${Date.now()}`;
  try {
    const result = await d.ui.progress(`ModelWire: pulling ${model.trim()} into ${target.name}`, true, async (progress, cancel) => {
      const sub = d.sidecar.onProgress(token, (value) => {
        if (value.kind === 'end') return;
        progress.report(value.message ?? value.title ?? '', value.percentage);
      });
      try {
        return await d.sidecar.request<P.PullModelResult>(
          P.PULL_MODEL,
          { connectionId: target.id, model: model.trim(), workDoneToken: token } satisfies P.PullModelParams,
          cancel,
        );
      } finally {
        sub.dispose();
      }
    });
    d.changed?.();
    void d.ui.info(`ModelWire: ${result.model} is ready in ${target.name} (${result.status}).`);
  } catch (err) {
    const info = toErrorInfo(err);
    if (info.cancelled) {
      void d.ui.info(`ModelWire: pulling ${model.trim()} was cancelled.`);
      return;
    }
    await showError(d, err, `Pulling ${model.trim()} failed: `);
  }
}
