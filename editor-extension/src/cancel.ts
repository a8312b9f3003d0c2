/**
 * A cancellation source without VS Code: its token has the shape vscode-jsonrpc checks
 * (`isCancellationRequested` + `onCancellationRequested`), so passing it to a request
 * sends `$/cancelRequest` when it fires.
 */
import { CancelToken } from './ui';

export class CancelSource {
  private cancelled = false;
  private readonly listeners = new Set<() => void>();
  readonly token: CancelToken;

  constructor() {
    const state = { source: this };
    this.token = {
      get isCancellationRequested(): boolean {
        return state.source.cancelled;
      },
      onCancellationRequested: (listener: () => void) => {
        if (this.cancelled) {
          listener();
          return { dispose() {} };
        }
        this.listeners.add(listener);
        return { dispose: () => this.listeners.delete(listener) };
      },
    };
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    for (const listener of [...this.listeners]) listener();
    this.listeners.clear();
  }

  dispose(): void {
    this.listeners.clear();
  }
}
