"""`modelwire models` and `modelwire pull`: what a connection offers, and downloads."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import TYPE_CHECKING, TextIO

from modelwire.cli import format as fmt
from modelwire.cli.console import err, print_json
from modelwire.cli.context import env_settings, pick_connection, requester, with_core
from modelwire.cli.exits import EXIT_CANCELLED, EXIT_OK
from modelwire.cli.terminal import write_control

if TYPE_CHECKING:
    from modelwire.core.app import ModelWire


async def cmd_models(args: argparse.Namespace) -> int:
    async def body(app: ModelWire) -> int:
        settings = env_settings()
        conn = pick_connection(app, args.connection, settings)
        result = await app.list_models(conn.id, settings, args.refresh, requester())
        if args.json:
            print_json(result.wire())
            return EXIT_OK
        rows = [
            [
                m.id + (" *" if m.id == conn.default_model else ""),
                fmt.size(m.size),
                m.parameter_size or "",
                m.quantization or "",
                fmt.local_datetime(m.modified_at),
            ]
            for m in result.models
        ]
        err(
            f"{conn.name} ({conn.provider_id}): {len(rows)} model(s)"
            + (" (cached; --refresh to re-query)" if result.cached else "")
        )
        if rows:
            print(fmt.table(["MODEL", "SIZE", "PARAMS", "QUANT", "MODIFIED"], rows))
        return EXIT_OK

    return await with_core(body)


class PullView:
    """A progress bar on stderr: redrawn in place on a terminal, else one line per
    step and per 10% of a layer, so logs stay short."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.live = err.isatty()
        self.status: str | None = None
        self.decile = -1
        self.drawn = False

    def __call__(self, status: str, completed: int | None, total: int | None) -> None:
        bar = fmt.progress_bar(completed, total)
        if self.live:
            if status != self.status and self.drawn:
                self.err.write("\n")  # each step keeps its own line; a bar redraws in place
            write_control(self.err, "\r\x1b[K")
            self.err.write(f"{status} {bar}".rstrip())
            self.drawn = True
        else:
            decile = (completed or 0) * 10 // total if total else -1
            if status != self.status or decile != self.decile:
                self.err.write(f"{status} {bar}".rstrip() + "\n")
            self.decile = decile
        self.status = status
        self.err.flush()

    def close(self) -> None:
        if self.drawn:
            self.err.write("\n")
            self.err.flush()
            self.drawn = False


async def cmd_pull(args: argparse.Namespace) -> int:
    async def body(app: ModelWire) -> int:
        settings = env_settings()
        conn = pick_connection(app, args.connection, settings)
        view = PullView(sys.stderr)
        err(f"Pulling {args.model} on {conn.name} ({conn.provider_id})")
        task = asyncio.ensure_future(app.pull_model(conn.id, args.model, settings, view))
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, task.cancel)
        try:
            result = await task
        except asyncio.CancelledError:
            view.close()
            err("Pull cancelled; Ollama keeps what it downloaded and resumes next time.")
            return EXIT_CANCELLED
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            view.close()
        print(f"Pulled {result.model} on {conn.name}: {result.status}.")
        return EXIT_OK

    return await with_core(body)
