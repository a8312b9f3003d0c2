"""Agent to agent across machines: an orchestrator on the local Ollama delegates `review`
to an agent shared over Hyperswarm (a `peer` connection), on the loopback testnet of
tests/e2e/test_p2p_share.py. In CI a missing Node, bridge or unshare fails this test."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from testkit.doubles.ollama_double import OllamaDouble
from testkit.doubles.tool_script import ToolTurn
from testkit.p2p import P2PNet, ShareHost
from testkit.sidecar import Sidecar
from tests.e2e.test_p2p_share import host_home, host_runs, net, ollama, share  # noqa: F401

pytestmark = pytest.mark.real_peer("hyperswarm")


async def test_an_orchestrator_delegates_review_to_a_shared_agent_on_a_peer(
    net: P2PNet,  # noqa: F811
    share: ShareHost,  # noqa: F811
    host_home: Path,  # noqa: F811
    ollama: OllamaDouble,  # noqa: F811
    tmp_path: Path,
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "main.py").write_text("def total(xs):\n    return sum(xs) / len(xs)\n")
    ollama.script_tools(ToolTurn([{"name": "run_agent", "arguments": {"agent": "review"}}]))
    settings = {"defaultConnection": "Local Ollama", "agentConnections": {"review": "Shared"}}
    sidecar = await Sidecar.start(tmp_path / "client", folders=[ws], settings=settings, env=net.env)
    try:
        await sidecar.call(
            "modelwire/createConnection",
            {
                "name": "Local Ollama",
                "providerId": "ollama",
                "baseUrl": ollama.url,
                "defaultModel": "llama3.2",
            },
        )
        peer = await sidecar.call(
            "modelwire/createConnection",
            {"name": "Shared", "providerId": "peer", "timeouts": {"connectSeconds": 10}},
        )
        await sidecar.call(
            "modelwire/setSecret", {"connectionId": peer["id"], "secret": share.server_id}
        )
        params = {"agentId": "improve", "textDocument": {"uri": (ws / "main.py").as_uri()}}
        record = await asyncio.wait_for(sidecar.call("modelwire/startRun", params, timeout=60), 60)
        assert record["status"] == "succeeded", record
        (step,) = record["steps"]
        assert (step["tool"], step["outcome"]) == ("run_agent", "ok")
        child = await sidecar.call("modelwire/getRun", {"runId": step["childRunId"]})
    finally:
        await sidecar.close()

    assert child["parentRunId"] == record["runId"] and child["status"] == "succeeded"
    assert child["routing"]["connectionName"] == "Shared"
    assert child["routing"]["providerId"] == "peer" and child["routing"]["source"] == "settings"
    assert child["output"].strip()
    # The host served the child's prompt as a run of its own.
    served = host_runs(host_home)
    assert served and served[0]["status"] == "succeeded"
