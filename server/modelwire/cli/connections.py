"""`modelwire connections …`: list, add, edit, remove, test, and the API key."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from modelwire.cli import format as fmt
from modelwire.cli.console import err, print_json
from modelwire.cli.context import default_connection_id, env_settings, requester, with_core
from modelwire.cli.exits import EXIT_NOT_FOUND, EXIT_OK, UsageError, exit_code_for

if TYPE_CHECKING:
    from modelwire.core.app import ModelWire


async def cmd_connections(args: argparse.Namespace) -> int:
    handlers: dict[str, Callable[[ModelWire, argparse.Namespace], Awaitable[int]]] = {
        "list": _conn_list,
        "add": _conn_add,
        "edit": _conn_edit,
        "remove": _conn_remove,
        "show": _conn_show,
        "test": _conn_test,
        "set-secret": _conn_set_secret,
        "delete-secret": _conn_delete_secret,
    }
    handler = handlers[args.action]
    return await with_core(lambda app: handler(app, args))


async def _conn_list(app: ModelWire, args: argparse.Namespace) -> int:
    settings = env_settings()
    conns = app.connections.list()
    default_id = default_connection_id(app, settings)
    if args.json:
        print_json(
            {
                "connections": [c.wire() for c in conns],
                "defaultConnectionId": default_id,
            }
        )
        return EXIT_OK
    if not conns:
        err("No connections. Add one with `modelwire connections add`.")
        return EXIT_OK
    rows = [
        [
            ("* " if c.id == default_id else "  ") + c.name,
            c.provider_id,
            c.base_url,
            c.default_model or "",
            "yes" if c.has_secret else "no",
        ]
        for c in conns
    ]
    print(fmt.table(["  NAME", "PROVIDER", "BASE URL", "DEFAULT MODEL", "KEY"], rows))
    if default_id is not None:
        err("* = used by `modelwire run` when no --connection is given")
    return EXIT_OK


async def _conn_add(app: ModelWire, args: argparse.Namespace) -> int:
    from modelwire.protocol import CreateConnectionParams

    params = CreateConnectionParams(
        name=args.name,
        provider_id=args.provider,
        base_url=args.base_url,
        default_model=args.default_model,
    )
    conn = app.connections.create(params)
    if args.json:
        print_json(conn.wire())
    else:
        print(f"Added connection {conn.name!r} ({conn.provider_id}, {conn.base_url}).")
    if app.providers.get(conn.provider_id).auth == "apiKey":
        err(f"Store its API key with: modelwire connections set-secret {fmt.quote(conn.name)}")
    return EXIT_OK


async def _conn_edit(app: ModelWire, args: argparse.Namespace) -> int:
    from modelwire.protocol import UpdateConnectionParams

    conn = app.connections.resolve(args.connection)
    changes: dict[str, Any] = {"id": conn.id}
    if args.name is not None:
        changes["name"] = args.name
    if args.base_url is not None:
        changes["base_url"] = args.base_url
    if args.default_model is not None:
        changes["default_model"] = args.default_model  # "" clears it
    if len(changes) == 1:
        raise UsageError("nothing to change: give --name, --base-url or --default-model")
    updated = app.connections.update(UpdateConnectionParams(**changes))
    if args.json:
        print_json(updated.wire())
    else:
        print(f"Updated connection {updated.name!r}.")
    return EXIT_OK


async def _conn_show(app: ModelWire, args: argparse.Namespace) -> int:
    """One connection's fields (never its key); a peer connection's public key, which a
    host puts on its allow-list (`modelwire share --allow KEY`)."""
    from modelwire.core import peer_keys

    conn = app.connections.resolve(args.connection)
    data = conn.wire()
    if app.providers.get(conn.provider_id).protocol == "peer":
        key = await asyncio.to_thread(peer_keys.ensure_seed, app.secrets, conn.id)
        from modelwire.p2p.identity import public_key

        data["publicKey"] = public_key(key).hex()
    if args.json:
        print_json(data)
        return EXIT_OK
    for name, value in data.items():
        print(f"{name + ':':<16}{value}")
    return EXIT_OK


async def _conn_remove(app: ModelWire, args: argparse.Namespace) -> int:
    conn = app.connections.resolve(args.connection)
    app.connections.delete(conn.id)
    print(f"Removed connection {conn.name!r}" + (" and its key." if conn.has_secret else "."))
    return EXIT_OK


async def _conn_test(app: ModelWire, args: argparse.Namespace) -> int:
    settings = env_settings()
    targets = (
        [app.connections.resolve(args.connection)] if args.connection else app.connections.list()
    )
    if not targets:
        err("No connections to test. Add one with `modelwire connections add`.")
        return EXIT_NOT_FOUND
    results = await asyncio.gather(
        *(app.test_connection(c.id, settings, requester()) for c in targets)
    )
    if args.json:
        print_json([r.wire() for r in results])
    worst = EXIT_OK
    for conn, health in zip(targets, results, strict=True):
        if not args.json:
            print(fmt.health_line(conn.name, health))
        if health.error:
            if not args.json:
                print(f"    hint: {health.error.get('hint') or '-'}  [{health.error.get('code')}]")
            worst = worst or exit_code_for(health.error.get("code"))
    return worst


def _read_secret(name: str) -> str:
    """From a hidden prompt on a terminal, else one line of stdin. Never an argument:
    argv is visible to every user of the machine and lands in shell history."""
    if sys.stdin.isatty():
        return getpass.getpass(f"API key for {name!r} (input hidden): ")
    return sys.stdin.readline().rstrip("\r\n")


async def _conn_set_secret(app: ModelWire, args: argparse.Namespace) -> int:
    conn = app.connections.resolve(args.connection)
    secret = _read_secret(conn.name)
    try:
        updated = await asyncio.to_thread(app.connections.set_secret, conn.id, secret, requester())
    finally:
        del secret
    backend, _ = app.secrets.backend_description()
    print(f"Stored the API key of {updated.name!r} in the OS keyring ({backend}).")
    return EXIT_OK


async def _conn_delete_secret(app: ModelWire, args: argparse.Namespace) -> int:
    conn = app.connections.resolve(args.connection)
    updated = await asyncio.to_thread(app.connections.delete_secret, conn.id, requester())
    print(f"Removed the API key of {updated.name!r}.")
    return EXIT_OK
