"""Orchestration overhead per step: the sidecar's time between a model turn that ends in
a tool call and the next model request (issue 13).

The real sidecar (`python -m modelwire serve`, driven over stdio) runs the built-in
`improve` orchestrator on the Ollama double, in its own process, scripted to call a
tool on every turn (8 steps, then the answer). The double stamps, on the machine-wide
monotonic clock, when each /api/chat response ended and when the next request arrived:
the difference is one step's overhead as the backend sees it. Two kinds of step:

- `read_file` of a 10 KB workspace file (resolve, read, feed back, next request);
- `run_agent review`: a whole child run (routing, record, its own model request to the
  OpenAI double in another process, its answer fed back) before the next request.

The baseline, alternated with the runs in the same benchmark: one bare `httpx` chat
round trip (POST, stream the whole answer) to the same Ollama double.

    .venv/bin/python -m bench --only orchestration
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx
from testkit.doubles.http_double import StandaloneDouble

from bench.common import median, percentile, rounded, start_sidecar, workspace

MODEL = "llama3.2"
STEPS = 8
BIG_FILE = "big.txt"


def _turns(tool: str) -> list[dict[str, Any]]:
    arguments = {"path": BIG_FILE} if tool == "read_file" else {"agent": "review"}
    return [{"calls": [{"name": tool, "arguments": arguments}]} for _ in range(STEPS)]


def _gaps(recorded: list[dict[str, Any]]) -> list[float]:
    """ms between the end of each tool-call turn and the arrival of the next request."""
    chats = [r for r in recorded if r["path"] == "/api/chat"]
    gaps = []
    for before, after in itertools.pairwise(chats):
        if before["finishedAt"] is not None:
            gaps.append((after["receivedAt"] - before["finishedAt"]) * 1000)
    return gaps


async def _direct_round_trip(client: httpx.AsyncClient, url: str) -> float:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    t0 = time.perf_counter()
    async with client.stream("POST", f"{url}/api/chat", json=body) as response:
        async for _ in response.aiter_bytes():
            pass
    return (time.perf_counter() - t0) * 1000


async def run(samples: int = 6) -> dict[str, Any]:
    ollama = StandaloneDouble("ollama_double", "--models", MODEL)
    openai = StandaloneDouble("openai_double", "--models", "gpt-4o-mini")
    times: dict[str, list[float]] = {"readFile10KB": [], "childRun": [], "directHttpx": []}
    try:
        with workspace() as ws:
            (ws.folder / BIG_FILE).write_text(("x" * 99 + "\n") * 100)  # 10,000 bytes
            settings = {
                "defaultConnection": "Local Ollama",
                "agentConnections": {"review": "Work"},
                "agents": {"maxSteps": STEPS},
            }
            s = await start_sidecar(ws, settings)
            try:
                await s.call(
                    "modelwire/createConnection",
                    {
                        "name": "Local Ollama",
                        "providerId": "ollama",
                        "baseUrl": f"http://localhost:{ollama.port}",
                        "defaultModel": MODEL,
                    },
                )
                await s.call(
                    "modelwire/createConnection",
                    {
                        "name": "Work",
                        "providerId": "openai",
                        "baseUrl": openai.url + "/v1",
                        "defaultModel": "gpt-4o-mini",
                    },
                )
                async with httpx.AsyncClient(trust_env=False) as client:
                    for i in range(samples + 1):
                        order = ["readFile10KB", "childRun", "directHttpx"]
                        if i % 2:
                            order.reverse()
                        for name in order:
                            if name == "directHttpx":
                                values = [
                                    await _direct_round_trip(client, ollama.url)
                                    for _ in range(STEPS)
                                ]
                            else:
                                tool = "read_file" if name == "readFile10KB" else "run_agent"
                                ollama.control(reset=True, toolTurns=_turns(tool))
                                params = {"agentId": "improve", "textDocument": {"uri": ws.doc_uri}}
                                record = await s.call("modelwire/startRun", params, timeout=120)
                                if len(record.get("steps") or []) != STEPS:
                                    raise RuntimeError(f"{name}: {record.get('errorCode')}")
                                values = _gaps(ollama.recorded())
                            if i >= 1:  # the first round warms imports, pools, caches
                                times[name].extend(values)
                s.keep_events = False
            finally:
                await s.close()
    finally:
        ollama.stop()
        openai.stop()
    med = {k: median(v) for k, v in times.items()}
    return {
        "samples": {k: len(v) for k, v in times.items()},
        "definition": "ms from the end of a tool-call turn to the next model request, "
        "timed by the Ollama double (separate process); baseline: a bare httpx chat round "
        "trip to the same double",
        "medianMs": {k: rounded(v) for k, v in med.items()},
        "p99Ms": {k: rounded(percentile(v, 99)) for k, v in times.items()},
        "ratioToHttpxRoundTrip": {
            "readFile10KB": rounded(med["readFile10KB"] / med["directHttpx"], 2),
            "childRun": rounded(med["childRun"] / med["directHttpx"], 2),
        },
    }
