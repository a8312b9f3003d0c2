/**
 * A code block from an answer, applied to the user's file only when they accept: the
 * change is shown in VS Code's diff editor (the file against a read-only proposal on the
 * `modelwire-proposal:` scheme), then Accept applies it as one WorkspaceEdit (undoable),
 * Reject or dismissing leaves the file as it is. A file changed meanwhile is not
 * overwritten: the proposal is refused and can be made again.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Range } from './protocol';

export const PROPOSAL_SCHEME = 'modelwire-proposal';
export const ACCEPT = 'Accept';
export const REJECT = 'Reject';

/** Fit a block to the text it replaces: one trailing newline only if that text had one. */
export function fitReplacement(code: string, replaced: string): string {
  const body = code.replace(/\n$/, '');
  return replaced.endsWith('\n') ? `${body}\n` : body;
}

export class Proposals implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly texts = new Map<string, string>();
  private counter = 0;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? '';
  }

  private async document(uri: string | undefined): Promise<vscode.TextDocument | undefined> {
    if (!uri) {
      void vscode.window.showWarningMessage('ModelWire: this answer is not tied to a file.');
      return undefined;
    }
    return vscode.workspace.openTextDocument(vscode.Uri.parse(uri));
  }

  /** The file's editor, opened in the first column if it is not visible. */
  private async editorFor(doc: vscode.TextDocument): Promise<vscode.TextEditor> {
    const visible = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === doc.uri.toString());
    return visible ?? vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.One, preserveFocus: false });
  }

  async insertAtCursor(uri: string | undefined, code: string): Promise<void> {
    const doc = await this.document(uri);
    if (!doc) return;
    const editor = await this.editorFor(doc);
    await editor.edit((b) => b.insert(editor.selection.active, code));
  }

  /**
   * Where Apply replaces: the range the run was about (Document's selection), else the
   * editor's current selection, else the whole file.
   */
  private target(doc: vscode.TextDocument, range: Range | undefined): vscode.Range {
    if (range) {
      return doc.validateRange(new vscode.Range(range.start.line, range.start.character, range.end.line, range.end.character));
    }
    const editor = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === doc.uri.toString());
    if (editor && !editor.selection.isEmpty) return editor.selection;
    return new vscode.Range(doc.positionAt(0), doc.positionAt(doc.getText().length));
  }

  async propose(uri: string | undefined, range: Range | undefined, code: string): Promise<boolean> {
    const doc = await this.document(uri);
    if (!doc) return false;
    const target = this.target(doc, range);
    const version = doc.version;
    const replacement = fitReplacement(code, doc.getText(target));
    const full = doc.getText();
    const proposed = full.slice(0, doc.offsetAt(target.start)) + replacement + full.slice(doc.offsetAt(target.end));
    const name = path.basename(doc.uri.path);
    const proposal = vscode.Uri.from({ scheme: PROPOSAL_SCHEME, path: doc.uri.path, query: String(++this.counter) });
    this.texts.set(proposal.toString(), proposed);
    try {
      await vscode.commands.executeCommand('vscode.diff', doc.uri, proposal, `${name} ↔ ModelWire proposal`, { preview: true, viewColumn: vscode.ViewColumn.One });
      // Modal: the diff stays in view behind it, and nothing else can touch the file meanwhile.
      const choice = await vscode.window.showInformationMessage(
        `ModelWire: apply the proposed change to ${name}?`,
        { modal: true, detail: 'The diff shows the change. Accept applies it as one edit (undo with Ctrl+Z); Reject leaves the file as it is.' },
        ACCEPT,
        REJECT,
      );
      await this.closeDiff(proposal);
      if (choice !== ACCEPT) {
        void vscode.window.setStatusBarMessage(`ModelWire: ${name} left unchanged`, 4000);
        return false;
      }
      if (doc.version !== version) {
        void vscode.window.showWarningMessage(`ModelWire: ${name} changed while the proposal was open; nothing was applied. Apply again to see a fresh diff.`);
        return false;
      }
      const edit = new vscode.WorkspaceEdit();
      edit.replace(doc.uri, target, replacement);
      const applied = await vscode.workspace.applyEdit(edit);
      if (applied) void vscode.window.setStatusBarMessage(`ModelWire: applied to ${name} (undo with Ctrl+Z)`, 4000);
      return applied;
    } finally {
      this.texts.delete(proposal.toString());
    }
  }

  private async closeDiff(proposal: vscode.Uri): Promise<void> {
    for (const group of vscode.window.tabGroups.all) {
      for (const tab of group.tabs) {
        if (tab.input instanceof vscode.TabInputTextDiff && tab.input.modified.toString() === proposal.toString()) {
          await vscode.window.tabGroups.close(tab);
        }
      }
    }
  }

  dispose(): void {
    this.texts.clear();
  }
}
