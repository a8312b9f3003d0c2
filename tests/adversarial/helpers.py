"""Shared pieces of the adversarial suite: a sidecar over raw pipes, a workspace, bounds.

The suite drives `python -m modelwire serve` through `testkit.sidecar.Sidecar` (a minimal
JSON-RPC client) rather than pytest-lsp: it must see every byte on stdout, send
malformed frames, close stdin and SIGKILL the process at will.
"""

# Bounded waits are explicit per call here.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testkit.sidecar import RpcError, Sidecar, proc_children

from tests.conftest import require_peer

DOC_TEXT = "def add(a, b):\n    return a + b\n"
# Anything that is not loopback goes to a closed loopback port: a fuzzed or hostile
# base URL can never make the sidecar talk to the network (it honours proxies for
# non-loopback hosts; Ollama ignores them but is loopback-only anyway).
NO_EGRESS_PROXY = "http://127.0.0.1:9"
SAFE_ENV = {
    "HTTP_PROXY": NO_EGRESS_PROXY,
    "HTTPS_PROXY": NO_EGRESS_PROXY,
    "ALL_PROXY": NO_EGRESS_PROXY,
    "NO_PROXY": "",
    # No embedded model: a fuzzed startRun must never start a llama.cpp child.
    "MODELWIRE_EMBEDDED_MODEL": "/nonexistent/model.gguf",
}


@dataclass
class Workspace:
    root: Path
    home: Path
    folder: Path
    doc_uri: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def make_workspace(root: Path, home: Path | None = None) -> Workspace:
    folder = root / "ws"
    folder.mkdir(parents=True, exist_ok=True)
    doc = folder / "sample.py"
    doc.write_text(DOC_TEXT)
    home = home or root / "home"
    home.mkdir(parents=True, exist_ok=True)
    return Workspace(root, home, folder, doc.as_uri(), root / "sidecar.log")


@contextlib.asynccontextmanager
async def running(
    ws: Workspace,
    *,
    settings: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    capture: bool = False,
    command: list[str] | None = None,
) -> AsyncIterator[Sidecar]:
    """A started, initialized sidecar; on exit a clean shutdown, else a kill."""
    s = await Sidecar.start(
        ws.home,
        folders=[ws.folder],
        settings=settings or {},
        env={**SAFE_ENV, **(env or {})},
        stderr_path=ws.log,
        capture=capture,
        command=command,
    )
    s.open_document(ws.doc_uri, DOC_TEXT)
    try:
        yield s
    finally:
        if s.proc.returncode is None:
            await s.close(timeout=10)
        await s.kill()


def run_params(ws: Workspace, connection_id: str, agent: str = "explain") -> dict[str, Any]:
    return {"agentId": agent, "textDocument": {"uri": ws.doc_uri}, "connectionId": connection_id}


async def ollama_connection(s: Sidecar, url: str, name: str = "Local", **more: Any) -> str:
    conn = await s.call(
        "modelwire/createConnection",
        {"name": name, "providerId": "ollama", "baseUrl": url, "defaultModel": "llama3.2", **more},
    )
    return str(conn["id"])


async def run_error(s: Sidecar, params: dict[str, Any], timeout: float = 30) -> RpcError:
    """Start a run that must fail; return its JSON-RPC error."""
    try:
        result = await s.call("modelwire/startRun", params, timeout=timeout)
    except RpcError as exc:
        return exc
    raise AssertionError(f"the run succeeded: {result!r}")


async def assert_alive(s: Sidecar) -> dict[str, Any]:
    """The sidecar still answers (a trivial request and the status)."""
    assert s.proc.returncode is None, f"the sidecar exited with {s.proc.returncode}"
    await s.call("modelwire/listProviders", {}, timeout=10)
    status: dict[str, Any] = await s.call("modelwire/status", {}, timeout=10)
    return status


async def poll(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for a condition with a bound (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def db_rows(home: Path, sql: str = "SELECT * FROM runs") -> list[sqlite3.Row]:
    """Read the store directly (read-only), as a second opinion on listRuns."""
    db = sqlite3.connect(f"file:{home / 'modelwire.db'}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def integrity_ok(home: Path) -> bool:
    db = sqlite3.connect(f"file:{home / 'modelwire.db'}?mode=ro", uri=True)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()


def children_of(pid: int) -> list[int]:
    return proc_children(pid)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Any:
    """A tiny tmpfs at `path` (root only); skipped (or failed in CI) when mounting fails:
    the test must be marked `real_peer("tmpfs")`."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    require_peer(
        done.returncode == 0,
        "a tmpfs mount",
        f"run the tests as root (mount said: {done.stderr.strip()})",
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True, capture_output=True)


def have(command: str) -> bool:
    return shutil.which(command) is not None
