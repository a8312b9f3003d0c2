"""What the provider adapters cost over a bare httpx stream, against the same local double.

For each protocol (Ollama NDJSON, OpenAI SSE) it times, interleaving the two clients run
by run so machine noise hits both alike:

- time to first delta (request start → first non-empty text) on a short answer,
- total time for that answer,
- per-chunk cost in µs on a long answer emitted as fast as the double can
  ((total − first delta) / chunks).

The doubles run as separate processes (`python -m testkit.doubles.*_double`), so the
server never competes with the client for the GIL. Medians are reported; the JSON goes
to bench/results/adapter.json. Target: adapter/bare ≤ 1.05 on time to first delta.

    .venv/bin/python -m bench.bench_adapter [--runs 300] [--chunks 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from testkit.doubles.http_double import StandaloneDouble

from modelwire.adapters.base import ChatMessage, ChatRequest, Delta, Endpoint, Finish, Timeouts
from modelwire.adapters.factory import make_adapter

ROOT = Path(__file__).resolve().parents[1]
TIMEOUTS = Timeouts(connect=5, first_token=60, idle=60, total=900)
MESSAGES = (ChatMessage("user", "Explain this file."),)


@dataclass
class Sample:
    first_delta_s: float
    total_s: float
    deltas: int


Runner = Callable[[], Awaitable[Sample]]


def bare_ollama(client: httpx.AsyncClient, url: str, model: str) -> Runner:
    body = {"model": model, "messages": [{"role": "user", "content": "Explain this file."}]}

    async def run() -> Sample:
        start = time.perf_counter()
        first = 0.0
        deltas = 0
        async with client.stream("POST", f"{url}/api/chat", json=body) as response:
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}")
            async for line in response.aiter_lines():
                if not line:
                    continue
                content = json.loads(line)["message"]["content"]
                if content:
                    deltas += 1
                    if not first:
                        first = time.perf_counter() - start
        return Sample(first, time.perf_counter() - start, deltas)

    return run


def bare_openai(client: httpx.AsyncClient, url: str, model: str) -> Runner:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Explain this file."}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    async def run() -> Sample:
        start = time.perf_counter()
        first = 0.0
        deltas = 0
        async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}")
            async for line in response.aiter_lines():
                if not line.startswith("data:") or line == "data: [DONE]":
                    continue
                for choice in json.loads(line[5:])["choices"]:
                    if choice["delta"].get("content"):
                        deltas += 1
                        if not first:
                            first = time.perf_counter() - start
        return Sample(first, time.perf_counter() - start, deltas)

    return run


def through_adapter(protocol: str, base_url: str, model: str) -> tuple[Runner, Any]:
    adapter = make_adapter(protocol, Endpoint(base_url, timeouts=TIMEOUTS, local_only=True))
    request = ChatRequest(model, MESSAGES)

    async def run() -> Sample:
        start = time.perf_counter()
        first = 0.0
        deltas = 0
        async for item in adapter.stream_chat(request):
            if isinstance(item, Delta):
                deltas += 1
                if not first:
                    first = time.perf_counter() - start
            elif isinstance(item, Finish):
                pass
        return Sample(first, time.perf_counter() - start, deltas)

    return run, adapter


async def interleaved(bare: Runner, adapter: Runner, runs: int, warmup: int) -> dict[str, Any]:
    for _ in range(warmup):
        await bare()
        await adapter()
    results: dict[str, list[Sample]] = {"bare": [], "adapter": []}
    for i in range(runs):
        # Alternate which goes first so neither always runs on a warmer cache.
        order = (("bare", bare), ("adapter", adapter))
        for name, runner in order if i % 2 == 0 else order[::-1]:
            results[name].append(await runner())
    return {
        name: {
            "firstDeltaMs": statistics.median(s.first_delta_s for s in samples) * 1000,
            "totalMs": statistics.median(s.total_s for s in samples) * 1000,
            "deltas": samples[0].deltas,
            "perChunkUs": statistics.median(
                (s.total_s - s.first_delta_s) / max(s.deltas - 1, 1) for s in samples
            )
            * 1e6,
        }
        for name, samples in results.items()
    }


async def bench_protocol(
    protocol: str, double: StandaloneDouble, base_url: str, args: argparse.Namespace
) -> dict[str, Any]:
    model = "llama3.2" if protocol == "ollama" else "gpt-4o-mini"
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
        bare = (bare_ollama if protocol == "ollama" else bare_openai)(client, double.url, model)
        adapter_run, adapter = through_adapter(protocol, base_url, model)
        try:
            double.control(behave={"fastChunks": None})
            short = await interleaved(bare, adapter_run, args.runs, warmup=20)
            double.control(behave={"fastChunks": args.chunks})
            long = await interleaved(bare, adapter_run, args.throughput_runs, warmup=1)
        finally:
            await adapter.aclose()
    return {"short": short, "long": long}


def row(label: str, bare: float, adapter: float, unit: str) -> str:
    return f"  {label:<26}{bare:>11.3f}{adapter:>11.3f} {unit:<3}{adapter / bare:>8.3f}x"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="short answers per client")
    parser.add_argument("--chunks", type=int, default=20000, help="chunks in the long answer")
    parser.add_argument("--throughput-runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/adapter.json")
    args = parser.parse_args()

    results: dict[str, Any] = {}
    with StandaloneDouble("ollama_double", "--models", "llama3.2") as ollama:
        results["ollama"] = await bench_protocol("ollama", ollama, ollama.url, args)
        localhost = ollama.url.replace("127.0.0.1", "localhost")
        # `localhost` costs a resolution per request (the loopback policy re-checks it).
        results["ollama-localhost"] = await bench_protocol("ollama", ollama, localhost, args)
    with StandaloneDouble("openai_double", "--models", "gpt-4o-mini") as openai:
        results["openai"] = await bench_protocol("openai", openai, openai.url + "/v1", args)

    print(f"{'':28}{'bare':>11}{'adapter':>11}     {'ratio':>8}")
    for name, result in results.items():
        short, long = result["short"], result["long"]
        print(f"{name} (median of {args.runs} short / {args.throughput_runs} long answers)")
        for label, key, part in (
            ("time to first delta", "firstDeltaMs", short),
            ("total, short answer", "totalMs", short),
            (f"total, {args.chunks} chunks", "totalMs", long),
        ):
            print(row(label, part["bare"][key], part["adapter"][key], "ms"))
        print(row("per chunk", long["bare"]["perChunkUs"], long["adapter"]["perChunkUs"], "µs"))
        ratio = short["adapter"]["firstDeltaMs"] / short["bare"]["firstDeltaMs"]
        result["firstDeltaRatio"] = round(ratio, 4)
        result["meetsTarget"] = ratio <= 1.05

    args.out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "adapter vs bare httpx stream",
        "target": "adapter/bare <= 1.05 on time to first delta",
        "measuredAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": {
            "python": sys.version.split()[0],
            "httpx": httpx.__version__,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            # Shared 2-core machines are noisy; read the ratios with this in mind.
            "loadAverage1m": round(os.getloadavg()[0], 2),
        },
        "parameters": {
            "runs": args.runs,
            "chunks": args.chunks,
            "throughputRuns": args.throughput_runs,
        },
        "results": results,
    }
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"written to {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    asyncio.run(main())
