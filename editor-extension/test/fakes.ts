/** Scripted stand-ins for `Ui`, `Sidecar` and `SettingsStore` used by the flow tests. */
import { CancelToken, InputOptions, PickItem, PickOptions, Progress, Scope, SettingsStore, Sidecar, Ui, WorkDoneProgressValue } from '../src/ui';

/** Each prompt the flow shows is answered by the next scripted answer. */
export type Answer =
  | { pick: string } // label to choose (or typed text for a `typed` item)
  | { type: string } // text for an input box
  | { button: string | undefined } // a notification's button
  | { escape: true };

export interface Shown {
  kind: 'pick' | 'input' | 'info' | 'warn' | 'error' | 'confirm' | 'progress';
  text: string;
  items?: string[];
  password?: boolean;
  value?: string;
}

export class ScriptedUi implements Ui {
  readonly shown: Shown[] = [];
  constructor(private readonly answers: Answer[]) {}

  private next(): Answer | undefined {
    return this.answers.shift();
  }

  async pick<T>(items: PickItem<T>[], options: PickOptions<T>): Promise<T | undefined> {
    this.shown.push({ kind: 'pick', text: `${options.title}: ${options.placeholder ?? ''}`, items: items.map((i) => i.label) });
    const answer = this.next();
    if (!answer || 'escape' in answer) return undefined;
    if (!('pick' in answer)) throw new Error(`expected a pick answer for ${options.title}, got ${JSON.stringify(answer)}`);
    const found = items.find((i) => i.label === answer.pick || i.label.endsWith(answer.pick));
    if (found) return found.value;
    const typed = options.typed?.(answer.pick);
    if (typed) return typed.value;
    throw new Error(`no item "${answer.pick}" in ${options.title}: ${items.map((i) => i.label).join(', ')}`);
  }

  async input(options: InputOptions): Promise<string | undefined> {
    this.shown.push({ kind: 'input', text: options.title, password: options.password, value: options.value });
    const answer = this.next();
    if (!answer || 'escape' in answer) return undefined;
    if (!('type' in answer)) throw new Error(`expected an input answer for ${options.title}`);
    const problem = options.validate?.(answer.type);
    if (problem) throw new Error(`input rejected: ${problem}`);
    return answer.type;
  }

  private async message(kind: 'info' | 'warn' | 'error', text: string, actions: string[]): Promise<string | undefined> {
    this.shown.push({ kind, text, items: actions });
    if (actions.length === 0) return undefined;
    const answer = this.next();
    return answer && 'button' in answer ? answer.button : undefined;
  }

  info(message: string, ...actions: string[]) {
    return this.message('info', message, actions);
  }
  warn(message: string, ...actions: string[]) {
    return this.message('warn', message, actions);
  }
  error(message: string, ...actions: string[]) {
    return this.message('error', message, actions);
  }
  async confirm(message: string, action: string): Promise<boolean> {
    this.shown.push({ kind: 'confirm', text: message, items: [action] });
    const answer = this.next();
    return !!answer && 'button' in answer && answer.button === action;
  }
  async progress<T>(title: string, _cancellable: boolean, task: (progress: Progress, token: CancelToken) => Promise<T>): Promise<T> {
    this.shown.push({ kind: 'progress', text: title });
    const token: CancelToken = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) };
    return task({ report: (m) => this.shown.push({ kind: 'progress', text: m }) }, token);
  }
}

export interface Call {
  method: string;
  params: any;
}

/** A sidecar whose answers are functions of (method, params); every call is recorded. */
export class FakeSidecar implements Sidecar {
  readonly calls: Call[] = [];
  readonly held: string[] = [];
  private progressHandlers = new Map<string, (v: WorkDoneProgressValue) => void>();
  constructor(private readonly answer: (method: string, params: any) => unknown) {}

  async request<R>(method: string, params: unknown): Promise<R> {
    this.calls.push({ method, params });
    const result = this.answer(method, params);
    if (result instanceof Error) throw result;
    return (await result) as R;
  }
  onProgress(token: string, handler: (value: WorkDoneProgressValue) => void) {
    this.progressHandlers.set(token, handler);
    return { dispose: () => this.progressHandlers.delete(token) };
  }
  emitProgress(token: string, value: WorkDoneProgressValue) {
    this.progressHandlers.get(token)?.(value);
  }
  holdSecret(secret: string) {
    this.held.push(secret);
    return () => {};
  }
  methods(): string[] {
    return this.calls.map((c) => c.method);
  }
}

export function rpcError(code: string, message: string, hint = '', rpc = -32001): Error {
  return Object.assign(new Error(message), { code: rpc, data: { code, message, hint, retryable: false } });
}

export class MemorySettings implements SettingsStore {
  readonly values = new Map<string, string>();
  constructor(
    private readonly folderList: Array<{ uri: string; name: string }> = [],
    private readonly active?: { uri: string; name: string },
  ) {}
  private key(key: string, scope: Scope): string {
    return `${scope.kind === 'folder' ? scope.uri : scope.kind}|${key}`;
  }
  folders() {
    return this.folderList;
  }
  activeFolder() {
    return this.active;
  }
  isMultiRoot() {
    return this.folderList.length > 1;
  }
  read(key: string, scope: Scope) {
    return this.values.get(this.key(key, scope));
  }
  async write(key: string, value: string | undefined, scope: Scope) {
    if (value === undefined) this.values.delete(this.key(key, scope));
    else this.values.set(this.key(key, scope), value);
  }
  ollamaBaseUrl() {
    return 'http://localhost:11434';
  }
}
