"""`modelwire share`: host a local connection's model (or one agent on it) over P2P.

stdout: the Server ID on a line of its own, then one line per state change, client
event and served prompt (the routing line with the client's short key). stderr: the
explanation and the QR code. Ctrl-C (or SIGTERM) stops sharing; clients see
HOST_DISCONNECTED.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelwire.cli import format as fmt
from modelwire.cli.console import err
from modelwire.cli.context import env_settings, pick_connection, requester, with_core
from modelwire.cli.exits import EXIT_OK, UsageError
from modelwire.errors import ErrorCode, ModelWireError

if TYPE_CHECKING:
    from modelwire.core.app import ModelWire
    from modelwire.protocol import Connection


def add_share_parser(sub: argparse._SubParsersAction[Any]) -> None:
    share = sub.add_parser(
        "share", help="share a local connection's model with remote peers (P2P, Server ID)"
    )
    share.add_argument("connection", metavar="CONNECTION", nargs="?")
    share.add_argument("--model", metavar="M", help="default: the connection's default model")
    share.add_argument("--agent", metavar="A", help="apply this agent to every prompt")
    share.add_argument("--name", metavar="NAME", help="display name (default: host name)")
    share.add_argument(
        "--allow",
        metavar="PUBKEY",
        nargs="+",
        action="extend",
        help="serve only these client public keys (`modelwire connections show` on theirs)",
    )
    share.add_argument("--no-qr", action="store_true", help="do not draw the QR code")


def parse_allow(keys: list[str] | None) -> list[str] | None:
    from modelwire.p2p.identity import is_public_key_hex

    if not keys:
        return None
    cleaned = [k.strip().lower() for k in keys]
    for key in cleaned:
        if not is_public_key_hex(key):
            raise UsageError(f"--allow takes 64-character hex public keys (got {key[:70]!r})")
    return cleaned


def print_qr(text: str) -> None:
    try:
        import segno
    except ImportError:  # optional: the Server ID line is what matters
        return
    segno.make(text, error="m").terminal(out=sys.stderr, compact=True)


def _stamp() -> str:
    return time.strftime("%H:%M:%S")


async def _model_for(app: ModelWire, conn: Connection, wanted: str | None) -> str:
    if wanted:
        return wanted
    if conn.default_model:
        return conn.default_model
    result = await app.list_models(conn.id, env_settings(), False, requester())
    if not result.models:
        raise ModelWireError(
            ErrorCode.MODEL_NOT_FOUND,
            f"Connection {conn.name!r} has no model to share.",
            "Pass --model, or pull a model first.",
            connection_id=conn.id,
        )
    return result.models[0].id


async def cmd_share(args: argparse.Namespace) -> int:
    allow = parse_allow(args.allow)

    async def body(app: ModelWire) -> int:
        from modelwire.core.share import ShareServer, check_shareable
        from modelwire.p2p.host import HostInfo
        from modelwire.p2p.serve import serve_share
        from modelwire.p2p.text import plain

        settings = env_settings()
        conn = pick_connection(app, args.connection, settings)
        check_shareable(app, conn)
        model = await _model_for(app, conn, args.model)
        agent = app.agents.get(args.agent, Path.cwd()) if args.agent else None
        name = plain(args.name or socket.gethostname() or "ModelWire host", 100)

        def report(line: str) -> None:
            print(f"[{_stamp()}] {line}", flush=True)

        def on_ready(server_id: str) -> None:
            what = f"{conn.name} · {model}" + (f" · agent {agent.id}" if agent else "")
            err(f"Sharing {what} as {name!r}.")
            err("Server ID (anyone who has it can use this model; share it privately):")
            print(server_id, flush=True)
            if not args.no_qr:
                print_qr(server_id)
            if allow:
                err(f"Only {len(allow)} allow-listed client key(s) are served.")
            err("Ctrl-C stops sharing.")

        def on_served(run_id: str, key: str) -> None:
            try:
                record = app.runs.get(run_id)
            except ModelWireError:
                return
            print(f"[{_stamp()}] client {key[:8]} {fmt.routing_line(record)}", flush=True)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            server = ShareServer(app, conn, model, agent, settings, on_served)
            info = HostInfo(name, model, agent.id if agent else None)
            await serve_share(server, info, report, on_ready, stop, allow)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        return EXIT_OK

    return await with_core(body)
