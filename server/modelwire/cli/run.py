"""`modelwire run AGENT FILE`: one run, streamed, with Ctrl-C cancelling it."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelwire.cli import format as fmt
from modelwire.cli.console import err
from modelwire.cli.context import consent_once, env_settings, requester, with_core
from modelwire.cli.exits import EXIT_CANCELLED, EXIT_OK, UsageError, exit_code_for
from modelwire.cli.run_view import RunView
from modelwire.cli.terminal import RESET, write_control
from modelwire.errors import ModelWireError

if TYPE_CHECKING:
    from modelwire.core.agents import Agent, Finding
    from modelwire.core.app import ModelWire
    from modelwire.protocol import Range, RunRecord


def parse_selection(text: str) -> Range:
    """`START:END`, 1-based inclusive lines, as an LSP range over whole lines."""
    from modelwire.protocol import Position, Range

    start_s, sep, end_s = text.partition(":")
    try:
        start = int(start_s)
        end = int(end_s) if sep else start
    except ValueError:
        raise UsageError(f"--selection must be START:END line numbers (got {text!r})") from None
    if start < 1 or end < start:
        raise UsageError(f"--selection needs 1 <= START <= END (got {text!r})")
    # The end character is past any line's end, so the last line is taken whole.
    return Range(
        start=Position(line=start - 1, character=0),
        end=Position(line=end - 1, character=2**31 - 1),
    )


async def cmd_run(args: argparse.Namespace) -> int:
    rng = parse_selection(args.selection) if args.selection else None
    path = Path(args.file)
    label = f"{args.agent} {path.name}"

    async def body(app: ModelWire) -> int:
        from modelwire.core.runs import RunContext, RunRequest

        settings = env_settings()
        connection_id = app.connections.resolve(args.connection).id if args.connection else None
        view = RunView(sys.stdout, sys.stderr, label)
        findings: list[Finding] = []

        def collect(uri: str, found: list[Finding], agent: Agent) -> None:
            findings.extend(found)

        ctx = RunContext(
            requester=requester(),
            settings=settings,
            folder=Path.cwd(),
            emit=view,
            consent=consent_once,
            publish_diagnostics=collect,
        )
        request = RunRequest(
            agent_id=args.agent,
            uri=path.absolute().as_uri(),  # noqa: ASYNC240 - a getcwd, not file I/O
            range=rng,
            connection_id=connection_id,
            model_ref=args.model or None,
        )
        task = asyncio.ensure_future(app.runs.start(request, ctx))
        cancelled = _cancel_on_signals(task, view)
        ticker = asyncio.ensure_future(_tick(view)) if view.live else None
        error: ModelWireError | None = None
        try:
            await task
        except asyncio.CancelledError:
            if not cancelled:
                raise
        except ModelWireError as exc:
            error = exc
        finally:
            if ticker is not None:
                ticker.cancel()
            _restore_signals()
            view.clear()
            view.finish_text()
        if findings:
            if view.text_started:
                print()
            print("\n".join(fmt.finding_lines(args.file, findings)), flush=True)
        if view.notice:
            err(f"note: {view.notice}")
        record: RunRecord | None = None
        if view.run_id is not None:
            with suppress(ModelWireError):
                record = app.runs.get(view.run_id)
        if record is not None:
            if sys.stderr.isatty():
                # Whatever the answer managed to set, the routing line is plain.
                write_control(sys.stderr, RESET)
            if record.steps:  # an orchestrator: its steps and child runs as a tree
                from modelwire.cli.runs import run_tree_lines

                err("\n".join(run_tree_lines(app, record)))
            else:
                err(fmt.routing_line(record))
        if cancelled:
            return EXIT_CANCELLED
        if error is not None:
            err(fmt.error_text(error))
            return exit_code_for(error.code)
        return EXIT_OK

    return await with_core(body)


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _cancel_on_signals(task: asyncio.Future[Any], view: RunView) -> list[int]:
    """First Ctrl-C (or SIGTERM) cancels the run, which the core records as cancelled;
    a second one exits at once. Returns the list the caught signals are appended to."""
    loop = asyncio.get_running_loop()
    caught: list[int] = []

    def on_signal(signum: int) -> None:
        if caught:
            os._exit(EXIT_CANCELLED)
        caught.append(signum)
        view.clear()
        err("modelwire: cancelling the run (press Ctrl-C again to quit at once)")
        task.cancel()

    for signum in _SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    return caught


def _restore_signals() -> None:
    loop = asyncio.get_running_loop()
    for signum in _SIGNALS:
        loop.remove_signal_handler(signum)


async def _tick(view: RunView) -> None:
    while not view.text_started:
        await asyncio.sleep(0.1)
        view.redraw()
