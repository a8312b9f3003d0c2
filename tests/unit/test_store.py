"""The store: one SQLite database under MODELWIRE_HOME, WAL, versioned schema.

Whatever goes wrong with the disk, the sidecar keeps serving (degraded, in memory) and
says why, rather than failing the editor's start.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from modelwire.core import store as store_module
from modelwire.core.store import DB_FILE, SCHEMA_VERSION, Store, default_home, dumps, loads
from modelwire.errors import ErrorCode, ModelWireError

TABLES = {"connections", "runs", "consent"}


def user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def tables(store: Store) -> set[str]:
    rows = store.query("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {row["name"] for row in rows}


def add_consent(store: Store, workspace: str = "/ws") -> None:
    store.execute(
        "INSERT INTO consent(workspace, connection_id, decision, decided_at) VALUES (?,?,?,?)",
        (workspace, "c1", "always", "2025-01-01T00:00:00.000Z"),
    )


def test_first_start_creates_the_database_at_the_current_schema(tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"

    store = Store(home)

    assert store.degraded_reason is None
    assert store.path == home / DB_FILE and store.path.is_file()
    assert tables(store) >= TABLES
    store.close()
    assert user_version(home / DB_FILE) == SCHEMA_VERSION


def test_restarting_on_an_existing_database_keeps_its_data(tmp_path: Path) -> None:
    first = Store(tmp_path)
    add_consent(first)
    first.close()

    again = Store(tmp_path)

    assert again.degraded_reason is None
    assert len(again.query("SELECT * FROM consent")) == 1
    again.close()
    assert user_version(tmp_path / DB_FILE) == SCHEMA_VERSION


def test_the_database_uses_write_ahead_logging(tmp_path: Path) -> None:
    store = Store(tmp_path)

    assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    store.close()


def test_a_database_from_a_newer_modelwire_is_left_alone_and_the_sidecar_runs_in_memory(
    tmp_path: Path,
) -> None:
    newer = SCHEMA_VERSION + 5
    db = sqlite3.connect(tmp_path / DB_FILE)
    db.execute(f"PRAGMA user_version = {newer}")
    db.execute("CREATE TABLE future_things (x)")
    db.close()

    store = Store(tmp_path)

    assert store.degraded_reason is not None
    assert f"schema {newer} is newer" in store.degraded_reason
    assert str(tmp_path / DB_FILE) in store.degraded_reason
    add_consent(store)  # still serving, in memory
    assert "future_things" not in tables(store)
    store.close()
    assert user_version(tmp_path / DB_FILE) == newer


# A chmod-based read-only home does not bind root (tests run as root in CI); the
# variants below fail for root too.


def test_a_home_that_cannot_be_created_degrades_instead_of_crashing(tmp_path: Path) -> None:
    # A file where the folder should be: what a read-only or mistyped home looks like
    # even to root.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")

    store = Store(blocker / "home")

    assert store.degraded_reason is not None
    add_consent(store)
    assert len(store.query("SELECT * FROM consent")) == 1
    store.close()


def test_a_database_path_that_is_not_a_file_degrades_instead_of_crashing(tmp_path: Path) -> None:
    (tmp_path / DB_FILE).mkdir()

    store = Store(tmp_path)

    assert store.degraded_reason is not None
    assert tables(store) >= TABLES
    store.close()


def test_a_failing_migration_leaves_the_database_at_its_previous_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = Store(tmp_path)
    add_consent(old, "/a")
    add_consent(old, "/b")
    old.close()
    # A step that fails on this user's data only (two rows share a decision).
    broken_step = "CREATE TABLE half_done (x); CREATE UNIQUE INDEX one ON consent(decision);"
    monkeypatch.setattr(store_module, "_MIGRATIONS", (*store_module._MIGRATIONS, broken_step))
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)

    store = Store(tmp_path)

    assert store.degraded_reason is not None
    store.close()
    assert user_version(tmp_path / DB_FILE) == SCHEMA_VERSION
    db = sqlite3.connect(tmp_path / DB_FILE)
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    assert "half_done" not in names


def test_a_failed_transaction_writes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path)

    with pytest.raises(RuntimeError), store.transaction() as db:
        db.execute(
            "INSERT INTO consent(workspace, connection_id, decision, decided_at) "
            "VALUES ('/ws', 'c1', 'always', 'now')"
        )
        raise RuntimeError("something broke half way")

    assert store.query("SELECT * FROM consent") == []
    store.close()


def test_storage_errors_become_storage_failed_with_the_path(tmp_path: Path) -> None:
    store = Store(tmp_path)

    with pytest.raises(ModelWireError) as info:
        store.query("SELECT * FROM no_such_table")

    assert info.value.code is ErrorCode.STORAGE_FAILED
    assert str(tmp_path) in info.value.message
    assert "MODELWIRE_HOME" in info.value.hint
    store.close()


def test_constraint_violations_reach_the_caller_as_such(tmp_path: Path) -> None:
    # The connection registry turns a duplicate name into CONNECTION_NAME_TAKEN.
    store = Store(tmp_path)
    add_consent(store)

    with pytest.raises(sqlite3.IntegrityError):
        add_consent(store)
    store.close()


def test_execute_reports_how_many_rows_changed(tmp_path: Path) -> None:
    store = Store(tmp_path)
    add_consent(store, "/a")
    add_consent(store, "/b")

    assert store.execute("UPDATE consent SET decision = 'deny'") == 2
    store.close()


def test_modelwire_home_environment_variable_chooses_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELWIRE_HOME", str(tmp_path / "mw"))

    assert default_home() == tmp_path / "mw"


def test_json_columns_round_trip_and_keep_none() -> None:
    value = {"connectSeconds": 2.5, "models": ["a", "b"]}

    assert loads(dumps(value)) == value
    assert dumps(None) is None and loads(None) is None
