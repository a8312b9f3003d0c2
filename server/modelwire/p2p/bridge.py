"""The Node bridge child process: spawn it, speak its NDJSON control protocol.

The bridge (js/bridge.js) is transport only. Everything it prints comes from peers in
the end, so its stdout is read with a line cap and parsed defensively; a bridge that
misbehaves is stopped, never trusted. Its stdin carries the start line (topic and key
seed: never on the command line, where `ps` would show them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from modelwire.errors import ErrorCode, ModelWireError
from modelwire.p2p import wire

log = logging.getLogger(__name__)

ENV_NODE = "MODELWIRE_P2P_NODE"
ENV_BRIDGE_DIR = "MODELWIRE_P2P_BRIDGE"
ENV_BOOTSTRAP = "MODELWIRE_P2P_BOOTSTRAP"
ENV_REQUIRE_ISOLATION = "MODELWIRE_P2P_REQUIRE_ISOLATION"
PACKAGE_DIR = Path(__file__).resolve().parent / "js"
# A bridge line wraps one peer line; JSON escaping can grow it six-fold.
EVENT_LINE_MAX = 6 * wire.LINE_MAX_BYTES + 4096
DEAD_PEER_MS = 12_000
WRITE_MAX_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # ready | open | line | oversize | close | refused | fatal | exit
    peer_id: int = 0
    peer: str = ""
    line: str = ""
    reason: str = ""


def user_bridge_dir() -> Path:
    """Where `modelwire p2p setup` installs the bridge: the data folder (MODELWIRE_HOME,
    else the platform's; the same rule as the store's, kept here so p2p needs no core)."""
    env = os.environ.get("MODELWIRE_HOME")
    if env:
        return Path(env).expanduser() / "p2p-bridge"
    from platformdirs import user_data_dir

    return Path(user_data_dir("modelwire", appauthor=False)) / "p2p-bridge"


def installed_dirs() -> list[Path]:
    """Where the bridge may be installed, in the order they are tried."""
    dirs = []
    if os.environ.get(ENV_BRIDGE_DIR):
        dirs.append(Path(os.environ[ENV_BRIDGE_DIR]))
    return [*dirs, PACKAGE_DIR, user_bridge_dir()]


def locate() -> tuple[str, Path]:
    """(node executable, bridge directory) or BRIDGE_UNAVAILABLE with the one fix."""
    node = os.environ.get(ENV_NODE) or shutil.which("node")
    if not node:
        raise ModelWireError(
            ErrorCode.BRIDGE_UNAVAILABLE,
            "Node.js is not installed; sharing over P2P runs Hyperswarm in Node.",
            "Install Node.js 18 or later (for example `apt install nodejs npm`), then run "
            "`modelwire p2p setup`.",
        )
    for directory in installed_dirs():
        if (directory / "bridge.js").is_file() and (
            directory / "node_modules" / "hyperswarm"
        ).is_dir():
            return node, directory
    raise ModelWireError(
        ErrorCode.BRIDGE_UNAVAILABLE,
        "The P2P bridge's Node packages are not installed.",
        "Run `modelwire p2p setup` once (it runs `npm ci` for the pinned Hyperswarm).",
    )


class Bridge:
    """One running bridge process."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self.public_key = ""

    @classmethod
    async def start(
        cls,
        mode: str,
        topic: bytes,
        seed: bytes,
        *,
        allow: list[str] | None = None,
        max_clients: int = wire.MAX_CLIENTS,
        full_line: str = "",
        timeout_ms: int = DEAD_PEER_MS,
    ) -> Bridge:
        node, directory = locate()
        try:
            proc = await asyncio.create_subprocess_exec(
                node,
                str(directory / "bridge.js"),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=None,
                limit=EVENT_LINE_MAX,
                cwd=str(directory),
            )
        except OSError as exc:
            raise ModelWireError(
                ErrorCode.BRIDGE_UNAVAILABLE,
                f"Could not start the P2P bridge ({exc.strerror or exc}).",
                f"Check {ENV_NODE} or that `node` runs.",
            ) from None
        bridge = cls(proc)
        bridge._control(
            {
                "op": "start",
                "mode": mode,
                "topic": topic.hex(),
                "seed": seed.hex(),
                "allow": allow,
                "maxClients": max_clients,
                "fullLine": full_line,
                "lineMax": wire.LINE_MAX_BYTES,
                "timeoutMs": timeout_ms,
                "writeMax": WRITE_MAX_BYTES,
            }
        )
        return bridge

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _control(self, message: dict[str, object]) -> None:
        stdin = self._proc.stdin
        if stdin is None or stdin.is_closing():
            return
        stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def send(self, peer_id: int, line: str) -> None:
        self._control({"op": "send", "id": peer_id, "line": line})

    def end(self, peer_id: int) -> None:
        self._control({"op": "end", "id": peer_id})

    async def events(self) -> AsyncIterator[Event]:
        """Bridge events until it exits; the last one is `exit` (or `fatal`)."""
        stdout = self._proc.stdout
        assert stdout is not None
        while True:
            try:
                raw = await stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                log.error("the P2P bridge printed an over-long line; stopping it")
                await self.stop()
                yield Event("exit", reason="bridge line too long")
                return
            if not raw:
                code = await self._proc.wait()
                yield Event("exit", reason=f"bridge exited with {code}")
                return
            event = _parse_event(raw)
            if event is not None:
                yield event

    async def stop(self, within: float = 3.0) -> None:
        """Close stdin (the bridge exits on EOF, capped at 2 s), then kill if needed."""
        stdin = self._proc.stdin
        if stdin is not None and not stdin.is_closing():
            with contextlib.suppress(Exception):
                stdin.close()
        try:
            await asyncio.wait_for(self._proc.wait(), within)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            await self._proc.wait()


def _parse_event(raw: bytes) -> Event | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    kind = data.get("ev")
    peer_id = data.get("id", 0)
    if not isinstance(kind, str) or not isinstance(peer_id, int):
        return None

    def text(name: str, cap: int) -> str:
        value = data.get(name, "")
        return value[:cap] if isinstance(value, str) else ""

    if kind == "line":
        return Event(kind, peer_id, line=text("line", wire.LINE_MAX_BYTES + 1))
    if kind in ("ready", "open", "refused"):
        key = text("publicKey" if kind == "ready" else "peer", 64)
        return Event(kind, peer_id, peer=key, reason=text("reason", 40))
    if kind in ("close", "oversize"):
        return Event(kind, peer_id, reason=text("reason", 40))
    if kind == "fatal":
        return Event(kind, reason=f"{text('code', 40)}: {text('message', 500)}")
    return None
