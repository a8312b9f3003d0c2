"""The Embedded connection's first token, against llama.cpp's server started directly.

A new user's first run: Explain on samples/inventory.py with no connection configured, so
it routes to Embedded. The extension warms the embedded server when it starts
(`modelwire/warmUp`), so the figure is the time from `startRun` to the first delta of a
fresh sidecar whose embedded server was just warmed, versus the time from the request to
the first delta of a llama.cpp server that was started directly, with the same model,
the same context size and the same messages (the sidecar's own `build_messages`), and
had just become ready. Both are first requests to a freshly started server, so both pay
the same prompt evaluation; the pairs are interleaved so machine noise hits both alike.
The cold figure (no warm-up) is reported beside it. Target: warmed sidecar / direct ≤ 1.2.

    .venv/bin/python -m bench --only embedded
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
from testkit.sidecar import Sidecar

from bench.common import median, rounded

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "inventory.py"
TARGET = 1.2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _messages(uri: str, text: str) -> tuple[list[dict[str, str]], int]:
    from modelwire.core.agents import AgentCatalog, build_messages

    agent = AgentCatalog().get("explain", None)
    messages = build_messages(agent, text=text, uri=uri, language_id="python", selection=None)
    return [{"role": m.role, "content": m.content} for m in messages], agent.max_tokens


async def _sidecar_first_token(text: str, warm: bool) -> dict[str, float]:
    """A fresh sidecar (no connections: Embedded is the fallback), optionally warmed."""
    with tempfile.TemporaryDirectory(prefix="modelwire-bench-embedded-") as tmp:
        root = Path(tmp)
        folder = root / "ws"
        folder.mkdir()
        doc = folder / "inventory.py"
        doc.write_text(text, encoding="utf-8")
        home = root / "home"
        home.mkdir()
        s = await Sidecar.start(
            home, folders=[folder], settings={}, stderr_path=root / "sidecar.log"
        )
        try:
            s.open_document(doc.as_uri(), text)
            warm_s = 0.0
            if warm:
                t0 = time.perf_counter()
                result = await s.call(
                    "modelwire/warmUp", {"scopeUri": folder.as_uri()}, timeout=120
                )
                warm_s = time.perf_counter() - t0
                assert result["warmed"], f"warmUp did not start Embedded: {result}"
            t0 = time.perf_counter()
            record = await s.call(
                "modelwire/startRun",
                {"agentId": "explain", "textDocument": {"uri": doc.as_uri()}},
                timeout=300,
            )
            stats = s.runs[record["runId"]]
            assert record["routing"]["providerId"] == "embedded", record["routing"]
            assert stats.first_delta_t is not None, "the run produced no delta"
            return {"firstTokenMs": (stats.first_delta_t - t0) * 1000, "warmUpMs": warm_s * 1000}
        finally:
            await s.close()


async def _direct_first_token(
    model: Path, messages: list[dict[str, str]], max_tokens: int
) -> dict[str, float]:
    """llama.cpp's server started directly (the embedded server's context size), first request."""
    port = _free_port()
    log = open(os.devnull, "wb")  # noqa: SIM115, ASYNC230
    t_start = time.perf_counter()
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once per sample
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--model_alias",
            "smollm2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
        ],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/models", timeout=2):  # noqa: ASYNC210
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the llama.cpp server did not start") from None
                await asyncio.sleep(0.1)
        ready_s = time.perf_counter() - t_start
        body = {"model": "smollm2", "messages": messages, "stream": True, "max_tokens": max_tokens}
        async with httpx.AsyncClient(trust_env=False, timeout=300) as client:
            t0 = time.perf_counter()
            async with client.stream("POST", url + "/chat/completions", json=body) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: {"):
                        choices = json.loads(line[6:]).get("choices") or []
                        if choices and (choices[0].get("delta") or {}).get("content"):
                            return {
                                "firstTokenMs": (time.perf_counter() - t0) * 1000,
                                "readyMs": ready_s * 1000,
                            }
        raise RuntimeError("no content from the server")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


async def embedded_first_token(samples: int = 3) -> dict[str, Any]:
    from modelwire.adapters.embedded import default_model_path, embedded_status

    ok, why = embedded_status()
    model = default_model_path()
    if not ok or model is None:
        return {"skipped": f"the embedded model is not installed: {why}"}
    text = SAMPLE.read_text(encoding="utf-8")
    messages, max_tokens = _messages(SAMPLE.as_uri(), text)
    runs: dict[str, list[float]] = {"sidecarWarmed": [], "direct": [], "sidecarCold": []}
    extra: dict[str, list[float]] = {"warmUpMs": [], "directReadyMs": []}
    for i in range(samples):
        order = ["warm", "direct", "cold"] if i % 2 == 0 else ["direct", "cold", "warm"]
        for name in order:
            if name == "direct":
                d = await _direct_first_token(model, messages, max_tokens)
                runs["direct"].append(d["firstTokenMs"])
                extra["directReadyMs"].append(d["readyMs"])
            else:
                r = await _sidecar_first_token(text, warm=name == "warm")
                runs["sidecarWarmed" if name == "warm" else "sidecarCold"].append(r["firstTokenMs"])
                if name == "warm":
                    extra["warmUpMs"].append(r["warmUpMs"])
    med = {k: median(v) for k, v in runs.items()}
    ratio = med["sidecarWarmed"] / med["direct"]
    return {
        "samples": samples,
        "backend": "Embedded (llama-cpp-python server, SmolLM2-135M-Instruct Q4_1) "
        "vs the same server started directly",
        "prompt": "Explain on samples/inventory.py (the sidecar's own messages on both paths)",
        "medianFirstTokenMs": {k: rounded(v) for k, v in med.items()},
        "medianWarmUpMs": rounded(median(extra["warmUpMs"])),
        "medianDirectReadyMs": rounded(median(extra["directReadyMs"])),
        "warmedOverDirect": rounded(ratio),
        "target": TARGET,
        "pass": ratio <= TARGET,
    }


__all__ = ["embedded_first_token"]
