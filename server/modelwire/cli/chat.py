"""`modelwire chat [CONNECTION]`: the LocalLLM spec's chat client, for any connection.

Each prompt stands alone (the spec's chat is stateless); the transcript is what the
terminal shows. Ctrl-C stops the generation, not the program; `/clear` clears the
screen, `/quit` (or end of input) leaves. Everything the model or a peer sends is
printed through the CLI's terminal sanitiser (cli/terminal.py).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from modelwire.cli.console import err
from modelwire.cli.context import env_settings, pick_connection, requester, with_core
from modelwire.cli.exits import EXIT_OK
from modelwire.cli.format import error_text
from modelwire.cli.terminal import write_control
from modelwire.errors import ErrorCode, ModelWireError

if TYPE_CHECKING:
    from modelwire.core.app import ModelWire


def add_chat_parser(sub: argparse._SubParsersAction[Any]) -> None:
    chat = sub.add_parser("chat", help="chat with a connection's model in the terminal")
    chat.add_argument("connection", metavar="CONNECTION", nargs="?")
    chat.add_argument("--model", metavar="M", help="default: the connection's default model")


async def _read_line() -> str | None:
    line = await asyncio.to_thread(sys.stdin.readline)
    return None if line == "" else line.rstrip("\r\n")


async def cmd_chat(args: argparse.Namespace) -> int:
    async def body(app: ModelWire) -> int:
        from modelwire.adapters.base import ChatMessage, ChatRequest, Delta
        from modelwire.core.access import access_context
        from modelwire.p2p.text import plain

        settings = env_settings()
        conn = pick_connection(app, args.connection, settings)
        health = await app.test_connection(conn.id, settings, requester())
        if health.error:
            e = health.error
            raise ModelWireError(ErrorCode(e["code"]), e["message"], e.get("hint", ""))
        model = args.model or conn.default_model
        if model is None:
            models = await app.list_models(conn.id, settings, False, requester())
            model = models.models[0].id if models.models else "default"
        about = f" · {plain(health.version, 200)}" if health.version else ""
        err(f"── {conn.name} ({conn.provider_id}) · model {plain(model, 100)}{about}")
        err("Type a prompt. Ctrl-C stops an answer; /clear clears the screen; /quit leaves.")

        loop = asyncio.get_running_loop()
        current: list[asyncio.Task[None]] = []

        def on_interrupt() -> None:
            if current and not current[0].done():
                current[0].cancel()
            else:
                err("\n(/quit to leave)")

        async def answer(prompt: str) -> None:
            request = ChatRequest(model=model, messages=(ChatMessage("user", prompt),))
            last = "\n"
            with access_context(None, requester(), "chat"):
                async with (
                    app.backends.lease(conn, settings) as adapter,
                    aclosing(adapter.stream_chat(request)) as stream,
                ):
                    async for item in stream:
                        if isinstance(item, Delta):
                            # sys.stdout is the CLI's TerminalStream (cli/terminal.py): on
                            # a terminal it neutralises every control character.
                            text = item.text
                            if text:
                                sys.stdout.write(text)
                                sys.stdout.flush()
                                last = text[-1]
            if last != "\n":
                sys.stdout.write("\n")
                sys.stdout.flush()

        loop.add_signal_handler(signal.SIGINT, on_interrupt)
        try:
            while True:
                if sys.stdin.isatty():
                    sys.stderr.write("› ")
                    sys.stderr.flush()
                line = await _read_line()
                if line is None or line.strip() == "/quit":
                    return EXIT_OK
                if line.strip() == "/clear":
                    if sys.stdout.isatty():
                        write_control(sys.stdout, "\x1b[2J\x1b[H")
                        sys.stdout.flush()
                    continue
                if not line.strip():
                    continue
                task = loop.create_task(answer(line))
                current[:] = [task]
                try:
                    await task
                except asyncio.CancelledError:
                    sys.stdout.write("\n")
                    err("(stopped)")
                except ModelWireError as exc:
                    err(error_text(exc))
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    return await with_core(body)
