"""The OpenAI adapter against a real llama.cpp server running SmolLM2-135M-Instruct.

Skips on a machine without llama-cpp-python or the model wheel; fails in CI.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tests.e2e.llamacpp import LlamaCppServer

from modelwire.adapters.base import (
    ChatMessage,
    ChatRequest,
    Delta,
    Endpoint,
    Finish,
    StreamItem,
    Timeouts,
)
from modelwire.adapters.factory import make_adapter
from modelwire.adapters.openai import OpenAIAdapter

pytestmark = pytest.mark.real_peer("llamacpp")

TIMEOUTS = Timeouts(connect=5, first_token=60, idle=30, total=120)


@pytest.fixture
async def adapter(llamacpp_server: LlamaCppServer) -> AsyncIterator[OpenAIAdapter]:
    adapter = make_adapter("openai", Endpoint(llamacpp_server.base_url, timeouts=TIMEOUTS))
    assert isinstance(adapter, OpenAIAdapter)
    yield adapter
    await adapter.aclose()


def ask(model: str, text: str, max_tokens: int) -> ChatRequest:
    return ChatRequest(model, (ChatMessage("user", text),), max_tokens=max_tokens, temperature=0.0)


async def collect(stream: AsyncIterator[StreamItem]) -> list[StreamItem]:
    async with asyncio.timeout(90):
        return [item async for item in stream]


async def test_real_llamacpp_lists_its_model(
    adapter: OpenAIAdapter, llamacpp_server: LlamaCppServer
) -> None:
    models = await adapter.list_models()
    assert llamacpp_server.model in [m.id for m in models]
    health = await adapter.health()
    assert health.reachable and health.model_count == len(models)


async def test_real_llamacpp_streams_an_answer_through_the_adapter(
    adapter: OpenAIAdapter, llamacpp_server: LlamaCppServer
) -> None:
    items = await collect(adapter.stream_chat(ask(llamacpp_server.model, "Say hello.", 24)))
    deltas = [i for i in items if isinstance(i, Delta)]
    assert deltas and "".join(d.text for d in deltas).strip()
    assert isinstance(items[-1], Finish)
    assert items[-1].finish_reason in ("stop", "length")


async def test_real_llamacpp_stops_with_length_at_small_max_tokens(
    adapter: OpenAIAdapter, llamacpp_server: LlamaCppServer
) -> None:
    request = ask(llamacpp_server.model, "Write a long story about a lighthouse.", 4)
    items = await collect(adapter.stream_chat(request))
    assert isinstance(items[-1], Finish) and items[-1].finish_reason == "length"
    assert 1 <= len([i for i in items if isinstance(i, Delta)]) <= 4


async def test_real_llamacpp_cancel_mid_stream_then_answers_again(
    adapter: OpenAIAdapter, llamacpp_server: LlamaCppServer
) -> None:
    long = ask(llamacpp_server.model, "Count from one to one hundred in words.", 400)
    stream = adapter.stream_chat(long)
    got = 0
    async with asyncio.timeout(60):
        async for item in stream:
            got += isinstance(item, Delta)
            if got == 3:
                break
    await stream.aclose()  # type: ignore[attr-defined]

    # The server must notice the disconnect and stop generating; the next answer comes
    # back promptly over the same client (no leaked pool slot).
    async with asyncio.timeout(30):
        items = await collect(adapter.stream_chat(ask(llamacpp_server.model, "Hi!", 6)))
    assert isinstance(items[-1], Finish)
    assert any(isinstance(i, Delta) for i in items)
