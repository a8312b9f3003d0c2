"""The read-only workspace tools as plain calls: the folder fence, secrets, binaries,
and the bounds on every answer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelwire.core import workspace_tools
from modelwire.core.workspace_tools import ToolError, Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "util.py").write_text("def parse(text):\n    return int(text)\n")
    (root / "README.md").write_text("Parse numbers.\n")
    (tmp_path / "outside.txt").write_text("outside")
    return Workspace(root)


def refused(ws: Workspace, path: object) -> str:
    with pytest.raises(ToolError) as caught:
        ws.read_file(path)
    return caught.value.code


def test_a_relative_path_inside_the_folder_is_read(ws: Workspace) -> None:
    found = ws.read_file("src/../src/util.py")
    assert (found.path, found.truncated) == ("src/util.py", False)
    assert found.text.startswith("def parse")


@pytest.mark.parametrize("path", ["../outside.txt", "src/../../outside.txt"])
def test_dot_dot_out_of_the_folder_is_refused(ws: Workspace, path: str) -> None:
    assert refused(ws, path) == "OUTSIDE_WORKSPACE"


def test_absolute_home_and_drive_paths_are_refused(ws: Workspace, tmp_path: Path) -> None:
    assert refused(ws, str(tmp_path / "outside.txt")) == "OUTSIDE_WORKSPACE"
    assert refused(ws, str(ws.root / "README.md")) == "OUTSIDE_WORKSPACE"  # even inside
    assert refused(ws, "~/.bashrc") == "OUTSIDE_WORKSPACE"
    assert refused(ws, "C:\\Windows\\win.ini") == "OUTSIDE_WORKSPACE"


def test_symlinks_out_of_the_folder_are_refused_file_and_directory(
    ws: Workspace, tmp_path: Path
) -> None:
    (ws.root / "link.txt").symlink_to(tmp_path / "outside.txt")
    (ws.root / "linkdir").symlink_to(tmp_path)
    assert refused(ws, "link.txt") == "OUTSIDE_WORKSPACE"
    assert refused(ws, "linkdir/outside.txt") == "OUTSIDE_WORKSPACE"
    assert "link.txt" not in ws.list_files("**/*")[0]
    assert ws.search("outside") == ([], False)


def test_a_symlink_inside_the_folder_reads_its_target(ws: Workspace) -> None:
    (ws.root / "alias.py").symlink_to(ws.root / "src" / "util.py")
    assert ws.read_file("alias.py").path == "src/util.py"


def test_secret_files_are_refused_and_never_listed(ws: Workspace) -> None:
    (ws.root / ".env").write_text("OPENAI_API_KEY=sk-proj-abc\n")
    (ws.root / ".git").mkdir()
    (ws.root / ".git" / "config").write_text("[core]\n")
    (ws.root / "deploy.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    for path in (".env", ".git/config", "deploy.pem"):
        assert refused(ws, path) == "SECRET_FILE"
    listed, _ = ws.list_files("**/*")
    assert listed == ["README.md", "src/util.py"]
    assert ws.search("sk-proj") == ([], False)


def test_binary_missing_and_non_regular_files_are_refused(ws: Workspace) -> None:
    (ws.root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (ws.root / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    os.mkfifo(ws.root / "pipe")
    assert refused(ws, "logo.png") == "BINARY_FILE"
    assert refused(ws, "latin1.txt") == "BINARY_FILE"
    assert refused(ws, "nope.py") == "FILE_NOT_FOUND"
    assert refused(ws, "src") == "NOT_A_FILE"
    assert refused(ws, "pipe") == "NOT_A_FILE"  # a FIFO must not hang the sidecar
    assert refused(ws, "") == "INVALID_ARGUMENTS"
    assert refused(ws, {"path": "x"}) == "INVALID_ARGUMENTS"


def test_a_large_file_is_cut_at_the_cap_on_a_character_boundary(ws: Workspace) -> None:
    cap = workspace_tools.MAX_READ_BYTES
    (ws.root / "big.txt").write_text("a" + "é" * cap)  # two bytes each: the cap splits one
    found = ws.read_file("big.txt")
    assert found.truncated and len(found.text.encode()) <= cap
    assert set(found.text) == {"a", "é"}


def test_list_files_globs_and_bounds_its_answer(ws: Workspace) -> None:
    assert ws.list_files("*.py") == (["src/util.py"], False)
    assert ws.list_files("src/*") == (["src/util.py"], False)
    (ws.root / "many").mkdir()
    for i in range(workspace_tools.MAX_LIST_ENTRIES + 5):
        (ws.root / "many" / f"f{i:03}.txt").touch()
    listed, more = ws.list_files("many/*")
    assert more and len(listed) == workspace_tools.MAX_LIST_ENTRIES


def test_search_is_plain_text_case_insensitive_and_bounded(ws: Workspace) -> None:
    hits, more = ws.search("DEF PARSE")
    assert hits == ["src/util.py:1: def parse(text):"] and not more
    assert ws.search("(a+)+$") == ([], False)  # a regex is just text here
    (ws.root / "noisy.txt").write_text("needle\n" * (workspace_tools.MAX_SEARCH_HITS + 10))
    hits, more = ws.search("needle")
    assert more and len(hits) == workspace_tools.MAX_SEARCH_HITS
    with pytest.raises(ToolError):
        ws.search("x" * (workspace_tools.MAX_QUERY_CHARS + 1))
