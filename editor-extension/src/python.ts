/**
 * Finds the interpreter that runs the sidecar: `modelwire.server.python`, else the Python
 * extension's active environment (optional), else a workspace folder's `.venv`, else
 * `python3`; the first of those that can import modelwire is used, so a new user does
 * not have to set anything when one of them has it. No vscode import: sources are injected.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type InterpreterSource = 'setting' | 'python-extension' | 'workspace-venv' | 'default';

export interface Interpreter {
  command: string;
  source: InterpreterSource;
}

export interface InterpreterSources {
  /** The `modelwire.server.python` setting as written. */
  setting: string | undefined;
  /** The Python extension's active interpreter for the workspace, if it is installed. */
  pythonExtension: () => Promise<string | undefined>;
  /** For `${workspaceFolder}` and relative paths in the setting. */
  workspaceFolder?: string;
  /** Local paths of the workspace folders, searched for a `.venv`. */
  workspaceFolders?: string[];
  /** Does this file exist? (injected for tests) */
  exists?: (file: string) => boolean;
}

export const DEFAULT_PYTHON = 'python3';

/** Expand `~`, `${workspaceFolder}`, `${userHome}`; relative paths are per workspace folder. */
export function expandSetting(value: string, workspaceFolder?: string): string {
  let out = value.trim();
  out = out.replace(/\$\{userHome\}/g, os.homedir());
  if (workspaceFolder) out = out.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
  if (out === '~' || out.startsWith('~/')) out = path.join(os.homedir(), out.slice(1));
  // A bare command name (`python3.12`) is looked up on PATH; a relative path is not.
  if (workspaceFolder && out.includes('/') && !path.isAbsolute(out)) {
    out = path.resolve(workspaceFolder, out);
  }
  return out;
}

/**
 * Every interpreter worth trying, best first. A set `modelwire.server.python` is the only
 * candidate: the user said which one, and a silent substitute would hide their mistake.
 */
export async function interpreterCandidates(sources: InterpreterSources): Promise<Interpreter[]> {
  const first = await resolveInterpreter(sources);
  if (first.source === 'setting') return [first];
  const out = first.source === 'default' ? [] : [first];
  const exists = sources.exists ?? ((file: string) => fs.existsSync(file));
  for (const folder of sources.workspaceFolders ?? []) {
    for (const rel of [['.venv', 'bin', 'python'], ['.venv', 'Scripts', 'python.exe']]) {
      const candidate = path.join(folder, ...rel);
      if (exists(candidate) && !out.some((i) => i.command === candidate)) out.push({ command: candidate, source: 'workspace-venv' });
    }
  }
  out.push({ command: DEFAULT_PYTHON, source: 'default' });
  return out;
}

export async function resolveInterpreter(sources: InterpreterSources): Promise<Interpreter> {
  if (sources.setting && sources.setting.trim()) {
    return { command: expandSetting(sources.setting, sources.workspaceFolder), source: 'setting' };
  }
  try {
    const fromExtension = await sources.pythonExtension();
    if (fromExtension) return { command: fromExtension, source: 'python-extension' };
  } catch {
    // The Python extension is optional; any failure there means "not available".
  }
  return { command: DEFAULT_PYTHON, source: 'default' };
}

export interface ProbeResult {
  ok: boolean;
  /** What went wrong, for the notification's detail (stderr's last line, ENOENT, ...). */
  detail: string;
}

export type Exec = (command: string, args: string[], timeoutMs: number) => Promise<{ code: number; stdout: string; stderr: string }>;

export const execProcess: Exec = (command, args, timeoutMs) =>
  new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, windowsHide: true }, (error, stdout, stderr) => {
      const err = error as (NodeJS.ErrnoException & { code?: number | string }) | null;
      if (err && typeof err.code === 'string') {
        resolve({ code: -1, stdout: String(stdout), stderr: `${err.code}: ${err.message}` });
      } else {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
      }
    });
  });

/** Can this interpreter run `python -m modelwire serve`? */
export async function probeModelwire(command: string, exec: Exec = execProcess): Promise<ProbeResult> {
  const result = await exec(command, ['-c', 'import modelwire; print(modelwire.__file__)'], 20_000);
  if (result.code === 0) return { ok: true, detail: result.stdout.trim() };
  const lines = (result.stderr || result.stdout).trim().split('\n');
  return { ok: false, detail: lines[lines.length - 1] || `exit code ${result.code}` };
}

/**
 * The first candidate that can import modelwire; failing all, the best one with its probe.
 * Every candidate passed over is logged with why (`Tried … (python-extension): No module
 * named 'modelwire'`), so the user sees why, e.g., the Python extension's interpreter was
 * not used; the one chosen is left to the "Starting the sidecar" line.
 */
export async function pickInterpreter(
  candidates: Interpreter[],
  log: (line: string) => void,
  probe: (command: string) => Promise<ProbeResult> = (command) => probeModelwire(command),
): Promise<{ interpreter: Interpreter; probe: ProbeResult }> {
  const first = { interpreter: candidates[0], probe: await probe(candidates[0].command) };
  if (first.probe.ok || candidates.length === 1) return first;
  log(`Tried ${first.interpreter.command} (${first.interpreter.source}): ${first.probe.detail}`);
  for (const next of candidates.slice(1)) {
    const tried = await probe(next.command);
    if (tried.ok) return { interpreter: next, probe: tried };
    log(`Tried ${next.command} (${next.source}): ${tried.detail}`);
  }
  return first;
}

/** The notification shown when the interpreter cannot run the sidecar, with the fix. */
export function missingModelwireMessage(interp: Interpreter, detail: string): string {
  const where =
    interp.source === 'setting'
      ? 'modelwire.server.python'
      : interp.source === 'python-extension'
        ? "the Python extension's interpreter"
        : interp.source === 'workspace-venv'
          ? "the workspace's .venv"
          : 'the default python3';
  const notFound = /ENOENT/.test(detail);
  const problem = notFound
    ? `ModelWire cannot start: the interpreter "${interp.command}" (${where}) was not found.`
    : `ModelWire cannot start: "${interp.command}" (${where}) cannot import modelwire (${detail}).`;
  // A new user's case: say that the other places were looked at too, and came up empty.
  const looked =
    interp.source === 'default' ? " No other candidate has it (the Python extension's interpreter, a .venv in the workspace)." : '';
  return (
    `${problem}${looked} Install it into that interpreter with "${interp.command}" -m pip install -e /path/to/modelwire, ` +
    'or set modelwire.server.python to an interpreter that has it.'
  );
}

/**
 * The command and argument that open the settings at `setting` ("Set Interpreter"). In a
 * remote window (code-server, SSH, WSL, Codespaces) the machine-scoped setting is listed
 * only in the Remote tab. Both commands take an options object: openRemoteSettings drops a
 * plain string argument, and opened the Remote tab without the search.
 */
export function interpreterSettingCommand(remoteName: string | undefined, setting: string): [string, { query: string }] {
  const command = remoteName ? 'workbench.action.openRemoteSettings' : 'workbench.action.openSettings';
  return [command, { query: setting }];
}
