/**
 * The ModelWire view in the activity bar: the Connections and Runs trees as VS Code
 * TreeDataProviders over views/treeModel.ts. Each tree item carries its record, so the
 * inline actions (test / edit / delete; open / cancel / re-run) get it as their argument.
 */
import * as vscode from 'vscode';
import * as P from '../protocol';
import { Sidecar } from '../ui';
import { connectionNodes, Node, OutcomeFilter, runChildren, runNode, TreeRun, unavailableNode } from './treeModel';

export class ModelWireItem extends vscode.TreeItem {
  constructor(
    node: Node,
    readonly connection?: P.Connection,
    readonly run?: TreeRun,
  ) {
    super(node.label, node.collapsible ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    this.id = node.id;
    this.description = node.description;
    this.tooltip = node.tooltip;
    this.iconPath = new vscode.ThemeIcon(node.icon);
    this.contextValue = node.contextValue;
    if (run) this.command = { command: 'modelwire.openRun', title: 'Open', arguments: [this] };
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

type Folder = () => { uri: string; name: string } | undefined;

export class ConnectionsTree implements vscode.TreeDataProvider<ModelWireItem> {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.emitter.event;
  readonly health = new Map<string, P.HealthResult>();

  constructor(
    private readonly sidecar: Sidecar,
    private readonly activeFolder: Folder,
  ) {}

  refresh(): void {
    this.emitter.fire();
  }

  noteHealth(health: P.HealthResult): void {
    this.health.set(health.connectionId, health);
    this.refresh();
  }

  getTreeItem(item: ModelWireItem): ModelWireItem {
    return item;
  }

  async getChildren(item?: ModelWireItem): Promise<ModelWireItem[]> {
    if (item) return [];
    const folder = this.activeFolder();
    let listing: P.ListConnectionsResult;
    try {
      listing = await this.sidecar.request<P.ListConnectionsResult>(P.LIST_CONNECTIONS, folder ? { scopeUri: folder.uri } : {});
    } catch (err) {
      return [new ModelWireItem(unavailableNode('connections', errorMessage(err)))];
    }
    const nodes = connectionNodes(listing, this.health, folder?.name);
    return nodes.map((n, i) => new ModelWireItem(n, listing.connections[i]));
  }

  dispose(): void {
    this.emitter.dispose();
  }
}

export class RunsTree implements vscode.TreeDataProvider<ModelWireItem> {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.emitter.event;
  private runs: TreeRun[] = [];
  filter: OutcomeFilter = 'all';

  constructor(
    private readonly sidecar: Sidecar,
    private readonly folders: () => Array<{ uri: string; name: string }>,
  ) {}

  refresh(): void {
    this.emitter.fire();
  }

  getTreeItem(item: ModelWireItem): ModelWireItem {
    return item;
  }

  async getChildren(item?: ModelWireItem): Promise<ModelWireItem[]> {
    if (!item) {
      try {
        this.runs = (await this.sidecar.request<P.ListRunsResult>(P.LIST_RUNS, { limit: 100 })).runs;
      } catch (err) {
        this.runs = [];
        return [new ModelWireItem(unavailableNode('runs', errorMessage(err)))];
      }
    }
    const children = runChildren(this.runs, item?.run?.runId, this.filter);
    return children.map((r) => new ModelWireItem(runNode(r, this.runs, this.folders()), undefined, r));
  }

  dispose(): void {
    this.emitter.dispose();
  }
}
