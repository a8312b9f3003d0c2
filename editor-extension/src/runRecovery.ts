/**
 * What a user is told after a run, and the way out offered with it: the error with its
 * hint and a fitting action, "Choose Connection…" when no connection is the default
 * (then an offer to remember the choice), "Run on Embedded instead" when a local server
 * is down, the notice of a review that could not be read as findings, and, after the
 * first answer of the small embedded model, an offer to add a real one. No vscode import.
 */
import { errorText, ErrorInfo } from './errors';
import * as P from './protocol';
import { LineLog, RunHost } from './runHost';
import { EMBEDDED_LABEL } from './runView';
import { DEFAULT_CONNECTION_SETTING } from './settings';
import { Scope, SettingsStore, Sidecar, Ui } from './ui';
import { isLoopbackUrl } from './urls';

export interface RecoveryDeps {
  ui: Ui;
  sidecar: Sidecar;
  settings: SettingsStore;
  host: RunHost;
  log: LineLog;
}

/** The failed run, so that the way out can run it again elsewhere. */
export interface FailedRun {
  routing?: P.Routing;
  target: { uri: string; folder?: { uri: string; name: string } };
  rerun: (connectionId: string) => Promise<unknown>;
}

export const CHOOSE_CONNECTION = 'Choose Connection…';
export const RUN_ON_EMBEDDED = 'Run on Embedded instead';
export const EMBEDDED_ID = 'embedded';

/** Errors go to the output channel with their hint, and to a notification with actions. */
export async function reportFailure(d: RecoveryDeps, info: ErrorInfo, failed?: FailedRun): Promise<void> {
  if (info.cancelled) return;
  d.log.appendLine(`  ${info.code}: ${errorText(info)}`);
  let listing: P.ListConnectionsResult | undefined;
  if (failed && (info.code === P.ErrorCode.NO_DEFAULT_CONNECTION || info.code === P.ErrorCode.ENDPOINT_UNREACHABLE)) {
    try {
      listing = await d.sidecar.request<P.ListConnectionsResult>(P.LIST_CONNECTIONS, failed.target.folder ? { scopeUri: failed.target.folder.uri } : {});
    } catch {
      listing = undefined;
    }
  }
  const actions: string[] = [];
  if (failed && listing && info.code === P.ErrorCode.NO_DEFAULT_CONNECTION && listing.connections.length > 0) actions.push(CHOOSE_CONNECTION);
  if (failed && listing && info.code === P.ErrorCode.ENDPOINT_UNREACHABLE && canFallBackToEmbedded(listing, failed.routing)) actions.push(RUN_ON_EMBEDDED);
  if (info.code === P.ErrorCode.ENDPOINT_UNREACHABLE || info.code === P.ErrorCode.AUTH_FAILED) actions.push('Test Connection');
  if (info.code === P.ErrorCode.NO_DEFAULT_CONNECTION || info.code === P.ErrorCode.CONNECTION_NOT_FOUND) actions.push('Select Default Connection');
  if (info.code === P.ErrorCode.MODEL_NOT_FOUND) actions.push('Pull Ollama Model');
  actions.push('Show Output');
  const choice = await d.ui.error(`ModelWire: ${errorText(info)}`, ...actions);
  if (choice === CHOOSE_CONNECTION && failed && listing) await chooseAndRerun(d, listing, failed);
  else if (choice === RUN_ON_EMBEDDED && failed) await failed.rerun(EMBEDDED_ID);
  else if (choice === 'Test Connection') await d.host.executeCommand('modelwire.testConnection');
  else if (choice === 'Select Default Connection') await d.host.executeCommand('modelwire.selectDefaultConnection');
  else if (choice === 'Pull Ollama Model') await d.host.executeCommand('modelwire.pullModel');
  else if (choice === 'Show Output') d.log.show(true);
}

/** A down server on this machine (Ollama, a local llama.cpp) can be stood in for by Embedded. */
function canFallBackToEmbedded(listing: P.ListConnectionsResult, routing: P.Routing | undefined): boolean {
  if (!routing || routing.providerId === EMBEDDED_ID) return false;
  if (!listing.connections.some((c) => c.id === EMBEDDED_ID)) return false;
  const failed = listing.connections.find((c) => c.id === routing.connectionId);
  return routing.providerId === 'ollama' || (failed !== undefined && isLoopbackUrl(failed.baseUrl));
}

/** NO_DEFAULT_CONNECTION: ask which connection runs this, run it there, offer to remember. */
async function chooseAndRerun(d: RecoveryDeps, listing: P.ListConnectionsResult, failed: FailedRun): Promise<void> {
  const connection = await d.ui.pick(
    listing.connections.map((c) => ({
      label: c.name,
      description: c.providerId === EMBEDDED_ID ? `embedded · ${EMBEDDED_LABEL}` : `${c.providerId} · ${c.defaultModel || 'no default model'}`,
      detail: c.baseUrl,
      value: c,
    })),
    { title: 'Run on which connection?', placeholder: 'No connection is the default here: pick one for this run' },
  );
  if (!connection) return;
  const folder = failed.target.folder;
  const scope: Scope = folder ? { kind: 'folder', ...folder } : { kind: 'user' };
  const where = folder ? `folder "${folder.name}" (writes .vscode/settings.json there)` : 'your user settings';
  // Asked without waiting: the run starts now, the answer only decides the next ones.
  void d.ui.info(`ModelWire: use "${connection.name}" for every run in ${where}?`, 'Remember').then(async (choice) => {
    if (choice !== 'Remember') return;
    try {
      await d.settings.write(DEFAULT_CONNECTION_SETTING, connection.name, scope);
    } catch (err) {
      void d.ui.error(`ModelWire: could not write the setting: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
  await failed.rerun(connection.id);
}

/** A review answer that could not be read as findings: never a silent empty Problems panel. */
export function reportNotice(d: RecoveryDeps, agentTitle: string, file: string, notice: string): Promise<void> {
  d.log.appendLine(`  note: ${notice}`);
  void d.ui.warn(`ModelWire: ${agentTitle} on ${file} found no findings it could read. ${notice}`);
  return Promise.resolve();
}

/** After the embedded model's first answer, once: say what it is and offer a real model. */
export function suggestRealModel(d: RecoveryDeps): Promise<void> {
  if (!d.host.firstTime('modelwire.embeddedSuggested')) return Promise.resolve();
  void d.ui
    .info(
      `ModelWire answered with the Embedded model, a ${EMBEDDED_LABEL} (135M parameters) that runs on this machine: ` +
        'good for trying ModelWire out, weak on real code. Add Ollama or an OpenAI-compatible server for better answers.',
      'Add Connection…',
    )
    .then((choice) => {
      if (choice) void d.host.executeCommand('modelwire.addConnection');
    });
  return Promise.resolve();
}
