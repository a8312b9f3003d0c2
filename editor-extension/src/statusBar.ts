/**
 * "$(plug) <connection> · <model>" for the active file's workspace folder, asked of the
 * sidecar (it resolves `modelwire.defaultConnection` per folder). Warning colours when the
 * connection's health check fails. Refreshes on editor and setting changes; never restarts
 * the sidecar. The item and the sidecar come in as interfaces, so this is unit-tested.
 */
import { defaultConnection, effectiveModel, healthText, modelLabel, statusBarText } from './format';
import * as P from './protocol';
import { Sidecar } from './ui';

const HEALTH_TTL_MS = 15_000;

export type SidecarState = 'stopped' | 'starting' | 'running' | 'failed';

/** The status-bar entry as this module drives it; vscodeapi.ts maps `tone` to theme colours. */
export interface StatusItem {
  text: string;
  tooltip: string | undefined;
  command: string | undefined;
  tone: 'normal' | 'warning' | 'error';
}

export interface SidecarStatus extends Pick<Sidecar, 'request'> {
  readonly state: SidecarState;
  readonly lastProblem: string;
}

export interface StatusBarDeps {
  sidecar: SidecarStatus;
  item: StatusItem;
  activeFolder: () => { uri: string; name: string } | undefined;
  /**
   * Whether a run of this window is streaming from the connection. Its health is not
   * checked then: llama.cpp's server stops a generation when another request arrives.
   */
  busy?: (connectionId: string) => boolean;
}

export class StatusBar {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private generation = 0;
  private readonly health = new Map<string, { at: number; result: P.HealthResult }>();

  constructor(private readonly d: StatusBarDeps) {
    d.item.command = 'modelwire.selectDefaultConnection';
    d.item.text = '$(sync~spin) ModelWire: starting';
  }

  /** Refresh soon; `forgetHealth` re-tests the connection (after a change or a test). */
  refresh(forgetHealth = false, delayMs = 150): void {
    if (forgetHealth) this.health.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.update(), delayMs);
  }

  /** A health result from elsewhere (Test Connection) updates the bar at once. */
  noteHealth(result: P.HealthResult): void {
    this.health.set(result.connectionId, { at: Date.now(), result });
    this.refresh(false, 0);
  }

  async update(): Promise<void> {
    const item = this.d.item;
    const generation = ++this.generation;
    const state = this.d.sidecar.state;
    if (state !== 'running') {
      item.text = state === 'failed' ? '$(warning) ModelWire: not running' : '$(sync~spin) ModelWire: starting';
      item.tooltip = state === 'failed' ? this.d.sidecar.lastProblem : 'Starting the ModelWire sidecar…';
      item.tone = state === 'failed' ? 'error' : 'normal';
      item.command = state === 'failed' ? 'modelwire.showOutput' : undefined;
      return;
    }
    item.command = 'modelwire.selectDefaultConnection';
    const folder = this.d.activeFolder();
    let listing: P.ListConnectionsResult;
    try {
      listing = await this.d.sidecar.request<P.ListConnectionsResult>(P.LIST_CONNECTIONS, folder ? { scopeUri: folder.uri } : {});
    } catch {
      if (generation !== this.generation) return;
      item.text = '$(warning) ModelWire';
      item.tooltip = 'Could not ask the sidecar for the connections.';
      return;
    }
    if (generation !== this.generation) return;
    const connection = defaultConnection(listing);
    item.text = statusBarText(listing);
    item.tone = 'normal';
    if (!connection) {
      item.tooltip = listing.connections.length ? 'No default connection here: click to choose one.' : 'No connection yet: click to add one.';
      item.command = listing.connections.length ? 'modelwire.selectDefaultConnection' : 'modelwire.addConnection';
      return;
    }
    const model = modelLabel(connection, effectiveModel(listing, connection));
    const scope = folder ? `workspace folder "${folder.name}"` : 'this window';
    const source = listing.defaultSource === 'settings' ? 'from settings' : listing.defaultSource === 'single' ? 'the only connection' : listing.defaultSource ?? '';
    const demo = connection.providerId === 'embedded' ? '\nA small local demo model: fine for a first try, weak on real code.' : '';
    const base = `ModelWire for ${scope}: ${connection.name} (${connection.providerId}) · ${model} — ${source}${demo}\n${connection.baseUrl}\nClick to change, add a connection, or run on Embedded.`;
    item.tooltip = base;

    // The embedded model is started by the sidecar on first use: a health check would
    // start it just to colour the status bar.
    if (connection.providerId === 'embedded') return;
    if (this.d.busy?.(connection.id)) return;
    let health = this.health.get(connection.id);
    if (!health || Date.now() - health.at > HEALTH_TTL_MS) {
      try {
        // The editor's own request: it must never raise a consent prompt (CONSENT_REQUIRED instead).
        const result = await this.d.sidecar.request<P.HealthResult>(P.TEST_CONNECTION, {
          connectionId: connection.id,
          interactive: false,
          ...(folder ? { scopeUri: folder.uri } : {}),
        } satisfies P.TestConnectionParams);
        health = { at: Date.now(), result };
        this.health.set(connection.id, health);
      } catch {
        health = undefined;
      }
    }
    if (generation !== this.generation || !health) return;
    if (!health.result.reachable || health.result.error) {
      item.tone = 'warning';
      item.tooltip = `${healthText(connection.name, health.result)}\n\n${base}`;
    }
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}
