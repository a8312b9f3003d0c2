/**
 * "$(plug) <connection> · <model>" for the active file's workspace folder, asked of the
 * sidecar (it resolves `modelwire.defaultConnection` per folder). Warning colours when the
 * connection's health check fails. Refreshes on editor and setting changes; never restarts
 * the sidecar.
 */
import * as vscode from 'vscode';
import { defaultConnection, effectiveModel, healthText, statusBarText } from './format';
import * as P from './protocol';
import { SidecarManager } from './server';
import { activeFolder } from './vscodeapi';

const HEALTH_TTL_MS = 15_000;

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('modelwire.connection', vscode.StatusBarAlignment.Right, 100);
  private timer: ReturnType<typeof setTimeout> | undefined;
  private generation = 0;
  private readonly health = new Map<string, { at: number; result: P.HealthResult }>();

  constructor(private readonly sidecar: SidecarManager) {
    this.item.name = 'ModelWire connection';
    this.item.command = 'modelwire.selectDefaultConnection';
    this.item.text = '$(plug) ModelWire';
    this.item.show();
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

  private async update(): Promise<void> {
    const generation = ++this.generation;
    const state = this.sidecar.state;
    if (state !== 'running') {
      this.item.text = state === 'failed' ? '$(warning) ModelWire: not running' : '$(sync~spin) ModelWire: starting';
      this.item.tooltip = state === 'failed' ? this.sidecar.lastProblem : 'Starting the ModelWire sidecar…';
      this.item.backgroundColor = state === 'failed' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
      this.item.command = state === 'failed' ? 'modelwire.showOutput' : undefined;
      return;
    }
    this.item.command = 'modelwire.selectDefaultConnection';
    const folder = activeFolder();
    let listing: P.ListConnectionsResult;
    try {
      listing = await this.sidecar.request<P.ListConnectionsResult>(P.LIST_CONNECTIONS, folder ? { scopeUri: folder.uri.toString() } : {});
    } catch {
      if (generation !== this.generation) return;
      this.item.text = '$(warning) ModelWire';
      this.item.tooltip = 'Could not ask the sidecar for the connections.';
      return;
    }
    if (generation !== this.generation) return;
    const connection = defaultConnection(listing);
    this.item.text = statusBarText(listing);
    if (!connection) {
      this.item.backgroundColor = undefined;
      this.item.tooltip = listing.connections.length
        ? 'No default connection here: click to choose one.'
        : 'No connection yet: run "ModelWire: Add Connection".';
      this.item.command = listing.connections.length ? 'modelwire.selectDefaultConnection' : 'modelwire.addConnection';
      return;
    }
    const model = effectiveModel(listing, connection) ?? 'no model';
    const scope = folder ? `workspace folder "${folder.name}"` : 'this window';
    const source = listing.defaultSource === 'settings' ? 'from settings' : listing.defaultSource === 'single' ? 'the only connection' : listing.defaultSource ?? '';
    const base = `ModelWire for ${scope}: ${connection.name} (${connection.providerId}) · ${model} — ${source}\n${connection.baseUrl}\nClick to change.`;
    this.item.tooltip = base;
    this.item.backgroundColor = undefined;

    // The embedded model is started by the sidecar on first use: a health check would
    // start it just to colour the status bar.
    if (connection.providerId === 'embedded') return;
    let health = this.health.get(connection.id);
    if (!health || Date.now() - health.at > HEALTH_TTL_MS) {
      try {
        const result = await this.sidecar.request<P.HealthResult>(P.TEST_CONNECTION, { connectionId: connection.id });
        health = { at: Date.now(), result };
        this.health.set(connection.id, health);
      } catch {
        health = undefined;
      }
    }
    if (generation !== this.generation || !health) return;
    if (!health.result.reachable) {
      this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
      this.item.tooltip = `${healthText(connection.name, health.result)}\n\n${base}`;
    }
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.item.dispose();
  }
}
