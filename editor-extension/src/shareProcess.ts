/**
 * The `python -m modelwire share … --no-qr` child: reads the Server ID from its first
 * stdout line and a state from the lines after; stops it with SIGTERM (the CLI's clean
 * stop, clients see HOST_DISCONNECTED), then SIGKILL if it lingers. No vscode import, so
 * it is tested against a scripted child. Output is bounded: a line past MAX_LINE_CHARS
 * is cut, and only the last STDERR_KEEP characters of stderr are kept.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { MAX_LINE_CHARS, parseChildError, parseServerIdLine, parseStateLine, plainLine, ShareStatus, ChildError } from './shareFlow';

const STDERR_KEEP = 8192;
const KILL_AFTER_MS = 3000;

export interface ShareEvents {
  /** Once, with the Server ID (a capability: never log it). */
  onServerId(serverId: string): void;
  onStatus(status: ShareStatus): void;
  /** Every stdout line after the first, already plain and bounded. */
  onLine(line: string): void;
  /** Once, when the child is gone; `error` when it failed before or while sharing. */
  onExit(error: ChildError | undefined): void;
}

/** Splits a byte stream into lines, cutting any line at `max` characters. */
export class LineReader {
  private buffer = '';
  private skipping = false;
  constructor(private readonly emit: (line: string) => void, private readonly max = MAX_LINE_CHARS) {}

  push(chunk: string): void {
    let rest = chunk;
    for (;;) {
      const nl = rest.indexOf('\n');
      if (nl < 0) break;
      const part = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      if (!this.skipping) this.emit((this.buffer + part).slice(0, this.max));
      this.buffer = '';
      this.skipping = false;
    }
    if (this.skipping) return;
    this.buffer += rest;
    if (this.buffer.length > this.max) {
      // An endless line: emit what fits, drop the rest of it.
      this.emit(this.buffer.slice(0, this.max));
      this.buffer = '';
      this.skipping = true;
    }
  }
}

export class ShareProcess {
  private child: ChildProcess | undefined;
  private serverId: string | undefined;
  private stderr = '';
  private exited = false;
  private stopping = false;

  constructor(
    private readonly command: string,
    private readonly args: string[],
    private readonly events: ShareEvents,
    private readonly cwd?: string,
  ) {}

  start(): void {
    const child = spawn(this.command, this.args, {
      cwd: this.cwd,
      env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONIOENCODING: 'utf-8' },
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    this.child = child;
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    const lines = new LineReader((line) => this.line(line));
    child.stdout?.on('data', (chunk: string) => lines.push(chunk));
    child.stderr?.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_KEEP);
    });
    child.on('error', (err) => this.finish({ code: 'SHARE_FAILED', message: `Could not start ${this.command}: ${plainLine(err.message, 300)}`, hint: 'Check modelwire.server.python.' }));
    child.on('exit', (code, signal) => {
      if (this.stopping || (code === 0 && this.serverId)) return this.finish(undefined);
      const parsed = parseChildError(this.stderr);
      this.finish(
        parsed ?? {
          code: 'SHARE_FAILED',
          message: `modelwire share stopped (${signal ?? `exit code ${code}`}).`,
          hint: 'See the ModelWire Server output, or run modelwire share in a terminal.',
        },
      );
    });
  }

  private line(raw: string): void {
    if (this.serverId === undefined) {
      const id = parseServerIdLine(raw);
      if (id === undefined) {
        // The contract is "the Server ID first"; anything else is not a share host.
        this.events.onLine(plainLine(raw, 200));
        return;
      }
      this.serverId = id;
      this.events.onServerId(id);
      return;
    }
    const text = plainLine(raw);
    const status = parseStateLine(text);
    if (status) this.events.onStatus(status);
    this.events.onLine(text);
  }

  private finish(error: ChildError | undefined): void {
    if (this.exited) return;
    this.exited = true;
    this.events.onExit(error);
  }

  get running(): boolean {
    return this.child !== undefined && !this.exited;
  }

  /** SIGTERM now, SIGKILL if it is still there after a moment. */
  stop(): void {
    const child = this.child;
    if (!child || this.exited) return;
    this.stopping = true;
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (!this.exited) child.kill('SIGKILL');
    }, KILL_AFTER_MS);
    timer.unref();
  }
}

/** segno draws the code; the Server ID goes in on stdin (never on a command line). */
const QR_SCRIPT =
  'import sys\ntry:\n    import segno\nexcept ImportError:\n    sys.exit(3)\n' +
  "sys.stdout.write(segno.make(sys.stdin.readline().strip(), error='m').png_data_uri(scale=6, border=2))\n";
const QR_MAX_OUTPUT = 200_000;

/** The QR code of `text` as a PNG data URI, drawn by segno in `command` (the sidecar's interpreter). */
export function qrDataUri(command: string, text: string, timeoutMs = 15_000): Promise<{ uri?: string; problem?: string }> {
  return new Promise((resolve) => {
    let out = '';
    let done = false;
    const finish = (r: { uri?: string; problem?: string }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const child = spawn(command, ['-c', QR_SCRIPT], { stdio: ['pipe', 'pipe', 'ignore'], windowsHide: true });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ problem: 'No QR code: drawing it took too long.' });
    }, timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.length > QR_MAX_OUTPUT) {
        child.kill('SIGKILL');
        finish({ problem: 'No QR code: the drawing was too large.' });
      }
    });
    child.on('error', () => finish({ problem: 'No QR code: the interpreter did not start.' }));
    child.on('close', (code) => {
      if (code === 3) finish({ problem: `No QR code: install segno ("${command}" -m pip install segno). Copy the Server ID instead.` });
      else if (code !== 0) finish({ problem: 'No QR code: drawing it failed. Copy the Server ID instead.' });
      else finish({ uri: out.trim() });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(`${text}\n`);
  });
}
