/** Fakes for the run path: an editor host, outputs that record what they showed, a log. */
import { EditorTarget, LineLog, RunHost, RunOutput, RunOutputs } from '../src/runHost';
import { RunView } from '../src/runView';

export class FakeHost implements RunHost {
  readonly commands: string[] = [];
  private readonly seen = new Set<string>();
  constructor(public editor: EditorTarget | undefined) {}
  activeEditor() {
    return this.editor;
  }
  async executeCommand(command: string) {
    this.commands.push(command);
    return undefined;
  }
  firstTime(key: string) {
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    return true;
  }
  every() {
    return () => {};
  }
}

export class FakeOutputs implements RunOutputs {
  readonly opened: Array<{ key: string; view: RunView; close: () => void }> = [];
  open(view: RunView, key: string): RunOutput {
    const listeners: Array<() => void> = [];
    this.opened.push({ key, view, close: () => listeners.forEach((l) => l()) });
    return { update() {}, onClosed: (l) => listeners.push(l) };
  }
}

export class FakeLog implements LineLog {
  readonly lines: string[] = [];
  appendLine(line: string) {
    this.lines.push(line);
  }
  show() {}
}
