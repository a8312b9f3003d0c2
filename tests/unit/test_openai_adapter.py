"""The OpenAI-compatible adapter against the OpenAI double: streaming, keys fetched
per request and redacted everywhere, rate limits, and every failure a user can meet."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import AsyncIterator

import pytest
from testkit.doubles.fixtures import (  # noqa: F401 - fixtures
    TEST_API_KEY,
    openai_double,
    refused_url,
)
from testkit.doubles.openai_double import LOADING_MODEL, OpenAIDouble, openai_error, rate_limited

from modelwire.adapters import transport
from modelwire.adapters.base import (
    ChatMessage,
    ChatRequest,
    Delta,
    Endpoint,
    Finish,
    Loading,
    Retrying,
    SecretProvider,
    StreamItem,
    Timeouts,
    Usage,
)
from modelwire.adapters.factory import make_adapter
from modelwire.adapters.openai import OpenAIAdapter
from modelwire.errors import ErrorCode, ModelWireError, redact

FAST = Timeouts(connect=2.0, first_token=5.0, idle=5.0, total=30.0)
HELLO = ChatRequest("gpt-4o-mini", (ChatMessage("user", "Review this file."),))
WRONG_KEY = "sk-proj-wrongKEYabcdef0123456789zyxw"


@pytest.fixture(autouse=True)
def quick_signals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "LOADING_AFTER_S", 0.2)
    monkeypatch.setattr(transport, "DEFAULT_RETRY_DELAY_S", 0.05)


def keys(value: str | None) -> tuple[SecretProvider, list[int]]:
    """A SecretProvider and the list of times it was asked."""
    calls: list[int] = []

    async def provide() -> str | None:
        calls.append(1)
        return value

    return provide, calls


def make(
    url: str, key: str | None = TEST_API_KEY, timeouts: Timeouts = FAST, auth: bool = True
) -> OpenAIAdapter:
    provider = keys(key)[0] if auth else None
    return OpenAIAdapter(Endpoint(url, timeouts=timeouts), provider)


@pytest.fixture
async def adapter(openai_double: OpenAIDouble) -> AsyncIterator[OpenAIAdapter]:  # noqa: F811
    adapter = make(openai_double.url + "/v1")
    yield adapter
    await adapter.aclose()


async def collect(stream: AsyncIterator[StreamItem]) -> list[StreamItem]:
    return [item async for item in stream]


async def failure(stream: AsyncIterator[object]) -> tuple[ModelWireError, list[object]]:
    seen: list[object] = []
    with pytest.raises(ModelWireError) as caught:
        async for item in stream:
            seen.append(item)
    return caught.value, seen


def assert_no_key_in(error: ModelWireError, key: str) -> None:
    wire = json.dumps(error.to_data()) + str(error)
    for fragment in (key, key[:7], key[:8], key[-4:], key[-6:]):
        assert fragment not in wire, f"{fragment!r} leaked into {wire}"


# --- happy path -----------------------------------------------------------------------


async def test_chat_streams_deltas_and_reports_usage_from_the_usage_chunk(
    adapter: OpenAIAdapter,
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    items = await collect(adapter.stream_chat(HELLO))
    text = "".join(i.text for i in items if isinstance(i, Delta))
    assert text == openai_double.behaviour.reply
    tokens = len(openai_double.behaviour.tokens())
    assert items[-1] == Finish("stop", Usage(prompt_tokens=19, completion_tokens=tokens))
    sent = openai_double.requests_to("/v1/chat/completions")[0]
    assert sent.json["stream"] is True
    assert sent.json["stream_options"] == {"include_usage": True}
    assert sent.headers["authorization"] == f"Bearer {TEST_API_KEY}"


async def test_server_that_ignores_include_usage_still_finishes() -> None:
    with OpenAIDouble(["smollm2"], honour_include_usage=False) as server:
        adapter = make(server.url + "/v1", auth=False)
        items = await collect(adapter.stream_chat(ChatRequest("smollm2", HELLO.messages)))
        await adapter.aclose()
    assert items[-1] == Finish("stop", Usage())


async def test_small_max_tokens_finishes_with_length(
    adapter: OpenAIAdapter,
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    request = ChatRequest("gpt-4o-mini", HELLO.messages, max_tokens=2, temperature=0)
    items = await collect(adapter.stream_chat(request))
    assert [i for i in items if isinstance(i, Delta)] == [Delta("Hello "), Delta("from ")]
    assert isinstance(items[-1], Finish) and items[-1].finish_reason == "length"
    assert openai_double.requests[-1].json["max_tokens"] == 2
    assert openai_double.requests[-1].json["temperature"] == 0


async def test_model_list_and_health_come_from_v1_models(adapter: OpenAIAdapter) -> None:
    assert [m.id for m in await adapter.list_models()] == ["gpt-4o-mini", "gpt-4.1"]
    health = await adapter.health()
    assert health.reachable and health.model_count == 2 and health.error_code is None
    assert health.latency_ms is not None


async def test_a_bare_host_base_url_means_v1(openai_double: OpenAIDouble) -> None:  # noqa: F811
    adapter = make(openai_double.url)
    assert (await adapter.health()).reachable
    await adapter.aclose()
    assert openai_double.requests[-1].path == "/v1/models"


async def test_waiting_for_the_first_token_after_headers_shows_loading(
    adapter: OpenAIAdapter,
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    openai_double.behave(delay_first_token=0.6)  # headers at once, then the model loads
    items = await collect(adapter.stream_chat(HELLO))
    assert isinstance(items[0], Loading)
    assert [type(i) for i in items].count(Loading) == 1


# --- keys -----------------------------------------------------------------------------


async def test_provider_without_auth_sends_no_authorization_header() -> None:
    with OpenAIDouble(["local-model"]) as server:
        adapter = make_adapter("openai", Endpoint(server.url + "/v1", timeouts=FAST), None)
        request = ChatRequest("local-model", HELLO.messages)
        await collect(adapter.stream_chat(request))
        await adapter.list_models()
        await adapter.aclose()
    assert server.requests and all("authorization" not in r.headers for r in server.requests)


async def test_key_is_fetched_per_request_and_never_kept(openai_double: OpenAIDouble) -> None:  # noqa: F811
    provider, calls = keys(TEST_API_KEY)
    adapter = OpenAIAdapter(Endpoint(openai_double.url + "/v1", timeouts=FAST), provider)
    assert calls == []  # nothing asked at construction
    await collect(adapter.stream_chat(HELLO))
    await collect(adapter.stream_chat(HELLO))
    assert len(calls) == 2
    assert TEST_API_KEY not in repr(vars(adapter))
    # The key is registered for redaction only while a request runs.
    assert redact(TEST_API_KEY[-6:]) == TEST_API_KEY[-6:]
    await adapter.aclose()


async def test_missing_key_is_secret_missing_and_sends_nothing(
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    adapter = make(openai_double.url + "/v1", key=None)
    error, _ = await failure(adapter.stream_chat(HELLO))
    await adapter.aclose()
    assert error.code is ErrorCode.SECRET_MISSING
    assert "Edit Connection" in error.hint
    assert openai_double.requests == []


@pytest.mark.parametrize("echo", ["masked", "full"])
async def test_wrong_key_is_auth_failed_and_the_echoed_key_is_redacted(echo: str) -> None:
    with OpenAIDouble(["gpt-4o-mini"], api_key=TEST_API_KEY, echo_full_key=echo == "full") as s:
        adapter = make(s.url + "/v1", key=WRONG_KEY)
        error, seen = await failure(adapter.stream_chat(HELLO))
        health = await adapter.health()
        await adapter.aclose()
        assert len(s.requests_to("/v1/chat/completions")) == 1  # a 401 is never retried
    assert error.code is ErrorCode.AUTH_FAILED
    assert "Incorrect API key provided" in error.message
    assert "[REDACTED]" in error.message
    assert "Edit Connection" in error.hint
    assert seen == []
    assert_no_key_in(error, WRONG_KEY)
    assert health.reachable and health.error_code == "AUTH_FAILED"
    assert health.error is not None and WRONG_KEY[-4:] not in health.error


# --- failures -------------------------------------------------------------------------


async def test_nothing_listening_says_nothing_is_answering(refused_url: str) -> None:  # noqa: F811
    adapter = make(refused_url + "/v1")
    error, seen = await failure(adapter.stream_chat(HELLO))
    await adapter.aclose()
    assert error.code is ErrorCode.ENDPOINT_UNREACHABLE
    assert error.message == f"Nothing is answering at {refused_url}/v1."
    assert "base URL" in error.hint
    assert [type(s) for s in seen] == [Retrying]


async def test_unknown_model_is_model_not_found_with_the_offered_models(
    adapter: OpenAIAdapter,
) -> None:
    error, _ = await failure(adapter.stream_chat(ChatRequest("gpt-9", HELLO.messages)))
    assert error.code is ErrorCode.MODEL_NOT_FOUND
    assert "gpt-9" in error.message
    assert error.extra["installedModels"] == ["gpt-4o-mini", "gpt-4.1"]


async def test_wrong_base_path_is_invalid_base_url(openai_double: OpenAIDouble) -> None:  # noqa: F811
    adapter = make(openai_double.url + "/api")
    error, _ = await failure(adapter.stream_chat(HELLO))
    await adapter.aclose()
    assert error.code is ErrorCode.INVALID_BASE_URL
    assert "/v1" in error.hint


async def test_rate_limit_is_retried_once_after_retry_after_ms(
    adapter: OpenAIAdapter,
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    openai_double.fail_next(*rate_limited(retry_after=5, retry_after_ms=150))
    items = await collect(adapter.stream_chat(HELLO))
    assert items[0] == Retrying(reason="RATE_LIMITED", delay_s=0.15)  # -ms wins
    assert isinstance(items[-1], Finish)


async def test_rate_limit_twice_is_rate_limited_with_the_wait(
    adapter: OpenAIAdapter,
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    openai_double.fail_next(*rate_limited(retry_after=0.1), times=2)
    error, seen = await failure(adapter.stream_chat(HELLO))
    assert error.code is ErrorCode.RATE_LIMITED and error.retryable
    assert error.extra["retryAfterS"] == 0.1
    assert error.extra["ratelimitRemainingRequests"] == 0
    assert seen == [Retrying(reason="RATE_LIMITED", delay_s=0.1)]


async def test_rate_limit_asking_for_a_long_wait_fails_at_once(
    adapter: OpenAIAdapter,
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    openai_double.fail_next(*rate_limited(retry_after=120))
    error, seen = await failure(adapter.stream_chat(HELLO))
    assert error.code is ErrorCode.RATE_LIMITED
    assert "120 s" in error.hint
    assert seen == []
    assert len(openai_double.requests) == 1


async def test_exhausted_quota_is_not_retried(
    adapter: OpenAIAdapter,
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    openai_double.fail_next(*rate_limited(code="insufficient_quota"))
    error, seen = await failure(adapter.stream_chat(HELLO))
    assert error.code is ErrorCode.RATE_LIMITED and not error.retryable
    assert "billing" in error.hint
    assert seen == []


async def test_llamacpp_loading_the_model_is_model_busy_after_one_retry(
    adapter: OpenAIAdapter,
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    openai_double.fail_next(503, LOADING_MODEL, times=2)
    error, seen = await failure(adapter.stream_chat(HELLO))
    assert error.code is ErrorCode.MODEL_BUSY
    assert "Loading model" in error.message
    assert [type(s) for s in seen] == [Retrying]


async def test_server_error_is_generation_failed_after_one_retry(
    adapter: OpenAIAdapter,
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    boom = openai_error(
        "The server had an error while processing your request.", "server_error", None
    )
    openai_double.fail_next(500, boom, times=2)
    error, _ = await failure(adapter.stream_chat(HELLO))
    assert error.code is ErrorCode.GENERATION_FAILED
    assert "HTTP 500" in error.message
    assert len(openai_double.requests) == 2


async def test_prompt_longer_than_the_context_is_prompt_too_large(
    adapter: OpenAIAdapter,
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    too_long = openai_error(
        "This model's maximum context length is 128000 tokens. However, your messages "
        "resulted in 130000 tokens.",
        "invalid_request_error",
        "context_length_exceeded",
        "messages",
    )
    openai_double.fail_next(400, too_long)
    error, _ = await failure(adapter.stream_chat(HELLO))
    assert error.code is ErrorCode.PROMPT_TOO_LARGE


async def test_stream_without_done_is_generation_failed(
    adapter: OpenAIAdapter,
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    openai_double.behave(omit_done=True)
    error, seen = await failure(adapter.stream_chat(HELLO))
    assert error.code is ErrorCode.GENERATION_FAILED
    assert "[DONE]" in error.message
    assert any(isinstance(s, Delta) for s in seen)


async def test_empty_stream_is_generation_failed(
    adapter: OpenAIAdapter,
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    # llama-cpp-python answers an over-long prompt with 200 and an empty stream.
    openai_double.fail_next(200, b"", {"Content-Type": "text/event-stream"})
    error, _ = await failure(adapter.stream_chat(HELLO))
    assert error.code is ErrorCode.GENERATION_FAILED


async def test_error_event_mid_stream_is_generation_failed(
    adapter: OpenAIAdapter,
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    openai_double.behave(error_after=1, error_message="upstream model crashed")
    error, _ = await failure(adapter.stream_chat(HELLO))
    assert error.code is ErrorCode.GENERATION_FAILED
    assert "upstream model crashed" in error.message


async def test_server_dropping_the_connection_mid_stream_is_generation_failed(
    adapter: OpenAIAdapter,
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    openai_double.behave(drop_after=2)
    error, seen = await failure(adapter.stream_chat(HELLO))
    assert error.code is ErrorCode.GENERATION_FAILED
    assert len([s for s in seen if isinstance(s, Delta)]) == 2


async def test_stall_mid_stream_is_an_idle_timeout(openai_double: OpenAIDouble) -> None:  # noqa: F811
    openai_double.behave(stall_after=1)
    adapter = make(openai_double.url, timeouts=Timeouts(connect=2, first_token=5, idle=0.3))
    error, _ = await failure(adapter.stream_chat(HELLO))
    await adapter.aclose()
    assert error.code is ErrorCode.TIMEOUT and error.extra["timeout"] == "idle"
    assert openai_double.requests[0].wait_disconnected(5)


# --- cancellation ---------------------------------------------------------------------


async def test_closing_the_stream_disconnects_and_the_next_request_works(
    adapter: OpenAIAdapter,
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    openai_double.behave(stall_after=2)
    stream = adapter.stream_chat(HELLO)
    assert isinstance(await anext(stream), Delta)
    await stream.aclose()  # type: ignore[attr-defined]
    assert await openai_double.requests[0].wait_disconnected_async(5)
    # The key was only active while the request ran.
    assert redact(TEST_API_KEY) != TEST_API_KEY  # (the pattern still catches sk-…)
    assert redact(TEST_API_KEY[-6:]) == TEST_API_KEY[-6:]

    openai_double.behave(stall_after=None)
    for _ in range(3):
        assert isinstance((await collect(adapter.stream_chat(HELLO)))[-1], Finish)


def test_a_client_that_resets_the_connection_counts_as_disconnected(
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    # Closing a socket with response bytes still unread sends RST, not FIN; that is how
    # closing a stream mid-answer often looks on the wire, and the double must see it.
    openai_double.behave(stall_after=2)
    body = json.dumps({"model": "gpt-4o-mini", "messages": [], "stream": True}).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {TEST_API_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", openai_double.port), timeout=5) as sock:
        sock.sendall(head + body)
        assert sock.recv(64).startswith(b"HTTP/1.1 200")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert openai_double.wait_for_requests(1).wait_disconnected(5)


async def test_cancelling_the_consuming_task_disconnects(
    adapter: OpenAIAdapter,
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    openai_double.behave(delay_first_token=30)
    task = asyncio.create_task(collect(adapter.stream_chat(HELLO)))
    await asyncio.to_thread(openai_double.wait_for_requests, 1, 5.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await openai_double.requests[0].wait_disconnected_async(5)


async def test_answer_with_unicode_line_separators_arrives_intact(
    adapter: OpenAIAdapter,
    openai_double: OpenAIDouble,  # noqa: F811
) -> None:
    reply = "first\u2028second\x85third \u2029end"
    openai_double.behave(reply=reply)
    items = await collect(adapter.stream_chat(HELLO))
    assert "".join(i.text for i in items if isinstance(i, Delta)) == reply
