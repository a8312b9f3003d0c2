"""Many processes, one data folder: two editor windows' sidecars and the CLI share a
MODELWIRE_HOME as peers (docs/processes.md). Real processes over stdio, real store."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testkit.doubles.ollama_double import OllamaDouble
from testkit.sidecar import RpcError, Sidecar

from tests.adversarial.helpers import (
    Workspace,
    make_workspace,
    ollama_connection,
    poll,
    run_params,
    running,
)
from tests.cli.helpers import modelwire

BOUND = 20.0
CHANGED = "modelwire/didChangeConnections"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path)


@pytest.fixture
def slow_ollama() -> Iterator[OllamaDouble]:
    """An answer of 12 words, 0.15 s apart: a run that streams for about two seconds."""
    with OllamaDouble(models=["llama3.2"]) as double:
        double.behave(reply=" ".join(f"w{i}" for i in range(12)), chunk_delay=0.15)
        yield double


def changes(s: Sidecar) -> list[dict[str, Any]]:
    return [n["params"] for n in s.notifications if n.get("method") == CHANGED]


async def first_delta(s: Sidecar) -> str:
    event = await s.wait_event(lambda e: e["kind"] == "delta", BOUND)
    return str(event["runId"])


async def test_a_second_sidecar_and_a_cli_command_leave_a_streaming_run_alone(
    ws: Workspace, slow_ollama: OllamaDouble
) -> None:
    # About 9 s of stream: a second sidecar and two CLI commands start while it runs, and
    # on 2 loaded cores those took longer than the fixture's ~2 s (the run had finished,
    # activeRuns read 0).
    slow_ollama.behave(reply=" ".join(f"w{i}" for i in range(60)))
    async with running(ws) as first:
        conn = await ollama_connection(first, slow_ollama.url)
        run = first.request("modelwire/startRun", run_params(ws, conn))
        run_id = await first_delta(first)

        async with running(ws) as second:
            assert (await second.call("modelwire/getRun", {"runId": run_id}))["status"] == "running"
            listed = modelwire(ws.home, "runs")
            assert listed.returncode == 0, listed.stderr
            status = json.loads(modelwire(ws.home, "status", "--json").stdout)
            assert (status["activeRuns"], status["queuedRuns"]) == (1, 0)  # the first's run
            for s in (first, second):
                record = await s.call("modelwire/getRun", {"runId": run_id})
                assert record["status"] == "running"

            result = await asyncio.wait_for(run, BOUND)
            assert result["status"] == "succeeded"
            seen = await second.call("modelwire/getRun", {"runId": run_id})
            assert (seen["status"], seen["output"]) == ("succeeded", result["output"])


async def test_a_connection_made_in_one_window_is_listed_and_deletable_in_the_other(
    ws: Workspace, slow_ollama: OllamaDouble
) -> None:
    async with running(ws) as first, running(ws) as second:
        before = await second.call("modelwire/listConnections", {})  # both are up and watching
        assert before["connections"] == [] or all(
            c["name"] != "Shared Ollama" for c in before["connections"]
        )
        conn = await ollama_connection(first, slow_ollama.url, name="Shared Ollama")

        await poll(lambda: any(conn in c["connectionIds"] for c in changes(second)), 5, "notice")
        listed = await second.call("modelwire/listConnections", {})
        assert conn in [c["id"] for c in listed["connections"]]

        deleted = await second.call("modelwire/deleteConnection", {"id": conn})
        assert deleted == {"deleted": True}
        await poll(
            lambda: sum(conn in c["connectionIds"] for c in changes(first)) >= 2, 5, "notice"
        )
        listed = await first.call("modelwire/listConnections", {})
        assert conn not in [c["id"] for c in listed["connections"]]


async def test_a_sigkilled_sidecars_run_reads_interrupted_from_the_other(
    ws: Workspace, slow_ollama: OllamaDouble
) -> None:
    async with running(ws) as second:
        first = await Sidecar.start(ws.home, folders=[ws.folder], stderr_path=ws.log)
        try:
            first.open_document(ws.doc_uri, "def add(a, b):\n    return a + b\n")
            conn = await ollama_connection(first, slow_ollama.url)
            first.request("modelwire/startRun", run_params(ws, conn))
            run_id = await first_delta(first)
            # Kill once a checkpoint (every second) has saved part of the output.
            for _ in range(100):
                seen = await second.call("modelwire/getRun", {"runId": run_id})
                assert seen["status"] == "running"
                if seen["output"]:
                    break
                await asyncio.sleep(0.05)

            first.proc.send_signal(signal.SIGKILL)
            await first.wait()

            record = await second.call("modelwire/getRun", {"runId": run_id})
            assert record["status"] == "interrupted"
            assert record["output"].startswith("w0")  # the checkpointed part survives
        finally:
            await first.kill()


async def test_a_limit_of_one_and_a_queue_of_eight_hold_across_two_sidecars(
    ws: Workspace,
) -> None:
    settings = {"limits": {"queueSize": 8}}
    with OllamaDouble(models=["llama3.2"]) as ollama:
        # Each generation waits 2 s for its first token: all 20 runs are in before the
        # first slot frees, so exactly 1 + 8 are admitted.
        ollama.behave(reply="one two three", delay_first_token=2.0)
        async with (
            running(ws, settings=settings) as first,
            running(ws, settings=settings) as second,
        ):
            conn = await ollama_connection(first, ollama.url, maxConcurrent=1)
            listed = await second.call("modelwire/listConnections", {})
            assert conn in [c["id"] for c in listed["connections"]]
            calls = [
                (first if i % 2 == 0 else second).request(
                    "modelwire/startRun", run_params(ws, conn)
                )
                for i in range(20)
            ]
            outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 120)
            queued_positions = [
                e["position"] for s in (first, second) for e in s.events if e["kind"] == "queued"
            ]

    served = [o for o in outcomes if isinstance(o, dict)]
    busy = [o for o in outcomes if isinstance(o, RpcError) and o.data_code == "MODEL_BUSY"]
    assert [o["status"] for o in served] == ["succeeded"] * 9
    assert len(busy) == 11
    assert ollama.peak_chats_in_flight == 1
    assert len(ollama.requests_to("/api/chat")) == 9
    assert sorted(set(queued_positions)) == list(range(1, 9))  # positions across both


async def test_a_killed_sidecars_slot_passes_to_the_run_queued_in_another(
    ws: Workspace,
) -> None:
    with OllamaDouble(models=["llama3.2"]) as ollama:
        ollama.behave(reply="one two three four", stall_after=2)  # holds the slot
        async with running(ws) as second:
            first = await Sidecar.start(ws.home, folders=[ws.folder], stderr_path=ws.log)
            try:
                first.open_document(ws.doc_uri, "def add(a, b):\n    return a + b\n")
                conn = await ollama_connection(first, ollama.url, maxConcurrent=1)
                first.request("modelwire/startRun", run_params(ws, conn))
                await first_delta(first)
                waiting = second.request("modelwire/startRun", run_params(ws, conn))
                await second.wait_event(lambda e: e["kind"] == "queued", BOUND)

                status = await second.call("modelwire/status", {})
                assert (status["activeRuns"], status["queuedRuns"]) == (1, 1)
                (load,) = [c for c in status["connections"] if c["connectionId"] == conn]
                assert (load["active"], load["queued"], load["limit"]) == (1, 1, 1)

                ollama.behave(stall_after=None)  # the next answer is whole
                first.proc.send_signal(signal.SIGKILL)
                await first.wait()

                result = await asyncio.wait_for(waiting, BOUND)
                assert result["status"] == "succeeded"
            finally:
                await first.kill()
