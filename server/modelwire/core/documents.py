"""The text an agent runs on: the editor's synced copy, else the file on disk."""

from __future__ import annotations

import os
import re
import stat
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


# Kernel pseudo-files: reading them hands over the process's environment (tokens
# included), memory maps or device data. Never a document, even when named.
_PSEUDO_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _refused(uri: str, why: str) -> ModelWireError:
    return ModelWireError(
        ErrorCode.DOCUMENT_OUTSIDE_WORKSPACE,
        f"Cannot read {uri}: {why}.",
        "ModelWire reads only files inside the workspace (the current directory for the "
        "CLI) unless you name the real file: open or name the file itself, not a link "
        "to it.",
    )


def _checked_target(uri: str, path: Path, folder: Path | None) -> Path:
    """The real file to open, or an error when a link leads out of `folder`.

    A path the user named is read as named (wherever it is); a symbolic link (of the
    file or of a directory on the way) is followed only while it stays inside the run's
    folder, because a repository chooses its links and the user did not see them."""
    named = Path(os.path.abspath(path))
    try:
        resolved = named.resolve()
    except (OSError, RuntimeError):  # a link loop
        raise _not_found(uri, "its links loop") from None
    for root in _PSEUDO_ROOTS:
        if _within(resolved, root) or _within(named, root):
            raise _refused(uri, f"{resolved} is a system pseudo-file, not a document")
    if resolved == named:
        return resolved
    base = folder.resolve() if folder is not None else named.parent.resolve()
    if not _within(resolved, base):
        raise _refused(uri, f"it is a link to {resolved}, outside {base}")
    return resolved


def read_document(uri: str, max_bytes: int, folder: Path | None = None) -> Document:
    """Read a `file:` URI from disk; refuses what is not a regular file, far too big, or
    reached by a link out of `folder` (the workspace folder, the CLI's directory)."""
    path = uri_to_path(uri)
    if path is None:
        raise _not_found(uri, "it is not open in the editor and is not a file: URI")
    target = _checked_target(uri, path, folder)
    try:
        # O_NOFOLLOW: the checked path cannot be swapped for a link before the open;
        # O_NONBLOCK: a FIFO put in its place cannot hang the run.
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise _not_found(uri, exc.strerror or "unreadable") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise _not_found(uri, "it is not a regular file")
    with os.fdopen(fd, "rb") as fh:
        if st.st_size > max_bytes * 4:
            # Read no more than needed to know it is too large for any prompt.
            raise ModelWireError(
                ErrorCode.PROMPT_TOO_LARGE,
                f"The file is {st.st_size // 1024} KiB; the limit is {max_bytes // 1024} KiB.",
                "Run the agent on a selection, or raise modelwire.limits.promptMaxKiB.",
            )
        try:
            data = fh.read(max_bytes * 4 + 1)
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
