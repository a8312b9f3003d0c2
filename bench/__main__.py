"""`python -m bench`: every benchmark, one run, JSON + Markdown reports in bench/results/.

.venv/bin/python -m bench                 # everything (about 3-5 minutes on 2 cores)
.venv/bin/python -m bench --only startup,routing
.venv/bin/python -m bench --quick         # fewer samples, a smoke test of the harness
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench import (
    cancel,
    embedded,
    machine,
    orchestration,
    p2p,
    processes,
    report,
    startup,
    streaming,
)

RESULTS = Path(__file__).with_name("results")
ALL = [
    "startup",
    "routing",
    "llamacpp",
    "cancel",
    "orchestration",
    "throughput",
    "concurrency",
    "memory",
    "processes",
    "p2p",
    "embedded",
]


async def _run(only: list[str], quick: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}

    async def step(name: str, coro: Any) -> None:
        print(f"bench: {name} …", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            results[name] = await coro
        except Exception as exc:  # one broken benchmark must not hide the others
            results[name] = {"error": f"{type(exc).__name__}: {exc}", "pass": False}
        results[name]["benchSeconds"] = round(time.perf_counter() - t0, 1)
        print(f"bench: {name} done in {results[name]['benchSeconds']} s", file=sys.stderr)

    if "startup" in only:
        await step("startup", startup.run(rounds=4 if quick else 12))
    if "routing" in only:
        await step("routing", streaming.routing(samples=10 if quick else 40))
    if "llamacpp" in only:
        await step("llamacpp", streaming.routing_llamacpp(samples=3 if quick else 8))
    if "cancel" in only:
        await step("cancel", cancel.run(samples=6 if quick else 20))
    if "orchestration" in only:
        await step("orchestration", orchestration.run(samples=2 if quick else 6))
    if "throughput" in only:
        chunks = 20_000 if quick else 200_000
        await step("throughputOllama", streaming.throughput(chunks, "ollama"))
        await step("throughputOpenAI", streaming.throughput(chunks, "openai"))
    if "concurrency" in only:
        await step("concurrency50", streaming.concurrency(50))
        await step("concurrency200", streaming.concurrency(200))
    if "embedded" in only:
        await step("embedded", embedded.embedded_first_token(samples=2 if quick else 3))
    if "memory" in only:
        await step("memory", streaming.memory(total=200 if quick else 1000))
    if "processes" in only:
        await step("processes", processes.run(samples=60 if quick else 300))
    if "p2p" in only:
        await step(
            "p2p",
            p2p.run(
                connects=5 if quick else 15,
                samples=10 if quick else 40,
                chunks=10_000 if quick else 50_000,
            ),
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(ALL), help=f"comma list of {ALL}")
    parser.add_argument("--quick", action="store_true", help="fewer samples (harness smoke test)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(only) - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s): {sorted(unknown)}")
    facts = machine.describe()
    t0 = time.perf_counter()
    results = asyncio.run(_run(only, args.quick))
    total = round(time.perf_counter() - t0, 1)
    machine.finish(facts)
    doc = {
        "machine": facts,
        "quick": args.quick,
        "totalSeconds": total,
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = "latest-quick" if args.quick else "latest"
    (args.out / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    (args.out / f"{name}.md").write_text(report.markdown(doc))
    print(report.markdown(doc))
    print(f"bench: wrote {args.out / name}.json and .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
