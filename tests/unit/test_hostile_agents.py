"""Hostile repositories and the agent loader (issue 15, item 9): 200k files in
`.modelwire/agents` blocked the loop 1.1 s per run, and a look-alike `exp1ain` titled
"Explain" was offered next to the real one."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from modelwire.core import agents as agents_module
from modelwire.core.agents import AgentCatalog, load_workspace_agents

AGENT = "---\ntitle: {title}\n---\nYou are helpful.\n"


def _agent_dir(folder: Path) -> Path:
    path = folder / ".modelwire" / "agents"
    path.mkdir(parents=True)
    return path


@pytest.mark.parametrize(
    ("file_id", "title"),
    [("exp1ain", "Explain"), ("exp1ain", "Explain code"), ("revievv", "Check"), ("x", "REVIEW")],
)
def test_a_look_alike_of_a_built_in_agent_is_skipped(
    tmp_path: Path, file_id: str, title: str
) -> None:
    (_agent_dir(tmp_path) / f"{file_id}.md").write_text(AGENT.format(title=title))

    agents, warnings = load_workspace_agents(tmp_path)

    assert agents == []
    assert any("built-in" in w and "look" in w for w in warnings), warnings


def test_a_distinct_workspace_agent_is_kept(tmp_path: Path) -> None:
    (_agent_dir(tmp_path) / "security-audit.md").write_text(AGENT.format(title="Security audit"))
    agents, _ = load_workspace_agents(tmp_path)
    assert [a.id for a in agents] == ["security-audit"]


def test_a_huge_agents_directory_is_bounded_per_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent_dir = _agent_dir(tmp_path)
    (agent_dir / "aaa.md").write_text(AGENT.format(title="First"))
    for i in range(20_000):  # enough to see the scan; the 200k only scales it
        os.close(os.open(agent_dir / f"junk{i:06d}.md", os.O_CREAT | os.O_WRONLY, 0o600))
    catalog = AgentCatalog()
    catalog.list(tmp_path)  # first read
    started = time.perf_counter()
    for _ in range(5):
        catalog.list(tmp_path)
    per_run = (time.perf_counter() - started) / 5
    warnings = catalog.warnings(tmp_path)
    assert any("entries" in w or "agent files" in w for w in warnings), warnings
    assert per_run < 0.05, f"{per_run * 1000:.0f} ms per run to check 20k files"
    assert agents_module.MAX_SCAN_ENTRIES <= 5000
