"""Cancel latency: cancel sent → the run's `end` event, both ways an editor cancels.

The Ollama double (its own process) sends three chunks and then stalls, so only the
cancel can end a run. Each sample starts a run, waits for its first `delta`, sends
`modelwire/cancelRun` or `$/cancelRequest` (what VS Code sends when its token fires),
and times until the `end` event arrives. The baseline, from the same sidecar in the
same run, is one `modelwire/listProviders` round trip (answered from memory): the cost
of a message each way. tests/lsp/test_runs.py checks the order of these events; this is
where the time lives.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from testkit.doubles.http_double import StandaloneDouble
from testkit.sidecar import RpcError

from bench.common import median, percentile, rounded, run_params, start_sidecar, workspace

MODEL = "llama3.2"
TARGET_P90_MS = 200.0


async def run(samples: int = 20) -> dict[str, Any]:
    double = StandaloneDouble("ollama_double", "--models", MODEL)
    times: dict[str, list[float]] = {"cancelRun": [], "cancelRequest": [], "roundTrip": []}
    try:
        double.control(behave={"stallAfter": 3})
        with workspace() as ws:
            s = await start_sidecar(ws)
            try:
                conn = await s.call(
                    "modelwire/createConnection",
                    {
                        "name": "Stalling",
                        "providerId": "ollama",
                        "baseUrl": double.url,
                        "defaultModel": MODEL,
                    },
                )
                for i in range(samples + 2):
                    order = (
                        ["cancelRun", "cancelRequest"] if i % 2 else ["cancelRequest", "cancelRun"]
                    )
                    for how in order:
                        value = await _cancel_once(s, ws, conn["id"], how, f"c{i}-{how}")
                        t0 = time.perf_counter()
                        await s.call("modelwire/listProviders", {})
                        trip = time.perf_counter() - t0
                        if i >= 2:  # warm-up: imports, the connection's client
                            times[how].append(value * 1000)
                            times["roundTrip"].append(trip * 1000)
            finally:
                await s.close()
    finally:
        double.stop()
    med = {k: median(v) for k, v in times.items()}
    p90 = {k: percentile(v, 90) for k, v in times.items()}
    worst = max(p90["cancelRun"], p90["cancelRequest"])
    return {
        "samples": samples,
        "backend": "Ollama double (separate process), stalls after 3 chunks",
        "medianMs": {k: rounded(v) for k, v in med.items()},
        "p90Ms": {k: rounded(v) for k, v in p90.items()},
        "definition": "cancel sent → `end` event received, after the run's first delta; "
        "roundTrip = one listProviders request on the same sidecar",
        "target": f"cancel → end p90 <= {TARGET_P90_MS:g} ms, both ways",
        "pass": worst <= TARGET_P90_MS,
    }


async def _cancel_once(s: Any, ws: Any, connection_id: str, how: str, client_run_id: str) -> float:
    msg_id = f"run-{client_run_id}"
    answer = s.request(
        "modelwire/startRun",
        run_params(ws, connection_id, clientRunId=client_run_id),
        msg_id=msg_id,
    )
    await s.drain()
    delta = await s.wait_event(
        lambda e: e.get("clientRunId") == client_run_id and e["kind"] == "delta", timeout=30
    )
    t0 = time.perf_counter()
    if how == "cancelRun":
        s.request("modelwire/cancelRun", {"runId": delta["runId"]})
    else:
        s.cancel_request(msg_id)
    await s.drain()
    await s.wait_event(
        lambda e: e.get("clientRunId") == client_run_id and e["kind"] == "end", timeout=30
    )
    elapsed = time.perf_counter() - t0
    with contextlib.suppress(RpcError):  # -32800: the cancelled run's answer
        await answer
    return elapsed
