/**
 * The thin layer between the flows and VS Code: `Ui` and `SettingsStore` implemented with
 * the real API, and an output channel that redacts secrets. Kept dumb on purpose: the
 * logic it serves lives in modules that unit tests can load without VS Code.
 */
import * as vscode from 'vscode';
import { Redactor } from './redact';
import { EditorTarget, RunHost } from './runHost';
import { StatusItem } from './statusBar';
import { SECTION } from './settings';
import { CancelToken, InputOptions, PickItem, PickOptions, Progress, Scope, SettingsStore, Ui } from './ui';

export class VsCodeUi implements Ui {
  pick<T>(items: PickItem<T>[], options: PickOptions<T>): Promise<T | undefined> {
    return new Promise((resolve) => {
      type Item = vscode.QuickPickItem & { value: T };
      const qp = vscode.window.createQuickPick<Item>();
      const base: Item[] = items.map((i) => ({ label: i.label, description: i.description, detail: i.detail, value: i.value }));
      qp.title = options.title;
      qp.placeholder = options.placeholder;
      qp.items = base;
      qp.matchOnDescription = true;
      qp.ignoreFocusOut = true;
      let done = false;
      const finish = (value: T | undefined) => {
        if (done) return;
        done = true;
        resolve(value);
        qp.dispose();
      };
      if (options.typed) {
        const typed = options.typed;
        qp.onDidChangeValue((text) => {
          const extra = base.some((i) => i.label === text.trim()) ? undefined : typed(text);
          qp.items = extra ? [...base, { label: extra.label, description: extra.description, detail: extra.detail, value: extra.value, alwaysShow: true }] : base;
        });
      }
      qp.onDidAccept(() => finish(qp.selectedItems[0]?.value));
      qp.onDidHide(() => finish(undefined));
      qp.show();
    });
  }

  async input(options: InputOptions): Promise<string | undefined> {
    return vscode.window.showInputBox({
      title: options.title,
      prompt: options.prompt,
      value: options.value,
      placeHolder: options.placeholder,
      password: options.password ?? false,
      ignoreFocusOut: true,
      validateInput: options.validate,
    });
  }

  info(message: string, ...actions: string[]): Promise<string | undefined> {
    return Promise.resolve(vscode.window.showInformationMessage(message, ...actions));
  }

  warn(message: string, ...actions: string[]): Promise<string | undefined> {
    return Promise.resolve(vscode.window.showWarningMessage(message, ...actions));
  }

  error(message: string, ...actions: string[]): Promise<string | undefined> {
    return Promise.resolve(vscode.window.showErrorMessage(message, ...actions));
  }

  async confirm(message: string, action: string): Promise<boolean> {
    return (await vscode.window.showWarningMessage(message, { modal: true }, action)) === action;
  }

  progress<T>(title: string, cancellable: boolean, task: (progress: Progress, token: CancelToken) => Promise<T>): Promise<T> {
    return Promise.resolve(
      vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable }, (p, token) => {
        let last = 0;
        const progress: Progress = {
          report(message, percentage) {
            if (percentage === undefined) return p.report({ message });
            const increment = Math.max(0, percentage - last);
            last = Math.max(last, percentage);
            p.report({ message, increment });
          },
        };
        return task(progress, token);
      }),
    );
  }
}

/** The workspace folder a command applies to: the active editor's, else the only one. */
export function activeFolder(): vscode.WorkspaceFolder | undefined {
  const editor = vscode.window.activeTextEditor;
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (editor) {
    const folder = vscode.workspace.getWorkspaceFolder(editor.document.uri);
    if (folder) return folder;
  }
  return lastFolder && folders.some((f) => f.uri.toString() === lastFolder?.uri.toString())
    ? lastFolder
    : folders.length === 1
      ? folders[0]
      : undefined;
}

let lastFolder: vscode.WorkspaceFolder | undefined;
let lastFileEditor: vscode.TextEditor | undefined;
/** Remember the folder of the last real file editor (run documents have none). */
export function noteEditor(editor: vscode.TextEditor | undefined): void {
  if (!editor) return;
  if (editor.document.uri.scheme === 'file' || editor.document.uri.scheme === 'untitled') lastFileEditor = editor;
  const folder = vscode.workspace.getWorkspaceFolder(editor.document.uri);
  if (folder) lastFolder = folder;
}

export class VsCodeSettings implements SettingsStore {
  folders(): Array<{ uri: string; name: string }> {
    return (vscode.workspace.workspaceFolders ?? []).map((f) => ({ uri: f.uri.toString(), name: f.name }));
  }

  activeFolder(): { uri: string; name: string } | undefined {
    const f = activeFolder();
    return f ? { uri: f.uri.toString(), name: f.name } : undefined;
  }

  isMultiRoot(): boolean {
    return vscode.workspace.workspaceFile !== undefined;
  }

  private config(scope: Scope): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(SECTION, scope.kind === 'folder' ? vscode.Uri.parse(scope.uri) : undefined);
  }

  read(key: string, scope: Scope): string | undefined {
    const inspected = this.config(scope).inspect<string>(key);
    const value =
      scope.kind === 'folder' ? inspected?.workspaceFolderValue : scope.kind === 'workspace' ? inspected?.workspaceValue : inspected?.globalValue;
    return value || undefined;
  }

  async write(key: string, value: string | undefined, scope: Scope): Promise<void> {
    const target =
      scope.kind === 'folder'
        ? vscode.ConfigurationTarget.WorkspaceFolder
        : scope.kind === 'workspace'
          ? vscode.ConfigurationTarget.Workspace
          : vscode.ConfigurationTarget.Global;
    await this.config(scope).update(key, value, target);
  }

  ollamaBaseUrl(): string {
    return vscode.workspace.getConfiguration(SECTION).get<string>('ollama.baseUrl') ?? 'http://localhost:11434';
  }
}

/** An output channel that passes everything through the redactor first. */
export class RedactingChannel implements vscode.OutputChannel {
  constructor(
    private readonly inner: vscode.OutputChannel,
    private readonly redactor: Redactor,
  ) {}

  get name(): string {
    return this.inner.name;
  }
  append(value: string): void {
    this.inner.append(this.redactor.redact(value));
  }
  appendLine(value: string): void {
    this.inner.appendLine(this.redactor.redact(value));
  }
  replace(value: string): void {
    this.inner.replace(this.redactor.redact(value));
  }
  clear(): void {
    this.inner.clear();
  }
  show(columnOrPreserveFocus?: vscode.ViewColumn | boolean, preserveFocus?: boolean): void {
    if (typeof columnOrPreserveFocus === 'boolean') this.inner.show(columnOrPreserveFocus);
    else this.inner.show(columnOrPreserveFocus, preserveFocus);
  }
  hide(): void {
    this.inner.hide();
  }
  dispose(): void {
    this.inner.dispose();
  }
}

/** The status-bar entry behind the `StatusItem` interface: `tone` picks the theme colour. */
export class VsCodeStatusItem implements StatusItem, vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('modelwire.connection', vscode.StatusBarAlignment.Right, 100);
  private _tone: StatusItem['tone'] = 'normal';

  constructor() {
    this.item.name = 'ModelWire connection';
    this.item.show();
  }
  get text(): string {
    return this.item.text;
  }
  set text(value: string) {
    this.item.text = value;
  }
  get tooltip(): string | undefined {
    return typeof this.item.tooltip === 'string' ? this.item.tooltip : undefined;
  }
  set tooltip(value: string | undefined) {
    this.item.tooltip = value;
  }
  get command(): string | undefined {
    return typeof this.item.command === 'string' ? this.item.command : undefined;
  }
  set command(value: string | undefined) {
    this.item.command = value;
  }
  get tone(): StatusItem['tone'] {
    return this._tone;
  }
  set tone(value: StatusItem['tone']) {
    this._tone = value;
    this.item.backgroundColor = value === 'normal' ? undefined : new vscode.ThemeColor(value === 'error' ? 'statusBarItem.errorBackground' : 'statusBarItem.warningBackground');
  }
  dispose(): void {
    this.item.dispose();
  }
}

function toRange(selection: vscode.Selection): EditorTarget['selection'] {
  if (selection.isEmpty) return undefined;
  return { start: { line: selection.start.line, character: selection.start.character }, end: { line: selection.end.line, character: selection.end.character } };
}

/** The run path's view of VS Code: the active file editor, commands, one-time flags, timers. */
export class VsCodeRunHost implements RunHost {
  constructor(private readonly state: vscode.Memento) {}

  activeEditor(): EditorTarget | undefined {
    // Focus in a panel or view leaves no active editor: the file the user last edited counts.
    const visible = lastFileEditor && vscode.window.visibleTextEditors.includes(lastFileEditor) ? lastFileEditor : undefined;
    const editor = vscode.window.activeTextEditor ?? visible;
    if (!editor || (editor.document.uri.scheme !== 'file' && editor.document.uri.scheme !== 'untitled')) return undefined;
    const folder = vscode.workspace.getWorkspaceFolder(editor.document.uri);
    return {
      uri: editor.document.uri.toString(),
      selection: toRange(editor.selection),
      folder: folder ? { uri: folder.uri.toString(), name: folder.name } : undefined,
    };
  }

  async executeCommand(command: string, ...args: unknown[]): Promise<unknown> {
    return vscode.commands.executeCommand(command, ...args);
  }

  firstTime(key: string): boolean {
    if (this.state.get<boolean>(key)) return false;
    void this.state.update(key, true);
    return true;
  }

  every(ms: number, tick: () => void): () => void {
    const timer = setInterval(tick, ms);
    return () => clearInterval(timer);
  }
}
