"""Workspace agents: `<folder>/.modelwire/agents/<name>.md`, untrusted, never raising.

A small front matter between `---` lines (id, title, description, input, output,
maxTokens) and a body that is the system prompt. These files come with whatever
repository the user opened (docs/security.md): they may choose a prompt and nothing
else — never a connection, host, model, secret or file. A bad file becomes a warning
(naming only the file) and is skipped.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from pathlib import Path

from modelwire.core.agents.agent import Agent, display_name
from modelwire.core.agents.builtin import BUILTIN_IDS, builtin_agents

AGENTS_DIR = Path(".modelwire") / "agents"
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_FILES = 100
# Directory entries looked at per check: a repository with 200k files in its agents
# folder blocked the event loop 1.1 s per run while each was stat'ed.
MAX_SCAN_ENTRIES = 2000
MAX_FILE_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024
MAX_TITLE_CHARS = 100
MAX_DESCRIPTION_CHARS = 500
MAX_TOKENS_LIMIT = 65_536
MAX_TEMPERATURE = 2.0
_KNOWN_KEYS = (
    "id",
    "title",
    "description",
    "input",
    "output",
    "maxTokens",
    "temperature",
    "uses",
    "tools",
    "firstTool",
)
READ_ONLY_TOOLS = ("read_file", "list_files", "search")
MAX_USES = 16
_KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


class _InvalidAgentFile(Exception):
    """Internal: why a file was skipped. The reason never quotes the file's content."""


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _read_bounded(path: Path) -> bytes:
    """Read a regular file of at most MAX_FILE_BYTES.

    O_NONBLOCK and the fstat check keep a FIFO or device planted under the agents
    directory from hanging the sidecar; O_NOFOLLOW refuses a symlink swapped in after
    the path was resolved.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _InvalidAgentFile("not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise _InvalidAgentFile(f"larger than {MAX_FILE_BYTES // 1024} KiB")
        chunks: list[bytes] = []
        remaining = MAX_FILE_BYTES + 1
        while remaining > 0:
            chunk = os.read(fd, remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise _InvalidAgentFile(f"larger than {MAX_FILE_BYTES // 1024} KiB")
    return data


def _unquote_value(raw: str) -> str:
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    # YAML-style trailing comment; `#` inside a word (`C#`) is kept, as YAML does.
    cut = re.search(r"\s#", value)
    return value[: cut.start()].rstrip() if cut else value


def _parse_front_matter(text: str) -> tuple[dict[str, str], int, str]:
    """Split `text` into (known keys, number of ignored keys, body)."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise _InvalidAgentFile("does not start with a '---' front matter block")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise _InvalidAgentFile("front matter has no closing '---' line") from None
    known: dict[str, str] = {}
    ignored = 0
    current_known: str | None = None
    for number, line in enumerate(lines[1:end], start=2):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[0] in " \t":
            # A nested value (YAML mapping or list) belongs to the key above it. Only
            # scalars are supported, so it is fatal under a known key and otherwise
            # discarded with that unknown key.
            if current_known is not None:
                raise _InvalidAgentFile(f"front matter line {number}: nested values unsupported")
            continue
        key, sep, value = stripped.partition(":")
        key = key.strip()
        if not sep or not _KEY_PATTERN.fullmatch(key):
            raise _InvalidAgentFile(f"front matter line {number} is not 'key: value'")
        if key not in _KNOWN_KEYS:
            ignored += 1
            current_known = None
            continue
        if key in known:
            raise _InvalidAgentFile(f"front matter key '{key}' appears twice")
        known[key] = _unquote_value(value)
        current_known = key
    body = "\n".join(lines[end + 1 :]).strip()
    return known, ignored, body


def _check_single_line_text(value: str, field: str, limit: int) -> str:
    if len(value) > limit:
        raise _InvalidAgentFile(f"{field} is longer than {limit} characters")
    # Cc/Cf include bidi overrides and terminal escapes, which could disguise a title.
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in value):
        raise _InvalidAgentFile(f"{field} contains control characters")
    return value


def _agent_from_text(text: str, stem: str) -> tuple[Agent, int]:
    """Build a workspace agent from a file's text; return it and the ignored-key count."""
    if "\x00" in text:
        raise _InvalidAgentFile("is not a text file")
    known, ignored, body = _parse_front_matter(text.replace("\r\n", "\n").replace("\r", "\n"))
    # The id defaults to the file name, so `lint.md` with just a title works.
    agent_id = known.get("id") or stem
    if not ID_PATTERN.fullmatch(agent_id):
        raise _InvalidAgentFile(
            "id must be 1-64 characters of a-z, 0-9, '_' or '-', starting with a letter or digit"
        )
    title = _check_single_line_text(known.get("title") or agent_id, "title", MAX_TITLE_CHARS)
    description = _check_single_line_text(
        known.get("description", ""), "description", MAX_DESCRIPTION_CHARS
    )
    input_ = (known.get("input") or "file").lower()
    if input_ not in ("file", "selection"):
        raise _InvalidAgentFile("input must be 'file' or 'selection'")
    output = (known.get("output") or "text").lower()
    if output not in ("text", "diagnostics"):
        raise _InvalidAgentFile("output must be 'text' or 'diagnostics'")
    max_tokens: int | None = None
    raw_max = known.get("maxTokens", "")
    if raw_max not in ("", "null", "~"):
        if not re.fullmatch(r"[0-9]{1,7}", raw_max) or not (1 <= int(raw_max) <= MAX_TOKENS_LIMIT):
            raise _InvalidAgentFile(
                f"maxTokens must be a whole number from 1 to {MAX_TOKENS_LIMIT}"
            )
        max_tokens = int(raw_max)
    temperature = _temperature(known.get("temperature", ""))
    uses = tuple(_id_list(known.get("uses", ""), "uses"))
    if len(uses) > MAX_USES:
        raise _InvalidAgentFile(f"uses names more than {MAX_USES} agents")
    tools = tuple(_id_list(known.get("tools", ""), "tools"))
    unknown = [t for t in tools if t not in READ_ONLY_TOOLS]
    if unknown:
        # Only the read-only tools exist; a file cannot name anything else.
        raise _InvalidAgentFile(f"tools may only be {', '.join(READ_ONLY_TOOLS)}")
    first_tool = known.get("firstTool") or None
    if first_tool is not None and first_tool not in (*tools, *(["run_agent"] if uses else [])):
        raise _InvalidAgentFile("firstTool must be one of the agent's tools (or run_agent)")
    if not body:
        raise _InvalidAgentFile("has no system prompt after the front matter")
    if len(body.encode("utf-8")) > MAX_BODY_BYTES:
        raise _InvalidAgentFile(f"system prompt is larger than {MAX_BODY_BYTES // 1024} KiB")
    agent = Agent(
        id=agent_id,
        title=title,
        description=description,
        input="selection" if input_ == "selection" else "file",
        output="diagnostics" if output == "diagnostics" else "text",
        system_prompt=body,
        origin="workspace",
        max_tokens=max_tokens,
        temperature=temperature,
        uses=uses,
        tools=tools,
        first_tool=first_tool,
    )
    return agent, ignored


def _temperature(raw: str) -> float | None:
    """`temperature: 0` … `2` (0 makes a small model's answers repeatable)."""
    if raw in ("", "null", "~"):
        return None
    if not re.fullmatch(r"[0-9](\.[0-9]{1,3})?", raw) or float(raw) > MAX_TEMPERATURE:
        raise _InvalidAgentFile(f"temperature must be a number from 0 to {MAX_TEMPERATURE:g}")
    return float(raw)


def _id_list(raw: str, field: str) -> list[str]:
    """`[review, document]` or `review, document`: ids only, nothing else."""
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    items = [item.strip().strip("\"'") for item in text.split(",") if item.strip()]
    for item in items:
        if not ID_PATTERN.fullmatch(item):
            raise _InvalidAgentFile(f"{field} must be a list of agent or tool ids")
    return list(dict.fromkeys(items))


def _candidate_files(agent_dir: Path) -> tuple[list[str], bool]:
    """The agent file names (sorted), and whether the scan stopped at its bound."""
    names: list[str] = []
    with os.scandir(agent_dir) as entries:
        for seen, entry in enumerate(entries):
            if seen >= MAX_SCAN_ENTRIES:
                return sorted(names), True
            # Dotfiles are editor droppings (`.#x.md`, swap files), not agents.
            if entry.name.endswith(".md") and not entry.name.startswith("."):
                names.append(entry.name)
    return sorted(names), False


# Characters a look-alike id uses in place of another's (`exp1ain`, `revievv`).
_CONFUSABLE = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l", "3": "e", "5": "s"})


def _skeleton(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_CONFUSABLE)
    return folded.replace("rn", "m").replace("vv", "w").replace("_", "-").strip()


_BUILTIN_LOOKS = {_skeleton(a.id): a.id for a in builtin_agents()} | {
    _skeleton(a.title): a.id for a in builtin_agents()
}


def _looks_like_builtin(agent: Agent) -> str | None:
    """The built-in agent a workspace agent could be mistaken for, if any: same id or
    title up to case, compatibility forms and look-alike characters."""
    for text in (agent.id, agent.title):
        builtin = _BUILTIN_LOOKS.get(_skeleton(text))
        if builtin is not None:
            return builtin
    return None


def load_workspace_agents(folder: Path) -> tuple[list[Agent], list[str]]:
    """Read `<folder>/.modelwire/agents/*.md`; return (agents, warnings). Never raises.

    Agents come back sorted by file name. Warnings name the file and the reason only.
    """
    agents: list[Agent] = []
    warnings: list[str] = []
    agent_dir = folder / AGENTS_DIR
    try:
        root = folder.resolve(strict=True)
        if not agent_dir.is_dir():
            return agents, warnings
        resolved_dir = agent_dir.resolve(strict=True)
        if not _is_within(resolved_dir, root):
            warnings.append(f"{AGENTS_DIR.as_posix()} points outside the workspace folder; ignored")
            return agents, warnings
        names, truncated = _candidate_files(resolved_dir)
    except (OSError, RuntimeError, ValueError):
        # Missing folder, permission denied, symlink loop: no workspace agents.
        return agents, warnings

    if truncated:
        warnings.append(
            f"{AGENTS_DIR.as_posix()} has more than {MAX_SCAN_ENTRIES} entries; only the "
            f"first {MAX_SCAN_ENTRIES} were looked at"
        )

    if len(names) > MAX_FILES:
        warnings.append(
            f"{AGENTS_DIR.as_posix()} holds {len(names)} agent files; only the first "
            f"{MAX_FILES} (by name) were read"
        )
        names = names[:MAX_FILES]

    seen: dict[str, str] = {}
    for name in names:
        shown = display_name(name)
        try:
            target = (resolved_dir / name).resolve(strict=True)
            if not _is_within(target, root):
                raise _InvalidAgentFile("is a link to a file outside the workspace folder")
            text = _read_bounded(target).decode("utf-8-sig")
            agent, ignored = _agent_from_text(text, name[: -len(".md")])
        except _InvalidAgentFile as exc:
            warnings.append(f"{shown}: {exc}; skipped")
            continue
        except UnicodeDecodeError:
            warnings.append(f"{shown}: is not UTF-8 text; skipped")
            continue
        except (OSError, RuntimeError, ValueError):
            warnings.append(f"{shown}: could not be read; skipped")
            continue
        if ignored:
            warnings.append(
                f"{shown}: ignored {ignored} unsupported front matter key(s); only "
                f"{', '.join(_KNOWN_KEYS)} are honoured (agents cannot choose connections, "
                "hosts, models, secrets or files)"
            )
        if agent.id in BUILTIN_IDS:
            warnings.append(f"{shown}: id '{agent.id}' is a built-in agent's; skipped")
            continue
        lookalike = _looks_like_builtin(agent)
        if lookalike is not None:
            warnings.append(
                f"{shown}: its id or title looks like the built-in agent '{lookalike}'; "
                "skipped (a look-alike could be run by mistake)"
            )
            continue
        if agent.id in seen:
            warnings.append(f"{shown}: its id is already used by {seen[agent.id]}; skipped")
            continue
        seen[agent.id] = shown
        agents.append(agent)
    return agents, warnings
