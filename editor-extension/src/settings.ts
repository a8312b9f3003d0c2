/**
 * Which settings need a sidecar restart, and a scheduler that coalesces restarts.
 *
 * Only the launch settings restart the sidecar. Everything else (default connection and
 * model, timeouts, limits, the Ollama URL) reaches it as workspace/didChangeConfiguration,
 * after which it pulls the values it needs with workspace/configuration, per folder.
 */

export const SECTION = 'modelwire';
export const PYTHON_SETTING = 'modelwire.server.python';
export const DEFAULT_CONNECTION_SETTING = 'defaultConnection';
export const DEFAULT_MODEL_SETTING = 'defaultModel';
export const OLLAMA_BASE_URL_SETTING = 'ollama.baseUrl';

/** Settings whose change means a new sidecar process. */
export const LAUNCH_SETTINGS: readonly string[] = [PYTHON_SETTING];

/** Settings shown by the status bar: a change refreshes it (no restart). */
export const STATUS_SETTINGS: readonly string[] = [
  `${SECTION}.${DEFAULT_CONNECTION_SETTING}`,
  `${SECTION}.${DEFAULT_MODEL_SETTING}`,
];

export function affectsAny(affects: (section: string) => boolean, sections: readonly string[]): boolean {
  return sections.some((s) => affects(s));
}

/**
 * Runs `restart` at most once per burst of requests: requests within `delayMs` of each
 * other coalesce, and a request made while a restart is running queues exactly one more.
 */
export class RestartScheduler {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly restart: () => Promise<void>,
    private readonly delayMs = 300,
  ) {}

  /** Ask for a restart; resolves once a restart that began after this call has finished. */
  request(): Promise<void> {
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.running) {
      this.again = true;
    } else {
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.fire(), this.delayMs);
    }
    return done;
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async fire(): Promise<void> {
    this.timer = undefined;
    const waiters = this.waiters;
    this.waiters = [];
    this.running = (async () => {
      try {
        await this.restart();
      } catch {
        // The restart reports its own failure; the scheduler only keeps order.
      }
    })();
    await this.running;
    this.running = undefined;
    for (const resolve of waiters) resolve();
    if (this.again) {
      this.again = false;
      this.timer = setTimeout(() => void this.fire(), this.delayMs);
    }
  }
}
