/**
 * Which connection runs agents where: Select Default Connection, and the question that
 * ends Add Connection. Both write `modelwire.defaultConnection` at a scope the user picks,
 * and each choice says which file it writes. Routing only changes through them.
 */
import { connectionDescription } from '../format';
import * as P from '../protocol';
import { DEFAULT_CONNECTION_SETTING, DEFAULT_MODEL_SETTING } from '../settings';
import { PickItem, Scope } from '../ui';
import { Deps, listConnections, showError } from './common';

const ADD = Symbol('add');
const EMBEDDED = Symbol('embedded');
const CLEAR = Symbol('clear');

export function scopeLabel(scope: Scope): string {
  return scope.kind === 'folder' ? `workspace folder "${scope.name}"` : scope.kind === 'workspace' ? 'this workspace' : 'user settings';
}

/** The scopes a default can be written at, the active folder first, each saying where it is written. */
export function scopeItems(d: Deps): PickItem<Scope>[] {
  const active = d.settings.activeFolder();
  const folders = d.settings.folders();
  const ordered = active ? [active, ...folders.filter((f) => f.uri !== active.uri)] : folders;
  const now = (scope: Scope) => {
    const value = d.settings.read(DEFAULT_CONNECTION_SETTING, scope);
    return value ? ` · now: ${value}` : '';
  };
  const items: PickItem<Scope>[] = ordered.map((f) => ({
    label: `Workspace folder: ${f.name}`,
    description: `writes ${f.name}/.vscode/settings.json${now({ kind: 'folder', ...f })}`,
    value: { kind: 'folder', ...f },
  }));
  if (d.settings.isMultiRoot()) {
    items.push({ label: 'Workspace (all folders)', description: `writes the .code-workspace file${now({ kind: 'workspace' })}`, value: { kind: 'workspace' } });
  }
  items.push({ label: 'User (every workspace)', description: `writes your user settings${now({ kind: 'user' })}`, value: { kind: 'user' } });
  return items;
}

/** Write the default at a scope; a model setting there belonged to the old connection. */
export async function writeDefault(d: Deps, connectionName: string | undefined, scope: Scope): Promise<boolean> {
  try {
    await d.settings.write(DEFAULT_CONNECTION_SETTING, connectionName, scope);
    if (d.settings.read(DEFAULT_MODEL_SETTING, scope)) await d.settings.write(DEFAULT_MODEL_SETTING, undefined, scope);
  } catch (err) {
    await showError(d, err, 'Could not write the setting: ');
    return false;
  }
  d.changed?.();
  return true;
}

/** Pick a connection, then where the choice applies; writes the connection's name. */
export async function selectDefaultConnection(d: Deps): Promise<void> {
  const active = d.settings.activeFolder();
  let listing: P.ListConnectionsResult;
  try {
    listing = await listConnections(d, active?.uri);
  } catch (err) {
    await showError(d, err);
    return;
  }
  if (listing.connections.length === 0) {
    const add = await d.ui.info('ModelWire has no connection yet.', 'Add Connection');
    if (add && d.addConnection) await d.addConnection();
    return;
  }
  const items: PickItem<P.Connection | typeof ADD | typeof EMBEDDED | typeof CLEAR>[] = listing.connections.map((c) => ({
    label: c.name,
    description: `${connectionDescription(c)}${c.id === listing.defaultConnectionId ? ' · current' : ''}`,
    detail: c.baseUrl,
    value: c,
  }));
  const setAt = scopeItems(d).filter((i) => d.settings.read(DEFAULT_CONNECTION_SETTING, i.value));
  if (setAt.length) items.push({ label: '$(discard) Clear a default…', description: 'remove modelwire.defaultConnection from a settings file', value: CLEAR });
  if (d.addConnection) items.push({ label: '$(add) Add Connection…', description: 'Ollama, OpenAI or an OpenAI-compatible server', value: ADD });
  if (d.runOnEmbedded && listing.connections.some((c) => c.id === 'embedded')) {
    items.push({ label: '$(play) Run on Embedded', description: 'run an agent on this file with the small local demo model, once', value: EMBEDDED });
  }
  const connection = await d.ui.pick(items, { title: 'Select Default Connection', placeholder: 'Which connection runs agents here?' });
  if (connection === ADD) {
    await d.addConnection?.();
    return;
  }
  if (connection === EMBEDDED) {
    await d.runOnEmbedded?.();
    return;
  }
  if (connection === CLEAR) {
    const scope = await d.ui.pick(setAt, { title: 'Clear the default connection of…', placeholder: 'Runs there then follow the next rule (a wider setting, or the fallback)' });
    if (!scope || !(await writeDefault(d, undefined, scope))) return;
    void d.ui.info(`ModelWire: ${scopeLabel(scope)} has no default connection of its own now.`);
    return;
  }
  if (!connection) return;
  await makeDefault(d, connection);
}

/**
 * Ask where `connection` becomes the default (this folder first) and write its name there.
 * Shared by Select Default Connection and Connect to Shared Model. True when written.
 */
export async function makeDefault(d: Deps, connection: P.Connection): Promise<boolean> {
  const scopes = scopeItems(d);
  const scope = scopes.length === 1 ? scopes[0].value : await d.ui.pick(scopes, { title: `Use "${connection.name}" for…`, placeholder: 'Where should this default apply?' });
  if (!scope) return false;
  if (!(await writeDefault(d, connection.name, scope))) return false;
  void d.ui.info(
    `ModelWire: "${connection.name}" is the default connection for ${scopeLabel(scope)}${connection.defaultModel ? ` (model ${connection.defaultModel})` : ''}.`,
  );
  return true;
}

const KEEP = Symbol('keep');

/**
 * The end of Add Connection: make the new connection a default, or keep routing as it
 * was. Routing that came from a fallback (Embedded with no connections, or the only
 * connection) would silently move to or away from the new one, so "Not now" (or Escape)
 * pins the previous default in user settings and says so. A default from settings is
 * untouched by a new connection, so nothing is written then.
 */
export async function askDefaultAfterAdd(d: Deps, added: P.Connection, before: P.ListConnectionsResult): Promise<string> {
  const previous = before.connections.find((c) => c.id === before.defaultConnectionId);
  const keepLabel = previous ? `Not now: keep runs on "${previous.name}"` : 'Not now';
  const items: PickItem<Scope | typeof KEEP>[] = [...scopeItems(d), { label: keepLabel, description: 'routing stays as it is', value: KEEP }];
  const choice = await d.ui.pick(items, {
    title: `Make "${added.name}" the default?`,
    placeholder: 'For this folder, the workspace, or every workspace? (Escape: keep routing as it is)',
  });
  if (choice !== undefined && choice !== KEEP) {
    return (await writeDefault(d, added.name, choice)) ? `It is now the default for ${scopeLabel(choice)}.` : '';
  }
  const fromFallback = before.defaultSource === 'fallback' || before.defaultSource === 'single';
  if (!previous) {
    // Nothing answered before: there is no routing to keep.
    return before.connections.length === 0
      ? 'As the only connection, it runs agents until you choose otherwise.'
      : 'No connection is the default: a run will ask which one to use.';
  }
  if (!fromFallback || d.settings.read(DEFAULT_CONNECTION_SETTING, { kind: 'user' })) return `Runs still go to "${previous.name}".`;
  return (await writeDefault(d, previous.name, { kind: 'user' }))
    ? `Runs still go to "${previous.name}" (written as modelwire.defaultConnection in your user settings, since it was only the fallback).`
    : '';
}
