"""The sidecar's persistent state: one SQLite database under MODELWIRE_HOME.

WAL journaling with synchronous=NORMAL: a crash of the process never loses a committed
transaction, and readers never block the writer. The schema is versioned with
`PRAGMA user_version`; `_MIGRATIONS[i]` upgrades version i to i+1.
Secrets are never stored here (they live in the OS keyring).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modelwire.errors import ErrorCode, ModelWireError

log = logging.getLogger(__name__)

DB_FILE = "modelwire.db"
# The generation other processes watch: connections, their keys and consent.
CHANGES_TOPIC = "connections"
# Run outputs, URLs and consents are the user's business: the folder is 0700 and every
# file in it 0600, whatever the umask, and a store found more open is closed up on open.
HOME_MODE = 0o700
FILE_MODE = 0o600
_PRIVATE_NAMES = (DB_FILE, DB_FILE + "-wal", DB_FILE + "-shm", DB_FILE + "-journal", "audit.log")

_MIGRATIONS: Sequence[str] = (
    # 0 -> 1
    """
    CREATE TABLE connections (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        provider_id TEXT NOT NULL,
        base_url TEXT NOT NULL,
        default_model TEXT,
        max_concurrent INTEGER,
        timeouts TEXT,
        has_secret INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE runs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL UNIQUE,
        agent_id TEXT NOT NULL,
        uri TEXT NOT NULL,
        connection_id TEXT,
        routing TEXT,
        status TEXT NOT NULL,
        timings TEXT NOT NULL,
        usage TEXT,
        finish_reason TEXT,
        error_code TEXT,
        error_message TEXT,
        output TEXT NOT NULL DEFAULT '',
        diagnostics_count INTEGER
    );
    CREATE INDEX runs_uri ON runs(uri);
    CREATE INDEX runs_status ON runs(status);
    CREATE TABLE consent (
        workspace TEXT NOT NULL,
        connection_id TEXT NOT NULL,
        decision TEXT NOT NULL,
        decided_at TEXT NOT NULL,
        PRIMARY KEY (workspace, connection_id)
    );
    """,
    # 1 -> 2: many processes on one data folder (docs/processes.md)
    """
    CREATE TABLE processes (
        id TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        start_identity TEXT NOT NULL,
        kind TEXT NOT NULL,
        started_at TEXT NOT NULL
    );
    ALTER TABLE runs ADD COLUMN owner TEXT;
    CREATE TABLE lane_tickets (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        connection_id TEXT NOT NULL,
        owner TEXT NOT NULL,
        run_id TEXT NOT NULL,
        state TEXT NOT NULL,
        slot INTEGER
    );
    CREATE INDEX lane_tickets_connection ON lane_tickets(connection_id, state, seq);
    CREATE TABLE changes (
        topic TEXT PRIMARY KEY,
        generation INTEGER NOT NULL
    );
    INSERT INTO changes(topic, generation) VALUES ('connections', 0);
    """,
    # 2 -> 3: a streaming run's output checkpoints are appended as parts (SQLite
    # rewrites a whole value on `output || ?`, so the WAL grew by the whole output per
    # checkpoint); the finished record gets the whole output once and the parts go.
    """
    CREATE TABLE run_output_parts (
        part INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        text TEXT NOT NULL
    );
    CREATE INDEX run_output_parts_run ON run_output_parts(run_id, part);
    """,
    # 3 -> 4: orchestrator runs (docs/agents.md): child runs, steps, the request inspector
    """
    ALTER TABLE runs ADD COLUMN parent_run_id TEXT;
    ALTER TABLE runs ADD COLUMN parent_step INTEGER;
    ALTER TABLE runs ADD COLUMN steps TEXT;
    CREATE INDEX runs_parent ON runs(parent_run_id);
    CREATE TABLE run_requests (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        sent_at TEXT NOT NULL,
        connection_id TEXT,
        provider_id TEXT,
        body TEXT NOT NULL,
        body_bytes INTEGER NOT NULL,
        truncated INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (run_id, seq)
    );
    """,
    # 4 -> 5: discovered model lists, shared by every process (core/model_lists.py)
    """
    CREATE TABLE model_lists (
        connection_id TEXT PRIMARY KEY,
        models TEXT NOT NULL,
        fetched_at TEXT NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)


def default_home() -> Path:
    """MODELWIRE_HOME, else the platform's per-user data directory."""
    env = os.environ.get("MODELWIRE_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir  # imported here: only needed without the env var

    return Path(user_data_dir("modelwire", appauthor=False))


def storage_error(exc: BaseException, path: Path) -> ModelWireError:
    reason = str(exc) or type(exc).__name__
    return ModelWireError(
        ErrorCode.STORAGE_FAILED,
        f"ModelWire could not write its data at {path}: {reason}.",
        "Free disk space or make the folder writable, or point MODELWIRE_HOME at a "
        "writable folder, then restart the sidecar.",
    )


def make_private_home(home: Path) -> None:
    """Create `home` (and missing parents) 0700, and close up an existing one."""
    home.mkdir(mode=HOME_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(home.stat().st_mode) != HOME_MODE:
        try:
            home.chmod(HOME_MODE)
        except OSError as exc:  # not ours (a shared folder): say so, keep working
            log.warning("cannot make %s private (mode 0700): %s", home, exc)


def make_private_files(home: Path) -> None:
    """0600 for the store's files and the audit log that already exist."""
    for name in _PRIVATE_NAMES:
        path = home / name
        try:
            if stat.S_IMODE(path.lstat().st_mode) != FILE_MODE and path.is_file():
                path.chmod(FILE_MODE)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("cannot make %s private (mode 0600): %s", path, exc)


class Store:
    """Thread-safe access to the database (the CLI and tests may use threads)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / DB_FILE
        self.degraded_reason: str | None = None
        self._lock = threading.RLock()
        try:
            make_private_home(home)
            # SQLite creates -wal and -shm with the database file's mode: create that
            # file 0600 first, so the others follow.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE))
            self._db = self._open(str(self.path))
            make_private_files(home)
        except (OSError, sqlite3.Error) as exc:
            # Keep serving (connections in memory, runs not persisted) and say so in
            # `status` and a warning, instead of refusing to start the editor's sidecar.
            self.degraded_reason = f"{self.path}: {exc}"
            log.error("cannot open the database (%s); running with an in-memory store", exc)
            self._db = self._open(":memory:")

    @staticmethod
    def _open(target: str) -> sqlite3.Connection:
        db = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=5)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        version = db.execute("PRAGMA user_version").fetchall()[0][0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"database schema {version} is newer than this ModelWire ({SCHEMA_VERSION})"
            )
        for i in range(version, SCHEMA_VERSION):
            # One script per step: schema and version bump commit together or not at
            # all (executescript commits any open transaction first, so no BEGIN here).
            try:
                db.executescript(
                    f"BEGIN IMMEDIATE;{_MIGRATIONS[i]}PRAGMA user_version = {i + 1};COMMIT;"
                )
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except (sqlite3.OperationalError, sqlite3.ProgrammingError, OSError) as exc:
                raise storage_error(exc, self.path) from None

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except (sqlite3.OperationalError, sqlite3.ProgrammingError) as exc:
                raise storage_error(exc, self.path) from None

    def generation(self, topic: str) -> int:
        rows = self.query("SELECT generation FROM changes WHERE topic = ?", (topic,))
        return int(rows[0]["generation"]) if rows else 0

    def bump(self, topic: str, sql: str | None = None, args: Sequence[Any] = ()) -> tuple[int, int]:
        """Run `sql` (if any) and bump `topic`'s generation in one transaction, so other
        processes see the change and the bump together. Returns (rowcount, generation)."""
        with self.transaction() as db:
            rowcount = db.execute(sql, args).rowcount if sql else 0
            db.execute("UPDATE changes SET generation = generation + 1 WHERE topic = ?", (topic,))
            row = db.execute("SELECT generation FROM changes WHERE topic = ?", (topic,)).fetchall()[
                0
            ]
        return rowcount, int(row[0]) if row else 0

    def data_version(self) -> int:
        """Changes whenever another connection (another process) commits: a ~2 µs
        check that lets memory caches skip re-reading when nothing happened."""
        with self._lock:
            try:
                # fetchall, not fetchone: an unfinished statement would keep a read
                # transaction open, pinning the snapshot (and this value) for good.
                return int(self._db.execute("PRAGMA data_version").fetchall()[0][0])
            except sqlite3.Error:
                return -1

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """One statement in its own transaction; returns the number of rows changed."""
        with self.transaction() as db:
            return db.execute(sql, args).rowcount


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)
