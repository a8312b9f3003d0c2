"""Orchestrator runs end to end over the core, against both doubles with scripted tool
calls in their real wire shapes: steps, child runs routed by the per-agent setting,
budgets, cancellation, and the workspace fence (a canary outside is never opened)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import keyring.core
import pytest
from testkit.doubles.fixtures import TEST_API_KEY
from testkit.doubles.ollama_double import OllamaDouble
from testkit.doubles.openai_double import OpenAIDouble
from testkit.doubles.tool_script import ToolTurn

from modelwire.core import workspace_tools
from modelwire.core.app import ModelWire
from modelwire.core.runs import RunContext, RunRequest
from modelwire.core.secrets import Requester
from modelwire.core.settings import AgentBudgets, Limits, Settings
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import CreateConnectionParams, Position, Range, RunRecord
from tests.unit.test_run_service import BOUND, Events, MemoryKeyring

REQUESTER = Requester(client="unit-test", workspace="/ws")
UTIL = "def parse(text):\n    return int(text)\n"
CANARY = "CANARY-d41d8cd98f00"


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


class Tree:
    """A sidecar core, a workspace folder, Local Ollama and Work OpenAI (with a key)."""

    def __init__(self, tmp: Path, ollama: OllamaDouble, openai: OpenAIDouble) -> None:
        self.core = ModelWire(tmp / "home", load_plugins=False)
        self.ollama = ollama
        self.openai = openai
        self.ws = tmp / "ws"
        self.ws.mkdir()
        (self.ws / "main.py").write_text("from util import parse\n\nprint(parse('4'))\n")
        (self.ws / "util.py").write_text(UTIL)
        self.canary = tmp / "canary.txt"
        self.canary.write_text(CANARY)
        self.local = self.core.connections.create(
            CreateConnectionParams(name="Local Ollama", provider_id="ollama", base_url=ollama.url)
        )
        self.work = self.core.connections.create(
            CreateConnectionParams(
                name="Work OpenAI", provider_id="openai", base_url=openai.url + "/v1"
            )
        )
        self.core.connections.set_secret(self.work.id, TEST_API_KEY)
        self.consent_asked: list[str] = []

    def settings(self, **more: Any) -> Settings:
        return Settings(
            default_connection="Local Ollama",
            agent_connections={"review": "Work OpenAI"},
            **more,
        )

    def start(
        self, agent_id: str = "improve", settings: Settings | None = None
    ) -> tuple[asyncio.Task[RunRecord], Events]:
        events = Events()

        async def allow(requester: Requester, connection_id: str, name: str) -> str:
            self.consent_asked.append(name)
            return "once"

        ctx = RunContext(
            requester=REQUESTER,
            settings=settings or self.settings(),
            folder=self.ws,
            emit=events,
            consent=allow,  # type: ignore[arg-type]
        )
        req = RunRequest(agent_id=agent_id, uri=(self.ws / "main.py").as_uri())
        return asyncio.ensure_future(self.core.runs.start(req, ctx)), events

    def ollama_bodies(self) -> list[Any]:
        return [r.json for r in self.ollama.requests_to("/api/chat")]

    def openai_bodies(self) -> list[Any]:
        return [r.json for r in self.openai.requests_to("/v1/chat/completions")]


@pytest.fixture
async def tree(
    tmp_path: Path,
    ollama_double: OllamaDouble,
    openai_double: OpenAIDouble,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Tree]:
    monkeypatch.setattr(keyring.core, "_keyring_backend", MemoryKeyring())
    t = Tree(tmp_path, ollama_double, openai_double)
    yield t
    await t.core.aclose()


async def finished(task: asyncio.Task[RunRecord]) -> RunRecord | BaseException:
    try:
        return await asyncio.wait_for(task, BOUND)
    except (ModelWireError, asyncio.CancelledError) as exc:
        return exc


def parent_events(events: Events, run_id: str) -> list[dict[str, Any]]:
    return [e for e in events.items if e["runId"] == run_id]


# --- The acceptance story -----------------------------------------------------------------


async def test_ollama_orchestrator_reads_a_file_delegates_review_to_openai_then_answers(
    tree: Tree,
) -> None:
    tree.ollama.script_tools(
        ToolTurn([call("read_file", path="util.py")], layout="done_line"),
        ToolTurn(
            [call("run_agent", agent="review"), call("search", text="def parse")],
            layout="one_line",
        ),
    )
    task, events = tree.start()
    record = await asyncio.wait_for(task, BOUND)

    assert record.status == "succeeded"
    assert record.routing is not None and record.routing.connection_name == "Local Ollama"
    assert record.routing.source == "settings"
    steps = tree.core.runs.get(record.run_id).steps or []
    assert [(s.index, s.tool, s.target, s.outcome) for s in steps] == [
        (1, "read_file", "util.py", "ok"),
        (2, "run_agent", "review", "ok"),
        (3, "search", "def parse", "ok"),
    ]
    child = tree.core.runs.get(steps[1].child_run_id or "")
    assert (child.agent_id, child.status, child.parent_run_id, child.parent_step) == (
        "review",
        "succeeded",
        record.run_id,
        2,
    )
    assert child.routing is not None and child.routing.connection_name == "Work OpenAI"
    assert child.routing.source == "settings" and child.routing.model_ref == "gpt-4o-mini"
    # Consent is asked for the child's keyed connection, as for a top-level run.
    assert tree.consent_asked == ["Work OpenAI"]

    # The answer streamed as the parent's output, steps announced in order between turns.
    mine = parent_events(events, record.run_id)
    assert [e["kind"] for e in mine][:2] == ["started", "step"]
    done_steps = [(e["step"], e["outcome"]) for e in mine if e["kind"] == "step"]
    # Step 2 is announced again once its child run has an id.
    assert done_steps == [
        (1, "running"),
        (1, "ok"),
        (2, "running"),
        (2, "running"),
        (2, "ok"),
        (3, "running"),
        (3, "ok"),
    ]
    assert "".join(e["text"] for e in mine if e["kind"] == "delta") == record.output
    assert record.output.startswith("Hello from the double")
    # The child's own events carry the parent's id.
    theirs = [e for e in events.items if e["runId"] == child.run_id]
    assert theirs and all(e["parentRunId"] == record.run_id for e in theirs)

    # The follow-ups echo the calls (arguments objects) and answer each, in call order.
    bodies = tree.ollama_bodies()
    assert len(bodies) == 3 and all(b["tools"] for b in bodies)
    second, third = bodies[1]["messages"], bodies[2]["messages"]
    assert second[-2]["tool_calls"][0]["function"]["arguments"] == {"path": "util.py"}
    assert second[-1]["tool_name"] == "read_file" and UTIL in second[-1]["content"]
    assert [m.get("tool_name") for m in third[-2:]] == ["run_agent", "search"]
    assert "util.py:1: def parse(text):" in third[-1]["content"]
    # The child is a plain review run: no tools, the key in its header only.
    (child_body,) = tree.openai_bodies()
    assert "tools" not in child_body
    assert tree.openai.requests_to("/v1/chat/completions")[0].headers["authorization"]

    # The request inspector has every request of both runs, and never the key.
    parent_requests = tree.core.runs.requests_of(record.run_id)
    assert [r.body["messages"] for r in parent_requests if r.body] == [
        b["messages"] for b in bodies
    ]
    child_requests = tree.core.runs.requests_of(child.run_id)
    assert len(child_requests) == 1 and child_requests[0].connection_id == tree.work.id
    stored = json.dumps([r.wire() for r in parent_requests + child_requests])
    assert TEST_API_KEY not in stored and TEST_API_KEY[:12] not in stored


async def test_openai_orchestrator_runs_two_parallel_fragmented_calls_in_order(
    tree: Tree,
) -> None:
    tree.openai.script_tools(
        ToolTurn([call("read_file", path="util.py"), call("run_agent", agent="review")])
    )
    settings = Settings(
        default_connection="Work OpenAI", agent_connections={"review": "Local Ollama"}
    )
    task, _ = tree.start(settings=settings)
    record = await asyncio.wait_for(task, BOUND)

    steps = record.steps or []
    assert [(s.tool, s.outcome) for s in steps] == [("read_file", "ok"), ("run_agent", "ok")]
    child = tree.core.runs.get(steps[1].child_run_id or "")
    assert child.routing is not None and child.routing.connection_name == "Local Ollama"
    first, second = tree.openai_bodies()
    # improve's first turn is forced to delegate where the provider can force a tool.
    assert first["tool_choice"] == {"type": "function", "function": {"name": "run_agent"}}
    assert second["tool_choice"] == "auto"
    assistant, *answers = second["messages"][-3:]
    assert assistant["content"] == ""
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == ["read_file", "run_agent"]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"path": "util.py"}
    assert [a["tool_call_id"] for a in answers] == [c["id"] for c in assistant["tool_calls"]]


# --- Budgets ------------------------------------------------------------------------------


async def test_a_model_that_keeps_calling_tools_stops_at_the_step_limit(tree: Tree) -> None:
    tree.ollama.script_tools(ToolTurn([call("list_files", glob="*.py")]), repeat=True)
    task, _ = tree.start()
    error = await finished(task)

    assert isinstance(error, ModelWireError) and error.code is ErrorCode.STEP_LIMIT
    record = tree.core.runs.list(1)[0]
    assert record.status == "failed" and record.error_code == "STEP_LIMIT"
    assert len(tree.core.runs.get(record.run_id).steps or []) == 8
    assert len(tree.ollama_bodies()) == 9


async def test_an_agent_that_delegates_to_itself_stops_at_the_depth_limit(tree: Tree) -> None:
    agents = tree.ws / ".modelwire" / "agents"
    agents.mkdir(parents=True)
    (agents / "loop.md").write_text("---\nuses: [loop]\n---\nDelegate to loop, always.\n")
    tree.ollama.script_tools(ToolTurn([call("run_agent", agent="loop")]), repeat=True)
    task, _ = tree.start("loop", tree.settings(agents=AgentBudgets(max_depth=2)))
    error = await finished(task)

    assert isinstance(error, ModelWireError) and error.code is ErrorCode.DELEGATION_TOO_DEEP
    records = tree.core.runs.list(10)
    assert [r.error_code for r in records] == ["DELEGATION_TOO_DEEP"] * 3
    assert sorted(r.parent_run_id is None for r in records) == [False, False, True]


async def test_cancelling_the_parent_mid_child_cancels_every_run_and_the_stream(
    tree: Tree,
) -> None:
    tree.ollama.script_tools(ToolTurn([call("run_agent", agent="review")]))
    tree.openai.behave(stall_after=2)
    task, events = tree.start()
    await events.wait_for(
        lambda ev: any("parentRunId" in e and e["kind"] == "delta" for e in ev.items)
    )
    parent_id = events.run_id
    child_id = next(e["runId"] for e in events.items if "parentRunId" in e)
    before = len(events.items)

    assert tree.core.runs.cancel(parent_id)
    outcome = await finished(task)

    assert isinstance(outcome, asyncio.CancelledError)
    assert tree.core.runs.get(parent_id).status == "cancelled"
    assert tree.core.runs.get(child_id).status == "cancelled"
    assert tree.core.runs.get(parent_id).steps[0].outcome == "cancelled"  # type: ignore[index]
    # Text that had arrived may still flush; then the child ends, then the parent.
    after = [(e["runId"], e["kind"]) for e in events.items[before:] if e["kind"] != "delta"]
    assert after == [
        (child_id, "error"),
        (child_id, "end"),
        (parent_id, "step"),
        (parent_id, "error"),
        (parent_id, "end"),
    ]
    child_request = tree.openai.requests_to("/v1/chat/completions")[0]
    assert await child_request.wait_disconnected_async(BOUND)


async def test_a_failed_child_is_a_tool_result_and_the_parent_answers(tree: Tree) -> None:
    tree.ollama.script_tools(ToolTurn([call("run_agent", agent="review")]))
    settings = tree.settings()
    settings = Settings(
        default_connection="Local Ollama",
        agent_connections={"review": "Work OpenAI/no-such-model"},
    )
    task, _ = tree.start(settings=settings)
    record = await asyncio.wait_for(task, BOUND)

    assert record.status == "succeeded"
    (step,) = record.steps or []
    assert (step.outcome, step.error_code) == ("error", "MODEL_NOT_FOUND")
    assert tree.core.runs.get(step.child_run_id or "").status == "failed"
    tool_answer = tree.ollama_bodies()[1]["messages"][-1]
    assert tool_answer["role"] == "tool" and "MODEL_NOT_FOUND" in tool_answer["content"]


async def test_a_model_without_tool_support_fails_at_once_with_a_hint(tmp_path: Path) -> None:
    with OllamaDouble(models=["gemma3:270m"], no_tools=["gemma3:270m"]) as ollama:
        core = ModelWire(tmp_path / "home", load_plugins=False)
        core.connections.create(
            CreateConnectionParams(
                name="Local", provider_id="ollama", base_url=ollama.url, default_model="gemma3:270m"
            )
        )
        (tmp_path / "a.py").write_text("x = 1\n")
        events = Events()
        ctx = RunContext(REQUESTER, Settings(), tmp_path, events)
        try:
            with pytest.raises(ModelWireError) as caught:
                await core.runs.start(RunRequest("improve", (tmp_path / "a.py").as_uri()), ctx)
        finally:
            await core.aclose()
    assert caught.value.code is ErrorCode.TOOLS_UNSUPPORTED
    assert "agentConnections" in caught.value.hint


# --- The workspace fence ------------------------------------------------------------------


async def test_reads_outside_the_workspace_are_refused_and_the_canary_is_never_opened(
    tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tree.ws / "link.txt").symlink_to(tree.canary)
    opened: list[str] = []
    real_open = workspace_tools._open

    def watched(path: str, flags: int, *args: Any) -> int:
        opened.append(os.path.realpath(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(workspace_tools, "_open", watched)
    tree.ollama.script_tools(
        ToolTurn(
            [
                call("read_file", path="../canary.txt"),
                call("read_file", path=str(tree.canary)),
                call("read_file", path="link.txt"),
                call("search", text="CANARY"),
            ],
            layout="one_line",
        )
    )
    task, _ = tree.start()
    record = await asyncio.wait_for(task, BOUND)

    steps = record.steps or []
    assert [(s.outcome, s.error_code) for s in steps[:3]] == [("error", "OUTSIDE_WORKSPACE")] * 3
    assert steps[3].outcome == "ok" and steps[3].summary == "0 hit(s)"
    answers = [m for m in tree.ollama_bodies()[1]["messages"] if m["role"] == "tool"]
    assert len(answers) == 4 and not any(CANARY in a["content"] for a in answers)
    assert str(tree.canary.resolve()) not in opened
    assert CANARY not in json.dumps([r.wire() for r in tree.core.runs.requests_of(record.run_id)])


async def test_cancelling_only_the_child_is_a_tool_result_and_the_parent_goes_on(
    tree: Tree,
) -> None:
    tree.ollama.script_tools(ToolTurn([call("run_agent", agent="review")]))
    tree.openai.behave(stall_after=1)
    task, events = tree.start()
    await events.wait_for(
        lambda ev: any("parentRunId" in e and e["kind"] == "delta" for e in ev.items)
    )
    child_id = next(e["runId"] for e in events.items if "parentRunId" in e)

    assert tree.core.runs.cancel(child_id)
    record = await asyncio.wait_for(task, BOUND)

    assert record.status == "succeeded"
    (step,) = record.steps or []
    assert (step.outcome, step.error_code) == ("error", "GENERATION_ABORTED")
    assert tree.core.runs.get(child_id).status == "cancelled"
    assert "cancelled" in tree.ollama_bodies()[1]["messages"][-1]["content"]


async def test_the_total_time_budget_ends_the_run_and_its_child(tree: Tree) -> None:
    tree.ollama.script_tools(ToolTurn([call("run_agent", agent="review")]))
    tree.openai.behave(stall_after=1)
    task, _ = tree.start(settings=tree.settings(agents=AgentBudgets(total_seconds=1.0)))
    error = await finished(task)

    assert isinstance(error, ModelWireError) and error.code is ErrorCode.TIMEOUT
    assert error.extra["timeout"] == "orchestration"
    statuses = sorted(r.status for r in tree.core.runs.list(5))
    assert statuses == ["cancelled", "failed"]  # the child cancelled, the parent failed
    child_request = tree.openai.requests_to("/v1/chat/completions")[0]
    assert await child_request.wait_disconnected_async(BOUND)


async def test_a_conversation_past_the_prompt_limit_ends_with_prompt_too_large(
    tree: Tree,
) -> None:
    (tree.ws / "big.txt").write_text("x" * 15_000)
    tree.ollama.script_tools(ToolTurn([call("read_file", path="big.txt")]), repeat=True)
    settings = tree.settings(limits=Limits(prompt_max_kib=40))
    task, _ = tree.start(settings=settings)
    error = await finished(task)

    assert isinstance(error, ModelWireError) and error.code is ErrorCode.PROMPT_TOO_LARGE
    assert "orchestrator's conversation" in error.message
    assert len(tree.core.runs.list(1)[0].steps or []) == 3  # 3 × 15 KB passes 40 KiB


async def test_ask_searches_the_workspace_first_then_answers_the_selected_question(
    tree: Tree,
) -> None:
    (tree.ws / "main.py").write_text("# where is parse defined?\nprint(1)\n")
    tree.openai.script_tools(ToolTurn([call("search", text="def parse")]))
    settings = Settings(default_connection="Work OpenAI")
    events = Events()
    ctx = RunContext(REQUESTER, settings, tree.ws, events)
    first_line = Range(start=Position(line=0, character=0), end=Position(line=0, character=25))
    req = RunRequest("ask", (tree.ws / "main.py").as_uri(), range=first_line)
    record = await asyncio.wait_for(tree.core.runs.start(req, ctx), BOUND)

    (step,) = record.steps or []
    assert (step.tool, step.outcome, step.summary) == ("search", "ok", "1 hit(s)")
    first, second = tree.openai_bodies()
    assert first["tool_choice"] == {"type": "function", "function": {"name": "search"}}
    assert "where is parse defined?" in first["messages"][-1]["content"]
    assert "print(1)" not in first["messages"][-1]["content"]  # only the selection
    assert "util.py:1: def parse(text):" in second["messages"][-1]["content"]
