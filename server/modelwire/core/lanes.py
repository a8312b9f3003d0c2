"""An in-process lane: a limit of active holders and a bounded FIFO queue.

Runs do not use it: their per-connection limits hold across processes (shared_lanes).
It serves a policy that lives inside one process, such as a share host's "one
inference at a time, MODEL_BUSY at once": `Lane(limit=1, queue_limit=0)`.

A finished run hands its slot straight to the next waiter, so queued runs are served
strictly in arrival order; beyond the queue, `MODEL_BUSY` is raised at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from modelwire.errors import ErrorCode, ModelWireError

PositionCallback = Callable[[int], None]


@dataclass(slots=True)
class _Waiter:
    future: asyncio.Future[None]
    on_position: PositionCallback


@dataclass(slots=True)
class Lane:
    """One connection's slots."""

    limit: int
    queue_limit: int
    active: int = 0
    waiters: deque[_Waiter] = field(default_factory=deque)

    @property
    def queued(self) -> int:
        return len(self.waiters)

    async def acquire(
        self, on_position: PositionCallback, busy: Callable[[], ModelWireError]
    ) -> None:
        if self.active < self.limit and not self.waiters:
            self.active += 1
            return
        if len(self.waiters) >= self.queue_limit:
            raise busy()
        waiter = _Waiter(asyncio.get_running_loop().create_future(), on_position)
        self.waiters.append(waiter)
        on_position(len(self.waiters))
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self.release()  # the slot reached us just as we were cancelled: pass it on
            elif waiter in self.waiters:  # release() may already have dropped it
                self.waiters.remove(waiter)
                self._announce_positions()
            raise

    def release(self) -> None:
        if self.active > self.limit:
            # The limit was lowered while runs were active: shrink before admitting.
            self.active -= 1
            return
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.future.done():
                waiter.future.set_result(None)  # the slot moves; `active` is unchanged
                self._announce_positions()
                return
        self.active = max(0, self.active - 1)
        # A raised limit may let more queued runs in than the one slot freed.
        self._admit()

    def resize(self, limit: int, queue_limit: int) -> None:
        self.limit, self.queue_limit = limit, queue_limit
        self._admit()

    def _admit(self) -> None:
        while self.waiters and self.active < self.limit:
            waiter = self.waiters.popleft()
            if not waiter.future.done():
                self.active += 1
                waiter.future.set_result(None)
        self._announce_positions()

    def _announce_positions(self) -> None:
        for position, waiter in enumerate(self.waiters, start=1):
            waiter.on_position(position)


def model_busy(
    connection_name: str, limit: int, queue_limit: int, connection_id: str
) -> ModelWireError:
    return ModelWireError(
        ErrorCode.MODEL_BUSY,
        f"Connection {connection_name!r} is busy: {limit} run(s) active and {queue_limit} waiting.",
        "Wait for a run to finish or cancel one, or raise modelwire.limits.queueSize / the "
        "connection's concurrency limit.",
        connection_id=connection_id,
    )
