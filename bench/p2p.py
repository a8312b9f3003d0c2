"""P2P sharing on a loopback HyperDHT testnet, in a private network namespace.

One run measures, side by side:

- **connect**: spawn of a fresh client bridge process → its first `server_info` from a
  `modelwire share` host (Node start-up, DHT lookup, handshake), median and p99;
- **first chunk**: an already-connected client sends `chat_start` → first `chat_chunk`,
  alternated with the same prompt made locally on the host, straight to the Ollama
  double with httpx (first content line). The difference is what sharing adds: the
  host's run service (a run record), two bridges and the encrypted swarm stream;
- **throughput**: source chunks per second end to end, from a double that emits 4-char
  chunks as fast as it can, counted from the characters the client receives.

Targets (docs/p2p.md): connect ≤ 1 s, first-chunk overhead ≤ 20 ms median,
≥ 5,000 chunks/s. Every Node process runs inside the namespace (testkit/p2p.py), and
the bridge refuses to start anywhere else.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from testkit.doubles.http_double import StandaloneDouble
from testkit.p2p import P2PNet, RawPeer, ShareHost, missing

from bench.common import median, percentile, rounded

MODEL = "llama3.2"
TARGET_CONNECT_MS = 1000.0
TARGET_OVERHEAD_MS = 20.0
TARGET_CHUNKS_PER_S = 5000.0


async def run(connects: int = 15, samples: int = 40, chunks: int = 50_000) -> dict[str, Any]:
    why = missing()
    if why is not None:
        return {"error": why, "pass": False}
    with tempfile.TemporaryDirectory(prefix="mw-bench-p2p-") as tmp:
        net = P2PNet(Path(tmp)).start()
        saved = {k: os.environ.get(k) for k in net.env}
        os.environ.update(net.env)
        double = StandaloneDouble("ollama_double", "--models", MODEL)
        host: ShareHost | None = None
        try:
            home = Path(tmp) / "host"
            subprocess.run(  # noqa: ASYNC221 - set-up, before anything is timed
                [sys.executable, "-m", "modelwire", "connections", "add", "--name", "Local",
                 "--provider", "ollama", "--base-url", double.url, "--default-model", MODEL],
                env={**os.environ, "MODELWIRE_HOME": str(home)},
                check=True,
                capture_output=True,
            )  # fmt: skip
            host = ShareHost.start(net, home, ["Local"])
            connect = await _connects(host.server_id, connects)
            first = await _first_chunks(host.server_id, double.url, samples)
            throughput = await _throughput(host.server_id, double, chunks)
        finally:
            if host is not None:
                host.stop()
            double.kill()
            net.stop()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    overhead = first["overheadMedianMs"]
    return {
        "connect": connect,
        "firstChunk": first,
        "throughput": throughput,
        "targets": {
            "connectMedianMs": TARGET_CONNECT_MS,
            "firstChunkOverheadMedianMs": TARGET_OVERHEAD_MS,
            "chunksPerSecond": TARGET_CHUNKS_PER_S,
        },
        "pass": connect["medianMs"] <= TARGET_CONNECT_MS
        and overhead <= TARGET_OVERHEAD_MS
        and throughput["chunksPerSecond"] >= TARGET_CHUNKS_PER_S,
    }


async def _connects(server_id: str, count: int) -> dict[str, Any]:
    times: list[float] = []
    failures = 0
    for _ in range(count):
        t0 = time.perf_counter()
        peer = await RawPeer.start(server_id)
        try:
            message = await peer.next(within=15)
            if message.get("type") != "server_info":
                failures += 1
                continue
            times.append((time.perf_counter() - t0) * 1000)
        except TimeoutError:
            failures += 1
        finally:
            await peer.stop()
    return {
        "samples": len(times),
        "failures": failures,
        "medianMs": rounded(median(times), 1),
        "p99Ms": rounded(percentile(times, 99), 1),
    }


async def _first_chunks(server_id: str, url: str, samples: int) -> dict[str, Any]:
    p2p: list[float] = []
    local: list[float] = []
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    peer = await RawPeer.start(server_id)
    try:
        await peer.next(within=15)  # server_info
        async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
            for i in range(samples + 5):
                for which in ("p2p", "local") if i % 2 else ("local", "p2p"):
                    if which == "p2p":
                        value = await _p2p_first_chunk(peer, f"b{i}")
                    else:
                        value = await _local_first_chunk(client, url, body)
                    if i >= 5:  # warm-up
                        (p2p if which == "p2p" else local).append(value * 1000)
    finally:
        await peer.stop()
    overheads = [a - b for a, b in zip(p2p, local, strict=True)]
    return {
        "samples": len(p2p),
        "p2pMedianMs": rounded(median(p2p), 2),
        "p2pP99Ms": rounded(percentile(p2p, 99), 2),
        "localMedianMs": rounded(median(local), 2),
        "localP99Ms": rounded(percentile(local, 99), 2),
        "overheadMedianMs": rounded(median(p2p) - median(local), 2),
        "overheadP99Ms": rounded(percentile(overheads, 99), 2),
    }


async def _p2p_first_chunk(peer: RawPeer, request_id: str) -> float:
    t0 = time.perf_counter()
    peer.chat_start(request_id)
    first: float | None = None
    while True:
        message = await peer.next(within=30)
        if message.get("request_id") != request_id:
            continue
        if message["type"] == "chat_chunk" and first is None:
            first = time.perf_counter() - t0
        elif message["type"] in ("chat_end", "error"):
            if first is None:
                raise RuntimeError(f"no chunk: {message}")
            return first


async def _local_first_chunk(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> float:
    import json

    t0 = time.perf_counter()
    elapsed: float | None = None
    async with client.stream("POST", url + "/api/chat", json=body) as response:
        async for line in response.aiter_lines():
            if elapsed is None and line and json.loads(line).get("message", {}).get("content"):
                elapsed = time.perf_counter() - t0
    if elapsed is None:
        raise RuntimeError("no content from the double")
    return elapsed


async def _throughput(server_id: str, double: StandaloneDouble, chunks: int) -> dict[str, Any]:
    double.control(behave={"fastChunks": chunks})
    peer = await RawPeer.start(server_id)
    try:
        await peer.next(within=15)
        chars = 0
        messages = 0
        t0 = time.perf_counter()
        peer.chat_start("t")
        while True:
            message = await peer.next(within=60)
            if message["type"] == "chat_chunk":
                chars += len(message["payload"]["text"])
                messages += 1
            elif message["type"] in ("chat_end", "error"):
                break
        elapsed = time.perf_counter() - t0
    finally:
        await peer.stop()
        double.control(behave={"fastChunks": None})
    return {
        "sourceChunks": chunks,
        "delivered": chars // 4,
        "chatChunkMessages": messages,
        "seconds": rounded(elapsed, 3),
        "chunksPerSecond": rounded((chars / 4) / elapsed, 0),
        "end": message["type"],
    }
