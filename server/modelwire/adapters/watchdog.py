"""Idle and total deadlines for the reads of one stream, at two attribute writes a read."""

from __future__ import annotations

import asyncio
from typing import Any

from modelwire.adapters.failures import TimeoutKind


class ReadCounter:
    """Counts network reads of a body, for the idle watchdog: bytes arriving mid-line
    are activity too (a counter, not a clock call, keeps a read's cost at one add)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def add(self) -> None:
        self.count += 1


class ReadWatchdog:
    """Idle and total deadlines for the reads of one stream.

    `asyncio.timeout` per line costs a timer allocation and a heap push for every chunk;
    this keeps one timer that re-arms itself once per deadline period, so a read costs
    two attribute writes. It cancels the task only while that task waits on a read (never
    while the consumer is busy with a yielded line), and reports which deadline fired.
    """

    __slots__ = (
        "_handle",
        "_idle",
        "_loop",
        "_read_started",
        "_reads",
        "_seen_reads",
        "_task",
        "_total",
        "fired",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        idle: float,
        total_deadline: float,
        reads: ReadCounter | None = None,
    ):
        self._loop = loop
        self._reads = reads
        self._seen_reads = reads.count if reads is not None else 0
        self._idle = idle
        self._total = total_deadline
        self._read_started: float | None = None
        self._task: asyncio.Task[Any] | None = None
        self.fired: TimeoutKind | None = None
        self._handle = loop.call_at(min(loop.time() + idle, total_deadline), self._check)

    def reading(self, task: asyncio.Task[Any] | None) -> None:
        self._task = task
        self._read_started = self._loop.time()

    def idle_now(self) -> None:
        self._read_started = None

    def uncancel(self) -> int:
        return self._task.uncancel() if self._task is not None else 0

    def _check(self) -> None:
        now = self._loop.time()
        if self._read_started is None:
            # The consumer is busy with a line; look again one idle period from now.
            self._handle = self._loop.call_at(min(now + self._idle, self._total), self._check)
            return
        if self._reads is not None and self._reads.count != self._seen_reads:
            # Bytes came in since the last look (a long line still arriving): not idle.
            self._seen_reads = self._reads.count
            self._read_started = now
        idle_deadline = self._read_started + self._idle
        deadline = min(idle_deadline, self._total)
        if now < deadline:
            self._handle = self._loop.call_at(deadline, self._check)
            return
        self.fired = "idle" if idle_deadline <= self._total else "total"
        if self._task is not None:
            self._task.cancel()

    def close(self) -> None:
        self._handle.cancel()
