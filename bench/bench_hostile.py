"""Hostile model servers: the time to clean provider text, and the sidecar's memory under
floods (issue 15, items 2 and 5). Run on its own, not from `python -m bench`:

    .venv/bin/python -m bench.bench_hostile                      # this checkout
    .venv/bin/python -m bench.bench_hostile --code OLD/server     # another checkout's code

`--code` puts another checkout's `server/` first on the sidecar's PYTHONPATH (and on
this process's, for the text timing), so a before/after pair is measured by the same
harness on the same machine, one after the other. Figures:

- **redact / error body, 64 KB**: seconds to clean the worst of a set of hostile 64 KB
  shapes (a word run, key prefixes, star runs…) with `errors.redact` (a key in use) and
  the OpenAI adapter's error-body reader; one sample each (the quadratic pattern took
  ~30 s per shape, so the old code is timed on the word run only).
- **no-newline flood**: an Ollama-shaped server answers `/api/chat` with 64 KB chunks
  and never a newline, as fast as it can, up to 400 MB or `--seconds` (8 s). Peak RSS (VmHWM) of the
  sidecar, MB sent, and how the run ended.
- **tiny-chunk flood**: one NDJSON line with a 4-character delta per HTTP chunk, for
  `--seconds`. Peak RSS, the store's size (db + WAL), characters delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from testkit.sidecar import RpcError, Sidecar

FLOOD_SECONDS = 8.0
FLOOD_MAX_BYTES = 400 * 1024 * 1024
RESULTS = Path(__file__).parent / "results" / "hostile.json"

_TEXT_TIMING = r"""
import json, sys, time
from modelwire.errors import redact, secret_in_use
from modelwire.adapters import openai_errors
SIZE = 64 * 1024
shapes = {
    "a word run": "a" * SIZE,
    "key prefixes": "sk-" * (SIZE // 3),
    "stars between words": "ab**" * (SIZE // 4),
    "masked tails": ("x" * 100 + "***") * (SIZE // 103),
    "bearer runs": "Bearer " * (SIZE // 7),
}
only = sys.argv[1:]
out = {}
for name, text in shapes.items():
    if only and name not in only:
        continue
    body = ('{"error": {"message": "' + text + '"}}').encode()
    t = time.perf_counter(); openai_errors.provider_error(body); body_s = time.perf_counter() - t
    with secret_in_use("sk-proj-Zq8Tn4Lw1Xe7Rb2Vc9Ym5Kd3Hg6Jf0Pa"):
        t = time.perf_counter(); redact(text); redact_s = time.perf_counter() - t
    out[name] = {"errorBodyS": round(body_s, 4), "redactS": round(redact_s, 4)}
print(json.dumps(out))
"""


def _env(code: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def text_timing(code: Path | None, shapes: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _TEXT_TIMING, *shapes],
        env=_env(code),
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return dict(json.loads(done.stdout))


# --- a hostile Ollama ------------------------------------------------------------------


class HostileOllama:
    """Answers like Ollama, except that `/api/chat` floods (mode set per run)."""

    def __init__(self) -> None:
        self.mode = "no-newline"
        self.seconds = FLOOD_SECONDS
        self.sent = 0
        self.stop = threading.Event()
        self._loop = asyncio.new_event_loop()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, sock=self._sock))
        with contextlib.suppress(RuntimeError):
            self._loop.run_forever()
        server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line = head.split(b"\r\n", 1)[0].decode()
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                _method, path, _ = request_line.split(" ", 2)
                if path == "/api/chat":
                    await self._flood(writer)
                    return
                body = json.dumps(
                    {"version": "0.12.3"}
                    if path == "/api/version"
                    else {"models": [{"name": "llama3.2:latest", "model": "llama3.2:latest"}]}
                ).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()

    async def _flood(self, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        if self.mode == "no-newline":
            piece = b"x" * 65536
        else:
            piece = (
                b'{"model":"llama3.2","created_at":"2026-12-01T08:00:00Z",'
                b'"message":{"role":"assistant","content":"tok "},"done":false}\n'
            )
        chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
        batch = chunk * (1 if self.mode == "no-newline" else 64)
        per_batch = len(piece) * (1 if self.mode == "no-newline" else 64)
        deadline = time.monotonic() + self.seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            if self.sent >= FLOOD_MAX_BYTES:
                break
            writer.write(batch)
            await writer.drain()
            self.sent += per_batch
        # Then hold the connection open without a final line, like a stuck server.
        await asyncio.to_thread(self.stop.wait)

    def close(self) -> None:
        self.stop.set()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def _vm(pid: int, key: str) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


async def flood(mode: str, code: Path | None, seconds: float) -> dict[str, Any]:
    server = HostileOllama()
    server.mode = mode
    server.seconds = seconds
    with tempfile.TemporaryDirectory(prefix="mw-bench-hostile-") as tmp:
        root = Path(tmp)
        folder = root / "ws"
        folder.mkdir()
        doc = folder / "a.py"
        doc.write_text("x = 1\n")
        home = root / "home"
        s = await Sidecar.start(
            home,
            folders=[folder],
            settings={"timeouts": {"idleSeconds": 30}},
            env={**_env(code), "MODELWIRE_EMBEDDED_MODEL": "/nonexistent.gguf"},
        )
        s.keep_events = False
        try:
            s.open_document(doc.as_uri(), "x = 1\n")
            conn = await s.call(
                "modelwire/createConnection",
                {"name": "Hostile", "providerId": "ollama", "baseUrl": server.url,
                 "defaultModel": "llama3.2"},
            )  # fmt: skip
            idle_rss = _vm(s.proc.pid, "VmRSS")
            run = asyncio.ensure_future(
                s.call(
                    "modelwire/startRun",
                    {"agentId": "explain", "textDocument": {"uri": doc.as_uri()},
                     "connectionId": conn["id"]},
                    timeout=120,
                )
            )  # fmt: skip
            started = time.monotonic()
            ended = "still running after the flood (cancelled)"
            while time.monotonic() - started < seconds + 2:
                if run.done():
                    break
                await asyncio.sleep(0.1)
            if run.done():
                try:
                    result = run.result()
                    ended = f"succeeded ({len(result.get('output', ''))} chars in the result)"
                except RpcError as exc:
                    ended = f"failed: {exc.data_code}"
            peak = _vm(s.proc.pid, "VmHWM")
            rss_now = _vm(s.proc.pid, "VmRSS")
            if not run.done():
                runs = await s.call("modelwire/listRuns", {"limit": 1})
                with contextlib.suppress(RpcError):
                    await s.call("modelwire/cancelRun", {"runId": runs["runs"][0]["runId"]})
                with contextlib.suppress(RpcError, asyncio.TimeoutError):
                    await asyncio.wait_for(run, 20)
            store = sum(p.stat().st_size for p in home.glob("modelwire.db*"))
            chars = sum(st.chars for st in s.runs.values())
            return {
                "mode": mode,
                "sentMB": round(server.sent / 1e6, 1),
                "idleRssMB": round(idle_rss, 1),
                "peakRssMB": round(peak, 1),
                "rssAfterFloodMB": round(rss_now, 1),
                "storeMB": round(store / 1e6, 2),
                "charsDelivered": chars,
                "ended": ended,
            }
        finally:
            server.close()
            await s.close(timeout=10)
            await s.kill()


async def main_async(args: argparse.Namespace, code: Path | None) -> dict[str, Any]:
    loadavg = os.getloadavg()
    shapes = ["a word run"] if args.code else []
    out: dict[str, Any] = {
        "code": str(code) if code else "this checkout",
        "floodSeconds": args.seconds,
        "loadavgBefore": [round(x, 2) for x in loadavg],
    }
    if "text" in args.only:
        out["text64KB"] = text_timing(code, shapes)
    for mode in ("no-newline", "tiny-chunks"):
        if mode in args.only:
            out[mode] = await flood(mode, code, args.seconds)
    out["loadavgAfter"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_hostile")
    parser.add_argument("--code", help="another checkout's server/ directory (the baseline)")
    parser.add_argument(
        "--only", default="text,no-newline,tiny-chunks", type=lambda v: v.split(",")
    )
    parser.add_argument("--seconds", type=float, default=FLOOD_SECONDS, help="flood length")
    parser.add_argument("--save", action="store_true", help=f"append to {RESULTS}")
    args = parser.parse_args()
    code = Path(args.code).resolve() if args.code else None
    result = asyncio.run(main_async(args, code))
    print(json.dumps(result, indent=2))
    if args.save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
        RESULTS.write_text(json.dumps([*previous, result], indent=2) + "\n")


if __name__ == "__main__":
    main()
