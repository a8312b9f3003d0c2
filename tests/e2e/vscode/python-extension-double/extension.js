'use strict';
/**
 * A test double of the Python extension (ms-python.python) for tests/e2e: it exports the
 * `environments` surface of `@vscode/python-extension` (node_modules/@vscode/python-extension
 * /out/main.d.ts: PythonExtension) with ONE active environment, the folder named by
 * MODELWIRE_TEST_PYTHON_ENV (e.g. the repo's .venv). Like the real extension,
 * getActiveEnvironmentPath returns an environment *path* (here the environment folder, not
 * the interpreter) and resolveEnvironment turns it into the executable, so a client that
 * skips resolveEnvironment gets a folder it cannot run. Every call is appended as a JSON
 * line to MODELWIRE_TEST_PYTHON_DOUBLE_LOG, so the test can see which API was asked.
 * It finds, discovers and installs nothing.
 */
const fs = require('node:fs');
const path = require('node:path');
const vscode = require('vscode');

function record(call, detail) {
  const file = process.env.MODELWIRE_TEST_PYTHON_DOUBLE_LOG;
  if (!file) return;
  try {
    fs.appendFileSync(file, `${JSON.stringify({ at: Date.now(), call, ...detail })}\n`);
  } catch {
    /* the log is a test aid only */
  }
}

function resourceText(resource) {
  if (!resource) return undefined;
  const uri = resource.uri ?? resource; // a WorkspaceFolder or a Uri
  return typeof uri.toString === 'function' ? uri.toString() : String(uri);
}

function activate() {
  const folder = process.env.MODELWIRE_TEST_PYTHON_ENV;
  const executable = folder ? path.join(folder, process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python') : undefined;
  const envPath = folder ? { id: folder, path: folder } : undefined;
  const environment = folder
    ? {
        id: folder,
        path: folder,
        executable: { uri: vscode.Uri.file(executable), bitness: '64-bit', sysPrefix: folder },
        environment: { type: 'VirtualEnvironment', name: path.basename(folder), folderUri: vscode.Uri.file(folder), workspaceFolder: undefined },
        version: { major: 3, minor: 11, micro: 0, release: { level: 'final', serial: 0 }, sysVersion: '3.11' },
        tools: ['Venv'],
      }
    : undefined;
  const activeChanged = new vscode.EventEmitter();
  const envsChanged = new vscode.EventEmitter();
  const varsChanged = new vscode.EventEmitter();
  const matches = (e) => {
    const p = typeof e === 'string' ? e : e?.path;
    return Boolean(folder) && (p === folder || p === executable);
  };
  record('activate', { folder: folder ?? null });
  return {
    ready: Promise.resolve(),
    debug: {
      getRemoteLauncherCommand: async () => [],
      getDebuggerPackagePath: async () => undefined,
    },
    environments: {
      getActiveEnvironmentPath(resource) {
        record('getActiveEnvironmentPath', { resource: resourceText(resource) ?? null });
        // No environment: the real extension reports the default interpreter's path; a
        // double with nothing configured says "python", which resolves to nothing.
        return envPath ?? { id: 'DEFAULT_PYTHON', path: 'python' };
      },
      async updateActiveEnvironmentPath(env, resource) {
        record('updateActiveEnvironmentPath', { env: typeof env === 'string' ? env : env.path, resource: resourceText(resource) ?? null });
      },
      onDidChangeActiveEnvironmentPath: activeChanged.event,
      get known() {
        return environment ? [environment] : [];
      },
      onDidChangeEnvironments: envsChanged.event,
      async refreshEnvironments() {},
      async resolveEnvironment(env) {
        const resolved = matches(env) ? environment : undefined;
        record('resolveEnvironment', { env: typeof env === 'string' ? env : env?.path ?? null, executable: resolved ? executable : null });
        return resolved;
      },
      getEnvironmentVariables() {
        return {};
      },
      onDidEnvironmentVariablesChange: varsChanged.event,
    },
  };
}

function deactivate() {}

module.exports = { activate, deactivate };
