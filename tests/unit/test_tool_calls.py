"""Native tool calling through both adapters, against the doubles' real wire shapes:
whole Ollama calls on any NDJSON line (the done line too, several per line), OpenAI
fragments by index (two in parallel), llama.cpp's repeated ids and raw newlines, and
the failures: a model without tools, arguments cut off mid-JSON."""

from __future__ import annotations

import asyncio
import json

import pytest
from testkit.doubles.fixtures import TEST_API_KEY
from testkit.doubles.ollama_double import OllamaDouble
from testkit.doubles.openai_double import OpenAIDouble
from testkit.doubles.tool_script import ToolTurn

from modelwire.adapters.base import (
    ChatMessage,
    ChatRequest,
    Endpoint,
    Finish,
    StreamItem,
    Timeouts,
    ToolCall,
    ToolSpec,
)
from modelwire.adapters.ollama import OllamaAdapter
from modelwire.adapters.openai import OpenAIAdapter
from modelwire.adapters.toolcalls import OpenAIToolCalls
from modelwire.errors import ErrorCode, ModelWireError

FAST = Timeouts(connect=2.0, first_token=5.0, idle=5.0, total=30.0)
READ = ToolSpec(
    "read_file",
    "Read a workspace file.",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)
AGENT = ToolSpec(
    "run_agent",
    "Run another agent.",
    {"type": "object", "properties": {"agent": {"type": "string"}}, "required": ["agent"]},
)


def ask(model: str, **more: object) -> ChatRequest:
    return ChatRequest(
        model, (ChatMessage("user", "Improve main.py"),), tools=(READ, AGENT), **more
    )  # type: ignore[arg-type]


async def finish_of(stream: object) -> Finish:
    items: list[StreamItem] = []
    async with asyncio.timeout(10):
        async for item in stream:  # type: ignore[attr-defined]
            items.append(item)
    last = items[-1]
    assert isinstance(last, Finish)
    return last


async def key() -> str:
    return TEST_API_KEY


# --- Ollama ---------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["lines", "one_line", "done_line"])
async def test_ollama_collects_two_whole_calls_from_any_line(
    ollama_double: OllamaDouble, layout: str
) -> None:
    ollama_double.script_tools(
        ToolTurn(
            [
                {"name": "read_file", "arguments": {"path": "util.py"}},
                {"name": "run_agent", "arguments": {"agent": "review"}},
            ],
            layout=layout,
        )
    )
    adapter = OllamaAdapter(Endpoint(ollama_double.url, FAST))
    try:
        finish = await finish_of(adapter.stream_chat(ask("llama3.2")))
    finally:
        await adapter.aclose()
    assert [(c.name, c.arguments) for c in finish.tool_calls] == [
        ("read_file", {"path": "util.py"}),
        ("run_agent", {"agent": "review"}),
    ]
    assert all(c.id.startswith("call_") for c in finish.tool_calls)
    assert finish.finish_reason == "stop"  # Ollama has no tool_calls reason
    body = ollama_double.requests_to("/api/chat")[-1].json
    assert [t["function"]["name"] for t in body["tools"]] == ["read_file", "run_agent"]
    assert "tool_choice" not in body  # Ollama has none


async def test_ollama_follow_up_echoes_calls_as_objects_then_tool_messages(
    ollama_double: OllamaDouble,
) -> None:
    call = ToolCall("call_ab12cd34", "read_file", {"path": "util.py"})
    request = ChatRequest(
        "llama3.2",
        (
            ChatMessage("user", "Improve main.py"),
            ChatMessage("assistant", "", tool_calls=(call,)),
            ChatMessage("tool", "def f(): ...", tool_call_id=call.id, tool_name="read_file"),
        ),
        tools=(READ,),
    )
    adapter = OllamaAdapter(Endpoint(ollama_double.url, FAST))
    try:
        finish = await finish_of(adapter.stream_chat(request))
    finally:
        await adapter.aclose()
    assert finish.tool_calls == ()  # no script: the double answers in text
    sent = ollama_double.requests_to("/api/chat")[-1].json["messages"]
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == {"path": "util.py"}
    assert sent[2] == {
        "role": "tool",
        "content": "def f(): ...",
        "tool_name": "read_file",
        "tool_call_id": "call_ab12cd34",
    }


async def test_ollama_model_without_tools_fails_at_once_with_a_hint() -> None:
    with OllamaDouble(models=["gemma3:270m"], no_tools=["gemma3:270m"]) as ollama:
        adapter = OllamaAdapter(Endpoint(ollama.url, FAST))
        try:
            with pytest.raises(ModelWireError) as caught:
                await finish_of(adapter.stream_chat(ask("gemma3:270m")))
        finally:
            await adapter.aclose()
        assert len(ollama.requests_to("/api/chat")) == 1  # no retry of a 400
    assert caught.value.code is ErrorCode.TOOLS_UNSUPPORTED
    assert "gemma3:270m" in caught.value.message
    assert "llama3.2" in caught.value.hint and "agentConnections" in caught.value.hint


# --- OpenAI ---------------------------------------------------------------------------


async def test_openai_joins_two_parallel_fragmented_calls_by_index(
    openai_double: OpenAIDouble,
) -> None:
    openai_double.script_tools(
        ToolTurn(
            [
                {"name": "read_file", "arguments": {"path": "a/long/path/util.py"}},
                {"name": "run_agent", "arguments": {"agent": "review", "input": "x = 1"}},
            ]
        )
    )
    adapter = OpenAIAdapter(Endpoint(openai_double.url + "/v1", FAST), key)
    try:
        finish = await finish_of(adapter.stream_chat(ask("gpt-4o-mini", tool_choice="auto")))
    finally:
        await adapter.aclose()
    assert finish.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in finish.tool_calls] == [
        ("read_file", {"path": "a/long/path/util.py"}),
        ("run_agent", {"agent": "review", "input": "x = 1"}),
    ]
    assert finish.tool_calls[0].id != finish.tool_calls[1].id
    body = openai_double.requests_to("/v1/chat/completions")[-1].json
    assert body["tool_choice"] == "auto" and len(body["tools"]) == 2
    assert TEST_API_KEY not in json.dumps(body)  # the key is a header, never the body


async def test_llamacpp_repeated_ids_and_names_are_kept_once_and_raw_newlines_parse(
    openai_double: OpenAIDouble,
) -> None:
    raw = '{"path": "notes\nwith newline.txt"}'  # a raw newline inside a JSON string
    openai_double.script_tools(
        ToolTurn([{"name": "read_file", "arguments": raw}], layout="llamacpp")
    )
    adapter = OpenAIAdapter(Endpoint(openai_double.url + "/v1", FAST), key)
    try:
        finish = await finish_of(adapter.stream_chat(ask("gpt-4o-mini", tool_choice="read_file")))
    finally:
        await adapter.aclose()
    assert [(c.name, c.arguments) for c in finish.tool_calls] == [
        ("read_file", {"path": "notes\nwith newline.txt"})
    ]
    body = openai_double.requests_to("/v1/chat/completions")[-1].json
    assert body["tool_choice"] == {"type": "function", "function": {"name": "read_file"}}


async def test_arguments_cut_off_mid_json_are_an_error_not_a_guess(
    openai_double: OpenAIDouble,
) -> None:
    openai_double.script_tools(
        ToolTurn([{"name": "read_file", "arguments": {"path": "util.py"}}], layout="truncated")
    )
    adapter = OpenAIAdapter(Endpoint(openai_double.url + "/v1", FAST), key)
    try:
        with pytest.raises(ModelWireError) as caught:
            await finish_of(adapter.stream_chat(ask("gpt-4o-mini")))
    finally:
        await adapter.aclose()
    assert caught.value.code is ErrorCode.TOOL_CALL_INVALID


async def test_openai_follow_up_sends_empty_content_and_string_arguments(
    openai_double: OpenAIDouble,
) -> None:
    call = ToolCall("call_1", "read_file", {"path": "util.py"})
    request = ChatRequest(
        "gpt-4o-mini",
        (
            ChatMessage("user", "Improve main.py"),
            ChatMessage("assistant", "", tool_calls=(call,)),
            ChatMessage("tool", "text", tool_call_id="call_1", tool_name="read_file"),
        ),
        tools=(READ,),
    )
    adapter = OpenAIAdapter(Endpoint(openai_double.url + "/v1", FAST), key)
    try:
        await finish_of(adapter.stream_chat(request))
    finally:
        await adapter.aclose()
    sent = openai_double.requests_to("/v1/chat/completions")[-1].json["messages"]
    assert sent[1]["content"] == ""  # llama.cpp answers 500 to null
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == '{"path": "util.py"}'
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "text"}


def test_explicit_nulls_are_absent_and_ids_are_never_concatenated() -> None:
    calls = OpenAIToolCalls("test")
    calls.add(
        [
            {
                "index": 0,
                "id": "call_A",
                "type": "function",
                "function": {"name": "f", "arguments": ""},
            }
        ]
    )
    calls.add([{"index": 0, "id": None, "function": {"name": None, "arguments": '{"a":'}}])
    calls.add([{"index": 0, "id": "call_A", "function": {"name": "f", "arguments": " 1}"}}])
    assert calls.finish() == (ToolCall("call_A", "f", {"a": 1}),)


def test_a_flood_of_calls_is_refused() -> None:
    calls = OpenAIToolCalls("test")
    with pytest.raises(ModelWireError) as caught:
        calls.add([{"index": i, "function": {"name": "f"}} for i in range(100)])
    assert caught.value.code is ErrorCode.TOOL_CALL_INVALID


async def test_a_server_echoing_the_key_in_a_call_never_gets_it_into_the_arguments(
    openai_double: OpenAIDouble,
) -> None:
    openai_double.script_tools(
        ToolTurn([{"name": "search", "arguments": {"text": f"key {TEST_API_KEY}"}}])
    )
    adapter = OpenAIAdapter(Endpoint(openai_double.url + "/v1", FAST), key)
    try:
        finish = await finish_of(adapter.stream_chat(ask("gpt-4o-mini")))
    finally:
        await adapter.aclose()
    (call,) = finish.tool_calls
    assert TEST_API_KEY not in json.dumps(call.arguments)
    assert call.arguments["text"].startswith("key ")
