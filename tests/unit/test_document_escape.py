"""A document is never followed out of the run's folder by a symlink (issue 15, item 6):
`src/example.py -> /proc/self/environ` or `-> ../../outside/id_rsa` sent the
environment's tokens and the outside file to the model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelwire.core.documents import read_document
from modelwire.errors import ErrorCode, ModelWireError

LIMIT = 256 * 1024


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    workspace = tmp_path / "ws"
    (workspace / "src").mkdir(parents=True)
    (workspace / "src" / "real.py").write_text("x = 1\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    return workspace, outside


def _refused(uri: str, folder: Path | None) -> ModelWireError:
    with pytest.raises(ModelWireError) as caught:
        read_document(uri, LIMIT, folder)
    return caught.value


def test_a_symlink_to_a_file_outside_the_workspace_is_refused(layout: tuple[Path, Path]) -> None:
    workspace, outside = layout
    link = workspace / "src" / "example.py"
    link.symlink_to(os.path.relpath(outside / "id_rsa", link.parent))

    error = _refused(link.as_uri(), workspace)

    assert error.code is ErrorCode.DOCUMENT_OUTSIDE_WORKSPACE
    assert "outside" in error.message and error.hint
    assert "PRIVATE KEY" not in error.message


def test_a_symlinked_directory_out_of_the_workspace_is_refused(layout: tuple[Path, Path]) -> None:
    workspace, outside = layout
    (workspace / "vendor").symlink_to(outside)

    error = _refused((workspace / "vendor" / "id_rsa").as_uri(), workspace)

    assert error.code is ErrorCode.DOCUMENT_OUTSIDE_WORKSPACE


@pytest.mark.parametrize("target", ["/proc/self/environ", "/proc/self/cmdline", "/dev/zero"])
def test_a_symlink_into_proc_or_dev_is_refused(layout: tuple[Path, Path], target: str) -> None:
    workspace, _ = layout
    link = workspace / "src" / "example.py"
    link.symlink_to(target)

    assert _refused(link.as_uri(), workspace).code is ErrorCode.DOCUMENT_OUTSIDE_WORKSPACE


@pytest.mark.parametrize("named", ["/proc/self/environ", "/sys/kernel/hostname", "/dev/null"])
def test_proc_sys_and_dev_are_refused_even_when_named(named: str) -> None:
    assert _refused(Path(named).as_uri(), None).code is ErrorCode.DOCUMENT_OUTSIDE_WORKSPACE


def test_a_symlink_inside_the_workspace_is_read(layout: tuple[Path, Path]) -> None:
    workspace, _ = layout
    link = workspace / "alias.py"
    link.symlink_to(workspace / "src" / "real.py")

    assert read_document(link.as_uri(), LIMIT, workspace).text == "x = 1\n"


def test_a_file_the_user_named_outside_the_folder_is_read(layout: tuple[Path, Path]) -> None:
    workspace, outside = layout
    named = outside / "id_rsa"

    assert "PRIVATE KEY" in read_document(named.as_uri(), LIMIT, workspace).text


def test_a_fifo_is_not_read_and_does_not_block(layout: tuple[Path, Path]) -> None:
    workspace, _ = layout
    fifo = workspace / "pipe.py"
    os.mkfifo(fifo)

    assert _refused(fifo.as_uri(), workspace).code is ErrorCode.DOCUMENT_NOT_FOUND
