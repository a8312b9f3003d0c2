"""`listConnections` while another process on the same data folder writes.

Issue 10 made connections shared live between processes: a read first asks SQLite
whether anyone else committed (`PRAGMA data_version`) and reloads only when the
connections' generation moved. This measures what that costs the hot path: the
round trip of `listConnections` on a sidecar, idle, and while a second process (a
plain core, no editor) edits a connection 20 times a second and writes a run record
100 times a second — the worst case: every edit makes the sidecar reload.

With `MODELWIRE_BENCH_BASELINE=<older checkout>/server`, the same figures are taken
for that code in the same run (its sidecar and its writer), for a before/after pair.
"""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import time
from typing import Any

from testkit.sidecar import Sidecar

from bench.common import percentile, rounded, start_sidecar, workspace

TARGET_P50_MS = 1.0
BASELINE_ENV = "MODELWIRE_BENCH_BASELINE"

# The other process: the core of whichever code is on its PYTHONPATH.
WRITER = textwrap.dedent(
    """
    import sys, time, uuid
    from pathlib import Path
    from modelwire.core.app import ModelWire
    from modelwire.protocol import CreateConnectionParams, UpdateConnectionParams

    core = ModelWire(Path(sys.argv[1]), load_plugins=False)
    conn = core.connections.create(CreateConnectionParams(
        name="Writer", provider_id="ollama", base_url="http://127.0.0.1:11434"))
    run_id = str(uuid.uuid4())
    core.store.execute(
        "INSERT INTO runs(run_id, agent_id, uri, status, timings) VALUES (?,?,?,?,?)",
        (run_id, "bench", "file:///x", "running", "{}"))
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        if i % 5 == 0:
            core.connections.update(UpdateConnectionParams(id=conn.id, default_model=f"m{i}"))
        core.store.execute("UPDATE runs SET output = ? WHERE run_id = ?", ("x" * 64 * i, run_id))
        time.sleep(0.01)
    """
)


async def _probe(s: Sidecar, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        await s.call("modelwire/listConnections", {}, timeout=30)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _stats(times: list[float]) -> dict[str, float]:
    return {"p50": rounded(percentile(times, 50)), "p99": rounded(percentile(times, 99))}


async def _measure(samples: int, pythonpath: str | None) -> dict[str, Any]:
    env = {"PYTHONPATH": pythonpath} if pythonpath else {}
    with workspace() as ws:
        if pythonpath:
            s = await Sidecar.start(
                ws.home, folders=[ws.folder], env=env, stderr_path=ws.root / "sidecar.log"
            )
        else:
            s = await start_sidecar(ws)
        writer: asyncio.subprocess.Process | None = None
        try:
            for i in range(3):  # a few user connections to list
                await s.call(
                    "modelwire/createConnection",
                    {"name": f"C{i}", "providerId": "ollama", "baseUrl": "http://127.0.0.1:11434"},
                )
            await _probe(s, 30)  # warm-up: handlers loaded, caches filled
            idle = await _probe(s, samples)
            writer = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                WRITER,
                str(ws.home),
                env={**os.environ, **env},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
            assert writer.stdout is not None
            ready = await asyncio.wait_for(writer.stdout.readline(), 30)
            if ready.strip() != b"ready":
                raise RuntimeError("the writer process did not start")
            await asyncio.sleep(0.5)
            busy = await _probe(s, samples)
            listed = await s.call("modelwire/listConnections", {})
            sees_writer = any(c["name"] == "Writer" for c in listed["connections"])
        finally:
            if writer is not None:
                writer.kill()
                await writer.wait()
            await s.close()
    return {"idleMs": _stats(idle), "withWriterMs": _stats(busy), "seesWriter": sees_writer}


async def run(samples: int = 300) -> dict[str, Any]:
    after = await _measure(samples, None)
    result: dict[str, Any] = {
        "after": after,
        "samples": samples,
        "writer": "20 connection edits/s + 100 run-record writes/s, a separate process",
        "target": {"listConnectionsP50Ms": TARGET_P50_MS},
        "pass": after["idleMs"]["p50"] <= TARGET_P50_MS
        and after["withWriterMs"]["p50"] <= TARGET_P50_MS
        and after["seesWriter"],
    }
    baseline = os.environ.get(BASELINE_ENV)
    if baseline:
        result["before"] = await _measure(samples, baseline)
        result["beforeTree"] = baseline
    return result
