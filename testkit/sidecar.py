"""A minimal JSON-RPC/LSP client over pipes, for benchmarks and adversarial tests.

pytest-lsp builds lsprotocol objects for every message, which costs more CPU than the
sidecar spends on a streamed delta; a benchmark would measure the client. This client
frames and parses bytes and nothing else, answers the server's requests
(`workspace/configuration`, consent prompts, progress creation) from plain dicts, and
can keep every byte the sidecar wrote on stdout (the secret canary scans it).
"""

# Every wait in this client is bounded by an explicit per-call timeout: that is the API.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SERVE_COMMAND = [sys.executable, "-m", "modelwire", "serve"]
READ_LIMIT = 256 * 1024 * 1024  # a 20 MB message must fit in one read


class RpcError(Exception):
    """A JSON-RPC error answer."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code: int = error.get("code", 0)
        self.message: str = str(error.get("message", ""))
        self.data: Any = error.get("data")

    @property
    def data_code(self) -> str | None:
        return self.data.get("code") if isinstance(self.data, dict) else None


def frame(message: Any) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


@dataclass
class RunStats:
    """What the client saw of one run, without keeping every event."""

    run_id: str
    first_event_t: float
    first_delta_t: float | None = None
    chars: int = 0
    delta_events: int = 0
    end_t: float | None = None
    status: str | None = None
    kinds: list[str] = field(default_factory=list)


def proc_children(pid: int) -> list[int]:
    """Direct children of `pid` (from /proc), for orphan checks."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(pid):
            kids.append(int(entry))
    return kids


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (/proc/<pid>/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().decode().rsplit(")", 1)[-1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def proc_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sidecar:
    """One `python -m modelwire serve` (or any stdio server) driven over raw pipes."""

    def __init__(self, proc: asyncio.subprocess.Process, *, capture: bool) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.capture = capture
        self.raw_out = bytearray()
        self.settings: dict[str, Any] = {}
        self.consent_answer: str | None = "Allow once"
        self.consent_prompts: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.keep_events = True
        self.runs: dict[str, RunStats] = {}
        self.notifications: list[dict[str, Any]] = []
        self.unmatched: list[dict[str, Any]] = []  # responses with an unknown or null id
        self.on_event: Callable[[dict[str, Any]], None] | None = None
        self.closed = asyncio.Event()
        self._ids = itertools.count(1)
        self._pending: dict[Any, asyncio.Future[Any]] = {}
        self._event_waiters: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Future[Any]]] = []
        self._reader = asyncio.ensure_future(self._read_loop())

    # --- lifecycle --------------------------------------------------------------------

    @classmethod
    async def spawn(
        cls,
        home: Path | None,
        *,
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
        stderr_path: Path | None = None,
        capture: bool = False,
        cwd: Path | None = None,
    ) -> Sidecar:
        full_env = dict(os.environ)
        if home is not None:
            full_env["MODELWIRE_HOME"] = str(home)
        full_env.update(env or {})
        stderr: Any = asyncio.subprocess.DEVNULL
        if stderr_path is not None:
            stderr = open(stderr_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            proc = await asyncio.create_subprocess_exec(
                *(command or SERVE_COMMAND),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env=full_env,
                cwd=cwd,
                limit=READ_LIMIT,
            )
        finally:
            if stderr_path is not None:
                stderr.close()
        return cls(proc, capture=capture)

    @classmethod
    async def start(
        cls,
        home: Path | None,
        *,
        folders: list[Path] | None = None,
        settings: dict[str, Any] | None = None,
        configuration: bool = True,
        client_name: str = "raw-client",
        timeout: float = 30,
        **spawn_args: Any,
    ) -> Sidecar:
        """Spawn and initialize like an editor would."""
        sidecar = await cls.spawn(home, **spawn_args)
        sidecar.settings = settings or {}
        try:
            await sidecar.initialize(
                folders=folders,
                configuration=configuration,
                client_name=client_name,
                timeout=timeout,
            )
        except BaseException:
            await sidecar.kill()
            raise
        return sidecar

    async def initialize(
        self,
        *,
        folders: list[Path] | None = None,
        configuration: bool = True,
        client_name: str = "raw-client",
        timeout: float = 30,
    ) -> Any:
        folder_list = [{"uri": f.as_uri(), "name": f.name} for f in folders or []]
        result = await self.call(
            "initialize",
            {
                "processId": os.getpid(),
                "clientInfo": {"name": client_name, "version": "1.0"},
                "rootUri": folder_list[0]["uri"] if folder_list else None,
                "workspaceFolders": folder_list or None,
                "capabilities": {
                    "workspace": {"configuration": configuration, "workspaceFolders": True},
                    "window": {"workDoneProgress": True},
                },
            },
            timeout=timeout,
        )
        self.notify("initialized", {})
        return result

    async def close(self, timeout: float = 15) -> int | None:
        """shutdown + exit, then wait for the process; kill it if it does not go."""
        if self.proc.returncode is None and not self.closed.is_set():
            with contextlib.suppress(Exception):
                await self.call("shutdown", None, timeout=timeout)
                self.notify("exit", None)
        return await self.wait(timeout)

    async def wait(self, timeout: float = 15) -> int | None:
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            await self.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, 5)
        return self.proc.returncode

    async def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader

    def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()

    # --- sending ----------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)

    async def drain(self) -> None:
        assert self.proc.stdin is not None
        await self.proc.stdin.drain()

    def notify(self, method: str, params: Any) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send_raw(frame(msg))

    def request(self, method: str, params: Any, *, msg_id: Any = None) -> asyncio.Future[Any]:
        """Send a request; the future resolves to the result or raises RpcError."""
        if msg_id is None:
            msg_id = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send_raw(frame(msg))
        if self.closed.is_set():
            fut.set_exception(ConnectionError("the sidecar's stdout is closed"))
        return fut

    def expect(self, msg_id: Any) -> asyncio.Future[Any]:
        """A future for the answer to a request sent with send_raw."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        return fut

    async def call(self, method: str, params: Any = None, *, timeout: float = 30) -> Any:
        fut = self.request(
            method, params if params is not None else {} if method != "shutdown" else None
        )
        await self.drain()
        return await asyncio.wait_for(fut, timeout)

    def cancel_request(self, msg_id: Any) -> None:
        self.notify("$/cancelRequest", {"id": msg_id})

    def open_document(self, uri: str, text: str, language_id: str = "python") -> None:
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": language_id, "version": 1, "text": text}},
        )

    def settings_changed(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.notify("workspace/didChangeConfiguration", {"settings": None})

    # --- events -----------------------------------------------------------------------

    def wait_event(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20) -> Any:
        for event in self.events:
            if predicate(event):
                done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                done.set_result(event)
                return asyncio.wait_for(done, timeout)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._event_waiters.append((predicate, fut))
        return asyncio.wait_for(fut, timeout)

    def run_events(self, run_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("runId") == run_id]

    # --- reading ----------------------------------------------------------------------

    async def _read_loop(self) -> None:
        reader = self.proc.stdout
        assert reader is not None
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError as exc:
                    if self.capture:
                        self.raw_out += exc.partial
                    return
                length = None
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                if length is None:
                    raise ValueError(f"a header block without Content-Length: {head[:200]!r}")
                body = await reader.readexactly(length)
                now = time.perf_counter()
                if self.capture:
                    self.raw_out += head + body
                self._dispatch(json.loads(body), now)
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self.closed.set()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("the sidecar closed its stdout"))
            for _, fut in self._event_waiters:
                if not fut.done():
                    fut.set_exception(ConnectionError("the sidecar closed its stdout"))

    def _dispatch(self, msg: Any, now: float) -> None:
        if not isinstance(msg, dict):
            self.unmatched.append({"nonObject": msg})
            return
        if "method" in msg and "id" in msg:
            self._answer_server_request(msg)
            return
        if "method" in msg:
            if msg["method"] == "modelwire/runEvent":
                self._run_event(msg.get("params") or {}, now)
            else:
                self.notifications.append(msg)
            return
        fut = self._pending.pop(msg.get("id"), None)
        if fut is None:
            self.unmatched.append(msg)
            return
        if fut.done():
            return
        if "error" in msg:
            fut.set_exception(RpcError(msg["error"]))
        else:
            fut.set_result(msg.get("result"))

    def _run_event(self, event: dict[str, Any], now: float) -> None:
        run_id = event.get("runId", "")
        stats = self.runs.get(run_id)
        if stats is None:
            stats = self.runs[run_id] = RunStats(run_id, now)
        kind = event.get("kind")
        if kind == "delta":
            if stats.first_delta_t is None:
                stats.first_delta_t = now
            stats.chars += len(event.get("text", ""))
            stats.delta_events += 1
        else:
            stats.kinds.append(str(kind))
            if kind == "end":
                stats.end_t = now
                stats.status = event.get("status")
        if self.keep_events:
            self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        for waiter in list(self._event_waiters):
            predicate, fut = waiter
            if not fut.done() and predicate(event):
                fut.set_result(event)
                self._event_waiters.remove(waiter)

    def _answer_server_request(self, msg: dict[str, Any]) -> None:
        method = msg["method"]
        result: Any = None
        if method == "workspace/configuration":
            items = (msg.get("params") or {}).get("items") or []
            result = [self.settings for _ in items]
        elif method == "window/showMessageRequest":
            self.consent_prompts.append(str((msg.get("params") or {}).get("message")))
            result = {"title": self.consent_answer} if self.consent_answer else None
        with contextlib.suppress(Exception):
            self.send_raw(frame({"jsonrpc": "2.0", "id": msg["id"], "result": result}))
