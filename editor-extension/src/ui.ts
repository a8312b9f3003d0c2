/**
 * The small surface the command flows need from VS Code and from the sidecar. vscodeapi.ts
 * implements it with the real API; unit tests implement it with scripted fakes.
 */

export interface CancelToken {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => void): { dispose(): void };
}

export interface PickItem<T> {
  label: string;
  description?: string;
  detail?: string;
  value: T;
}

export interface PickOptions<T> {
  title: string;
  placeholder?: string;
  /** Offer what the user typed as an extra item (e.g. a model name not in the list). */
  typed?: (text: string) => PickItem<T> | undefined;
}

export interface InputOptions {
  title: string;
  prompt: string;
  value?: string;
  placeholder?: string;
  /** A password box: the value is never echoed, logged or kept by the UI layer. */
  password?: boolean;
  validate?: (value: string) => string | undefined;
}

export interface Progress {
  report(message: string, percentage?: number): void;
}

export interface Ui {
  pick<T>(items: PickItem<T>[], options: PickOptions<T>): Promise<T | undefined>;
  input(options: InputOptions): Promise<string | undefined>;
  info(message: string, ...actions: string[]): Promise<string | undefined>;
  warn(message: string, ...actions: string[]): Promise<string | undefined>;
  error(message: string, ...actions: string[]): Promise<string | undefined>;
  confirm(message: string, action: string): Promise<boolean>;
  progress<T>(title: string, cancellable: boolean, task: (progress: Progress, token: CancelToken) => Promise<T>): Promise<T>;
}

export interface WorkDoneProgressValue {
  kind: 'begin' | 'report' | 'end';
  title?: string;
  message?: string;
  percentage?: number;
}

export interface Sidecar {
  request<R>(method: string, params: unknown, token?: CancelToken): Promise<R>;
  /** Subscribe to `$/progress` for a work-done token we passed in a request. */
  onProgress(token: string, handler: (value: WorkDoneProgressValue) => void): { dispose(): void };
  /** Keep `secret` out of every log while the returned function has not been called. */
  holdSecret(secret: string): () => void;
}

export type Scope =
  | { kind: 'folder'; uri: string; name: string }
  | { kind: 'workspace' }
  | { kind: 'user' };

/** Reads and writes `modelwire.*` settings at one exact scope (no inheritance). */
export interface SettingsStore {
  folders(): Array<{ uri: string; name: string }>;
  /** The workspace folder of the active editor, if any. */
  activeFolder(): { uri: string; name: string } | undefined;
  isMultiRoot(): boolean;
  read(key: string, scope: Scope): string | undefined;
  write(key: string, value: string | undefined, scope: Scope): Promise<void>;
  /** `modelwire.ollama.baseUrl`. */
  ollamaBaseUrl(): string;
}
