"""Startup: spawn → `initialize` result, the sidecar versus a bare pygls server.

Three commands are timed in alternation in the same run (so machine load hits them all
alike): `python -m modelwire serve`, `python bench/bare_server.py` (pygls, nothing
else) and `python -c pass` (the interpreter alone, spawn → exit). The first round is a
warm-up (page cache, .pyc files) and is not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from testkit.sidecar import Sidecar

from bench.common import median, percentile, rounded

BARE = Path(__file__).with_name("bare_server.py")


async def _time_initialize(command: list[str], home: Path) -> tuple[float, float | None]:
    """(spawn → initialize result, spawn → first modelwire/listProviders answer)."""
    t0 = time.perf_counter()
    sidecar = await Sidecar.spawn(home, command=command)
    first: float | None = None
    try:
        await sidecar.initialize(timeout=30)
        elapsed = time.perf_counter() - t0
        if command[-1] == "serve":
            # The sidecar answers initialize before it loads its core; the first real
            # request pays for the rest. Both are reported.
            await sidecar.call("modelwire/listProviders", {}, timeout=30)
            first = time.perf_counter() - t0
    finally:
        with contextlib.suppress(Exception):
            await sidecar.close(timeout=10)
        await sidecar.kill()
    return elapsed, first


async def _time_python_pass() -> float:
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await proc.wait()
    return time.perf_counter() - t0


async def run(rounds: int = 12) -> dict[str, Any]:
    samples: dict[str, list[float]] = {"modelwire": [], "barePygls": [], "pythonPass": []}
    ready: list[float] = []
    with tempfile.TemporaryDirectory(prefix="modelwire-bench-startup-") as tmp:
        for i in range(rounds + 1):
            home = Path(tmp) / f"home{i}"  # a fresh MODELWIRE_HOME: first-start cost included
            order = ["modelwire", "barePygls", "pythonPass"]
            if i % 2:
                order.reverse()
            for name in order:
                if name == "modelwire":
                    value, first = await _time_initialize(
                        [sys.executable, "-m", "modelwire", "serve"], home
                    )
                    if i > 0 and first is not None:
                        ready.append(first)
                elif name == "barePygls":
                    value, _ = await _time_initialize([sys.executable, str(BARE)], home)
                else:
                    value = await _time_python_pass()
                if i > 0:
                    samples[name].append(value)
    med = {k: median(v) for k, v in samples.items()}
    ratio = med["modelwire"] / med["barePygls"]
    return {
        "rounds": rounds,
        "medianSeconds": {k: rounded(v, 4) for k, v in med.items()},
        "p90Seconds": {k: rounded(percentile(v, 90), 4) for k, v in samples.items()},
        "ratioModelwireToBarePygls": rounded(ratio, 3),
        "modelwireOverBareMs": rounded((med["modelwire"] - med["barePygls"]) * 1000, 1),
        "modelwireFirstRequestMedianSeconds": rounded(median(ready), 4),
        "firstRequestNote": "spawn → initialize → initialized → first modelwire/listProviders "
        "answer: what an editor waits for before the first useful reply",
        "target": "ratio <= 1.15",
        "pass": ratio <= 1.15,
        "samples": {k: [rounded(x, 4) for x in v] for k, v in samples.items()},
    }
