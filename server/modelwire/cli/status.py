"""`modelwire runs`, `status` and `doctor`: what happened, and what is set up."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from modelwire.cli import format as fmt
from modelwire.cli.console import print_json
from modelwire.cli.context import (
    ENV_CONNECTION,
    default_connection_id,
    env_settings,
    requester,
    with_core,
)
from modelwire.cli.exits import EXIT_FAILURE, EXIT_OK
from modelwire.cli.p2p import bridge_check

if TYPE_CHECKING:
    from modelwire.core.app import ModelWire


async def cmd_status(args: argparse.Namespace) -> int:
    async def body(app: ModelWire) -> int:
        status = await asyncio.to_thread(app.status)
        if args.json:
            print_json(status.wire())
            return EXIT_OK
        secure = "secure" if status.keyring_secure else "NOT USABLE"
        print(f"modelwire {status.version}")
        print(f"keyring:     {status.keyring_backend} ({secure})")
        print(f"storage:     {status.storage_path}")
        if status.storage_error:
            print(f"             NOT SAVED: {status.storage_error}")
        print(f"connections: {len(app.connections.list())}")
        print(
            f"runs:        {status.active_runs} active, {status.queued_runs} queued "
            "(every process on this data folder)"
        )
        for load in status.connections:
            print(
                f"  {load.connection_name}: {load.active} active, {load.queued} "
                f"queued (limit {load.limit}, queue {load.queue_limit})"
            )
        return EXIT_OK

    return await with_core(body)


async def cmd_doctor(args: argparse.Namespace) -> int:
    async def body(app: ModelWire) -> int:
        from modelwire.adapters.embedded import embedded_status

        status = await asyncio.to_thread(app.status)
        problems = 0

        def check(ok: bool, text: str, fix: str = "") -> None:
            nonlocal problems
            problems += 0 if ok else 1
            print(f"{'ok  ' if ok else 'FAIL'} {text}")
            if fix and not ok:
                print(f"     fix: {fix}")

        check(
            status.keyring_secure,
            f"keyring backend {status.keyring_backend}",
            "run a Secret Service (gnome-keyring, KWallet) in this session, or see "
            "docs/security.md; API keys cannot be stored until then",
        )
        check(
            status.storage_error is None,
            f"storage {status.storage_path}"
            + (f": {status.storage_error}" if status.storage_error else ""),
            "make the folder writable or point MODELWIRE_HOME elsewhere",
        )
        embedded_ok, why = embedded_status()
        check(embedded_ok, f"embedded model: {why}", "scripts/setup --embedded")
        settings = env_settings()
        conns = app.connections.list()
        bridge_ok, bridge_text, bridge_fix = bridge_check()
        if bridge_ok or any(c.provider_id == "peer" for c in conns):
            check(bridge_ok, bridge_text, bridge_fix)
        else:  # only sharing needs it: a note, not a failure
            print(f"note {bridge_text}\n     to share or use shared models: {bridge_fix}")
        if not conns:
            check(
                False,
                "no connections",
                "modelwire connections add … (or install the embedded model)",
            )
        results = await asyncio.gather(
            *(app.test_connection(c.id, settings, requester()) for c in conns)
        )
        for conn, health in zip(conns, results, strict=True):
            line = fmt.health_line(conn.name, health).split(" ", 1)[1].lstrip()
            check(
                health.reachable and not health.error,
                f"connection {line}",
                str((health.error or {}).get("hint") or ""),
            )
        default_id = default_connection_id(app, settings)
        default = next((c.name for c in conns if c.id == default_id), None)
        check(
            default is not None,
            f"default connection for runs: {default or 'none'}",
            f"pass --connection, or set {ENV_CONNECTION}",
        )
        return EXIT_OK if problems == 0 else EXIT_FAILURE

    return await with_core(body)
