"""The run service end to end over the core: a real store in tmp_path, the Ollama double.

Each test waits on the run events it expects (bounded), never on sleeps.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import keyring.core
import pytest
from keyring.backend import KeyringBackend
from testkit.doubles.fixtures import TEST_API_KEY
from testkit.doubles.ollama_double import OllamaDouble
from testkit.doubles.openai_double import OpenAIDouble

from modelwire.core import run_progress
from modelwire.core import run_turn as run_turn_module
from modelwire.core import runs as runs_module
from modelwire.core.app import ModelWire
from modelwire.core.run_progress import COALESCE_SECONDS, RunProgress
from modelwire.core.runs import RunContext, RunRequest, RunService
from modelwire.core.secrets import Requester
from modelwire.core.settings import Limits, Settings
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import Connection, CreateConnectionParams, RunRecord
from modelwire.run_events import RunEvent

BOUND = 10.0  # seconds; anything slower than this is a hang
REPLY = "Hello from the double. This answer arrives one word at a time."
FIRST_TOKEN = "Hello "
REQUESTER = Requester(client="unit-test", workspace="/ws")


class Events:
    """The runEvents a run emits, with a bounded wait for the one a test expects."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def __call__(self, event: RunEvent) -> None:
        self.items.append(event.wire())  # what the client receives
        self._changed.set()

    async def wait_for(self, predicate: Callable[[Events], bool]) -> None:
        async with asyncio.timeout(BOUND):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

    def kinds(self) -> list[str]:
        return [e["kind"] for e in self.items]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.items if e["kind"] == kind]

    def text(self) -> str:
        return "".join(e["text"] for e in self.of("delta"))

    @property
    def run_id(self) -> str:
        return str(self.items[0]["runId"])


class Harness:
    """A sidecar core with one Ollama connection pointing at the double."""

    def __init__(self, home: Path, ollama: OllamaDouble) -> None:
        self.core = ModelWire(home, load_plugins=False)
        self.ollama = ollama
        self.conn: Connection = self.core.connections.create(
            CreateConnectionParams(name="Local Ollama", provider_id="ollama", base_url=ollama.url)
        )
        self.source = home / "main.py"
        self.source.write_text("def main():\n    return 42\n", encoding="utf-8")

    @property
    def runs(self) -> RunService:
        return self.core.runs

    def start(
        self, settings: Settings | None = None, **request: Any
    ) -> tuple[asyncio.Task[RunRecord], Events]:
        events = Events()
        req = RunRequest(
            agent_id=request.pop("agent_id", "explain"), uri=self.source.as_uri(), **request
        )
        ctx = RunContext(
            requester=REQUESTER, settings=settings or Settings(), folder=None, emit=events
        )
        return asyncio.ensure_future(self.runs.start(req, ctx)), events

    def stored(self, run_id: str) -> RunRecord:
        return self.runs.get(run_id)


@pytest.fixture
async def harness(tmp_path: Path, ollama_double: OllamaDouble) -> AsyncIterator[Harness]:
    h = Harness(tmp_path, ollama_double)
    yield h
    await h.core.aclose()


async def outcome(task: asyncio.Task[RunRecord]) -> BaseException | RunRecord:
    try:
        return await asyncio.wait_for(task, BOUND)
    except (ModelWireError, asyncio.CancelledError) as exc:
        return exc


def streamed(tokens: int) -> Callable[[Events], bool]:
    """True once the first `tokens` words of the reply have been emitted."""
    words = REPLY.split(" ")
    expected = " ".join(words[:tokens]) + " "
    return lambda ev: ev.text().startswith(expected)


# --- A run that succeeds ------------------------------------------------------------------


async def test_a_run_streams_and_records_routing_output_timings_and_usage(
    harness: Harness,
) -> None:
    task, _ = harness.start()

    record = await asyncio.wait_for(task, BOUND)

    assert record.status == "succeeded"
    assert record.output == REPLY
    assert record.routing is not None
    assert (record.routing.connection_id, record.routing.model_ref, record.routing.source) == (
        harness.conn.id,
        "llama3.2",
        "fallback",
    )
    t = record.timings
    assert t.started_at and t.finished_at and t.first_token_ms is not None
    assert t.total_ms is not None and t.total_ms >= t.first_token_ms
    assert record.usage is not None and record.usage.prompt_tokens == 26
    assert record.usage.completion_tokens == len(REPLY.split(" "))
    assert harness.stored(record.run_id) == record


async def test_the_run_announces_its_routing_before_the_first_token_and_ends_last(
    harness: Harness,
) -> None:
    task, events = harness.start()
    await asyncio.wait_for(task, BOUND)

    kinds = events.kinds()
    assert kinds[0] == "started" and kinds[-1] == "end"
    assert set(kinds[1:-1]) == {"delta"}
    assert events.items[0]["routing"]["connectionName"] == "Local Ollama"
    assert [e["seq"] for e in events.items] == list(range(1, len(events.items) + 1))
    assert events.of("end")[0]["status"] == "succeeded"
    assert events.text() == REPLY


async def test_the_first_token_goes_out_at_once_and_a_burst_is_merged(
    harness: Harness,
) -> None:
    harness.ollama.behave(fast_chunks=800)
    task, events = harness.start()

    record = await asyncio.wait_for(task, BOUND)

    deltas = events.of("delta")
    assert deltas[0]["text"] == "tok "  # not held back waiting for company
    assert len(deltas) < 800 // 4  # the burst reached the editor in a few messages
    assert events.text() == record.output == "tok " * 800


async def test_output_is_checkpointed_while_streaming_and_survives_a_crash(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(run_turn_module, "CHECKPOINT_SECONDS", 0.0)
    harness.ollama.behave(stall_after=3)
    task, events = harness.start()

    await events.wait_for(streamed(3))

    during = harness.stored(events.run_id)
    assert (during.status, during.output) == ("running", "Hello from the ")
    # A second process opening the same store while the first lives leaves its run be.
    other = ModelWire(tmp_path, load_plugins=False)
    assert other.runs.interrupted_on_start == 0
    assert other.runs.get(events.run_id).status == "running"
    # The first process ends (its liveness lock is released): the next read says so.
    harness.core.processes.close()
    after_crash = other.runs.get(events.run_id)
    assert (after_crash.status, after_crash.output) == ("interrupted", "Hello from the ")
    other.processes.close()
    other.store.close()
    task.cancel()
    await outcome(task)


# --- Failures and cancellation --------------------------------------------------------


async def test_a_missing_model_fails_the_run_records_why_and_frees_the_lane(
    harness: Harness,
) -> None:
    task, events = harness.start(connection_id=harness.conn.id, model_ref="no-such-model")

    err = await outcome(task)

    assert isinstance(err, ModelWireError) and err.code is ErrorCode.MODEL_NOT_FOUND
    assert (err.connection_id, err.provider_id) == (harness.conn.id, "ollama")
    record = harness.stored(events.run_id)
    assert (record.status, record.error_code) == ("failed", "MODEL_NOT_FOUND")
    assert events.of("error")[0]["code"] == "MODEL_NOT_FOUND"
    assert events.kinds()[-1] == "end"
    assert harness.runs.counts() == (0, 0)
    follow_up, _ = harness.start()
    assert (await asyncio.wait_for(follow_up, BOUND)).status == "succeeded"


async def test_a_model_failing_mid_stream_keeps_the_partial_output(harness: Harness) -> None:
    harness.ollama.behave(error_after=2)
    task, events = harness.start()

    err = await outcome(task)

    assert isinstance(err, ModelWireError) and err.code is ErrorCode.GENERATION_FAILED
    record = harness.stored(events.run_id)
    assert (record.status, record.output) == ("failed", "Hello from ")
    assert harness.runs.counts() == (0, 0)


async def test_a_failure_before_routing_is_recorded_without_routing(harness: Harness) -> None:
    task, events = harness.start(agent_id="no-such-agent")

    err = await outcome(task)

    assert isinstance(err, ModelWireError) and err.code is ErrorCode.AGENT_NOT_FOUND
    record = harness.stored(events.run_id)
    assert (record.status, record.routing, record.error_code) == (
        "failed",
        None,
        "AGENT_NOT_FOUND",
    )
    assert harness.ollama.requests_to("/api/chat") == []


async def test_text_over_the_prompt_limit_fails_before_any_request(harness: Harness) -> None:
    harness.source.write_text("x" * 3000, encoding="utf-8")
    task, events = harness.start(settings=Settings(limits=Limits(prompt_max_kib=1)))

    err = await outcome(task)

    assert isinstance(err, ModelWireError) and err.code is ErrorCode.PROMPT_TOO_LARGE
    assert harness.stored(events.run_id).status == "failed"
    assert harness.ollama.requests == []


async def test_a_bug_fails_the_run_as_internal_and_the_service_keeps_working(
    harness: Harness,
) -> None:
    events = Events()

    def broken_document(uri: str) -> None:
        raise KeyError("oops")

    ctx = RunContext(REQUESTER, Settings(), None, events, document=broken_document)
    task = asyncio.ensure_future(
        harness.runs.start(RunRequest("explain", harness.source.as_uri()), ctx)
    )

    err = await outcome(task)

    assert isinstance(err, ModelWireError) and err.code is ErrorCode.INTERNAL
    assert harness.stored(events.run_id).error_message == "Internal error: KeyError"
    again, _ = harness.start()
    assert (await asyncio.wait_for(again, BOUND)).status == "succeeded"


async def test_cancelling_a_streaming_run_records_it_cancelled_and_frees_the_lane(
    harness: Harness,
) -> None:
    harness.ollama.behave(stall_after=2)
    task, events = harness.start()
    await events.wait_for(streamed(2))

    assert harness.runs.cancel(events.run_id) is True
    err = await outcome(task)

    assert isinstance(err, asyncio.CancelledError)
    record = harness.stored(events.run_id)
    assert (record.status, record.error_code, record.output) == (
        "cancelled",
        "GENERATION_ABORTED",
        "Hello from ",
    )
    assert [e["kind"] for e in events.items[-2:]] == ["error", "end"]
    assert harness.runs.counts() == (0, 0)
    assert await harness.ollama.requests_to("/api/chat")[0].wait_disconnected_async(BOUND)


async def test_cancelling_a_queued_run_frees_its_place(harness: Harness) -> None:
    harness.ollama.behave(stall_after=1)
    first, first_events = harness.start()
    await first_events.wait_for(streamed(1))
    second, second_events = harness.start()
    await second_events.wait_for(lambda ev: "queued" in ev.kinds())
    assert second_events.of("queued")[0]["position"] == 1
    assert harness.runs.counts() == (1, 1)

    harness.runs.cancel(second_events.run_id)

    assert isinstance(await outcome(second), asyncio.CancelledError)
    assert harness.stored(second_events.run_id).status == "cancelled"
    assert harness.runs.counts() == (1, 0)
    first.cancel()
    await outcome(first)
    assert harness.runs.counts() == (0, 0)


async def test_a_full_queue_fails_the_run_with_model_busy_at_once(harness: Harness) -> None:
    harness.ollama.behave(stall_after=1)
    first, first_events = harness.start()
    await first_events.wait_for(streamed(1))

    busy, busy_events = harness.start(settings=Settings(limits=Limits(queue_size=0)))
    err = await outcome(busy)

    assert isinstance(err, ModelWireError) and err.code is ErrorCode.MODEL_BUSY
    assert harness.stored(busy_events.run_id).status == "failed"
    first.cancel()
    await outcome(first)


async def test_a_finished_run_hands_its_slot_to_the_queued_one(harness: Harness) -> None:
    harness.ollama.behave(chunk_delay=0.0)
    first, _ = harness.start()
    second, second_events = harness.start()

    results = await asyncio.wait_for(asyncio.gather(first, second), BOUND)

    assert [r.status for r in results] == ["succeeded", "succeeded"]
    assert second_events.kinds()[0] == "queued"
    assert harness.runs.counts() == (0, 0)


async def test_cancel_of_an_unknown_run_is_run_not_found_and_of_a_finished_one_is_false(
    harness: Harness,
) -> None:
    task, events = harness.start()
    await asyncio.wait_for(task, BOUND)

    assert harness.runs.cancel(events.run_id) is False
    with pytest.raises(ModelWireError) as info:
        harness.runs.cancel("no-such-run")
    assert info.value.code is ErrorCode.RUN_NOT_FOUND


async def test_shutdown_cancels_a_streaming_run_and_records_it(harness: Harness) -> None:
    harness.ollama.behave(stall_after=2)
    task, events = harness.start()
    await events.wait_for(streamed(2))

    await harness.runs.shutdown(within=BOUND)

    assert task.done()
    record = harness.stored(events.run_id)
    assert (record.status, record.output) == ("cancelled", "Hello from ")
    assert record.timings.finished_at is not None


async def test_shutdown_records_queued_runs_as_cancelled_too(harness: Harness) -> None:
    harness.ollama.behave(stall_after=1)
    first, first_events = harness.start()
    await first_events.wait_for(streamed(1))
    second, second_events = harness.start()
    await second_events.wait_for(lambda ev: "queued" in ev.kinds())

    await harness.runs.shutdown(within=BOUND)

    assert first.done() and second.done()
    assert harness.stored(first_events.run_id).status == "cancelled"
    assert harness.stored(second_events.run_id).status == "cancelled"
    assert harness.runs.counts() == (0, 0)


async def test_run_history_lists_newest_first_and_filters_by_document(harness: Harness) -> None:
    other = harness.source.with_name("other.py")
    other.write_text("x = 1\n", encoding="utf-8")
    first, _ = harness.start()
    await asyncio.wait_for(first, BOUND)
    events = Events()
    ctx = RunContext(REQUESTER, Settings(), None, events)
    await asyncio.wait_for(harness.runs.start(RunRequest("explain", other.as_uri()), ctx), BOUND)

    listed = harness.runs.list(limit=10)
    only_other = harness.runs.list(limit=10, uri=other.as_uri())

    assert [r.uri for r in listed] == [other.as_uri(), harness.source.as_uri()]
    assert all(r.output == "" for r in listed)  # history leaves the text out
    assert [r.run_id for r in only_other] == [events.run_id]


# --- Coalescing, on a controlled clock -------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(run_progress, "time", fake)
    return fake


async def test_deltas_within_the_coalescing_window_go_out_as_one(clock: FakeClock) -> None:
    events = Events()
    progress = RunProgress("r1", events)

    progress.delta("a")  # first: at once
    clock.now += COALESCE_SECONDS / 4
    progress.delta("b")
    progress.delta("c")

    assert [e.get("text") for e in events.items] == ["a"]
    await events.wait_for(lambda ev: len(ev.items) == 2)  # the window's timer fires
    assert [e["text"] for e in events.items] == ["a", "bc"]
    assert [e["seq"] for e in events.items] == [1, 2]


async def test_a_delta_after_a_quiet_spell_goes_out_at_once(clock: FakeClock) -> None:
    events = Events()
    progress = RunProgress("r1", events)

    for text, gap in zip("xyz", itertools.repeat(COALESCE_SECONDS * 2), strict=False):
        progress.delta(text)
        clock.now += gap

    assert [e["text"] for e in events.items] == ["x", "y", "z"]
    assert progress.flush_handle is None


async def test_a_very_large_burst_is_sent_without_waiting_for_the_window(
    clock: FakeClock,
) -> None:
    events = Events()
    progress = RunProgress("r1", events)
    progress.delta("a")

    progress.delta("b" * run_progress.COALESCE_MAX_CHARS)

    assert [len(e["text"]) for e in events.items] == [1, run_progress.COALESCE_MAX_CHARS]
    assert progress.text == "a" + "b" * run_progress.COALESCE_MAX_CHARS


# --- Consent while other runs wait ------------------------------------------------------


class MemoryKeyring(KeyringBackend):
    """Stands in for the OS keyring."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.passwords.pop((service, username), None)


async def test_shutdown_while_a_run_holds_the_slot_records_every_run_cancelled(
    tmp_path: Path, openai_double: OpenAIDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The active run releases its slot with no await in between, before the queued run
    # wakes to its own cancellation (this read INTERNAL before 7426c0f).
    monkeypatch.setattr(keyring.core, "_keyring_backend", MemoryKeyring())
    openai_double.behave(delay_first_token=30)  # the first run holds the only slot
    core = ModelWire(tmp_path, load_plugins=False)
    conn = core.connections.create(
        CreateConnectionParams(
            name="LM Studio",
            provider_id="openai",
            base_url=openai_double.url + "/v1",
            max_concurrent=1,
        )
    )
    core.connections.set_secret(conn.id, TEST_API_KEY)
    source = tmp_path / "main.py"
    source.write_text("print('hi')\n", encoding="utf-8")

    async def allow_once(requester: Requester, cid: str, name: str) -> Any:
        return "once"

    def run() -> tuple[asyncio.Task[RunRecord], Events]:
        events = Events()
        ctx = RunContext(REQUESTER, Settings(), None, events, consent=allow_once)
        return asyncio.ensure_future(
            core.runs.start(RunRequest("explain", source.as_uri()), ctx)
        ), events

    asking, asking_events = run()
    await asking_events.wait_for(lambda ev: "started" in ev.kinds())
    waiting, waiting_events = run()
    await waiting_events.wait_for(lambda ev: "queued" in ev.kinds())

    await core.runs.shutdown(within=BOUND)

    assert core.runs.get(asking_events.run_id).status == "cancelled"
    assert core.runs.get(waiting_events.run_id).status == "cancelled"
    assert asking.done() and waiting.done()
    await core.aclose()


async def test_the_time_spent_deciding_on_consent_is_not_counted_in_the_run_timings(
    tmp_path: Path, openai_double: OpenAIDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A clock the consent prompt moves a minute ahead: the user thinking it over.
    monkeypatch.setattr(keyring.core, "_keyring_backend", MemoryKeyring())
    offset = [0.0]
    real = runs_module.time.perf_counter
    monkeypatch.setattr(runs_module.time, "perf_counter", lambda: real() + offset[0])
    core = ModelWire(tmp_path, load_plugins=False)
    conn = core.connections.create(
        CreateConnectionParams(
            name="Keyed", provider_id="openai", base_url=openai_double.url + "/v1"
        )
    )
    core.connections.set_secret(conn.id, TEST_API_KEY)
    source = tmp_path / "main.py"
    source.write_text("print('hi')\n", encoding="utf-8")

    async def slow_decision(requester: Requester, cid: str, name: str) -> Any:
        offset[0] += 60.0
        return "once"

    ctx = RunContext(REQUESTER, Settings(), None, Events(), consent=slow_decision)
    record = await asyncio.wait_for(
        core.runs.start(RunRequest("explain", source.as_uri()), ctx), BOUND
    )

    assert record.status == "succeeded"
    assert record.timings.total_ms is not None and record.timings.total_ms < 60_000
    await core.aclose()
