"""`modelwire p2p setup`: install the P2P bridge's pinned Node packages (one step for a
pip user), and the P2P lines of `modelwire doctor`."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
from typing import Any

from modelwire.cli.console import err
from modelwire.cli.exits import EXIT_FAILURE, EXIT_OK

BRIDGE_FILES = ("bridge.js", "isolation.js", "testnet.js", "package.json", "package-lock.json")


def add_p2p_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p2p = sub.add_parser("p2p", help="P2P sharing support (the Node bridge)")
    actions = p2p.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "setup", help="install the bridge's pinned Hyperswarm packages (npm ci; needs Node)"
    )


def _install() -> int:
    from modelwire.p2p.bridge import PACKAGE_DIR, user_bridge_dir

    npm = shutil.which("npm")
    if npm is None:
        err("npm is not installed: install Node.js 18+ with npm, then run this again.")
        return EXIT_FAILURE
    target = user_bridge_dir()
    target.mkdir(parents=True, exist_ok=True)
    for name in BRIDGE_FILES:
        shutil.copyfile(PACKAGE_DIR / name, target / name)
    err(f"Installing the P2P bridge in {target} (npm ci, pinned versions)…")
    done = subprocess.run(
        [npm, "ci", "--omit=dev", "--no-audit", "--no-fund"], cwd=target, check=False
    )
    if done.returncode != 0:
        err("npm ci failed; see its output above.")
        return EXIT_FAILURE
    err("The P2P bridge is installed: `modelwire share` and peer connections work.")
    return EXIT_OK


async def cmd_p2p(args: argparse.Namespace) -> int:
    return await asyncio.to_thread(_install)


def bridge_check() -> tuple[bool, str, str]:
    """(ok, what, fix) for `modelwire doctor`."""
    from modelwire.errors import ModelWireError
    from modelwire.p2p.bridge import locate

    try:
        node, directory = locate()
    except ModelWireError as exc:
        return False, f"P2P bridge: {exc.message}", exc.hint
    return True, f"P2P bridge: {directory} (node {node})", ""
