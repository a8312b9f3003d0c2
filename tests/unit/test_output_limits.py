"""Memory and output stay bounded whatever a model server sends (issue 15, item 5): a
stream with no newline grew the sidecar to 3.6 GB, a flood of 4-character chunks kept
one string per chunk and rewrote the whole output into the store every second, and a
100 MB answer went to the editor twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from modelwire.adapters import framing
from modelwire.core.run_progress import RunProgress
from modelwire.core.run_records import RunRecords, result_for_client
from modelwire.core.settings import parse_settings
from modelwire.core.store import Store
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import RunRecord, Timings
from modelwire.run_events import RunEvent


async def _flood(piece: bytes, total: int) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield piece
        sent += len(piece)


def _response(body: AsyncIterator[bytes]) -> httpx.Response:
    return httpx.Response(200, content=body, request=httpx.Request("POST", "http://x/"))


async def test_a_line_without_newline_is_cut_off_at_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(framing, "MAX_LINE_CHARS", 1024 * 1024)
    seen = 0
    with pytest.raises(ModelWireError) as caught:
        async for batch in framing.line_batches(_response(_flood(b"x" * 65536, 64 << 20))):
            seen += len(batch)
    assert caught.value.code is ErrorCode.OUTPUT_TOO_LARGE
    assert "newline" in caught.value.message and caught.value.hint
    assert seen == 0


async def test_long_lines_under_the_cap_are_delivered_whole() -> None:
    body = b"x" * (3 << 20) + b"\n" + b"y\n"
    batches = [b async for b in framing.line_batches(_response(_flood(body, len(body))))]
    lines = [line for batch in batches for line in batch]
    assert [len(line) for line in lines] == [3 << 20, 1]


async def test_every_network_read_counts_as_activity() -> None:
    reads: list[int] = []
    body = _flood(b"abc", 30)
    async for _ in framing.line_batches(_response(body), on_read=lambda: reads.append(1)):
        pass
    assert len(reads) >= 10  # ten reads, no newline among them: still activity


async def test_a_flood_of_tiny_deltas_is_kept_compactly() -> None:
    events: list[RunEvent] = []
    progress = RunProgress("r1", events.append, max_chars=10 << 20)
    for _ in range(100_000):
        progress.delta("tok ")
    progress.flush()
    assert progress.text == "tok " * 100_000
    assert len(progress.output) < 200  # one string per flushed event, not per delta


async def test_the_output_cap_ends_the_run_with_a_clear_error() -> None:
    events: list[RunEvent] = []
    progress = RunProgress("r1", events.append, max_chars=1000)
    with pytest.raises(ModelWireError) as caught:
        for _ in range(1000):
            progress.delta("0123456789")
    assert caught.value.code is ErrorCode.OUTPUT_TOO_LARGE
    assert "outputMaxKiB" in caught.value.hint
    progress.flush()
    assert len(progress.text) == 1000  # what fitted is kept


async def test_checkpoints_append_only_what_is_new(tmp_path: Path) -> None:
    events: list[RunEvent] = []
    store = Store(tmp_path)
    store.execute(
        "INSERT INTO runs(run_id, agent_id, uri, status, timings) "
        "VALUES ('r1', 'a', 'u', 'running', '{}')"
    )
    records = RunRecords(store, cast(Any, None))  # checkpoints never look at processes
    progress = RunProgress("r1", events.append, max_chars=10 << 20)
    for part in ("alpha ", "beta ", "gamma"):
        progress.delta(part)
        progress.flush()
        records.checkpoint("r1", progress.unsaved())
    assert progress.unsaved() == ""
    parts = store.query("SELECT text FROM run_output_parts WHERE run_id='r1' ORDER BY part")
    assert [p["text"] for p in parts] == ["alpha ", "beta ", "gamma"]  # never a rewrite
    store.close()


def test_a_large_output_is_not_repeated_in_the_start_run_result() -> None:
    big = RunRecord(
        run_id="r",
        agent_id="a",
        uri="u",
        status="succeeded",
        timings=Timings(queued_at="2026-12-01T08:00:00Z"),
        output="x" * (1 << 20),
    )
    small = big.model_copy(update={"output": "short"})
    assert result_for_client(small).output == "short"
    trimmed = result_for_client(big)
    assert trimmed.output == "" and trimmed.output_omitted is True
    assert big.output  # the stored record keeps it (getRun returns it)


def test_the_output_limit_is_a_setting() -> None:
    settings, warnings = parse_settings({"limits": {"outputMaxKiB": 512}})
    assert settings.limits.output_max_kib == 512 and not warnings
    assert parse_settings({})[0].limits.output_max_kib == 4096
