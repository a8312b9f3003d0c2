"""Crash safety: SIGKILL the sidecar at random moments during 100 runs, restart it on the
same MODELWIRE_HOME, and check the history after every restart.

Every run the editor heard of is in listRuns; no record is half-written (its JSON
columns parse, its status agrees with its timings and error code); a run that was
queued or running when the process died reads `interrupted`; a run whose success the
editor received reads `succeeded` with its whole output.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
from pathlib import Path
from typing import Any

from testkit.doubles.ollama_double import OllamaDouble
from testkit.sidecar import Sidecar

from tests.adversarial.helpers import (
    SAFE_ENV,
    Workspace,
    alive,
    db_rows,
    integrity_ok,
    make_workspace,
    ollama_connection,
    run_params,
)

TOTAL_RUNS = 100
PARALLEL = 6
REPLY = " ".join(f"w{i}" for i in range(12))
FINAL = {"succeeded", "failed", "cancelled", "interrupted"}


async def _start(ws: Workspace) -> Sidecar:
    s = await Sidecar.start(
        ws.home,
        folders=[ws.folder],
        settings={"limits": {"queueSize": 100}},
        env=SAFE_ENV,
        stderr_path=ws.log,
    )
    s.open_document(ws.doc_uri, "def f():\n    return 1\n")
    return s


def _check_record(record: dict[str, Any]) -> None:
    status = record["status"]
    assert status in FINAL, record
    timings = record["timings"]
    assert timings["queuedAt"], record
    if status == "succeeded":
        assert record.get("errorCode") is None and timings.get("finishedAt"), record
        assert record["routing"]["connectionId"], record
        assert record.get("finishReason") == "stop", record
    if status == "failed":
        assert record.get("errorCode"), record
    if status == "interrupted":
        # Cut off by the kill: it never finished, so it has no finish time or reason.
        assert not timings.get("finishedAt") and not record.get("finishReason"), record


def _check_raw_rows(home: Path) -> None:
    """Every JSON column of every row parses: nothing half-written on disk."""
    for row in db_rows(home):
        for column in ("routing", "timings", "usage"):
            if row[column] is not None:
                json.loads(row[column])
        assert row["status"] not in ("queued", "running") or False, dict(row)


async def test_sigkill_at_random_points_never_loses_or_corrupts_a_run(tmp_path: Path) -> None:
    rng = random.Random(20241122)
    ws = make_workspace(tmp_path)
    seen: set[str] = set()  # run ids the editor was told about (any event)
    succeeded: dict[str, str] = {}  # run id -> output the editor received
    restarts = 0
    with OllamaDouble(models=["llama3.2"]) as ollama:
        ollama.behave(reply=REPLY, chunk_delay=0.01)
        conn: str | None = None
        while len(seen) < TOTAL_RUNS:
            s = await _start(ws)
            try:
                if conn is None:
                    conn = await ollama_connection(s, ollama.url, maxConcurrent=PARALLEL)
                # The history so far survived the last kill.
                listed = await s.call("modelwire/listRuns", {"limit": 1000, "includeOutput": True})
                by_id = {r["runId"]: r for r in listed["runs"]}
                assert seen <= set(by_id), f"lost runs: {sorted(seen - set(by_id))[:3]}"
                for record in by_id.values():
                    _check_record(record)
                for run_id, output in succeeded.items():
                    assert by_id[run_id]["status"] == "succeeded"
                    assert by_id[run_id]["output"] == output
                # Stream runs, PARALLEL at a time, and kill the process at a random moment.
                kill_after = rng.uniform(0.05, 0.6)
                pending: set[asyncio.Future[Any]] = set()
                loop = asyncio.get_running_loop()
                deadline = loop.time() + kill_after
                while loop.time() < deadline and len(seen) + len(pending) < TOTAL_RUNS + PARALLEL:
                    while len(pending) < PARALLEL:
                        pending.add(
                            asyncio.ensure_future(
                                s.call("modelwire/startRun", run_params(ws, conn), timeout=30)
                            )
                        )
                    done, pending = await asyncio.wait(
                        pending,
                        timeout=max(0.0, deadline - loop.time()),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    for fut in done:
                        result = fut.result()
                        succeeded[result["runId"]] = result["output"]
                    seen.update(s.runs)
                seen.update(s.runs)
                s.proc.send_signal(signal.SIGKILL)
                await asyncio.wait_for(s.proc.wait(), 10)
                for fut in pending:
                    fut.cancel()
                restarts += 1
            finally:
                await s.kill()
            assert not alive(s.pid)
            _check_raw_rows_after_kill(ws.home)
            assert restarts < 60, "too many restarts for 100 runs"
    # A last start: everything is final, nothing is lost, the file is sound.
    s = await _start(ws)
    try:
        listed = await s.call("modelwire/listRuns", {"limit": 1000, "includeOutput": True})
        by_id = {r["runId"]: r for r in listed["runs"]}
        assert seen <= set(by_id)
        for record in by_id.values():
            _check_record(record)
        interrupted = [r for r in by_id.values() if r["status"] == "interrupted"]
        assert interrupted, "some run should have been cut off by a kill"
        for record in interrupted:
            # A cut-off run keeps the output checkpointed so far, and its routing.
            assert REPLY.startswith(record["output"]), record
        for run_id, output in succeeded.items():
            assert by_id[run_id]["status"] == "succeeded" and by_id[run_id]["output"] == output
        assert await s.close() == 0
    finally:
        await s.kill()
    assert restarts >= 3
    assert integrity_ok(ws.home)
    _check_raw_rows(ws.home)


def _check_raw_rows_after_kill(home: Path) -> None:
    """Right after a kill the rows may still say running (the next start fixes that),
    but every committed row is whole."""
    assert integrity_ok(home)
    for row in db_rows(home):
        for column in ("routing", "timings", "usage"):
            if row[column] is not None:
                json.loads(row[column])
