"""Per-connection lanes: a concurrency limit and a bounded FIFO queue (docs/routing.md).

Waiting is on events (a queued run announces its position), never on sleeps.
"""

from __future__ import annotations

import asyncio

import pytest

from modelwire.core.lanes import Lane, model_busy
from modelwire.errors import ErrorCode, ModelWireError

BOUND = 2.0  # seconds: generous upper bound for anything that should be immediate


def busy() -> ModelWireError:
    return model_busy("Local Ollama", 1, 2, "conn-1")


class Run:
    """One run waiting on a lane, and the positions it was told."""

    def __init__(self, lane: Lane, name: str, admitted: list[str]) -> None:
        self.name = name
        self.positions: list[int] = []
        self.queued = asyncio.Event()
        self.task = asyncio.ensure_future(self._go(lane, admitted))

    async def _go(self, lane: Lane, admitted: list[str]) -> None:
        await lane.acquire(self._on_position, busy)
        admitted.append(self.name)

    def _on_position(self, position: int) -> None:
        self.positions.append(position)
        self.queued.set()

    @property
    def position(self) -> int:
        return self.positions[-1]


async def queue_run(lane: Lane, name: str, admitted: list[str]) -> Run:
    run = Run(lane, name, admitted)
    await asyncio.wait_for(run.queued.wait(), BOUND)
    return run


async def admitted_in_time(run: Run) -> None:
    await asyncio.wait_for(asyncio.shield(run.task), BOUND)


async def test_a_free_lane_admits_at_once_without_queueing() -> None:
    lane = Lane(limit=2, queue_limit=8)
    positions: list[int] = []

    await asyncio.wait_for(lane.acquire(positions.append, busy), BOUND)
    await asyncio.wait_for(lane.acquire(positions.append, busy), BOUND)

    assert (lane.active, lane.queued, positions) == (2, 0, [])


async def test_queued_runs_are_served_in_arrival_order() -> None:
    lane = Lane(limit=1, queue_limit=8)
    admitted: list[str] = []
    await lane.acquire(lambda p: None, busy)
    runs = [await queue_run(lane, name, admitted) for name in ("first", "second", "third")]
    assert [r.position for r in runs] == [1, 2, 3]

    for expected, run in zip(["first", "second", "third"], runs, strict=True):
        lane.release()
        await admitted_in_time(run)
        assert admitted[-1] == expected

    assert admitted == ["first", "second", "third"]


async def test_a_full_queue_answers_model_busy_at_once() -> None:
    lane = Lane(limit=1, queue_limit=2)
    admitted: list[str] = []
    await lane.acquire(lambda p: None, busy)
    await queue_run(lane, "a", admitted)
    await queue_run(lane, "b", admitted)

    with pytest.raises(ModelWireError) as info:
        await asyncio.wait_for(lane.acquire(lambda p: None, busy), BOUND)

    assert info.value.code is ErrorCode.MODEL_BUSY
    assert info.value.retryable is True
    assert info.value.connection_id == "conn-1"
    assert lane.queued == 2


async def test_a_lane_without_a_queue_is_busy_as_soon_as_its_slots_are_taken() -> None:
    lane = Lane(limit=1, queue_limit=0)
    await lane.acquire(lambda p: None, busy)

    with pytest.raises(ModelWireError) as info:
        await asyncio.wait_for(lane.acquire(lambda p: None, busy), BOUND)

    assert info.value.code is ErrorCode.MODEL_BUSY


async def test_cancelling_a_queued_run_frees_its_place_and_moves_the_others_up() -> None:
    lane = Lane(limit=1, queue_limit=2)
    admitted: list[str] = []
    await lane.acquire(lambda p: None, busy)
    first = await queue_run(lane, "first", admitted)
    second = await queue_run(lane, "second", admitted)

    first.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(first.task, BOUND)

    assert second.position == 1
    third = await queue_run(lane, "third", admitted)  # the freed place is usable again
    assert third.position == 2
    assert (lane.active, lane.queued) == (1, 2)


async def test_a_finished_run_hands_its_slot_straight_to_the_next_in_line() -> None:
    lane = Lane(limit=1, queue_limit=8)
    admitted: list[str] = []
    await lane.acquire(lambda p: None, busy)
    waiting = await queue_run(lane, "next", admitted)

    lane.release()
    # The slot moved: a run arriving now cannot jump ahead of the one it was handed to.
    newcomer = await queue_run(lane, "newcomer", admitted)

    await admitted_in_time(waiting)
    assert admitted == ["next"]
    assert (lane.active, lane.queued, newcomer.position) == (1, 1, 1)
    lane.release()
    await admitted_in_time(newcomer)
    lane.release()
    assert (lane.active, lane.queued) == (0, 0)


async def test_a_slot_reaching_a_run_just_cancelled_passes_to_the_next() -> None:
    lane = Lane(limit=1, queue_limit=8)
    admitted: list[str] = []
    await lane.acquire(lambda p: None, busy)
    unlucky = await queue_run(lane, "unlucky", admitted)
    patient = await queue_run(lane, "patient", admitted)

    lane.release()  # the slot is handed to `unlucky`...
    unlucky.task.cancel()  # ...which is cancelled before it could run

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(unlucky.task, BOUND)
    await admitted_in_time(patient)
    assert admitted == ["patient"]
    assert (lane.active, lane.queued) == (1, 0)


async def test_a_queued_run_cancelled_just_before_a_release_still_ends_cancelled() -> None:
    # What shutdown() does: cancel every task, and the running one releases its slot
    # before the queued one has woken up to notice its cancellation.
    lane = Lane(limit=1, queue_limit=8)
    admitted: list[str] = []
    await lane.acquire(lambda p: None, busy)
    queued = await queue_run(lane, "queued", admitted)

    queued.task.cancel()
    lane.release()

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(queued.task, BOUND)
    assert (lane.active, lane.queued) == (0, 0)


async def test_raising_the_limit_admits_waiting_runs_at_once() -> None:
    lane = Lane(limit=1, queue_limit=8)
    admitted: list[str] = []
    await lane.acquire(lambda p: None, busy)
    runs = [await queue_run(lane, name, admitted) for name in ("a", "b", "c")]

    lane.resize(limit=3, queue_limit=8)

    await admitted_in_time(runs[0])
    await admitted_in_time(runs[1])
    assert admitted == ["a", "b"]
    assert (lane.active, lane.queued) == (3, 1)
    assert runs[2].position == 1


async def test_lowering_the_limit_is_honoured_as_runs_finish() -> None:
    lane = Lane(limit=2, queue_limit=8)
    admitted: list[str] = []
    await lane.acquire(lambda p: None, busy)
    await lane.acquire(lambda p: None, busy)
    waiting = await queue_run(lane, "waiting", admitted)

    lane.resize(limit=1, queue_limit=8)
    lane.release()  # two were active; one finishing leaves one, which is the new limit

    assert (lane.active, lane.queued) == (1, 1)
    assert waiting.position == 1
    waiting.task.cancel()


def test_model_busy_says_how_many_runs_are_active_and_waiting() -> None:
    err = model_busy("Local Ollama", 1, 8, "conn-1")

    assert err.code is ErrorCode.MODEL_BUSY
    assert "'Local Ollama'" in err.message
    assert "1 run(s) active and 8 waiting" in err.message
    assert "queueSize" in err.hint
