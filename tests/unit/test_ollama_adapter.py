"""The Ollama adapter against the Ollama double: every user-visible outcome of a chat,
a listing, a health check and a pull, with its stable code, message and hint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from testkit.doubles.fixtures import ollama_double, refused_url  # noqa: F401 - fixtures
from testkit.doubles.http_double import StandaloneDouble
from testkit.doubles.ollama_double import OLLAMA_BUSY, OllamaDouble

from modelwire.adapters import ollama as ollama_module
from modelwire.adapters import transport
from modelwire.adapters.base import (
    ChatMessage,
    ChatRequest,
    Delta,
    Endpoint,
    Finish,
    Loading,
    PullProgress,
    Retrying,
    StreamItem,
    Timeouts,
)
from modelwire.adapters.ollama import OllamaAdapter
from modelwire.errors import ErrorCode, ModelWireError

FAST = Timeouts(connect=2.0, first_token=5.0, idle=5.0, total=30.0)
HELLO = ChatRequest("llama3.2", (ChatMessage("user", "Explain this file."),))


@pytest.fixture(autouse=True)
def quick_signals(monkeypatch: pytest.MonkeyPatch) -> None:
    # The product waits ~1 s before "loading" and 0.5 s before a retry; tests need not.
    monkeypatch.setattr(transport, "LOADING_AFTER_S", 0.2)
    monkeypatch.setattr(transport, "DEFAULT_RETRY_DELAY_S", 0.05)


@pytest.fixture
async def adapter(ollama_double: OllamaDouble) -> AsyncIterator[OllamaAdapter]:  # noqa: F811
    adapter = OllamaAdapter(Endpoint(ollama_double.url, timeouts=FAST, local_only=True))
    yield adapter
    await adapter.aclose()


def make(url: str, timeouts: Timeouts = FAST) -> OllamaAdapter:
    return OllamaAdapter(Endpoint(url, timeouts=timeouts, local_only=True))


async def collect(stream: AsyncIterator[StreamItem]) -> list[StreamItem]:
    return [item async for item in stream]


async def failure(stream: AsyncIterator[object]) -> tuple[ModelWireError, list[object]]:
    seen: list[object] = []
    with pytest.raises(ModelWireError) as caught:
        async for item in stream:
            seen.append(item)
    return caught.value, seen


def text_of(items: list[StreamItem]) -> str:
    return "".join(i.text for i in items if isinstance(i, Delta))


# --- health and listing ---------------------------------------------------------------


async def test_test_connection_reports_version_model_count_latency_and_time(
    adapter: OllamaAdapter,
) -> None:
    health = await adapter.health()
    assert health.reachable
    assert health.version == "0.12.3"
    assert health.model_count == 2
    assert health.latency_ms is not None and health.latency_ms >= 0
    assert health.checked_at.endswith("Z") and "T" in health.checked_at
    assert health.error_code is None


async def test_test_connection_against_stopped_ollama_says_start_ollama_serve(
    refused_url: str,  # noqa: F811
) -> None:
    adapter = make(refused_url)
    health = await adapter.health()
    await adapter.aclose()
    assert not health.reachable
    assert health.error_code == "ENDPOINT_UNREACHABLE"
    assert health.error == f"Ollama is not running at {refused_url}."
    assert health.hint is not None and "ollama serve" in health.hint


async def test_model_list_comes_from_installed_models(adapter: OllamaAdapter) -> None:
    models = await adapter.list_models()
    assert [m.id for m in models] == ["llama3.2:latest", "qwen2.5:0.5b"]
    assert models[0].family == "llama"
    assert models[0].parameter_size == "1.2B"
    assert models[0].quantization == "Q4_K_M"
    assert models[0].size is not None


# --- chat: the happy path -------------------------------------------------------------


async def test_chat_streams_the_answer_then_finishes_with_token_counts(
    adapter: OllamaAdapter,
    ollama_double: OllamaDouble,  # noqa: F811
) -> None:
    items = await collect(adapter.stream_chat(HELLO))
    assert text_of(items) == ollama_double.behaviour.reply
    assert isinstance(items[-1], Finish)
    assert items[-1].finish_reason == "stop"
    assert items[-1].usage.prompt_tokens == 26
    assert items[-1].usage.completion_tokens == len(ollama_double.behaviour.tokens())
    sent = ollama_double.requests_to("/api/chat")[0].json
    assert sent["stream"] is True
    assert sent["messages"] == [{"role": "user", "content": "Explain this file."}]


async def test_max_tokens_becomes_num_predict_and_finishes_with_length(
    adapter: OllamaAdapter,
    ollama_double: OllamaDouble,  # noqa: F811
) -> None:
    request = ChatRequest("llama3.2", HELLO.messages, max_tokens=3, temperature=0.2)
    items = await collect(adapter.stream_chat(request))
    assert len([i for i in items if isinstance(i, Delta)]) == 3
    assert items[-1] == Finish("length", items[-1].usage)  # type: ignore[union-attr]
    assert ollama_double.requests[-1].json["options"] == {"num_predict": 3, "temperature": 0.2}


async def test_slow_model_load_shows_loading_once_before_the_first_token(
    adapter: OllamaAdapter,
    ollama_double: OllamaDouble,  # noqa: F811
) -> None:
    ollama_double.behave(delay_first_token=0.6)
    items = await collect(adapter.stream_chat(HELLO))
    assert isinstance(items[0], Loading)
    assert [type(i) for i in items].count(Loading) == 1
    assert isinstance(items[1], Delta)


async def test_requests_go_to_the_checked_loopback_address_with_the_users_host(
    ollama_double: OllamaDouble,  # noqa: F811
) -> None:
    adapter = make(ollama_double.url.replace("127.0.0.1", "localhost"))
    await collect(adapter.stream_chat(HELLO))
    await adapter.aclose()
    assert ollama_double.requests[-1].headers["host"] == f"localhost:{ollama_double.port}"


async def test_environment_proxies_are_ignored_for_ollama(
    adapter: OllamaAdapter,
    monkeypatch: pytest.MonkeyPatch,
    refused_url: str,  # noqa: F811
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, refused_url)
    fresh = make(str(adapter._base))
    assert (await fresh.health()).reachable
    await fresh.aclose()


# --- chat: failures -------------------------------------------------------------------


async def test_chat_against_stopped_ollama_says_start_ollama_serve(
    refused_url: str,  # noqa: F811
) -> None:
    adapter = make(refused_url)
    error, seen = await failure(adapter.stream_chat(HELLO))
    await adapter.aclose()
    assert error.code is ErrorCode.ENDPOINT_UNREACHABLE
    assert error.message == f"Ollama is not running at {refused_url}."
    assert error.hint == "Start it with `ollama serve` (or open the Ollama app), then try again."
    assert error.retryable
    assert [type(s) for s in seen] == [Retrying]  # one retry, before any byte


@pytest.mark.parametrize("legacy", [False, True], ids=["ollama-0.12", "older-ollama"])
async def test_chat_with_a_model_that_is_not_pulled_offers_installed_models_and_pull(
    legacy: bool,
) -> None:
    with OllamaDouble(["llama3.2", "qwen2.5:0.5b"], legacy_not_found=legacy) as double:
        adapter = make(double.url)
        error, _ = await failure(adapter.stream_chat(ChatRequest("mistral", HELLO.messages)))
        await adapter.aclose()
        assert len(double.requests_to("/api/chat")) == 1  # a 404 is never retried
    assert error.code is ErrorCode.MODEL_NOT_FOUND
    assert error.extra["installedModels"] == ["llama3.2:latest", "qwen2.5:0.5b"]
    assert error.hint == (
        "Pull it with `ollama pull mistral` or ModelWire: Pull Ollama Model, "
        "or pick an installed model."
    )
    assert error.to_data()["installedModels"] == ["llama3.2:latest", "qwen2.5:0.5b"]


async def test_busy_ollama_is_retried_once_then_answers(
    adapter: OllamaAdapter,
    ollama_double: OllamaDouble,  # noqa: F811
) -> None:
    ollama_double.fail_next(503, OLLAMA_BUSY, path="/api/chat")
    items = await collect(adapter.stream_chat(HELLO))
    assert isinstance(items[0], Retrying) and items[0].reason == "MODEL_BUSY"
    assert isinstance(items[-1], Finish)
    assert len(ollama_double.requests_to("/api/chat")) == 2


async def test_ollama_still_busy_after_the_retry_is_model_busy(
    adapter: OllamaAdapter,
    ollama_double: OllamaDouble,  # noqa: F811
) -> None:
    ollama_double.fail_next(503, OLLAMA_BUSY, path="/api/chat", times=2)
    error, seen = await failure(adapter.stream_chat(HELLO))
    assert error.code is ErrorCode.MODEL_BUSY
    assert "maximum pending requests exceeded" in error.message
    assert [type(s) for s in seen] == [Retrying]
    assert len(ollama_double.requests_to("/api/chat")) == 2


async def test_retry_after_header_sets_the_retry_delay(
    adapter: OllamaAdapter,
    ollama_double: OllamaDouble,  # noqa: F811
) -> None:
    ollama_double.fail_next(503, OLLAMA_BUSY, {"Retry-After": "0.1"}, path="/api/chat")
    items = await collect(adapter.stream_chat(HELLO))
    assert items[0] == Retrying(reason="MODEL_BUSY", delay_s=0.1)


async def test_runner_crash_is_retried_once_then_generation_failed(
    adapter: OllamaAdapter,
    ollama_double: OllamaDouble,  # noqa: F811
) -> None:
    crash = {"error": "llama runner process has terminated: exit status 2"}
    ollama_double.fail_next(500, crash, path="/api/chat", times=2)
    error, _ = await failure(adapter.stream_chat(HELLO))
    assert error.code is ErrorCode.GENERATION_FAILED
    assert "llama runner process has terminated" in error.message


async def test_bad_request_is_not_retried(
    adapter: OllamaAdapter,
    ollama_double: OllamaDouble,  # noqa: F811
) -> None:
    ollama_double.fail_next(400, {"error": "model is required"}, path="/api/chat")
    error, seen = await failure(adapter.stream_chat(HELLO))
    assert error.code is ErrorCode.GENERATION_FAILED
    assert "model is required" in error.message
    assert seen == []


async def test_error_line_mid_answer_is_generation_failed(
    adapter: OllamaAdapter,
    ollama_double: OllamaDouble,  # noqa: F811
) -> None:
    ollama_double.behave(error_after=2, error_message="CUDA error: out of memory")
    error, seen = await failure(adapter.stream_chat(HELLO))
    assert error.code is ErrorCode.GENERATION_FAILED
    assert error.message == "Ollama failed mid-answer: CUDA error: out of memory"
    assert len(seen) == 2  # what arrived before the error was delivered, never retried


async def test_answer_ending_without_done_is_generation_failed(
    adapter: OllamaAdapter,
    ollama_double: OllamaDouble,  # noqa: F811
) -> None:
    ollama_double.behave(omit_done=True)
    error, seen = await failure(adapter.stream_chat(HELLO))
    assert error.code is ErrorCode.GENERATION_FAILED
    assert "ended before it was complete" in error.message
    assert not any(isinstance(s, Finish) for s in seen)


async def test_ollama_dying_mid_answer_is_generation_failed(
    adapter: OllamaAdapter,
    ollama_double: OllamaDouble,  # noqa: F811
) -> None:
    ollama_double.behave(drop_after=3)
    error, seen = await failure(adapter.stream_chat(HELLO))
    assert error.code is ErrorCode.GENERATION_FAILED
    assert "dropped before the answer was complete" in error.message
    assert len(seen) == 3


async def test_killed_ollama_process_mid_answer_is_generation_failed() -> None:
    with StandaloneDouble("ollama_double", "--models", "llama3.2") as process:
        process.control(behave={"stallAfter": 2})
        adapter = make(process.url)
        stream = adapter.stream_chat(HELLO)
        first = [await anext(stream), await anext(stream)]
        assert all(isinstance(i, Delta) for i in first)
        process.kill()
        error, _ = await failure(stream)
        await adapter.aclose()
    assert error.code is ErrorCode.GENERATION_FAILED


async def test_no_first_token_in_time_is_a_first_token_timeout(
    ollama_double: OllamaDouble,  # noqa: F811
) -> None:
    ollama_double.behave(delay_first_token=30)
    adapter = make(ollama_double.url, Timeouts(connect=2, first_token=0.4, idle=5, total=30))
    error, seen = await failure(adapter.stream_chat(HELLO))
    await adapter.aclose()
    assert error.code is ErrorCode.TIMEOUT
    assert error.extra["timeout"] == "firstToken"
    assert "first token" in error.message and "0.4 s" in error.message
    assert [type(s) for s in seen] == [Loading, Retrying, Loading]
    for request in ollama_double.requests_to("/api/chat"):
        assert request.wait_disconnected(5), "the abandoned request must be closed"


async def test_stall_mid_answer_is_an_idle_timeout(ollama_double: OllamaDouble) -> None:  # noqa: F811
    ollama_double.behave(stall_after=2)
    adapter = make(ollama_double.url, Timeouts(connect=2, first_token=5, idle=0.3, total=30))
    error, seen = await failure(adapter.stream_chat(HELLO))
    await adapter.aclose()
    assert error.code is ErrorCode.TIMEOUT and error.extra["timeout"] == "idle"
    assert len(seen) == 2
    assert ollama_double.requests_to("/api/chat")[0].wait_disconnected(5)


async def test_slow_answer_hits_the_total_timeout(ollama_double: OllamaDouble) -> None:  # noqa: F811
    ollama_double.behave(chunk_delay=0.1)
    adapter = make(ollama_double.url, Timeouts(connect=2, first_token=5, idle=5, total=0.35))
    error, _ = await failure(adapter.stream_chat(HELLO))
    await adapter.aclose()
    assert error.code is ErrorCode.TIMEOUT and error.extra["timeout"] == "total"


# --- cancellation ---------------------------------------------------------------------


async def test_closing_the_stream_disconnects_ollama_and_the_next_chat_works(
    adapter: OllamaAdapter,
    ollama_double: OllamaDouble,  # noqa: F811
) -> None:
    ollama_double.behave(stall_after=2)
    stream = adapter.stream_chat(HELLO)
    assert isinstance(await anext(stream), Delta)
    await stream.aclose()  # type: ignore[attr-defined]
    assert ollama_double.requests_to("/api/chat")[0].wait_disconnected(5)

    ollama_double.behave(stall_after=None)
    for _ in range(3):  # more than once: a leaked pool slot would show up here
        items = await collect(adapter.stream_chat(HELLO))
        assert isinstance(items[-1], Finish)


async def test_cancelling_the_run_task_disconnects_ollama(
    adapter: OllamaAdapter,
    ollama_double: OllamaDouble,  # noqa: F811
) -> None:
    ollama_double.behave(stall_after=1)
    got_first = asyncio.Event()

    async def consume() -> None:
        async for item in adapter.stream_chat(HELLO):
            if isinstance(item, Delta):
                got_first.set()

    task = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        await got_first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await ollama_double.requests_to("/api/chat")[0].wait_disconnected_async(5)


async def test_cancelling_while_the_model_loads_disconnects_ollama(
    adapter: OllamaAdapter,
    ollama_double: OllamaDouble,  # noqa: F811
) -> None:
    ollama_double.behave(delay_first_token=30)
    stream = adapter.stream_chat(HELLO)
    assert isinstance(await anext(stream), Loading)
    await stream.aclose()  # type: ignore[attr-defined]
    assert ollama_double.requests_to("/api/chat")[0].wait_disconnected(5)


# --- network policy -------------------------------------------------------------------


def test_a_remote_ollama_is_refused_before_any_request() -> None:
    with pytest.raises(ModelWireError) as caught:
        make("http://192.168.1.20:11434")
    assert caught.value.code is ErrorCode.NON_LOOPBACK_REJECTED
    assert "ssh -N -L 11434:localhost:11434" in caught.value.hint


async def test_loopback_policy_is_checked_again_before_every_request(
    adapter: OllamaAdapter,
    ollama_double: OllamaDouble,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def now_remote(url: str) -> list[str]:
        raise ModelWireError(ErrorCode.NON_LOOPBACK_REJECTED, "resolves elsewhere now", "")

    monkeypatch.setattr(ollama_module, "check_loopback_async", now_remote)
    error, _ = await failure(adapter.stream_chat(HELLO))
    assert error.code is ErrorCode.NON_LOOPBACK_REJECTED
    with pytest.raises(ModelWireError):
        await adapter.list_models()
    with pytest.raises(ModelWireError):
        await collect(adapter.pull_model("llama3.2"))  # type: ignore[arg-type]
    assert (await adapter.health()).error_code == "NON_LOOPBACK_REJECTED"
    assert ollama_double.requests == []


async def test_redirects_are_never_followed(
    adapter: OllamaAdapter,
    ollama_double: OllamaDouble,  # noqa: F811
) -> None:
    ollama_double.fail_next(307, b"", {"Location": "http://203.0.113.9:11434/api/chat"})
    error, _ = await failure(adapter.stream_chat(HELLO))
    assert error.code is ErrorCode.INVALID_BASE_URL
    assert "does not follow redirects" in error.message
    assert len(ollama_double.requests) == 1


# --- pull -----------------------------------------------------------------------------


async def test_pull_reports_progress_then_success_and_the_model_is_installed(
    adapter: OllamaAdapter,
) -> None:
    progress = [p async for p in adapter.pull_model("gemma3:270m")]
    assert progress[0] == PullProgress(status="pulling manifest")
    downloads = [p for p in progress if p.total]
    assert downloads[-1].completed == downloads[-1].total
    assert downloads[0].digest is not None and downloads[0].digest.startswith("sha256:")
    assert progress[-1].status == "success"
    assert "gemma3:270m" in [m.id for m in await adapter.list_models()]


async def test_pull_of_a_name_the_library_does_not_have_is_pull_failed(
    adapter: OllamaAdapter,
) -> None:
    error, seen = await failure(adapter.pull_model("llama9000"))
    assert error.code is ErrorCode.PULL_FAILED
    assert "file does not exist" in error.message
    assert "ollama.com/library" in error.hint
    assert seen == [PullProgress(status="pulling manifest")]


# --- the double itself from a plain sync test -------------------------------------------


def test_the_double_answers_sync_clients_like_ollama(ollama_double: OllamaDouble) -> None:  # noqa: F811
    with httpx.Client(base_url=ollama_double.url) as client:
        assert client.get("/").text == "Ollama is running"
        assert client.post("/api/chat", content=b"").json() == {"error": "missing request body"}
        assert client.post("/api/chat", json={}).json() == {"error": "model is required"}
        single = client.post(
            "/api/chat", json={"model": "llama3.2", "messages": [], "stream": False}
        ).json()
        assert single["done"] is True and single["message"]["content"]
