"""Which ModelWire processes are alive on this data folder.

Every process that opens the store registers itself: a row in `processes` (pid and a
start identity, for people reading `status`) and a lock file under
`MODELWIRE_HOME/procs/` held with `flock` for the process's whole life. The lock is the
liveness signal: the kernel drops it the instant the process dies (crash, SIGKILL,
reboot), and a recycled pid cannot hold someone else's lock, so "is the owner of this
run alive?" is one non-blocking `flock` attempt (~10 µs) by anyone, at any time.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import tempfile
import uuid
from pathlib import Path

from modelwire.clock import now_iso
from modelwire.core.store import Store

log = logging.getLogger(__name__)

PROCS_DIR = "procs"


def private_dir(path: Path) -> Path:
    """Create `path` as a 0700 directory (fixing the mode of one we own)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if path.stat().st_uid == os.getuid():
            path.chmod(0o700)
    return path


def start_identity(pid: int) -> str:
    """boot id + the process's start time in clock ticks: unique across pid reuse."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
        # Field 22 (starttime), counted after the parenthesised command name.
        start = stat.rsplit(")", 1)[1].split()[19]
        return f"{boot}:{start}"
    except (OSError, IndexError):
        return f"pid:{pid}"


def lock_held_elsewhere(path: Path) -> bool:
    """Whether someone (another open file, in any process) holds an flock on `path`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return True
        raise
    finally:
        os.close(fd)  # closing drops the lock we may have just taken
    return False


class ProcessTable:
    """This process's registration, and liveness checks of the others."""

    def __init__(self, store: Store, kind: str) -> None:
        self._store = store
        self.id = str(uuid.uuid4())
        self.kind = kind
        self._fd: int | None = None
        try:
            self.dir = private_dir(store.home / PROCS_DIR)
            fd = os.open(self._path(self.id), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            # A read-only or unwritable home (the store is degraded too): nothing is
            # shared, and a private folder keeps the lock working for this process alone.
            self.dir = Path(tempfile.mkdtemp(prefix="modelwire-procs-"))
            fd = os.open(self._path(self.id), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)  # a fresh file: nobody else can hold it
        self._fd = fd
        pid = os.getpid()
        try:
            store.execute(
                "INSERT INTO processes(id, pid, start_identity, kind, started_at) "
                "VALUES (?,?,?,?,?)",
                (self.id, pid, start_identity(pid), kind, now_iso()),
            )
        except Exception as exc:  # a degraded store still has a working lock
            log.warning("could not register process: %s", exc)

    def _path(self, process_id: str) -> Path:
        return self.dir / f"{process_id}.lock"

    def alive(self, process_id: str | None) -> bool:
        """A run or ticket owner is alive while its lock is held. Unknown → gone."""
        if not process_id:
            return False
        if process_id == self.id:
            return self._fd is not None
        if "/" in process_id or process_id.startswith("."):
            return False
        return lock_held_elsewhere(self._path(process_id))

    def gone(self, owners: set[str]) -> set[str]:
        """Those of `owners` whose process has ended."""
        return {owner for owner in owners if not self.alive(owner)}

    def forget_dead(self) -> None:
        """Drop the rows and lock files of processes that have ended."""
        rows = self._store.query("SELECT id FROM processes")
        dead = self.gone({str(r["id"]) for r in rows})
        for process_id in dead:
            self._store.execute("DELETE FROM processes WHERE id = ?", (process_id,))
            with contextlib.suppress(OSError):
                self._path(process_id).unlink()

    def live(self) -> list[tuple[str, int, str]]:
        """(id, pid, kind) of every live process on this data folder."""
        rows = self._store.query("SELECT id, pid, kind FROM processes ORDER BY started_at")
        return [(r["id"], r["pid"], r["kind"]) for r in rows if self.alive(r["id"])]

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(Exception):
            self._store.execute("DELETE FROM processes WHERE id = ?", (self.id,))
        with contextlib.suppress(OSError):
            self._path(self.id).unlink()
        os.close(fd)
