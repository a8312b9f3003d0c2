"""The read-only workspace tools an orchestrator may call: read_file, list_files, search.

Everything here is confined to one workspace folder. The model chooses the arguments,
so they are hostile input: a path is refused when it is absolute, when it resolves
(symlinks followed, `..` collapsed) outside the folder, when it is not a regular file,
when it names a secret-looking file (`.env`, `.git/`, keys), or when it is binary.
Resolution happens before anything is opened, and the final open refuses a symlink
swapped in meanwhile, so no byte outside the folder is read. Every answer is bounded:
file size, entries listed, files and bytes searched, hits returned.

A refusal is a `ToolError`: the loop hands its text back to the model as the tool's
result (the run goes on), never as a run failure.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_READ_BYTES = 64 * 1024
MAX_LIST_ENTRIES = 200
MAX_WALK_ENTRIES = 20_000
MAX_SEARCH_HITS = 50
MAX_SEARCH_FILES = 2_000
MAX_SEARCH_FILE_BYTES = 256 * 1024
MAX_SEARCH_TOTAL_BYTES = 8 * 1024 * 1024
MAX_QUERY_CHARS = 200
MAX_HIT_LINE_CHARS = 200

# Directories never walked: version control, dependencies, caches, virtualenvs.
_SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".cache"}
)
# Files whose content is a secret far more often than code worth reviewing.
_SECRET_NAMES = re.compile(
    r"^(\.env(\..*)?|\.netrc|\.npmrc|\.pypirc|id_(rsa|dsa|ecdsa|ed25519)(\.pub)?|"
    r".*\.(pem|key|p12|pfx|kdbx|keystore|jks))$",
    re.IGNORECASE,
)


class ToolError(Exception):
    """A refused or failed tool call; `code` is stable, the message goes to the model."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class FileText:
    path: str
    text: str
    truncated: bool


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _is_secret(parts: tuple[str, ...]) -> bool:
    return any(part in (".git", ".ssh", ".gnupg") for part in parts) or bool(
        parts and _SECRET_NAMES.match(parts[-1])
    )


class Workspace:
    """One workspace folder, as the tools see it."""

    def __init__(self, folder: Path) -> None:
        self.root = folder.resolve(strict=True)

    # --- read_file ----------------------------------------------------------------------

    def resolve(self, raw: object) -> Path:
        """The real path of `raw` inside the folder, or ToolError."""
        if not isinstance(raw, str) or not raw.strip():
            raise ToolError("INVALID_ARGUMENTS", "path must be a non-empty relative path.")
        text = raw.strip()
        if len(text) > 1024 or "\x00" in text:
            raise ToolError("INVALID_ARGUMENTS", "path is too long or contains a NUL.")
        pure = PurePosixPath(text.replace("\\", "/"))
        if pure.is_absolute() or re.match(r"^[A-Za-z]:", text) or text.startswith("~"):
            raise ToolError(
                "OUTSIDE_WORKSPACE",
                f"{text!r} is an absolute path; give a path relative to the workspace folder.",
            )
        try:
            resolved = (self.root / pure).resolve(strict=True)
        except FileNotFoundError:
            raise ToolError(
                "FILE_NOT_FOUND", f"There is no file {text!r} in the workspace."
            ) from None
        except (OSError, RuntimeError):
            raise ToolError("FILE_NOT_FOUND", f"{text!r} cannot be resolved.") from None
        if not _within(resolved, self.root):
            # Said the same way for `..` and for a symlink: where it points is not shown.
            raise ToolError(
                "OUTSIDE_WORKSPACE", f"{text!r} is outside the workspace folder; refused."
            )
        if _is_secret(resolved.relative_to(self.root).parts):
            raise ToolError("SECRET_FILE", f"{text!r} looks like a secret or VCS file; refused.")
        return resolved

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() or "."

    def read_file(self, raw: object) -> FileText:
        path = self.resolve(raw)
        data, truncated = _read_regular(path, MAX_READ_BYTES)
        if b"\x00" in data[:8192]:
            raise ToolError("BINARY_FILE", f"{self.relative(path)} is a binary file; refused.")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            if not (truncated and exc.start >= len(data) - 3):  # a character cut at the cap
                raise ToolError(
                    "BINARY_FILE", f"{self.relative(path)} is not UTF-8 text; refused."
                ) from None
            text = data[: exc.start].decode("utf-8")
        return FileText(self.relative(path), text, truncated)

    # --- list_files / search ---------------------------------------------------------------

    def _walk(self) -> list[str]:
        """Relative paths of the regular files, sorted, symlinked dirs not followed."""
        found: list[str] = []
        seen = 0
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
            base = Path(dirpath)
            for name in sorted(filenames):
                seen += 1
                if seen > MAX_WALK_ENTRIES:
                    return found
                rel = (base / name).relative_to(self.root)
                # A symlinked file may point anywhere: not listed, not searched.
                if _is_secret(rel.parts) or (base / name).is_symlink():
                    continue
                found.append(rel.as_posix())
        return found

    def list_files(self, pattern: object) -> tuple[list[str], bool]:
        """Files matching a glob (`**/*.py`, `src/*`); (paths, more_were_left_out)."""
        glob = "**/*" if pattern is None or pattern == "" else pattern
        if not isinstance(glob, str) or len(glob) > 200:
            raise ToolError("INVALID_ARGUMENTS", "glob must be a short text such as **/*.py.")
        # fnmatch's `*` crosses `/` already; `**/` also matches no directory at all.
        options = {glob, glob.replace("**/", "")}
        matches = [p for p in self._walk() if any(fnmatch.fnmatchcase(p, g) for g in options)]
        return matches[:MAX_LIST_ENTRIES], len(matches) > MAX_LIST_ENTRIES

    def search(self, query: object) -> tuple[list[str], bool]:
        """Lines containing `query` (plain text, case-insensitive): `path:line: text`."""
        if not isinstance(query, str) or not query.strip() or len(query) > MAX_QUERY_CHARS:
            raise ToolError(
                "INVALID_ARGUMENTS", f"text must be 1-{MAX_QUERY_CHARS} characters of plain text."
            )
        needle = query.casefold()
        hits: list[str] = []
        budget = MAX_SEARCH_TOTAL_BYTES
        for count, rel in enumerate(self._walk()):
            if count >= MAX_SEARCH_FILES or budget <= 0:
                return hits, True
            try:
                data, _ = _read_regular(self.root / rel, MAX_SEARCH_FILE_BYTES)
            except ToolError:
                continue
            budget -= len(data)
            if b"\x00" in data[:8192]:
                continue
            text = data.decode("utf-8", "replace")
            if needle not in text.casefold():
                continue
            for number, line in enumerate(text.splitlines(), start=1):
                if needle in line.casefold():
                    hits.append(f"{rel}:{number}: {line.strip()[:MAX_HIT_LINE_CHARS]}")
                    if len(hits) >= MAX_SEARCH_HITS:
                        return hits, True
        return hits, False


def _read_regular(path: Path, cap: int) -> tuple[bytes, bool]:
    """At most `cap` bytes of a regular file; (data, truncated).

    O_NOFOLLOW refuses a symlink swapped in after the path was resolved; O_NONBLOCK and
    the fstat keep a FIFO or device from hanging the sidecar.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = _open(str(path), flags)
    except OSError:
        raise ToolError("FILE_NOT_FOUND", "the file cannot be opened.") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ToolError("NOT_A_FILE", "not a regular file; refused.")
        chunks: list[bytes] = []
        remaining = cap + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    return data[:cap], len(data) > cap


# The one place a workspace file is opened; tests watch it to prove nothing outside the
# folder is ever opened.
_open = os.open
