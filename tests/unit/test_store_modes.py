"""The data folder is private to its user (issue 15, item 7): MODELWIRE_HOME was 0755
and modelwire.db/-wal/-shm 0644, so any local user could read run outputs, URLs and
consents."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelwire.core.store import Store

PRIVATE_FILES = ("modelwire.db", "modelwire.db-wal", "modelwire.db-shm")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual desktop umask (022): new files would be world-readable by default."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _write_something(store: Store) -> None:
    store.execute(
        "INSERT INTO consent(workspace, connection_id, decision, decided_at) VALUES (?,?,?,?)",
        ("file:///ws", "c1", "always", "2026-12-01T00:00:00Z"),
    )


def test_a_new_store_is_private_to_its_user(tmp_path: Path, open_umask: None) -> None:
    home = tmp_path / "home" / "modelwire"
    store = Store(home)
    try:
        _write_something(store)
        assert _mode(home) == 0o700
        for name in PRIVATE_FILES:
            assert _mode(home / name) == 0o600, name
    finally:
        store.close()


def test_an_existing_world_readable_store_is_fixed_on_open(
    tmp_path: Path, open_umask: None
) -> None:
    home = tmp_path / "home"
    Store(home).close()
    (home / "audit.log").write_text('{"decision":"always"}\n')
    home.chmod(0o755)
    for path in home.iterdir():
        path.chmod(0o644)

    store = Store(home)
    try:
        _write_something(store)
        assert _mode(home) == 0o700
        assert _mode(home / "audit.log") == 0o600
        for name in PRIVATE_FILES:
            assert _mode(home / name) == 0o600, name
    finally:
        store.close()
