"""What text an agent sees: `input: file` reads the whole file, `input: selection` the
selection; and an agent's `temperature` reaches the model server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from testkit.doubles.ollama_double import OllamaDouble

from modelwire.core.agents import AgentCatalog
from modelwire.core.app import ModelWire
from modelwire.core.runs import RunContext, RunRequest
from modelwire.core.secrets import Requester
from modelwire.core.settings import Settings
from modelwire.protocol import CreateConnectionParams, Position, Range, RunRecord

SOURCE = "".join(f"line_{n} = {n}\n" for n in range(1, 7))
AGENTS = {
    "whole": "---\nid: whole\ninput: file\ntemperature: 0\n---\nExplain the code.\n",
    "part": "---\nid: part\ninput: selection\n---\nExplain the code.\n",
}
LINES_2_TO_3 = Range(start=Position(line=1, character=0), end=Position(line=2, character=99))


class Workspace:
    def __init__(self, root: Path, ollama: OllamaDouble) -> None:
        self.folder = root / "ws"
        agents = self.folder / ".modelwire" / "agents"
        agents.mkdir(parents=True)
        for name, text in AGENTS.items():
            (agents / f"{name}.md").write_text(text)
        self.source = self.folder / "code.py"
        self.source.write_text(SOURCE)
        self.core = ModelWire(root / "home", load_plugins=False)
        self.core.connections.create(
            CreateConnectionParams(name="Local", provider_id="ollama", base_url=ollama.url)
        )
        self.ollama = ollama
        self.published: list[Any] = []

    async def run(self, agent_id: str, rng: Range | None) -> tuple[RunRecord, dict[str, Any]]:
        ctx = RunContext(
            requester=Requester("test", self.folder.as_uri()),
            settings=Settings(),
            folder=self.folder,
            emit=lambda event: None,
            publish_diagnostics=lambda uri, found, agent: self.published.extend(found),
        )
        request = RunRequest(agent_id=agent_id, uri=self.source.as_uri(), range=rng)
        record = await asyncio.wait_for(self.core.runs.start(request, ctx), 20)
        body: dict[str, Any] = self.ollama.requests_to("/api/chat")[-1].json
        return record, body


@pytest.fixture
async def ws(tmp_path: Path, ollama_double: OllamaDouble) -> AsyncIterator[Workspace]:
    workspace = Workspace(tmp_path, ollama_double)
    yield workspace
    await workspace.core.aclose()


def user_message(body: dict[str, Any]) -> str:
    return str(body["messages"][-1]["content"])


async def test_a_whole_file_agent_reads_the_whole_file_and_is_told_the_selection(
    ws: Workspace,
) -> None:
    _, body = await ws.run("whole", LINES_2_TO_3)

    shown = user_message(body)
    assert all(f"line_{n} = {n}" in shown for n in range(1, 7))
    assert "selected lines 2-3" in shown


async def test_a_selection_agent_reads_only_the_selection(ws: Workspace) -> None:
    _, body = await ws.run("part", LINES_2_TO_3)

    shown = user_message(body)
    assert "line_2 = 2" in shown and "line_3 = 3" in shown
    assert "line_1 = 1" not in shown and "line_4 = 4" not in shown


async def test_without_a_selection_both_kinds_read_the_whole_file(ws: Workspace) -> None:
    for agent_id in ("whole", "part"):
        _, body = await ws.run(agent_id, None)
        assert all(f"line_{n} = {n}" in user_message(body) for n in range(1, 7)), agent_id


async def test_review_on_a_selection_reports_findings_on_the_files_own_lines(
    ws: Workspace,
) -> None:
    # review is a built-in `input: file` agent: it numbers the whole file, so a finding
    # on line 5 is line 5 whatever the user selected.
    ws.ollama.behave(reply="LINE 5 | warning | line_5 is never used")

    record, body = await ws.run("review", LINES_2_TO_3)

    assert "5 | line_5 = 5" in user_message(body)
    assert record.diagnostics_count == 1
    assert [(f.line, f.severity) for f in ws.published] == [(4, "warning")]


async def test_an_agents_temperature_reaches_the_model_and_none_is_sent_otherwise(
    ws: Workspace,
) -> None:
    _, whole = await ws.run("whole", None)
    _, part = await ws.run("part", None)

    assert whole["options"]["temperature"] == 0
    assert "temperature" not in part.get("options", {})


@pytest.mark.parametrize("value", ["3", "-1", "warm", "0.12345"])
def test_a_temperature_out_of_range_skips_the_agent_file_with_a_warning(
    tmp_path: Path, value: str
) -> None:
    agents = tmp_path / ".modelwire" / "agents"
    agents.mkdir(parents=True)
    (agents / "hot.md").write_text(f"---\ntemperature: {value}\n---\nPrompt.\n")

    catalog = AgentCatalog()

    assert "hot" not in [a.id for a in catalog.list(tmp_path)]
    assert any("temperature" in w for w in catalog.warnings(tmp_path))
