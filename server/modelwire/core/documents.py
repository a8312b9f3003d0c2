"""The text an agent runs on: the editor's synced copy, else the file on disk."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import Range

_EXT_LANGUAGES = {
    ".py": "python",
    ".ts": "typescript",
    ".js": "javascript",
    ".tsx": "typescriptreact",
    ".jsx": "javascriptreact",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".php": "php",
    ".sh": "shellscript",
    ".md": "markdown",
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".lua": "lua",
    ".kt": "kotlin",
    ".swift": "swift",
    ".sql": "sql",
    ".html": "html",
    ".css": "css",
}


@dataclass(frozen=True, slots=True)
class Document:
    uri: str
    text: str
    language_id: str | None = None


def uri_to_path(uri: str) -> Path | None:
    parts = urlsplit(uri)
    if parts.scheme != "file":
        return None
    return Path(unquote(parts.path))


def _not_found(uri: str, why: str) -> ModelWireError:
    return ModelWireError(
        ErrorCode.DOCUMENT_NOT_FOUND,
        f"Cannot read {uri}: {why}.",
        "Open the file in the editor (so its text is synced) or check that it exists.",
    )


def read_document(uri: str, max_bytes: int) -> Document:
    """Read a `file:` URI from disk; refuses what is not a regular file or far too big."""
    path = uri_to_path(uri)
    if path is None:
        raise _not_found(uri, "it is not open in the editor and is not a file: URI")
    try:
        st = path.stat()
    except OSError as exc:
        raise _not_found(uri, exc.strerror or "no such file") from None
    if not path.is_file():
        raise _not_found(uri, "it is not a regular file")
    if st.st_size > max_bytes * 4:
        # Read no more than needed to know it is too large for any prompt.
        raise ModelWireError(
            ErrorCode.PROMPT_TOO_LARGE,
            f"The file is {st.st_size // 1024} KiB; the limit is {max_bytes // 1024} KiB.",
            "Run the agent on a selection, or raise modelwire.limits.promptMaxKiB.",
        )
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise _not_found(uri, exc.strerror or "unreadable") from None
    return Document(
        uri,
        data.decode("utf-8", errors="replace"),
        _EXT_LANGUAGES.get(os.path.splitext(path.name)[1].lower()),
    )


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def _utf16_index(content: str, units: int) -> int:
    """The string index of an LSP character offset (UTF-16 code units, the default
    position encoding), clamped to the line's content."""
    count = 0
    for i, ch in enumerate(content):
        if count >= units:
            return i
        count += 2 if ord(ch) > 0xFFFF else 1
    return len(content)


def select_lines(text: str, rng: Range) -> tuple[str, tuple[int, int]]:
    """The text of an LSP range and the (first, last) 0-based lines it covers.

    Lines break at \\n, \\r\\n and \\r only, as in LSP; a position past the last line
    means the end of the document (VS Code's Select All ends on the line after a
    final newline)."""
    if (rng.end.line, rng.end.character) < (rng.start.line, rng.start.character):
        raise ModelWireError(
            ErrorCode.INVALID_PARAMS,
            "The range ends before it starts.",
            "Send a range whose end is after its start.",
        )
    lines = _LINE.findall(text)
    if not lines:
        return "", (0, 0)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, character: int) -> int:
        if line >= len(lines):
            return len(text)
        content = lines[line].rstrip("\r\n")
        return starts[line] + _utf16_index(content, character)

    begin = offset(rng.start.line, rng.start.character)
    end = offset(rng.end.line, rng.end.character)
    first = min(rng.start.line, len(lines) - 1)
    last = (
        rng.end.line - 1
        if rng.end.character == 0 and rng.end.line > rng.start.line
        else rng.end.line
    )
    return text[begin:end], (first, max(first, min(last, len(lines) - 1)))
