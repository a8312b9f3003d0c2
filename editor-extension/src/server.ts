/**
 * Builds and runs the LanguageClient that talks to `python -m modelwire serve` over stdio,
 * and exposes it to the rest of the extension as a `Sidecar` that survives restarts.
 */
import * as vscode from 'vscode';
import {
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
  State,
  WorkDoneProgress,
} from 'vscode-languageclient/node';
import * as P from './protocol';
import { PythonExtension } from '@vscode/python-extension';
import { Interpreter, interpreterCandidates, interpreterSettingCommand, missingModelwireMessage, pickInterpreter } from './python';
import { Redactor } from './redact';
import { PYTHON_SETTING, SECTION } from './settings';
import { SidecarState, SidecarStatus } from './statusBar';
import { CancelToken, Sidecar, WorkDoneProgressValue } from './ui';

export interface SidecarOptions {
  serverChannel: vscode.OutputChannel;
  redactor: Redactor;
  onRunEvent: (event: P.RunEvent) => void;
  /** Another process (or this one) changed connections, keys or consent. */
  onConnectionsChanged?: () => void;
}

/** Builds the LanguageClient for one sidecar process. */
export function buildClient(interp: Interpreter, opts: SidecarOptions): LanguageClient {
  const run = {
    command: interp.command,
    args: ['-m', 'modelwire', 'serve'],
    // No `transport`: TransportKind.stdio would append `--stdio`, which `serve` rejects;
    // an Executable without one talks over stdio all the same.
    options: { env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONIOENCODING: 'utf-8' } },
  };
  const serverOptions: ServerOptions = { run, debug: run };
  const clientOptions: LanguageClientOptions = {
    // Every file the user can run an agent on must reach the sidecar (didOpen/didChange).
    documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
    synchronize: { configurationSection: SECTION },
    outputChannel: opts.serverChannel,
    traceOutputChannel: opts.serverChannel,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    initializationOptions: { client: 'vscode-modelwire' },
  };
  const client = new LanguageClient('modelwire', 'ModelWire', serverOptions, clientOptions);
  client.onNotification(P.RUN_EVENT, (event: P.RunEvent) => opts.onRunEvent(event));
  client.onNotification(P.DID_CHANGE_CONNECTIONS, () => opts.onConnectionsChanged?.());
  return client;
}

/** The Python extension's API, when ms-python.python is installed (it is optional). */
export async function pythonExtensionApi(): Promise<PythonExtension | undefined> {
  if (!vscode.extensions.getExtension('ms-python.python')) return undefined;
  try {
    return await PythonExtension.api();
  } catch {
    return undefined;
  }
}

/**
 * The executable of the Python extension's active environment. Its `path` can be an
 * environment folder rather than an interpreter: resolveEnvironment gives the executable.
 */
export async function pythonExtensionInterpreter(resource: vscode.Uri | undefined): Promise<string | undefined> {
  const api = await pythonExtensionApi();
  if (!api) return undefined;
  const active = api.environments.getActiveEnvironmentPath(resource);
  const resolved = await api.environments.resolveEnvironment(active);
  return resolved?.executable.uri?.fsPath;
}

/** "Set Interpreter": in a remote window (code-server, SSH, WSL) machine settings live in the Remote tab. */
export async function openInterpreterSetting(): Promise<void> {
  const [command, options] = interpreterSettingCommand(vscode.env.remoteName, PYTHON_SETTING);
  await vscode.commands.executeCommand(command, options);
}

export class SidecarManager implements Sidecar, SidecarStatus, vscode.Disposable {
  private client: LanguageClient | undefined;
  private _state: SidecarState = 'stopped';
  private readonly stateEmitter = new vscode.EventEmitter<SidecarState>();
  readonly onDidChangeState = this.stateEmitter.event;
  private problem = '';
  interpreter: Interpreter | undefined;

  constructor(private readonly opts: SidecarOptions) {}

  get state(): SidecarState {
    return this._state;
  }

  /** Why the sidecar is not running, for the status bar tooltip. */
  get lastProblem(): string {
    return this.problem;
  }

  private setState(state: SidecarState): void {
    this._state = state;
    this.stateEmitter.fire(state);
  }

  private starting: Promise<void> | undefined;

  /** Start the sidecar; requests made meanwhile wait for it. */
  start(): Promise<void> {
    if (!this.starting) {
      this.starting = this.doStart().finally(() => {
        this.starting = undefined;
      });
    }
    return this.starting;
  }

  private async doStart(): Promise<void> {
    this.setState('starting');
    const folder = vscode.workspace.workspaceFolders?.[0];
    const setting = vscode.workspace.getConfiguration(SECTION).get<string>('server.python');
    const candidates = await interpreterCandidates({
      setting,
      workspaceFolder: folder?.uri.scheme === 'file' ? folder.uri.fsPath : undefined,
      workspaceFolders: (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath),
      pythonExtension: () => pythonExtensionInterpreter(folder?.uri),
    });
    // The first candidate that can import modelwire; failing all, report the best one.
    const { interpreter: interp, probe } = await pickInterpreter(candidates, (line) => this.opts.serverChannel.appendLine(line));
    this.interpreter = interp;
    this.opts.serverChannel.appendLine(`Starting the sidecar: ${interp.command} -m modelwire serve (interpreter from ${interp.source})`);
    if (!probe.ok) {
      this.problem = missingModelwireMessage(interp, probe.detail);
      this.opts.serverChannel.appendLine(this.problem);
      this.setState('failed');
      void vscode.window.showErrorMessage(this.problem, 'Set Interpreter', 'Copy Install Command').then(async (choice) => {
        if (choice === 'Set Interpreter') {
          await openInterpreterSetting();
        } else if (choice === 'Copy Install Command') {
          await vscode.env.clipboard.writeText(`"${interp.command}" -m pip install -e /path/to/modelwire`);
        }
      });
      return;
    }
    const client = buildClient(interp, this.opts);
    this.client = client;
    client.onDidChangeState((e) => {
      if (this.client !== client) return;
      if (e.newState === State.Running) this.setState('running');
      else if (e.newState === State.Starting) this.setState('starting');
      else if (e.newState === State.Stopped && this._state === 'running') {
        this.problem = 'The sidecar stopped; see the "ModelWire Server" output.';
        this.setState('failed');
      }
    });
    try {
      await client.start();
      this.problem = '';
      this.setState('running');
    } catch (err) {
      this.problem = `The sidecar did not start: ${err instanceof Error ? err.message : String(err)}`;
      this.opts.serverChannel.appendLine(this.problem);
      this.setState('failed');
      void vscode.window.showErrorMessage(`ModelWire: ${this.problem}`, 'Show Output').then((c) => {
        if (c) this.opts.serverChannel.show(true);
      });
    }
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        await client.stop(3000);
      } catch {
        // Already gone: nothing to stop.
      }
    }
    this.setState('stopped');
  }

  async restart(): Promise<void> {
    this.opts.serverChannel.appendLine('Restarting the sidecar (launch settings changed).');
    await this.stop();
    await this.start();
  }

  private running(): LanguageClient {
    if (!this.client || this._state !== 'running') {
      const why = this.problem || 'it is still starting';
      throw Object.assign(new Error(`ModelWire's sidecar is not running: ${why}`), {
        data: { code: 'SIDECAR_NOT_RUNNING', message: `ModelWire's sidecar is not running: ${why}`, hint: 'Run "ModelWire: Restart Server" after fixing it.' },
      });
    }
    return this.client;
  }

  async request<R>(method: string, params: unknown, token?: CancelToken): Promise<R> {
    if (this.starting) await this.starting;
    const client = this.running();
    if (token) return client.sendRequest<R>(method, params, token as vscode.CancellationToken);
    return client.sendRequest<R>(method, params);
  }

  onProgress(token: string, handler: (value: WorkDoneProgressValue) => void): { dispose(): void } {
    const client = this.client;
    if (!client) return { dispose() {} };
    return client.onProgress(WorkDoneProgress.type, token, (value) => handler(value as WorkDoneProgressValue));
  }

  holdSecret(secret: string): () => void {
    return this.opts.redactor.hold(secret);
  }

  dispose(): void {
    void this.stop();
    this.stateEmitter.dispose();
  }
}
