"""P2P test support: a loopback-only network namespace with a local HyperDHT testnet.

Nothing here lets a Hyperswarm node reach beyond this machine:

- `P2PNet` starts a holder process in a new network namespace (`unshare -n`, lo up)
  and writes a `node` wrapper that enters that namespace (`nsenter -t HOLDER -n`);
  every Node process (testnet, bridges) runs through it;
- the testnet is three HyperDHT nodes on 127.0.0.1 inside that namespace;
- `env` sets MODELWIRE_P2P_BOOTSTRAP to the testnet and MODELWIRE_P2P_REQUIRE_ISOLATION=1,
  so a bridge that somehow ran elsewhere, or without a loopback bootstrap, refuses.

Python processes (the share host, sidecars, tests) stay outside the namespace: they
never load Hyperswarm, and they reach doubles and keyrings as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import select
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from modelwire.p2p import identity, wire
from modelwire.p2p.bridge import PACKAGE_DIR, Bridge

SHARE_COMMAND = [sys.executable, "-m", "modelwire", "share"]


def missing() -> str | None:
    """Why P2P tests cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (apt install nodejs)"
    if not (PACKAGE_DIR / "node_modules" / "hyperswarm").is_dir():
        return f"the bridge's node_modules are missing (npm ci --prefix {PACKAGE_DIR})"
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (util-linux / iproute2)"
    return None


def _readline(stream: Any, within: float) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        if ready:
            return str(stream.readline().decode())
    raise TimeoutError("no line in time")


class P2PNet:
    """A private loopback-only network and a HyperDHT testnet inside it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.holder: subprocess.Popen[bytes] | None = None
        self.testnet: subprocess.Popen[bytes] | None = None
        self.node = workdir / "node-in-netns"
        self.bootstrap = ""

    def start(self) -> P2PNet:
        root = os.geteuid() == 0
        unshare = ["unshare", "-n"] if root else ["unshare", "-r", "-n"]
        self.holder = subprocess.Popen(
            [*unshare, "--", "sh", "-c", "ip link set lo up && echo up && exec cat"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        if _readline(self.holder.stdout, 10).strip() != "up":
            raise RuntimeError("the network namespace did not come up")
        node = shutil.which("node")
        self.node.write_text(f'#!/bin/sh\nexec {" ".join(self.enter)} -- {node} "$@"\n')
        self.node.chmod(0o755)
        self.testnet = subprocess.Popen(
            [str(self.node), str(PACKAGE_DIR / "testnet.js")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.bootstrap = json.loads(_readline(self.testnet.stdout, 20))["bootstrap"]
        return self

    @property
    def enter(self) -> list[str]:
        """The command prefix that runs a program inside this namespace (`[*enter, "--", …]`)."""
        assert self.holder is not None, "start() first"
        if os.geteuid() == 0:
            return ["nsenter", "-t", str(self.holder.pid), "-n"]
        return ["nsenter", "-t", str(self.holder.pid), "-U", "-n", "--preserve-credentials"]

    @property
    def env(self) -> dict[str, str]:
        return {
            "MODELWIRE_P2P_NODE": str(self.node),
            "MODELWIRE_P2P_BOOTSTRAP": self.bootstrap,
            "MODELWIRE_P2P_REQUIRE_ISOLATION": "1",
        }

    def stop(self) -> None:
        for proc in (self.testnet, self.holder):
            if proc is None:
                continue
            with contextlib.suppress(Exception):
                assert proc.stdin is not None
                proc.stdin.close()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class ShareHost:
    """A `modelwire share` process; `server_id` is read from its stdout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.server_id = ""
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    @classmethod
    def start(cls, net: P2PNet, home: Path, args: list[str], *, within: float = 30) -> ShareHost:
        env = {**os.environ, **net.env, "MODELWIRE_HOME": str(home)}
        proc = subprocess.Popen(
            [*SHARE_COMMAND, "--no-qr", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        host = cls(proc)
        deadline = time.monotonic() + within
        try:
            while not host.server_id:
                line = host.read_line(max(0.1, deadline - time.monotonic()))
                if identity.parse_server_id(line) is not None:
                    host.server_id = line.strip()
            host.wait_for("Ready", within=max(1.0, deadline - time.monotonic()))
        except BaseException:
            host.stop()
            raise
        return host

    def read_line(self, within: float) -> str:
        try:
            line = self._queue.get(timeout=within)
        except queue.Empty:
            raise TimeoutError(
                f"share host said nothing in {within:.0f} s; saw {self.lines}"
            ) from None
        if line is None:
            self._queue.put(None)
            raise EOFError(f"share host exited; saw {self.lines}; stderr: {self.stderr()}")
        self.lines.append(line)
        return line

    def wait_for(self, text: str, within: float = 15) -> str:
        deadline = time.monotonic() + within
        for line in self.lines:
            if text in line:
                return line
        while True:
            line = self.read_line(max(0.05, deadline - time.monotonic()))
            if text in line:
                return line

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read()

    def bridge_pid(self) -> int | None:
        for child in _children(self.proc.pid):
            return child
        return None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return self.proc.wait()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


class RawPeer:
    """A protocol-level client: sends any line, sees every message (hostile tests)."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.peer_id: int | None = None
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.opened = asyncio.Event()
        self.closed = asyncio.Event()
        self.public_key = ""
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, server_id: str, seed: bytes | None = None) -> RawPeer:
        topic = identity.parse_server_id(server_id)
        assert topic is not None
        seed = seed or identity.new_seed()
        peer = cls(await Bridge.start("client", topic, seed))
        peer.public_key = identity.public_key(seed).hex()
        return peer

    async def _read(self) -> None:
        async for event in self.bridge.events():
            if event.kind == "open" and self.peer_id is None:
                self.peer_id = event.peer_id
                self.opened.set()
            elif event.kind == "line" and event.peer_id == self.peer_id:
                with contextlib.suppress(ValueError):
                    self.messages.put_nowait(json.loads(event.line))
            elif event.kind == "close" and event.peer_id == self.peer_id:
                self.closed.set()
        self.closed.set()

    async def wait_open(self, within: float = 15) -> None:
        await asyncio.wait_for(self.opened.wait(), within)

    def send(self, line: str) -> None:
        assert self.peer_id is not None
        self.bridge.send(self.peer_id, line)

    def chat_start(self, request_id: str, prompt: str = "hi") -> None:
        self.send(wire.encode(wire.CHAT_START, request_id, prompt=prompt))

    async def next(self, within: float = 15) -> dict[str, Any]:
        return await asyncio.wait_for(self.messages.get(), within)

    async def until(self, predicate: Any, within: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            message = await self.next(max(0.01, deadline - time.monotonic()))
            if predicate(message):
                return message

    async def stop(self) -> None:
        await self.bridge.stop()
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader
