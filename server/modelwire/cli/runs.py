"""`modelwire runs` and `modelwire runs show ID`: run history as a tree.

An orchestrator's child runs are listed under it; `show` prints one run with its steps
(each child's routing line under the step that started it), the output, and with
`--requests` the exact model requests it made. Step targets, summaries and output come
from models: the CLI's terminal guard (cli/terminal.py) shows their control characters
as visible stand-ins on a terminal.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from modelwire.cli import format as fmt
from modelwire.cli.console import err, print_json
from modelwire.cli.context import with_core
from modelwire.cli.exits import EXIT_OK
from modelwire.protocol import RunRecord, RunStep

if TYPE_CHECKING:
    from modelwire.core.app import ModelWire

MAX_DEPTH_SHOWN = 8


def _tree(app: ModelWire, roots: list[RunRecord]) -> list[tuple[int, RunRecord]]:
    """(depth, record) in display order: each run followed by its children."""
    ordered: list[tuple[int, RunRecord]] = []
    by_parent: dict[str, list[RunRecord]] = {}
    level = [r.run_id for r in roots]
    for _ in range(MAX_DEPTH_SHOWN):
        children = app.runs.children(level)
        if not children:
            break
        for child in children:
            by_parent.setdefault(child.parent_run_id or "", []).append(child)
        level = [c.run_id for c in children]

    def visit(record: RunRecord, depth: int) -> None:
        ordered.append((depth, record))
        for child in by_parent.get(record.run_id, []):
            visit(child, depth + 1)

    for root in roots:
        visit(root, 0)
    return ordered


def _row(depth: int, r: RunRecord) -> list[str]:
    agent = ("  " * (depth - 1) + "└ " if depth else "") + r.agent_id
    return [
        r.run_id[:8],
        fmt.local_clock(r.timings.queued_at),
        agent,
        fmt.file_label(r.uri),
        fmt.routing_target(r),
        r.routing.source if r.routing else "",
        fmt.seconds(r.timings.first_token_ms),
        fmt.seconds(r.timings.total_ms),
        fmt.outcome(r),
    ]


async def cmd_runs(args: argparse.Namespace) -> int:
    if getattr(args, "runs_action", None) == "show":
        return await cmd_runs_show(args)

    async def body(app: ModelWire) -> int:
        records = app.runs.list(args.last)
        if args.json:
            print_json([r.wire() for r in records])
            return EXIT_OK
        shown = {r.run_id for r in records}
        # A child whose parent is in the list is shown under it, not on its own.
        roots = [r for r in reversed(records) if r.parent_run_id not in shown]
        rows = [_row(depth, r) for depth, r in _tree(app, roots)]
        if not rows:
            err("No runs yet. Try: modelwire run explain <file>")
            return EXIT_OK
        headers = ["ID", "TIME", "AGENT", "FILE", "ROUTED TO", "SOURCE", "FIRST", "TOTAL", "STATUS"]
        print(fmt.table(headers, rows))
        return EXIT_OK

    return await with_core(body)


def step_line(step: RunStep) -> str:
    """`2. run_agent review · ok · 1.2 s · review: 180 characters`."""
    parts = [f"{step.index}. {step.tool} {step.target}".rstrip(), step.outcome]
    if step.error_code:
        parts[-1] += f" ({step.error_code})"
    if step.duration_ms is not None:
        parts.append(fmt.seconds(step.duration_ms))
    if step.summary and step.outcome == "ok":
        parts.append(step.summary)
    elif step.summary and step.outcome == "error":
        parts.append(step.summary.removeprefix(f"error {step.error_code}: "))
    return f" {fmt.DOT} ".join(parts)


def run_tree_lines(
    app: ModelWire, record: RunRecord, indent: str = "", mark: str = ""
) -> list[str]:
    """A run's routing line, then its steps, each child's tree under its step."""
    lines = [indent + mark + fmt.routing_line(record)]
    if record.parent_run_id:
        lines[0] += f" {fmt.DOT} child of {record.parent_run_id[:8]} (step {record.parent_step})"
    children = {c.run_id: c for c in app.runs.children([record.run_id])}
    for step in record.steps or []:
        lines.append(f"{indent}  {step_line(step)}")
        child = children.get(step.child_run_id or "")
        if child is not None and len(indent) < 2 * MAX_DEPTH_SHOWN:
            lines.extend(run_tree_lines(app, app.runs.get(child.run_id), indent + "     ", "└ "))
    return lines


async def cmd_runs_show(args: argparse.Namespace) -> int:
    async def body(app: ModelWire) -> int:
        record = app.runs.get(_full_id(app, args.run_id))
        requests = app.runs.requests_of(record.run_id) if args.requests else []
        if args.json:
            doc = record.wire()
            if args.requests:
                doc["requests"] = [r.wire() for r in requests]
            print_json(doc)
            return EXIT_OK
        print("\n".join(run_tree_lines(app, record)))
        if record.error_message:
            print(f"error: {record.error_message}")
        if record.output:
            print("--- output")
            print(record.output.rstrip("\n"))
        for entry in requests:
            where = entry.connection_id or "?"
            print(
                f"--- request {entry.seq} {fmt.DOT} {fmt.local_datetime(entry.sent_at)} "
                f"{fmt.DOT} connection {where} {fmt.DOT} {entry.body_bytes} bytes"
            )
            if entry.body is not None:
                print(json.dumps(entry.body, indent=2, ensure_ascii=False))
            else:
                print((entry.truncated_body or "") + "\n(truncated)")
        if args.requests and not requests:
            err("No model requests are stored for this run (none sent, or pruned).")
        return EXIT_OK

    return await with_core(body)


def _full_id(app: ModelWire, given: str) -> str:
    """A run id, or a unique prefix of one among the recent runs (as `runs` shows)."""
    if app.runs.exists(given):
        return given
    matches = [r.run_id for r in app.runs.list(1000) if r.run_id.startswith(given)]
    return matches[0] if len(matches) == 1 else given
