/**
 * What the run path needs from VS Code, as interfaces: the editor it runs on, where its
 * answer is shown, the output channel, commands and one-time flags. vscodeapi.ts and
 * runPanels.ts implement them with the real API; the unit tests with fakes. No vscode import.
 */
import { Range } from './protocol';
import { RunView } from './runView';

/** The file (and selection) a run is about: the active editor, when it is a real file. */
export interface EditorTarget {
  uri: string;
  /** Empty selections are `undefined`. */
  selection?: Range;
  folder?: { uri: string; name: string };
}

/** Where a run's answer is shown and followed as it streams. */
export interface RunOutput {
  /** An output given in RunOptions learns the view it shows here (panels get it at open). */
  bind?(view: RunView): void;
  /** The view changed: redraw soon (`now`: at once, e.g. when the run ended). */
  update(now?: boolean): void;
  /** Called once when the user closes the run's panel or document. */
  onClosed(listener: () => void): void;
}

export interface RunOutputs {
  /** Show a run; a later run of the same (file, agent) reuses its panel. */
  open(view: RunView, key: string): RunOutput;
}

/** The "ModelWire" output channel, as far as runs use it. */
export interface LineLog {
  appendLine(line: string): void;
  show(preserveFocus: boolean): void;
}

export interface RunHost {
  activeEditor(): EditorTarget | undefined;
  executeCommand(command: string, ...args: unknown[]): Promise<unknown>;
  /** True the first time it is asked for `key` in this installation, then false. */
  firstTime(key: string): boolean;
  /** Run `tick` every second until the returned function is called (progress counters). */
  every(ms: number, tick: () => void): () => void;
}
