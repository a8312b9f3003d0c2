"""Per-connection concurrency across every process on one data folder.

A connection's limit and queue hold for the machine, not per editor window: two windows
on an Ollama connection with limit 1 never have two generations at the backend.

- **Slots** are lock files `MODELWIRE_HOME/lanes/<connection>.<k>.lock`, k < limit. A run
  holds one with `flock` while it talks to the backend; the kernel frees it the
  instant the process dies, so a crash never leaks a slot.
- **The queue** is the `lane_tickets` table: one row per waiting or active run, in
  arrival order (`seq`), with its owner process. Admission happens in a write
  transaction (so processes take turns), only for the first waiting ticket, and only
  when a slot lock can be taken: FIFO across processes, and `MODEL_BUSY` at once when
  the queue is full. Tickets of dead owners are deleted by whoever looks next.
- **Waiting** re-checks when this process frees a slot (at once), when another process
  committed anything (`PRAGMA data_version`, checked every 50 ms), and every second
  regardless (a dead holder changes nothing in the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modelwire.core.processes import ProcessTable, private_dir
from modelwire.core.store import Store
from modelwire.errors import ModelWireError

PositionCallback = Callable[[int], None]
LANES_DIR = "lanes"
_POLL_S = 0.05
_RECHECK_S = 1.0


@dataclass(slots=True)
class SlotHold:
    """A run's admission: its slot lock and its ticket. Give it back with `release`."""

    connection_id: str
    seq: int
    fd: int


@dataclass(frozen=True, slots=True)
class LaneLoad:
    connection_id: str
    active: int
    queued: int


class SharedLanes:
    """Admission to connections' slots for this process, in step with the others."""

    def __init__(self, store: Store, processes: ProcessTable) -> None:
        self._store = store
        self._processes = processes
        try:
            self.dir = private_dir(store.home / LANES_DIR)
        except OSError:  # degraded store: nothing is shared anyway
            self.dir = Path(tempfile.mkdtemp(prefix="modelwire-lanes-"))
        self._wake: dict[str, asyncio.Event] = {}

    # --- admission ---------------------------------------------------------------------

    async def acquire(
        self,
        connection_id: str,
        run_id: str,
        limit: int,
        queue_limit: int,
        on_position: PositionCallback,
        busy: Callable[[], ModelWireError],
    ) -> SlotHold:
        """A slot, at once or after waiting in the shared FIFO queue. `queue_limit` 0:
        no queue (MODEL_BUSY unless a slot is free now)."""
        hold, seq, position = self._turn(connection_id, run_id, limit, queue_limit, None)
        if hold is not None:
            return hold
        if seq is None:
            raise busy()
        on_position(position)
        try:
            last_version, last_check = self._store.data_version(), time.monotonic()
            wake = self._wake.setdefault(connection_id, asyncio.Event())
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_POLL_S):
                        await wake.wait()
                version = self._store.data_version()
                due = wake.is_set() or version != last_version
                if not due and time.monotonic() - last_check < _RECHECK_S:
                    continue
                wake.clear()
                last_version, last_check = version, time.monotonic()
                hold, _, now = self._turn(connection_id, run_id, limit, queue_limit, seq)
                if hold is not None:
                    seq = None
                    return hold
                if now != position:
                    position = now
                    on_position(position)
        finally:
            if seq is not None:  # cancelled or failed while waiting: leave the queue
                with contextlib.suppress(ModelWireError):
                    self._store.execute("DELETE FROM lane_tickets WHERE seq = ?", (seq,))
                self._nudge(connection_id)  # those behind us move up

    def _turn(
        self,
        connection_id: str,
        run_id: str,
        limit: int,
        queue_limit: int,
        seq: int | None,
    ) -> tuple[SlotHold | None, int | None, int]:
        """One admission attempt in a write transaction: (hold, ticket seq, position)."""
        with self._store.transaction() as db:
            rows = db.execute(
                "SELECT seq, owner, state FROM lane_tickets WHERE connection_id = ? ORDER BY seq",
                (connection_id,),
            ).fetchall()
            dead = self._processes.gone({r["owner"] for r in rows})
            for owner in dead:
                db.execute("DELETE FROM lane_tickets WHERE owner = ?", (owner,))
            live = [r for r in rows if r["owner"] not in dead]
            waiting = [r for r in live if r["state"] == "waiting"]
            ahead = [r for r in waiting if seq is None or r["seq"] < seq]
            active = sum(r["state"] == "active" for r in live)
            if not ahead and active < limit:
                slot = self._take_slot(connection_id, limit)
                if slot is not None:
                    k, fd = slot
                    try:
                        seq = self._admit(db, connection_id, run_id, seq, k)
                    except BaseException:
                        os.close(fd)  # the ticket was not written: neither is the slot held
                        raise
                    return SlotHold(connection_id, seq, fd), seq, 0
            if seq is not None:
                return None, seq, len(ahead) + 1
            if len(waiting) >= queue_limit:
                return None, None, 0
            seq = db.execute(
                "INSERT INTO lane_tickets(connection_id, owner, run_id, state) "
                "VALUES (?,?,?,'waiting')",
                (connection_id, self._processes.id, run_id),
            ).lastrowid
            return None, seq, len(waiting) + 1

    def _admit(
        self, db: sqlite3.Connection, connection_id: str, run_id: str, seq: int | None, k: int
    ) -> int:
        if seq is not None:
            db.execute("UPDATE lane_tickets SET state = 'active', slot = ? WHERE seq = ?", (k, seq))
            return seq
        cursor = db.execute(
            "INSERT INTO lane_tickets(connection_id, owner, run_id, state, slot) "
            "VALUES (?,?,?,'active',?)",
            (connection_id, self._processes.id, run_id, k),
        )
        return int(cursor.lastrowid or 0)

    def _take_slot(self, connection_id: str, limit: int) -> tuple[int, int] | None:
        for k in range(limit):
            path = self.dir / f"{_safe(connection_id)}.{k}.lock"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    continue
                raise
            return k, fd
        return None

    def release(self, hold: SlotHold) -> None:
        """Free the slot (at once: the lock) and the ticket, and wake local waiters."""
        os.close(hold.fd)
        try:
            self._store.execute("DELETE FROM lane_tickets WHERE seq = ?", (hold.seq,))
        finally:
            self._nudge(hold.connection_id)

    def _nudge(self, connection_id: str) -> None:
        wake = self._wake.get(connection_id)
        if wake is not None:
            wake.set()

    # --- what every process sees -------------------------------------------------------

    def load(self) -> list[LaneLoad]:
        """Active and queued runs per connection, of every live process."""
        rows = self._store.query("SELECT connection_id, owner, state FROM lane_tickets")
        dead = self._processes.gone({r["owner"] for r in rows})
        counts: dict[str, list[int]] = {}
        for r in rows:
            if r["owner"] in dead:
                continue
            entry = counts.setdefault(r["connection_id"], [0, 0])
            entry[0 if r["state"] == "active" else 1] += 1
        return [LaneLoad(cid, a, q) for cid, (a, q) in sorted(counts.items())]


def _safe(connection_id: str) -> str:
    """A file-name-safe form of a connection id (ids are UUIDs or `embedded`)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in connection_id)[:80]
