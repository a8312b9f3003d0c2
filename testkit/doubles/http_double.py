"""A small real HTTP/1.1 server for the provider test doubles.

Each double runs an asyncio server on 127.0.0.1 in a background thread with its own
event loop, so sync tests, async tests (on any loop) and benchmarks can all use it, and
`run_standalone` serves the same double as a separate process (port printed first on
stdout). It speaks keep-alive and chunked streaming, watches every in-flight response
for a client disconnect, and records what it received so tests can assert on it.

Scripting: `double.behave(...)` changes the `Behaviour` knobs for the following
requests; `double.fail_next(status, body, ...)` queues one-shot canned answers;
`double.script_tools(ToolTurn(...))` scripts tool-call turns; `POST /__control` does
all three over HTTP (`{"behave": {...}, "failNext": [...], "toolTurns": [...],
"reset": true}`) and `GET /__requests` returns the record.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import http
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from testkit.doubles.tool_script import ToolScript, ToolTurn

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Behaviour:
    """How the double answers streamed requests. All delays are in seconds."""

    reply: str = "Hello from the double. This answer arrives one word at a time."
    delay_first_token: float = 0.0  # before the first token (model load)
    chunk_delay: float = 0.0  # between tokens
    stall_after: int | None = None  # send N tokens, then go silent until the client leaves
    error_after: int | None = None  # send N tokens, then the provider's mid-stream error
    error_message: str = "an error was encountered while running the model: unexpected EOF"
    drop_after: int | None = None  # send N tokens, then drop the TCP connection
    omit_done: bool = False  # end the body without done:true / data: [DONE]
    fast_chunks: int | None = None  # emit N tokens back to back (benchmarks)
    # OpenAI-compatible servers send the headers at once and then wait for the model;
    # Ollama sends nothing at all until the first token. None = the double's default.
    headers_first: bool | None = None

    def tokens(self) -> list[str]:
        if self.fast_chunks is not None:
            return ["tok "] * self.fast_chunks
        return re.findall(r"\S+\s*", self.reply) or [self.reply]


_BEHAVIOUR_FIELDS = {f.name for f in dataclasses.fields(Behaviour)}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower().replace("-", "_")


@dataclass
class CannedReply:
    """A one-shot answer for the next request (to `path`, when given)."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    path: str | None = None


@dataclass
class RecordedRequest:
    """One request the double received, and what became of its response."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None
    chunks_sent: int = 0
    disconnected: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    # time.monotonic() (one clock for every process on the machine): when the request
    # arrived and when its response ended, so a benchmark can time the client's gaps.
    received_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def wait_disconnected(self, timeout: float = 5.0) -> bool:
        """Block until the client dropped the connection mid-response (or timeout)."""
        return self.disconnected.wait(timeout)

    async def wait_disconnected_async(self, within: float = 5.0) -> bool:
        """The same, without blocking the test's event loop."""
        return await asyncio.to_thread(self.disconnected.wait, within)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "json": self.json if self.body else None,
            "authorization": "authorization" in self.headers,
            "status": self.status,
            "chunksSent": self.chunks_sent,
            "disconnected": self.disconnected.is_set(),
            "finished": self.finished.is_set(),
            "receivedAt": self.received_at,
            "finishedAt": self.finished_at,
        }


@dataclass
class Incoming:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Exchange:
    """One request/response on a connection, with the disconnect watcher around it."""

    def __init__(self, conn: _Conn, record: RecordedRequest, stopping: asyncio.Event) -> None:
        self.conn = conn
        self.record = record
        self._stopping = stopping
        self.gone = asyncio.Event()
        self._watch = asyncio.ensure_future(self._watch_eof())
        self._pending: list[bytes] = []
        self.keep_alive = True

    async def _watch_eof(self) -> None:
        # HTTP/1.1 clients send nothing while a response is in flight, so EOF here means
        # the client closed the connection (a cancelled or closed stream). A client that
        # closes with response bytes still unread in its socket buffer makes the kernel
        # send RST instead of FIN, so the read fails with ECONNRESET: that is a
        # disconnect too, not a reason for the watcher to die silently.
        with contextlib.suppress(OSError):
            while data := await self.conn.reader.read(65536):
                self.conn.buf += data
        self._mark_gone()

    def _mark_gone(self) -> None:
        self.gone.set()
        if not self.record.finished.is_set():
            self.record.disconnected.set()

    async def close(self) -> None:
        self._watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._watch

    # --- writing ----------------------------------------------------------------------

    def _write(self, data: bytes) -> bool:
        if self.gone.is_set() or self.conn.writer.is_closing():
            self._mark_gone()
            return False
        self.conn.writer.write(data)
        return True

    async def _flush(self) -> bool:
        try:
            await self.conn.writer.drain()
        except (ConnectionError, RuntimeError):
            self._mark_gone()
            return False
        return not self.gone.is_set()

    def _head(self, status: int, headers: dict[str, str]) -> bytes:
        self.record.status = status
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {status} {reason}"]
        base = {"Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())}
        base.update(headers)
        lines += [f"{k}: {v}" for k, v in base.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def send(
        self, status: int, body: bytes | str | Any, headers: dict[str, str] | None = None
    ) -> None:
        """A complete response with a Content-Length. Non-bytes bodies are sent as JSON."""
        hdrs = dict(headers or {})
        if isinstance(body, bytes):
            payload = body
        elif isinstance(body, str):
            payload = body.encode()
            hdrs.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            payload = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json; charset=utf-8")
        hdrs["Content-Length"] = str(len(payload))
        if self._write(self._head(status, hdrs) + (b"" if self.conn.head_only else payload)):
            await self._flush()
            self.record.finished_at = time.monotonic()
            self.record.finished.set()

    async def start_stream(self, status: int, content_type: str, extra: dict[str, str]) -> bool:
        hdrs = {"Content-Type": content_type, "Transfer-Encoding": "chunked", **extra}
        ok = self._write(self._head(status, hdrs))
        return ok and await self._flush()

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def queue_chunk(self, data: bytes) -> None:
        """Add a chunk to the next flush (fast mode batches many per write)."""
        self._pending.append(b"%x\r\n%s\r\n" % (len(data), data))
        self.record.chunks_sent += 1

    async def flush_chunks(self) -> bool:
        if not self._pending:
            return not self.gone.is_set()
        data = b"".join(self._pending)
        self._pending.clear()
        return self._write(data) and await self._flush()

    async def chunk(self, data: bytes) -> bool:
        self.queue_chunk(data)
        return await self.flush_chunks()

    async def end_stream(self) -> None:
        await self.flush_chunks()
        if self._write(b"0\r\n\r\n") and await self._flush():
            self.record.finished_at = time.monotonic()
            self.record.finished.set()

    def drop(self) -> None:
        """The server process died: the connection ends with no chunked terminator."""
        self.keep_alive = False
        self.conn.writer.transport.abort()

    # --- waiting ----------------------------------------------------------------------

    async def pause(self, seconds: float) -> bool:
        """Sleep, but wake at once when the client leaves; True if it is still there."""
        if seconds <= 0:
            return not self.gone.is_set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._either(self.gone, self._stopping)
        return not self.gone.is_set() and not self._stopping.is_set()

    async def hold(self) -> None:
        """Stay silent until the client disconnects or the double stops."""
        await self._either(self.gone, self._stopping)
        self.keep_alive = False

    @staticmethod
    async def _either(a: asyncio.Event, b: asyncio.Event) -> None:
        tasks = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = b""
        self.head_only = False

    async def _fill(self) -> bool:
        data = await self.reader.read(65536)
        if not data:
            return False
        self.buf += data
        return True

    async def read_request(self) -> Incoming | None:
        while b"\r\n\r\n" not in self.buf:
            if not await self._fill():
                return None
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        while len(self.buf) < length:
            if not await self._fill():
                return None
        body, self.buf = self.buf[:length], self.buf[length:]
        path, _, query = target.partition("?")
        self.head_only = method == "HEAD"
        return Incoming(method, path, query, headers, body)


class HttpDouble:
    """Base of the provider doubles: subclasses implement `handle`."""

    name = "double"
    default_headers_first = False

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.behaviour = Behaviour()
        self.requests: list[RecordedRequest] = []
        self._canned: deque[CannedReply] = deque()
        self.tool_script = ToolScript()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._request_seen = threading.Condition()

    # --- lifecycle --------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-double", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"the {self.name} double did not start")
        return self

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is None or stopping is None or self._thread is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(stopping.set)
        self._thread.join(10)
        self._loop = None

    def kill(self) -> None:
        """Die like a killed process: every open connection is cut, the port closes."""
        loop = self._loop
        if loop is None:
            return

        def cut() -> None:
            for writer in list(self._writers):
                writer.transport.abort()

        loop.call_soon_threadsafe(cut)
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stopping.wait()
        server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- scripting --------------------------------------------------------------------

    def behave(self, **changes: Any) -> None:
        """Change how following requests are answered (see `Behaviour`)."""
        self.behaviour = dataclasses.replace(self.behaviour, **changes)

    def fail_next(
        self,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        *,
        path: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests (to `path`, if given) with this response."""
        for _ in range(times):
            self._canned.append(CannedReply(status, body, dict(headers or {}), path))

    def script_tools(self, *turns: ToolTurn, repeat: bool = False) -> None:
        """Answer the next chat requests that offer `tools` with these turns, in order
        (see testkit/doubles/tool_script.py); `repeat` keeps the last one forever."""
        self.tool_script.set(list(turns), repeat)

    def reset(self) -> None:
        self.behaviour = Behaviour()
        self._canned.clear()
        self.requests.clear()
        self.tool_script.clear()

    def wait_for_requests(self, count: int = 1, timeout: float = 5.0) -> RecordedRequest:
        """Block until `count` requests arrived; returns the latest."""
        with self._request_seen:
            if not self._request_seen.wait_for(lambda: len(self.requests) >= count, timeout):
                raise TimeoutError(f"{self.name} double saw {len(self.requests)} of {count}")
            return self.requests[-1]

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def _take_canned(self, path: str) -> CannedReply | None:
        for canned in list(self._canned):
            if canned.path is None or canned.path == path:
                with contextlib.suppress(ValueError):
                    self._canned.remove(canned)
                    return canned
        return None

    @property
    def headers_first(self) -> bool:
        hf = self.behaviour.headers_first
        return self.default_headers_first if hf is None else hf

    # --- serving ----------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._stopping is not None
        self._writers.add(writer)
        conn = _Conn(reader, writer)
        try:
            while True:
                incoming = await conn.read_request()
                if incoming is None:
                    return
                if incoming.path.startswith("/__"):
                    exchange = Exchange(conn, RecordedRequest("", "", {}, b""), self._stopping)
                    try:
                        await self._control(incoming, exchange)
                    finally:
                        await exchange.close()
                    continue
                record = RecordedRequest(
                    incoming.method, incoming.path, incoming.headers, incoming.body
                )
                with self._request_seen:
                    self.requests.append(record)
                    self._request_seen.notify_all()
                exchange = Exchange(conn, record, self._stopping)
                try:
                    canned = self._take_canned(incoming.path)
                    if canned is not None:
                        await exchange.send(canned.status, canned.body, canned.headers)
                    else:
                        await self.handle(incoming, exchange)
                finally:
                    await exchange.close()
                if not exchange.keep_alive or exchange.gone.is_set():
                    return
                if incoming.headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        except asyncio.CancelledError:
            # Only `stop()` cancels; asyncio's stream callback would log it as an error.
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def handle(self, incoming: Incoming, exchange: Exchange) -> None:
        raise NotImplementedError

    async def _control(self, incoming: Incoming, exchange: Exchange) -> None:
        if incoming.path == "/__requests":
            await exchange.send(200, [r.to_dict() for r in self.requests])
            return
        if incoming.path != "/__control" or incoming.method != "POST":
            await exchange.send(404, {"error": "unknown control path"})
            return
        doc = incoming.json() or {}
        if doc.get("reset"):
            self.reset()
        changes = {_snake(k): v for k, v in (doc.get("behave") or {}).items()}
        unknown = set(changes) - _BEHAVIOUR_FIELDS
        if unknown:
            await exchange.send(400, {"error": f"unknown behaviour {sorted(unknown)}"})
            return
        self.behave(**changes)
        if "toolTurns" in doc:
            turns = [ToolTurn.from_dict(t) for t in doc.get("toolTurns") or []]
            self.script_tools(*turns, repeat=bool(doc.get("repeatToolTurns")))
        for item in doc.get("failNext") or []:
            self.fail_next(
                int(item["status"]),
                item.get("body"),
                item.get("headers"),
                path=item.get("path"),
                times=int(item.get("times", 1)),
            )
        await exchange.send(200, {"behaviour": dataclasses.asdict(self.behaviour)})


def closed_port() -> int:
    """A port nothing listens on (bound, then released): connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- standalone process ---------------------------------------------------------------


def standalone_parser(prog: str) -> argparse.ArgumentParser:
    """Flags common to both doubles; each has a MODELWIRE_DOUBLE_<FLAG> env default."""

    def env(name: str, default: str | None = None) -> str | None:
        return os.environ.get(f"MODELWIRE_DOUBLE_{name.upper().replace('-', '_')}", default)

    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--port", type=int, default=int(env("port", "0") or 0))
    parser.add_argument("--models", default=env("models"), help="comma-separated model names")
    parser.add_argument("--reply", default=env("reply"), help="the text every answer streams")
    parser.add_argument(
        "--delay-first-token", type=float, default=float(env("delay-first-token", "0") or 0)
    )
    parser.add_argument("--chunk-delay", type=float, default=float(env("chunk-delay", "0") or 0))
    parser.add_argument("--fast-chunks", type=int, default=None)
    return parser


def run_standalone(double: HttpDouble, args: argparse.Namespace) -> None:
    """Serve until SIGTERM/SIGINT; the bound port is the first line on stdout."""
    changes: dict[str, Any] = {
        "delay_first_token": args.delay_first_token,
        "chunk_delay": args.chunk_delay,
        "fast_chunks": args.fast_chunks,
    }
    if args.reply:
        changes["reply"] = args.reply
    double.behave(**changes)
    # Block the signals before the server thread starts so only sigwait sees them.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    double.port = args.port
    double.start()
    sys.stdout.write(f"{double.port}\n")
    sys.stdout.flush()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    double.stop()


class StandaloneDouble:
    """A double in its own process (`python -m testkit.doubles.<module>`), for tests that
    kill the server for real and for benchmarks that keep the server off the GIL."""

    def __init__(self, module: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"testkit.doubles.{module}", "--port", "0", *args],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.proc.kill()
            raise RuntimeError(f"{module} did not print its port (got {line!r})")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"

    def control(self, **doc: Any) -> Any:
        return self._call("POST", "/__control", doc)

    def recorded(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/__requests", None)
        return result

    def _call(self, method: str, path: str, doc: Any) -> Any:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            body = json.dumps(doc) if doc is not None else None
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def kill(self) -> None:
        """SIGKILL: the server dies mid-whatever, like a crashed Ollama."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
