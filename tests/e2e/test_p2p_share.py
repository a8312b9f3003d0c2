"""Sharing over Hyperswarm end to end, on a loopback-only testnet (docs/p2p.md).

Every Node process here (testnet, the host's bridge, clients' bridges) runs inside a
private network namespace with only `lo`, against a local HyperDHT testnet, and the
bridge refuses to start otherwise (MODELWIRE_P2P_REQUIRE_ISOLATION=1). In CI a missing
Node, bridge or unshare fails these tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testkit.doubles.ollama_double import OllamaDouble
from testkit.p2p import P2PNet, RawPeer, ShareHost, missing
from testkit.sidecar import RpcError, Sidecar
from tests.conftest import require_peer

from modelwire.p2p import identity, wire

pytestmark = pytest.mark.real_peer("hyperswarm")

DEAD_PEER_SECONDS = 12.0


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[P2PNet]:
    why = missing()
    require_peer(why is None, "Hyperswarm in a network namespace", why or "")
    p2p = P2PNet(tmp_path_factory.mktemp("p2pnet")).start()
    saved = {k: os.environ.get(k) for k in p2p.env}
    os.environ.update(p2p.env)  # RawPeer bridges spawned by this process
    try:
        yield p2p
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        p2p.stop()


@pytest.fixture(scope="module")
def ollama() -> Iterator[OllamaDouble]:
    with OllamaDouble(models=["llama3.2"]) as double:
        yield double


@pytest.fixture
def host_home(tmp_path: Path, ollama: OllamaDouble) -> Path:
    ollama.reset()
    home = tmp_path / "host"
    cli(home, "connections", "add", "--name", "Local Ollama", "--provider", "ollama",
        "--base-url", ollama.url, "--default-model", "llama3.2")  # fmt: skip
    return home


def cli(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODELWIRE_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "modelwire", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def share(net: P2PNet, host_home: Path) -> Iterator[ShareHost]:
    host = ShareHost.start(net, host_home, ["Local Ollama", "--name", "Ana's laptop"])
    try:
        yield host
    finally:
        host.stop()


async def peer_sidecar(net: P2PNet, home: Path, server_id: str) -> tuple[Sidecar, str]:
    sidecar = await Sidecar.start(home, env=net.env)
    conn = await sidecar.call(
        "modelwire/createConnection",
        {"name": "Shared", "providerId": "peer", "timeouts": {"connectSeconds": 10}},
    )
    await sidecar.call("modelwire/setSecret", {"connectionId": conn["id"], "secret": server_id})
    return sidecar, conn["id"]


def source_file(tmp_path: Path, size: int = 200) -> Path:
    path = tmp_path / "inventory.py"
    path.write_text(("x = 1\n" * (size // 6 + 1))[:size])
    return path


def start_run(sidecar: Sidecar, conn_id: str, path: Path) -> asyncio.Future[Any]:
    return sidecar.request(
        "modelwire/startRun",
        {
            "agentId": "explain",
            "textDocument": {"uri": path.as_uri()},
            "connectionId": conn_id,
            "clientRunId": "r1",
        },
    )


def host_runs(home: Path) -> list[dict[str, Any]]:
    return list(json.loads(cli(home, "runs", "--json").stdout))


# --- the story: share on one machine, use it from a sidecar on another -----------------


async def test_sidecar_runs_an_agent_on_a_shared_model(
    net: P2PNet, share: ShareHost, host_home: Path, tmp_path: Path, ollama: OllamaDouble
) -> None:
    sidecar, conn_id = await peer_sidecar(net, tmp_path / "client", share.server_id)
    try:
        health = await sidecar.call("modelwire/testConnection", {"connectionId": conn_id})
        assert health["reachable"] is True, health
        assert "Ana's laptop" in health["version"] and "llama3.2" in health["version"]
        models = await sidecar.call("modelwire/listModels", {"connectionId": conn_id})
        assert [m["id"] for m in models["models"]] == ["llama3.2"]

        record = await asyncio.wait_for(start_run(sidecar, conn_id, source_file(tmp_path)), 30)
        assert record["status"] == "succeeded"
        assert record["output"] == "Hello from the double. This answer arrives one word at a time."
        assert record["routing"]["providerId"] == "peer"
        shown = await sidecar.call("modelwire/listConnections", {})
        assert share.server_id not in json.dumps(shown)
    finally:
        await sidecar.close()

    served = share.wait_for("source=share")
    assert "Local Ollama (ollama) llama3.2" in served and "succeeded" in served
    runs = host_runs(host_home)
    assert runs[0]["routing"]["source"] == "share"
    assert identity.is_public_key_hex(runs[0]["routing"]["requester"])
    assert served.split("client ")[1][:8] == runs[0]["routing"]["requester"][:8]
    audit = (host_home / "audit.log").read_text()
    assert '"purpose":"share"' in audit and runs[0]["runId"] in audit
    # The Ollama double saw the explain agent's prompt with the file in it.
    body = json.loads(ollama.requests_to("/api/chat")[-1].body)
    assert "x = 1" in body["messages"][-1]["content"]


async def test_cancel_aborts_the_generation_on_the_host(
    net: P2PNet, share: ShareHost, host_home: Path, tmp_path: Path, ollama: OllamaDouble
) -> None:
    ollama.behave(chunk_delay=0.2)
    sidecar, conn_id = await peer_sidecar(net, tmp_path / "client", share.server_id)
    try:
        run = start_run(sidecar, conn_id, source_file(tmp_path))
        delta = await sidecar.wait_event(lambda e: e.get("kind") == "delta", timeout=30)
        await sidecar.call("modelwire/cancelRun", {"runId": delta["runId"]})
        with pytest.raises(RpcError) as err:
            await asyncio.wait_for(run, 10)
        assert err.value.code == -32800
    finally:
        await sidecar.close()
    share.wait_for("cancelled", within=10)
    assert host_runs(host_home)[0]["status"] == "cancelled"


async def test_second_client_gets_model_busy_at_once(
    net: P2PNet, share: ShareHost, ollama: OllamaDouble
) -> None:
    ollama.behave(chunk_delay=0.3)
    first, second = await RawPeer.start(share.server_id), await RawPeer.start(share.server_id)
    try:
        await first.wait_open()
        await second.wait_open()
        assert (await first.next())["type"] == "server_info"
        assert (await second.next())["type"] == "server_info"
        first.chat_start("a")
        await first.until(lambda m: m["type"] == "chat_chunk")
        second.chat_start("b")
        busy = await second.until(lambda m: m["type"] == "error")
        assert busy["payload"]["code"] == "MODEL_BUSY" and busy["request_id"] == "b"
        # Answered at once, not queued: the first answer was still streaming after it.
        after = await first.until(lambda m: m["type"] in ("chat_chunk", "chat_end", "error"))
        assert after["type"] == "chat_chunk", after
        end = await first.until(lambda m: m["type"] in ("chat_end", "error"), within=30)
        assert end["type"] == "chat_end"
    finally:
        await first.stop()
        await second.stop()


async def test_a_prompt_over_8_kb_is_refused_before_it_is_sent(
    net: P2PNet, share: ShareHost, host_home: Path, tmp_path: Path
) -> None:
    sidecar, conn_id = await peer_sidecar(net, tmp_path / "client", share.server_id)
    try:
        with pytest.raises(RpcError) as err:
            await asyncio.wait_for(start_run(sidecar, conn_id, source_file(tmp_path, 9000)), 30)
        assert err.value.data_code == "PROMPT_TOO_LARGE"
        assert "selection" in err.value.data["hint"]
    finally:
        await sidecar.close()
    assert host_runs(host_home) == []


async def test_the_sixth_client_is_told_the_host_is_full(net: P2PNet, share: ShareHost) -> None:
    peers = [await RawPeer.start(share.server_id) for _ in range(wire.MAX_CLIENTS)]
    extra: RawPeer | None = None
    try:
        for peer in peers:
            await peer.wait_open()
            assert (await peer.next())["type"] == "server_info"
        extra = await RawPeer.start(share.server_id)
        await extra.wait_open()
        refused = await extra.next()
        assert refused["type"] == "error" and refused["payload"]["code"] == "SERVER_FULL"
        await asyncio.wait_for(extra.closed.wait(), 10)
        share.wait_for("refused: the host is full")
    finally:
        for peer in [*peers, *([extra] if extra else [])]:
            await peer.stop()


async def test_allow_list_refuses_other_keys_before_any_prompt(
    net: P2PNet, host_home: Path
) -> None:
    allowed_seed = identity.new_seed()
    allowed_key = identity.public_key(allowed_seed).hex()
    host = ShareHost.start(net, host_home, ["Local Ollama", "--allow", allowed_key])
    stranger = await RawPeer.start(host.server_id)
    friend = await RawPeer.start(host.server_id, allowed_seed)
    try:
        await friend.wait_open()
        assert (await friend.next())["type"] == "server_info"
        with pytest.raises(TimeoutError):
            await stranger.wait_open(within=5)
        host.wait_for("not on the allow-list")
    finally:
        await stranger.stop()
        await friend.stop()
        host.stop()


async def test_host_killed_mid_stream_is_host_disconnected_within_the_dead_peer_timeout(
    net: P2PNet, share: ShareHost, tmp_path: Path, ollama: OllamaDouble
) -> None:
    ollama.behave(chunk_delay=0.5)
    sidecar, conn_id = await peer_sidecar(net, tmp_path / "client", share.server_id)
    try:
        run = start_run(sidecar, conn_id, source_file(tmp_path))
        await sidecar.wait_event(lambda e: e.get("kind") == "delta", timeout=30)
        bridge = share.bridge_pid()
        assert bridge is not None
        t0 = time.monotonic()
        os.kill(bridge, signal.SIGKILL)  # the host vanishes: no close reaches the client
        share.proc.kill()
        with pytest.raises(RpcError) as err:
            await asyncio.wait_for(run, DEAD_PEER_SECONDS + 10)
        waited = time.monotonic() - t0
        assert err.value.data_code == "HOST_DISCONNECTED", err.value.data
        assert waited < DEAD_PEER_SECONDS + 5
    finally:
        await sidecar.close()


async def test_thirty_fresh_client_processes_connect_without_a_failure(
    net: P2PNet, share: ShareHost
) -> None:
    """The half-open regression check (hyperdht 6.33–6.34): separate processes only."""
    failures = []
    for i in range(30):
        peer = await RawPeer.start(share.server_id)
        try:
            await peer.wait_open(within=10)
            info = await peer.next(within=10)
            if info["type"] != "server_info":
                failures.append((i, info))
        except TimeoutError:
            failures.append((i, "no server_info in 10 s"))
        finally:
            await peer.stop()
    assert failures == []


# --- hostile clients: answered or dropped; the others keep being served -------------------


async def test_bad_lines_are_answered_and_a_persistent_offender_is_dropped(
    net: P2PNet, share: ShareHost
) -> None:
    bad, good = await RawPeer.start(share.server_id), await RawPeer.start(share.server_id)
    try:
        await bad.wait_open()
        await good.wait_open()
        await bad.next()
        await good.next()
        bad.send("this is not json")
        answer = await bad.next()
        assert answer["payload"]["code"] == "BAD_MESSAGE"
        bad.send('{"type":"teleport","request_id":"t"}')
        answer = await bad.next()
        assert answer["payload"]["code"] == "BAD_MESSAGE" and answer["request_id"] == "t"
        bad.send("x" * (wire.LINE_MAX_BYTES + 10))  # oversize: dropped by the bridge
        answer = await bad.next()
        assert "longer than" in answer["payload"]["message"]
        for _ in range(10):
            bad.send("[]")
        await asyncio.wait_for(bad.closed.wait(), 10)
        share.wait_for("dropped: too many bad messages")

        good.chat_start("g")
        end = await good.until(lambda m: m["type"] in ("chat_end", "error"), within=30)
        assert end["type"] == "chat_end"
    finally:
        await bad.stop()
        await good.stop()


async def test_a_chat_start_flood_drops_that_client_only(net: P2PNet, share: ShareHost) -> None:
    flood, good = await RawPeer.start(share.server_id), await RawPeer.start(share.server_id)
    try:
        await flood.wait_open()
        await good.wait_open()
        for i in range(40):
            flood.chat_start(f"f{i}")
        await asyncio.wait_for(flood.closed.wait(), 15)
        share.wait_for("dropped: more than")
        await good.next()
        good.chat_start("g")
        end = await good.until(lambda m: m["type"] in ("chat_end", "error"), within=30)
        assert end["type"] == "chat_end", end
    finally:
        await flood.stop()
        await good.stop()


async def test_a_client_that_never_reads_is_dropped_and_others_are_served(
    net: P2PNet, share: ShareHost, ollama: OllamaDouble
) -> None:
    ollama.behave(fast_chunks=300_000)
    stuck, good = await RawPeer.start(share.server_id), await RawPeer.start(share.server_id)
    try:
        await stuck.wait_open()
        await good.wait_open()
        await stuck.next()
        stuck.chat_start("s")
        await stuck.until(lambda m: m["type"] == "chat_chunk")
        os.kill(stuck.bridge.pid, signal.SIGSTOP)  # reads and acknowledges nothing more
        try:
            # Dropped as a slow reader, or at the latest by the dead-peer timeout.
            share.wait_for(f"client {stuck.public_key[:8]} left", within=DEAD_PEER_SECONDS + 10)
        finally:
            os.kill(stuck.bridge.pid, signal.SIGCONT)
        ollama.behave(fast_chunks=None)
        await good.next()
        good.chat_start("g")
        end = await good.until(lambda m: m["type"] in ("chat_end", "error"), within=30)
        assert end["type"] == "chat_end", end
    finally:
        await stuck.stop()
        await good.stop()


def test_the_bridge_refuses_to_start_outside_isolation(tmp_path: Path) -> None:
    """With isolation required, no bootstrap or a visible non-lo interface → refused."""
    why = missing()
    require_peer(why is None, "node and the bridge", why or "")
    from modelwire.p2p.bridge import PACKAGE_DIR

    isolated = {"MODELWIRE_P2P_REQUIRE_ISOLATION": "1"}
    cases = [
        (["unshare", "-n"], isolated),  # no bootstrap
        (["unshare", "-n"], {**isolated, "MODELWIRE_P2P_BOOTSTRAP": "10.1.2.3:49737"}),
    ]
    if any(name != "lo" for _, name in socket.if_nameindex()):
        # Outside a namespace: the real interfaces are visible. (Refused before
        # Hyperswarm is even loaded, and stdin is empty, so no node could start.)
        cases.append(([], {**isolated, "MODELWIRE_P2P_BOOTSTRAP": "127.0.0.1:49737"}))
    for prefix, env in cases:
        done = subprocess.run(
            [*prefix, "node", str(PACKAGE_DIR / "bridge.js")],
            env={"PATH": os.environ["PATH"], **env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert done.returncode == 3
        assert json.loads(done.stdout)["code"] == "ISOLATION_REQUIRED"


async def test_the_owners_own_run_makes_remote_prompts_busy(
    net: P2PNet, share: ShareHost, host_home: Path, tmp_path: Path, ollama: OllamaDouble
) -> None:
    """The owner runs an agent from a terminal (another process on the host's data
    folder) while a client asks: MODEL_BUSY at once — one machine, one lane."""
    ollama.behave(chunk_delay=0.3)
    env = {**os.environ, "MODELWIRE_HOME": str(host_home)}
    owner = subprocess.Popen(
        [sys.executable, "-m", "modelwire", "run", "explain", str(source_file(tmp_path)),
         "--connection", "Local Ollama"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    peer = await RawPeer.start(share.server_id)
    try:
        await peer.wait_open()
        await peer.next()  # server_info
        ollama.wait_for_requests(1, timeout=30)  # the owner's run reached the model
        share.wait_for("Busy", within=10)
        peer.chat_start("p")
        busy = await peer.until(lambda m: m["type"] == "error")
        assert busy["payload"]["code"] == "MODEL_BUSY"
        assert owner.wait(60) == 0
        share.wait_for("Ready", within=10)
        peer.chat_start("q")
        end = await peer.until(lambda m: m["type"] in ("chat_end", "error"), within=30)
        assert end["type"] == "chat_end", end
    finally:
        if owner.poll() is None:
            owner.kill()
        owner.wait()
        await peer.stop()


async def test_ctrl_c_on_the_host_tells_a_client_mid_answer_host_disconnected(
    net: P2PNet, share: ShareHost, tmp_path: Path, ollama: OllamaDouble
) -> None:
    ollama.behave(chunk_delay=0.5)
    sidecar, conn_id = await peer_sidecar(net, tmp_path / "client", share.server_id)
    try:
        run = start_run(sidecar, conn_id, source_file(tmp_path))
        await sidecar.wait_event(lambda e: e.get("kind") == "delta", timeout=30)
        share.proc.send_signal(signal.SIGINT)
        with pytest.raises(RpcError) as err:
            await asyncio.wait_for(run, 10)
        assert err.value.data_code == "HOST_DISCONNECTED", err.value.data
        assert share.proc.wait(10) == 0
        assert share.wait_for("Stopped")
    finally:
        await sidecar.close()
