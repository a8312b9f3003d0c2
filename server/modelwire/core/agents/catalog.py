"""The agents of a folder, re-reading its files only when they change."""

from __future__ import annotations

import builtins
import logging
import os
import threading
from pathlib import Path

from modelwire.core.agents.agent import Agent
from modelwire.core.agents.builtin import builtin_agents
from modelwire.core.agents.workspace import AGENTS_DIR, MAX_SCAN_ENTRIES, load_workspace_agents
from modelwire.errors import ErrorCode, ModelWireError

log = logging.getLogger(__name__)


_Signature = tuple[object, ...]


def _dir_signature(agent_dir: Path) -> _Signature | None:
    """What changes when the agent files change, found with stats only (no reads).

    The directory's own mtime catches files added, removed and renamed (and editors
    that save by rename); per-file mtimes and sizes catch in-place saves, which leave
    the directory's mtime alone. None when there is no agents directory.
    """
    try:
        info = agent_dir.stat()
        files: list[tuple[str, int, int]] = []
        with os.scandir(agent_dir) as entries:
            for seen, entry in enumerate(entries):
                if seen >= MAX_SCAN_ENTRIES:
                    files.append(("", -2, -2))  # bounded: the rest is not looked at
                    break
                if entry.name.endswith(".md"):
                    try:
                        entry_info = entry.stat()
                        files.append((entry.name, entry_info.st_mtime_ns, entry_info.st_size))
                    except OSError:
                        files.append((entry.name, -1, -1))
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_mtime_ns, *sorted(files))


class AgentCatalog:
    """Built-in plus workspace agents, re-reading a folder's files only when they change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[_Signature | None, list[Agent], list[str]]] = {}

    def _workspace(self, folder: Path) -> tuple[list[Agent], list[str]]:
        signature = _dir_signature(folder / AGENTS_DIR)
        with self._lock:
            cached = self._cache.get(folder)
        if cached is not None and cached[0] == signature:
            return cached[1], cached[2]
        if signature is None:
            agents: list[Agent] = []
            warnings: list[str] = []
        else:
            agents, warnings = load_workspace_agents(folder)
            for warning in warnings:
                log.warning("workspace agent: %s", warning)
        with self._lock:
            self._cache[folder] = (signature, agents, warnings)
        return agents, warnings

    def list(self, folder: Path | None) -> builtins.list[Agent]:
        """Built-in agents first, then the folder's workspace agents."""
        if folder is None:
            return builtin_agents()
        return builtin_agents() + builtins.list(self._workspace(folder)[0])

    def warnings(self, folder: Path | None) -> builtins.list[str]:
        """Why some of the folder's agent files were skipped or partly ignored."""
        if folder is None:
            return []
        return builtins.list(self._workspace(folder)[1])

    def get(self, agent_id: str, folder: Path | None) -> Agent:
        """The agent with this id, or AGENT_NOT_FOUND naming the ones that exist."""
        available = self.list(folder)
        for agent in available:
            if agent.id == agent_id:
                return agent
        shown = agent_id if len(agent_id) <= 64 else agent_id[:61] + "..."
        where = f" (workspace agents live in {AGENTS_DIR.as_posix()}/*.md)" if folder else ""
        raise ModelWireError(
            ErrorCode.AGENT_NOT_FOUND,
            f"There is no agent {shown!r}.",
            f"Available agents: {', '.join(a.id for a in available)}{where}.",
        )
