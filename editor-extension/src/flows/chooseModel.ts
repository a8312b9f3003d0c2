/**
 * Picking a connection's model: the discovered list, Refresh, Pull (Ollama), or typing.
 * Its default model unless `ask` says what the pick is for (Share Model's step 2/3).
 */
import { errorText, toErrorInfo } from '../errors';
import * as P from '../protocol';
import { PickItem } from '../ui';
import { Deps, scope } from './common';
import { pullModel } from './pullModel';

const REFRESH = Symbol('refresh');
const PULL = Symbol('pull');
type ModelChoice = string | typeof REFRESH | typeof PULL;

export async function chooseModel(
  d: Deps,
  connection: P.Connection,
  provider: P.ProviderDescriptor | undefined,
  ask?: { title: string; placeholder: string },
): Promise<string | undefined> {
  let refresh = false;
  for (;;) {
    let models: P.ModelEntry[] = [];
    let problem = '';
    try {
      const result = await d.sidecar.request<P.ListModelsResult>(P.LIST_MODELS, { connectionId: connection.id, refresh, ...scope(d) });
      models = result.models;
    } catch (err) {
      problem = errorText(toErrorInfo(err));
    }
    const items: PickItem<ModelChoice>[] = models.map((m) => ({
      label: m.id,
      description: [m.parameterSize, m.quantization, m.family].filter(Boolean).join(' · ') || undefined,
      value: m.id,
    }));
    if (provider?.defaultModel && !models.some((m) => m.id === provider.defaultModel)) {
      items.push({ label: provider.defaultModel, description: `${provider.displayName}'s usual default (not listed)`, value: provider.defaultModel });
    }
    items.push({ label: '$(refresh) Refresh', description: 'ask the server again', value: REFRESH });
    if (provider?.capabilities.pullModel) {
      items.push({ label: '$(cloud-download) Pull a model…', value: PULL });
    }
    const placeholder = problem
      ? `Could not list models: ${problem} Type a model name, or Refresh.`
      : models.length
        ? (ask?.placeholder ?? 'Default model for this connection (or type a name)')
        : 'No models found. Type a model name, Refresh, or pull one.';
    const choice = await d.ui.pick(items, {
      title: ask?.title ?? `Default model for ${connection.name}`,
      placeholder,
      typed: (text) => (text.trim() ? { label: text.trim(), description: 'use this name', value: text.trim() } : undefined),
    });
    if (choice === undefined) return undefined;
    if (choice === REFRESH) {
      refresh = true;
      continue;
    }
    if (choice === PULL) {
      await pullModel(d, connection);
      refresh = true;
      continue;
    }
    return choice;
  }
}
