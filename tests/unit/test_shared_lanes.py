"""Connection lanes shared by processes: each `ModelWire` here has its own store
connection, process lock and slot-lock file descriptors, as a separate process has."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelwire.core.app import ModelWire
from modelwire.core.shared_lanes import SharedLanes, SlotHold
from modelwire.errors import ErrorCode, ModelWireError

BOUND = 10.0


def busy() -> ModelWireError:
    return ModelWireError(ErrorCode.MODEL_BUSY, "busy", "")


@pytest.fixture
def cores(tmp_path: Path) -> Iterator[list[ModelWire]]:
    made = [ModelWire(tmp_path, load_plugins=False) for _ in range(2)]
    yield made
    for core in made:
        core.processes.close()
        core.store.close()


def lanes(core: ModelWire) -> SharedLanes:
    return core.runs.lanes


async def take(
    core: ModelWire, run: str, positions: list[int] | None = None, queue: int = 8
) -> SlotHold:
    return await lanes(core).acquire(
        "c1", run, 1, queue, (positions if positions is not None else []).append, busy
    )


async def test_the_queue_is_fifo_across_processes_and_reports_positions(
    cores: list[ModelWire],
) -> None:
    a, b = cores
    first = await take(a, "r1")
    order: list[str] = []
    pos_b: list[int] = []
    pos_a: list[int] = []

    async def queued(core: ModelWire, run: str, positions: list[int]) -> None:
        hold = await take(core, run, positions)
        order.append(run)
        await asyncio.sleep(0.3)  # long enough for the one behind to see it move up
        lanes(core).release(hold)

    waiting_b = asyncio.ensure_future(queued(b, "r2", pos_b))
    await asyncio.sleep(0.1)
    waiting_a = asyncio.ensure_future(queued(a, "r3", pos_a))
    await asyncio.sleep(0.1)
    assert (pos_b, pos_a) == ([1], [2])
    assert [(x.active, x.queued) for x in lanes(b).load()] == [(1, 2)]

    lanes(a).release(first)
    await asyncio.wait_for(asyncio.gather(waiting_b, waiting_a), BOUND)

    assert order == ["r2", "r3"]  # arrival order, whichever process freed the slot
    assert pos_a == [2, 1]
    assert lanes(a).load() == []


async def test_a_full_queue_is_model_busy_at_once_for_every_process(
    cores: list[ModelWire],
) -> None:
    a, b = cores
    hold = await take(a, "r1", queue=1)
    waiting = asyncio.ensure_future(take(b, "r2", queue=1))
    await asyncio.sleep(0.1)
    with pytest.raises(ModelWireError) as caught:
        await asyncio.wait_for(take(a, "r3", queue=1), 1.0)
    assert caught.value.code is ErrorCode.MODEL_BUSY
    lanes(a).release(hold)
    lanes(b).release(await asyncio.wait_for(waiting, BOUND))


async def test_without_a_queue_a_busy_connection_answers_at_once(cores: list[ModelWire]) -> None:
    a, b = cores
    hold = await take(a, "r1")
    with pytest.raises(ModelWireError):
        await asyncio.wait_for(take(b, "r2", queue=0), 1.0)
    lanes(a).release(hold)
    lanes(b).release(await take(b, "r3", queue=0))


async def test_a_cancelled_waiter_leaves_the_queue(cores: list[ModelWire]) -> None:
    a, b = cores
    hold = await take(a, "r1")
    gone = asyncio.ensure_future(take(b, "r2"))
    await asyncio.sleep(0.1)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert [(x.active, x.queued) for x in lanes(a).load()] == [(1, 0)]
    lanes(a).release(hold)


async def test_a_dead_processs_slot_and_tickets_are_ignored(cores: list[ModelWire]) -> None:
    a, b = cores
    await take(a, "r1")  # never released: the process "dies" holding it
    positions: list[int] = []
    waiting = asyncio.ensure_future(take(b, "r2", positions))
    await asyncio.sleep(0.1)
    assert positions == [1]

    # Death: the kernel drops every lock the process held (slot and liveness).
    for fd in list_slot_fds(a):
        os.close(fd)
    a.processes.close()

    hold = await asyncio.wait_for(waiting, BOUND)
    assert [(x.active, x.queued) for x in lanes(b).load()] == [(1, 0)]
    lanes(b).release(hold)


def list_slot_fds(core: ModelWire) -> list[int]:
    """The slot-lock descriptors this core holds (found through /proc)."""
    found = []
    for entry in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        if target.startswith(str(lanes(core).dir)) and target.endswith(".lock"):
            found.append(int(entry.name))
    return found
