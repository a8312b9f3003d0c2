"""The text an agent sees: a file from disk, or the lines of a selection."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from modelwire.core import documents
from modelwire.core.documents import read_document, select_lines, uri_to_path
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import Range

SOURCE = "import os\n\ndef main():\n    print(os.getcwd())\n    return 0\n"
#         line 0     1  2            3                     4


def rng(start: tuple[int, int], end: tuple[int, int]) -> Range:
    return Range.model_validate(
        {
            "start": {"line": start[0], "character": start[1]},
            "end": {"line": end[0], "character": end[1]},
        }
    )


def error_code(call: Any) -> ErrorCode:
    with pytest.raises(ModelWireError) as info:
        call()
    return info.value.code


# --- Selections ------------------------------------------------------------------------


def test_a_selection_within_one_line_is_exactly_that_text() -> None:
    text, lines = select_lines(SOURCE, rng((3, 4), (3, 9)))

    assert (text, lines) == ("print", (3, 3))


def test_a_selection_across_lines_keeps_the_partial_first_and_last_lines() -> None:
    text, lines = select_lines(SOURCE, rng((2, 4), (4, 10)))

    assert text == "main():\n    print(os.getcwd())\n    return"
    assert lines == (2, 4)


def test_an_empty_selection_is_empty_text() -> None:
    assert select_lines(SOURCE, rng((3, 4), (3, 4))) == ("", (3, 3))


def test_a_selection_that_ends_before_it_starts_is_invalid_params() -> None:
    assert error_code(lambda: select_lines(SOURCE, rng((3, 0), (2, 0)))) is (
        ErrorCode.INVALID_PARAMS
    )
    assert error_code(lambda: select_lines(SOURCE, rng((3, 9), (3, 4)))) is (
        ErrorCode.INVALID_PARAMS
    )


def test_characters_past_the_end_of_a_line_stop_at_the_line_end() -> None:
    # LSP: a character past the line length "defaults back to the line length",
    # which does not include the line break.
    text, lines = select_lines(SOURCE, rng((4, 4), (4, 500)))

    assert (text, lines) == ("return 0", (4, 4))


def test_lines_past_the_end_of_the_file_are_clamped_to_the_last_line() -> None:
    text, lines = select_lines("a\nb\nc", rng((1, 0), (99, 1)))

    assert text == "b\nc"
    assert lines == (1, 2)


def test_select_all_of_a_file_ending_in_a_newline_keeps_the_last_line() -> None:
    # VS Code's Select All on "a\nb\n" is (0,0)-(2,0): line 2 is the empty line after
    # the final newline.
    text, _ = select_lines("a\nb\n", rng((0, 0), (2, 0)))

    assert text == "a\nb\n"


def test_a_selection_after_an_emoji_is_the_text_the_user_selected() -> None:
    # "🚀" is one code point but two UTF-16 code units, which is what the editor counts.
    line = "🚀 launch()\n"

    text, _ = select_lines(line, rng((0, 3), (0, 9)))

    assert text == "launch"


def test_selecting_in_an_empty_document_is_empty() -> None:
    assert select_lines("", rng((0, 0), (3, 0))) == ("", (0, 0))


# --- Reading files ----------------------------------------------------------------------


def test_a_file_uri_is_read_from_disk_with_its_language(tmp_path: Path) -> None:
    path = tmp_path / "my project" / "main.py"
    path.parent.mkdir()
    path.write_text(SOURCE, encoding="utf-8")

    doc = read_document(path.as_uri(), max_bytes=1024)

    assert "%20" in path.as_uri()
    assert (doc.text, doc.language_id, doc.uri) == (SOURCE, "python", path.as_uri())


def test_an_unknown_extension_has_no_language(tmp_path: Path) -> None:
    path = tmp_path / "notes.xyz"
    path.write_text("hello", encoding="utf-8")

    assert read_document(path.as_uri(), 1024).language_id is None


def test_bytes_that_are_not_utf8_do_not_stop_the_run(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("café\n".encode("latin-1"))

    assert read_document(path.as_uri(), 1024).text == "caf\ufffd\n"


@pytest.mark.parametrize(
    "uri", ["untitled:Untitled-1", "https://example.com/main.py", "vscode-notebook-cell:/x"]
)
def test_a_document_that_is_not_a_file_uri_is_not_found(uri: str) -> None:
    with pytest.raises(ModelWireError) as info:
        read_document(uri, 1024)

    assert info.value.code is ErrorCode.DOCUMENT_NOT_FOUND
    assert "Open the file in the editor" in info.value.hint


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    uri = (tmp_path / "gone.py").as_uri()

    assert error_code(lambda: read_document(uri, 1024)) is ErrorCode.DOCUMENT_NOT_FOUND


def test_a_directory_is_not_found(tmp_path: Path) -> None:
    assert error_code(lambda: read_document(tmp_path.as_uri(), 1024)) is (
        ErrorCode.DOCUMENT_NOT_FOUND
    )


def test_a_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    assert error_code(lambda: read_document(fifo.as_uri(), 1024)) is (ErrorCode.DOCUMENT_NOT_FOUND)


def test_a_huge_file_is_prompt_too_large_without_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    huge = tmp_path / "dump.sql"
    with open(huge, "wb") as fh:
        fh.truncate(2 * 1024**3)  # 2 GiB, sparse: costs no disk

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the huge file was opened")

    monkeypatch.setattr(documents, "open", no_reading, raising=False)

    with pytest.raises(ModelWireError) as info:
        read_document(huge.as_uri(), max_bytes=256 * 1024)

    assert info.value.code is ErrorCode.PROMPT_TOO_LARGE
    assert "2097152 KiB" in info.value.message and "256 KiB" in info.value.message
    assert "promptMaxKiB" in info.value.hint


def test_file_uris_become_paths_with_escapes_undone() -> None:
    assert uri_to_path("file:///home/me/my%20project/a%23b.py") == Path(
        "/home/me/my project/a#b.py"
    )
    assert uri_to_path("untitled:Untitled-1") is None
