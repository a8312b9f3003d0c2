"""Small holes of issue 15, item 9, through the CLI: a key typed as an extra argument is
never echoed; connection names refuse invisible and look-alike characters."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import modelwire

OPAQUE_KEY = "AIzaSyD-opaqueKEY0123456789abcdefghi"


def test_set_secret_never_echoes_a_key_given_as_an_argument(tmp_path: Path) -> None:
    done = modelwire(tmp_path, "connections", "set-secret", "Cloud", OPAQUE_KEY)
    assert done.returncode == 2
    assert OPAQUE_KEY not in done.stderr + done.stdout
    assert OPAQUE_KEY[:12] not in done.stderr
    assert "not shown" in done.stderr


@pytest.mark.parametrize(
    "name",
    ["Work\u200bAPI", "Work\u202eIPA", "Work\x9bAPI", "Work\x7fAPI", "Work\x1b[2JAPI"],
)
def test_connection_names_refuse_invisible_characters(tmp_path: Path, name: str) -> None:
    done = modelwire(
        tmp_path, "connections", "add", "--name", name, "--provider", "ollama",
        "--base-url", "http://127.0.0.1:11434",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "visible text" in done.stderr


def test_a_full_width_look_alike_is_a_duplicate_name(tmp_path: Path) -> None:
    first = modelwire(
        tmp_path, "connections", "add", "--name", "Work", "--provider", "ollama",
        "--base-url", "http://127.0.0.1:11434",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    twin = modelwire(
        tmp_path, "connections", "add", "--name", "Ｗｏｒｋ", "--provider", "ollama",
        "--base-url", "http://127.0.0.1:11434",
    )  # fmt: skip
    assert twin.returncode == 2 and "CONNECTION_NAME_TAKEN" in twin.stderr
