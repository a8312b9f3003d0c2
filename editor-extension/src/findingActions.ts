/**
 * Code actions on a review's findings (diagnostics with source "modelwire"): "Explain
 * this finding" runs Explain on the lines the finding covers. The commands take plain
 * arguments (uri, range) so the palette, tests and the quick-fix menu share them.
 */
import * as vscode from 'vscode';

export const EXPLAIN_FINDING = 'modelwire.explainFinding';

export class FindingActions implements vscode.CodeActionProvider {
  static readonly kinds = [vscode.CodeActionKind.QuickFix];

  provideCodeActions(document: vscode.TextDocument, _range: vscode.Range, context: vscode.CodeActionContext): vscode.CodeAction[] {
    const actions: vscode.CodeAction[] = [];
    for (const diagnostic of context.diagnostics) {
      if (diagnostic.source !== 'modelwire') continue;
      const explain = new vscode.CodeAction('ModelWire: Explain this finding', vscode.CodeActionKind.QuickFix);
      explain.diagnostics = [diagnostic];
      const r = diagnostic.range;
      explain.command = {
        command: EXPLAIN_FINDING,
        title: 'Explain this finding',
        arguments: [document.uri.toString(), { start: { line: r.start.line, character: 0 }, end: { line: r.end.line, character: r.end.character } }],
      };
      actions.push(explain);
    }
    return actions;
  }
}
