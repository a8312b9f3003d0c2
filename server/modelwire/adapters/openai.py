"""OpenAI Chat Completions over SSE, for the OpenAI API and compatible servers
(LM Studio, llama.cpp's server, vLLM, the embedded model).

The API key is asked for at request time through the `SecretProvider` and registered
with `errors.secret_in_use` for exactly as long as the request runs, so any text built
meanwhile (including a provider's error message that echoes the key) is redacted. The
adapter never stores the key.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any

import httpx

from modelwire.adapters.base import (
    ChatRequest,
    Delta,
    Endpoint,
    Finish,
    Health,
    ModelInfo,
    PullProgress,
    SecretProvider,
    StreamItem,
    Usage,
)
from modelwire.adapters.consume import LineDecoder, decoded_items
from modelwire.adapters.failures import StatusVerdict
from modelwire.adapters.framing import json_object
from modelwire.adapters.netpolicy import check_loopback_async, check_loopback_url, parse_base_url
from modelwire.adapters.openai_errors import provider_error, status_verdict, text_of
from modelwire.adapters.toolcalls import OpenAIToolCalls, openai_body_parts
from modelwire.adapters.transport import (
    build_client,
    fetch_json,
    is_loopback_host,
    short_timeout,
    stream_lines,
)
from modelwire.adapters.wire_values import MAX_MODELS, as_count, as_name
from modelwire.clock import now_iso, timed
from modelwire.errors import ErrorCode, ModelWireError, secret_in_use
from modelwire.redaction import EchoFilter, clean_masked, redact_field

# finish_reason values the API defines; anything else is shown as a capped, redacted
# string (a hostile server chooses it).
_FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})


def _finish_reason(value: object) -> str:
    if isinstance(value, str) and value in _FINISH_REASONS:
        return value
    return redact_field(text_of(value), 64)


def _created_iso(value: object) -> str | None:
    """`created` in seconds; some servers send milliseconds, hostile ones anything."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an integer with hundreds of digits
        return None
    if not 0 < seconds < 1e14:
        return None
    if seconds > 1e11:  # milliseconds (1e11 s is the year 5138)
        seconds /= 1000.0
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None


class OpenAIAdapter:
    """A connection to the OpenAI API or an OpenAI-compatible server."""

    def __init__(self, endpoint: Endpoint, secret_provider: SecretProvider | None) -> None:
        parts = parse_base_url(endpoint.base_url)
        if endpoint.local_only:
            check_loopback_url(endpoint.base_url)
        self._local_only = endpoint.local_only
        base = endpoint.base_url.rstrip("/")
        # A bare host (http://127.0.0.1:8080) means the usual /v1 prefix; any other path
        # is kept as given (OpenRouter's /api/v1, a proxy's /openai/v1).
        if parts.path in ("", "/"):
            base += "/v1"
        self._base = base
        self._display = endpoint.base_url.rstrip("/")
        self._timeouts = endpoint.timeouts
        self._urls: dict[str, httpx.URL] = {}
        # `None` means the provider's auth is `none`: no Authorization header at all.
        self._secret_provider = secret_provider
        loopback = is_loopback_host(parts.hostname or "")
        # Loopback servers never go through an environment proxy; a cloud API may need
        # the corporate proxy the environment names.
        self._client = build_client(endpoint.timeouts, trust_env=not loopback, uds=endpoint.uds)

    @property
    def label(self) -> str:
        return f"the server at {self._display}"

    # --- secrets and requests -----------------------------------------------------

    async def _key(self) -> str | None:
        if self._secret_provider is None:
            return None
        key = await self._secret_provider()
        if not key:
            raise ModelWireError(
                ErrorCode.SECRET_MISSING,
                f"No API key is stored for the connection to {self._display}.",
                "Set the key with ModelWire: Edit Connection (or `modelwire connections "
                "set-secret NAME`), then try again.",
            )
        return key

    @contextlib.contextmanager
    def _using(self, key: str | None) -> Iterator[None]:
        if key is None:
            yield
        else:
            with secret_in_use(key):
                yield

    async def _request(
        self,
        method: str,
        path: str,
        key: str | None,
        *,
        body: dict[str, Any] | None = None,
        http_timeout: httpx.Timeout | None = None,
    ) -> httpx.Request:
        if self._local_only:
            await check_loopback_async(self._base)
        headers = {"Authorization": f"Bearer {key}"} if key is not None else None
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self._base + path)
        return self._client.build_request(
            method,
            url,
            json=body,
            headers=headers,
            timeout=http_timeout if http_timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )

    async def _models_doc(self, key: str | None) -> Any:
        request = await self._request(
            "GET", "/models", key, http_timeout=short_timeout(self._timeouts)
        )
        return await fetch_json(self._client, request, texts=self, timeouts=self._timeouts)

    # --- FailureTexts -------------------------------------------------------------

    def unreachable(self, exc: httpx.TransportError) -> ModelWireError:
        return ModelWireError(
            ErrorCode.ENDPOINT_UNREACHABLE,
            f"Nothing is answering at {self._display}.",
            "Check that the server is running (LM Studio, llama.cpp, vLLM…) and that the "
            "base URL, including its port and /v1, is right.",
        )

    async def for_status(self, response: httpx.Response, body: bytes) -> StatusVerdict:
        keyed = self._secret_provider is not None
        return await status_verdict(
            self.label, response, body, keyed=keyed, offered_names=self._offered_names
        )

    async def _offered_names(self, failed: httpx.Request) -> list[str]:
        # Best effort, with the key of the failed request (still registered for
        # redaction): the not-found error is right even without the list.
        auth = failed.headers.get("authorization", "")
        key = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        try:
            doc = await self._models_doc(key)
        except ModelWireError:
            return []
        return [model.id for model in _model_list(doc)]

    # --- ProviderAdapter ----------------------------------------------------------

    async def health(self) -> Health:
        checked_at = now_iso()
        try:
            key = await self._key()
            with self._using(key):
                doc, latency_ms = await timed(self._models_doc(key))
        except ModelWireError as exc:
            return Health.failed(exc, checked_at, reachable="httpStatus" in exc.extra)
        return Health(
            reachable=True,
            version=None,
            model_count=len(_model_list(doc)),
            latency_ms=latency_ms,
            checked_at=checked_at,
        )

    async def list_models(self) -> list[ModelInfo]:
        key = await self._key()
        with self._using(key):
            return _model_list(await self._models_doc(key))

    async def stream_chat(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        key = await self._key()
        body = self.chat_body(request)

        async def make_request() -> httpx.Request:
            return await self._request("POST", "/chat/completions", key, body=body)

        # Answer text is server-controlled too: a hostile server may echo the key,
        # split across chunks. The filter sees across chunk boundaries.
        answer = _Answer(EchoFilter(key) if key else None, OpenAIToolCalls(self.label))
        decode = answer.decode_with(self._parse_chunk)
        lines = stream_lines(self._client, make_request, timeouts=self._timeouts, texts=self)
        with self._using(key):
            items = decoded_items(lines, decode)  # alone, so mypy infers its type from `decode`
            async with aclosing(items):
                async for item in items:
                    yield item
            if not answer.done:
                raise ModelWireError(
                    ErrorCode.GENERATION_FAILED,
                    f"The answer from {self.label} ended without [DONE], so it may be incomplete.",
                    "The server may have failed mid-answer (llama.cpp does this when the prompt "
                    "is longer than its context); try a shorter input or check the server's "
                    "log.",
                )
            tail = answer.echoes.flush() if answer.echoes else ""
            if tail:
                yield Delta(tail)
            # Parsed only now (a call's arguments are complete only at the end of the
            # turn), and while the key is registered, so an echo of it is redacted.
            tool_calls = answer.calls.finish() if answer.calls else ()
        reason = answer.finish_reason or "stop"
        yield Finish(finish_reason=reason, usage=answer.usage, tool_calls=tool_calls)

    def chat_body(self, request: ChatRequest) -> dict[str, Any]:
        """The exact /chat/completions body for `request` (stored by the request
        inspector). The key travels in the Authorization header, never in the body."""
        body: dict[str, Any] = {"model": request.model, **openai_body_parts(request)}
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        if request.max_tokens is not None:
            # `max_tokens` rather than `max_completion_tokens`: every compatible server
            # (llama.cpp, LM Studio, vLLM) understands it, and OpenAI still accepts it.
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        return body

    def _parse_chunk(self, payload: str) -> dict[str, Any]:
        chunk = json_object(payload)
        if chunk is None:
            raise ModelWireError(
                ErrorCode.GENERATION_FAILED,
                f"{self.label} sent an event that is not a JSON object: "
                f"{clean_masked(payload[:120])!r}",
                "Check that the base URL points at an OpenAI-compatible server.",
            )
        if chunk.get("error"):
            message, _ = provider_error(payload[: 4 * 1024].encode())
            raise ModelWireError(
                ErrorCode.GENERATION_FAILED,
                f"{self.label} failed mid-answer: {message}",
                "Try again; if it keeps failing, check the server's log.",
            )
        return chunk

    async def pull_model(self, model: str) -> AsyncGenerator[PullProgress, None]:
        raise ModelWireError(
            ErrorCode.UNSUPPORTED,
            "OpenAI-compatible servers cannot pull models through the API.",
            "Download the model with the server's own tools (LM Studio, llama.cpp, vLLM).",
        )
        yield  # pragma: no cover - makes this an async generator, as the interface says

    async def aclose(self) -> None:
        await self._client.aclose()


def _model_list(doc: Any) -> list[ModelInfo]:
    entries = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        return []
    return [
        ModelInfo(id=redact_field(entry["id"]), modified_at=_created_iso(entry.get("created")))
        for entry in entries[:MAX_MODELS]
        if isinstance(entry, dict) and as_name(entry.get("id")) is not None
    ]


class _Answer:
    """What the SSE events of one answer added up to: usage, finish reason, tool calls,
    [DONE]."""

    __slots__ = ("calls", "done", "echoes", "finish_reason", "usage")

    def __init__(self, echoes: EchoFilter | None, calls: OpenAIToolCalls) -> None:
        self.done = False
        self.echoes = echoes
        self.calls = calls
        self.finish_reason: str | None = None
        self.usage = Usage()

    def decode_with(self, parse: Callable[[str], dict[str, Any]]) -> LineDecoder[Delta]:
        echoes, calls = self.echoes, self.calls

        def decode(line: str, out: list[Delta]) -> bool:
            if not line.startswith("data:"):
                return False  # SSE comments (": ping"), event: and id: fields
            payload = line[5:].strip()
            if payload == "[DONE]":
                self.done = True
                return True
            chunk = parse(payload)
            reported = chunk.get("usage")
            if isinstance(reported, dict):
                self.usage = Usage(
                    prompt_tokens=as_count(reported.get("prompt_tokens")),
                    completion_tokens=as_count(reported.get("completion_tokens")),
                )
            for choice in chunk.get("choices") or ():
                if not isinstance(choice, dict):
                    continue
                delta = choice.get("delta")
                if isinstance(delta, dict):
                    content = delta.get("content")
                    if content and isinstance(content, str):
                        text = echoes.push(content) if echoes else content
                        if text:
                            out.append(Delta(text))
                    if delta.get("tool_calls") is not None:
                        calls.add(delta["tool_calls"])
                reason = choice.get("finish_reason")
                if reason:
                    self.finish_reason = _finish_reason(reason)
            return False

        return decode
