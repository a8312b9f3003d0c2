/**
 * Code actions on a review's findings (diagnostics with source "modelwire"): "Explain
 * this finding" runs Explain on the lines the finding covers; "Fix with ModelWire" runs
 * the `fix` agent on them with the finding as its prompt, and shows the answer's code as
 * a proposed edit in the diff editor (applied only on Accept). The commands take plain
 * arguments (uri, range) so the palette, tests and the quick-fix menu share them.
 */
import * as vscode from 'vscode';

export const EXPLAIN_FINDING = 'modelwire.explainFinding';
export const FIX_FINDING = 'modelwire.fixFinding';

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
      const fix = new vscode.CodeAction('ModelWire: Fix with ModelWire', vscode.CodeActionKind.QuickFix);
      fix.diagnostics = [diagnostic];
      fix.command = { command: FIX_FINDING, title: 'Fix with ModelWire', arguments: [document.uri.toString(), explain.command.arguments?.[1], diagnostic.message] };
      actions.push(fix);
    }
    return actions;
  }
}
