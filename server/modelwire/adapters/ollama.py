"""The Ollama native API (`/api/*`): NDJSON chat, model listing and pulls.

Ollama is loopback-only (docs/security.md). The policy runs again before every request, and
the request goes to the address that check resolved (with the original `Host` header,
which Ollama's host check expects), so a hosts-file or DNS change between the check and
the connect cannot send the request anywhere else.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import httpx

from modelwire.adapters.base import (
    ChatRequest,
    Delta,
    Endpoint,
    Finish,
    Health,
    Loading,
    ModelInfo,
    PullProgress,
    Retrying,
    StreamItem,
    ToolCall,
    Usage,
)
from modelwire.adapters.consume import decode_stream, decoded_items
from modelwire.adapters.failures import StatusVerdict, retry_after_seconds
from modelwire.adapters.framing import json_object, parse_json_body
from modelwire.adapters.netpolicy import check_loopback_async, check_loopback_url
from modelwire.adapters.toolcalls import (
    DOES_NOT_SUPPORT_TOOLS,
    ollama_body_parts,
    ollama_calls,
    tools_unsupported,
)
from modelwire.adapters.transport import build_client, fetch_json, short_timeout, stream_lines
from modelwire.adapters.wire_values import MAX_MODELS, as_count, as_name, as_text
from modelwire.clock import now_iso, timed
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.redaction import cap_provider_text

# Both spellings: `model 'x' not found` (0.12+) and the older
# `model "x" not found, try pulling it first`.
_MODEL_NOT_FOUND = re.compile(r"""model ['"](?P<model>[^'"]+)['"] not found""")
_PULL_UNKNOWN = "file does not exist"

START_HINT = "Start it with `ollama serve` (or open the Ollama app), then try again."


def _error_text(body: bytes) -> str:
    data = parse_json_body(body)
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return cap_provider_text(str(data["error"]))
    return body[:300].decode("utf-8", "replace").strip()


def _preferred_address(addresses: list[str]) -> str:
    # Ollama listens on 127.0.0.1 by default; `localhost` often resolves to ::1 first.
    return "127.0.0.1" if "127.0.0.1" in addresses else addresses[0]


def _model_info(entry: dict[str, Any]) -> ModelInfo | None:
    """One `/api/tags` entry, every field checked (a server chooses them all)."""
    name = as_name(entry.get("name")) or as_name(entry.get("model"))
    if name is None:
        return None
    raw_details = entry.get("details")
    details: dict[str, Any] = raw_details if isinstance(raw_details, dict) else {}
    return ModelInfo(
        id=name,
        size=as_count(entry.get("size")),
        family=as_text(details.get("family"), 64),
        parameter_size=as_text(details.get("parameter_size"), 64),
        quantization=as_text(details.get("quantization_level"), 64),
        modified_at=as_text(entry.get("modified_at"), 64),
    )


class OllamaAdapter:
    """A connection to a local Ollama through its native API."""

    def __init__(self, endpoint: Endpoint) -> None:
        # The static half of the policy fails fast at construction; the resolving half
        # runs before each request.
        check_loopback_url(endpoint.base_url)
        self._endpoint = endpoint
        self._base = endpoint.base_url.rstrip("/")
        base = httpx.URL(self._base)
        self._base_url = base
        self._host_header = base.netloc.decode("ascii")
        self._timeouts = endpoint.timeouts
        # URLs per (resolved address, path): parsing one costs more than the policy check.
        self._urls: dict[tuple[str, str], httpx.URL] = {}
        # Environment proxies are never used for Ollama (HTTP_PROXY would send local
        # traffic through a proxy, and NO_PROXY mistakes would leak prompts).
        self._client = build_client(endpoint.timeouts, trust_env=False)

    @property
    def label(self) -> str:
        return f"Ollama at {self._base}"

    # --- requests ---------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        http_timeout: httpx.Timeout | None = None,
    ) -> httpx.Request:
        addresses = await check_loopback_async(self._base)
        address = _preferred_address(addresses)
        url = self._urls.get((address, path))
        if url is None:
            url = self._base_url.copy_with(
                host=address, path=self._base_url.path.rstrip("/") + path
            )
            self._urls[(address, path)] = url
        return self._client.build_request(
            method,
            url,
            json=body,
            # Only when the host was rewritten to the resolved address; a literal IP
            # already carries the right Host.
            headers={"Host": self._host_header} if address != self._base_url.host else None,
            timeout=http_timeout if http_timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )

    async def _get_json(self, path: str) -> Any:
        request = await self._request("GET", path, http_timeout=short_timeout(self._timeouts))
        return await fetch_json(self._client, request, texts=self, timeouts=self._timeouts)

    # --- FailureTexts -----------------------------------------------------------------

    def unreachable(self, exc: httpx.TransportError) -> ModelWireError:
        return ModelWireError(
            ErrorCode.ENDPOINT_UNREACHABLE, f"Ollama is not running at {self._base}.", START_HINT
        )

    async def for_status(self, response: httpx.Response, body: bytes) -> StatusVerdict:
        status = response.status_code
        text = _error_text(body)
        found = _MODEL_NOT_FOUND.search(text)
        if status == 404 and found:
            model = found.group("model")
            installed = await self._installed_names()
            return StatusVerdict(
                ModelWireError(
                    ErrorCode.MODEL_NOT_FOUND,
                    f"Ollama has no model named '{model}'.",
                    f"Pull it with `ollama pull {model}` or ModelWire: Pull Ollama Model, "
                    "or pick an installed model.",
                    extra={"installedModels": installed, "model": model},
                ),
                may_retry=False,
            )
        if status == 400 and DOES_NOT_SUPPORT_TOOLS in text:
            model = _body_model(response.request)
            return StatusVerdict(tools_unsupported(self.label, model, text), may_retry=False)
        if status == 404:
            return StatusVerdict(
                ModelWireError(
                    ErrorCode.INVALID_BASE_URL,
                    f"{self.label} answered {response.request.url.path} with 404: {text}",
                    "Check that the base URL points at Ollama (http://localhost:11434).",
                ),
                may_retry=False,
            )
        if status in (429, 503):
            return StatusVerdict(
                ModelWireError(
                    ErrorCode.MODEL_BUSY,
                    f"Ollama is busy: {text}",
                    "Ollama's request queue is full; try again in a moment, or raise "
                    "OLLAMA_MAX_QUEUE / OLLAMA_NUM_PARALLEL.",
                ),
                may_retry=True,
                retry_after_s=retry_after_seconds(response.headers),
            )
        return StatusVerdict(
            ModelWireError(
                ErrorCode.GENERATION_FAILED,
                f"Ollama failed (HTTP {status}): {text}",
                "See the Ollama server log (`journalctl -u ollama` or ~/.ollama/logs) for details.",
            ),
            may_retry=status >= 500,
        )

    async def _installed_names(self) -> list[str]:
        # Best effort: the not-found error is still right if the list cannot be fetched.
        try:
            return [model.id for model in await self.list_models()]
        except ModelWireError:
            return []

    # --- ProviderAdapter --------------------------------------------------------------

    async def health(self) -> Health:
        checked_at = now_iso()
        try:
            version_doc, latency_ms = await timed(self._get_json("/api/version"))
            models = await self.list_models()
        except ModelWireError as exc:
            return Health.failed(exc, checked_at)
        version = version_doc.get("version") if isinstance(version_doc, dict) else None
        return Health(
            reachable=True,
            version=as_text(version, 64),
            model_count=len(models),
            latency_ms=latency_ms,
            checked_at=checked_at,
        )

    async def list_models(self) -> list[ModelInfo]:
        doc = await self._get_json("/api/tags")
        entries = doc.get("models") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            return []
        infos = (_model_info(entry) for entry in entries[:MAX_MODELS] if isinstance(entry, dict))
        return [info for info in infos if info is not None]

    async def stream_chat(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        body = self.chat_body(request)

        async def make_request() -> httpx.Request:
            return await self._request("POST", "/api/chat", body=body)

        ends: list[Finish] = []
        calls: list[ToolCall] = []

        def decode(line: str, out: list[Delta]) -> bool:
            data = self._parse_line(line)
            message = data.get("message")
            if isinstance(message, dict):
                content = message.get("content")
                if content and isinstance(content, str):
                    out.append(Delta(content))
                # Whole calls, on any line (the done line included).
                calls.extend(ollama_calls(message, self.label, len(calls)))
            if data.get("done") is not True:
                return False
            usage = Usage(
                prompt_tokens=as_count(data.get("prompt_eval_count")),
                completion_tokens=as_count(data.get("eval_count")),
            )
            reason = as_text(data.get("done_reason"), 64) or "stop"
            ends.append(Finish(reason, usage, tool_calls=tuple(calls)))
            return True

        lines = stream_lines(self._client, make_request, timeouts=self._timeouts, texts=self)
        items = decoded_items(lines, decode)  # alone, so mypy infers its type from `decode`
        async with aclosing(items):
            async for item in items:
                yield item
        if not ends:
            raise ModelWireError(
                ErrorCode.GENERATION_FAILED,
                f"The answer from {self.label} ended before it was complete (no done line).",
                "Ollama may have stopped or crashed mid-answer; try again.",
            )
        yield ends[0]

    def chat_body(self, request: ChatRequest) -> dict[str, Any]:
        """The exact /api/chat body for `request` (the request inspector stores it)."""
        body: dict[str, Any] = {"model": request.model, **ollama_body_parts(request)}
        body["stream"] = True
        options: dict[str, Any] = {}
        if request.max_tokens is not None:
            options["num_predict"] = request.max_tokens
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if options:
            body["options"] = options
        return body

    def _parse_line(self, line: str) -> dict[str, Any]:
        data = json_object(line)
        if data is None:
            raise ModelWireError(
                ErrorCode.GENERATION_FAILED,
                f"{self.label} sent a line that is not a JSON object: {line[:120]!r}",
                "Check that the base URL points at Ollama.",
            )
        if "error" in data:
            raise ModelWireError(
                ErrorCode.GENERATION_FAILED,
                f"Ollama failed mid-answer: {cap_provider_text(str(data['error']))}",
                "See the Ollama server log for details, then try again.",
            )
        return data

    async def pull_model(self, model: str) -> AsyncGenerator[PullProgress, None]:
        async def make_request() -> httpx.Request:
            return await self._request("POST", "/api/pull", body={"model": model, "stream": True})

        def decode(line: str, out: list[PullProgress]) -> bool:
            data = self._parse_pull_line(model, line)
            progress = PullProgress(
                status=as_text(data.get("status")) or "",
                digest=as_text(data.get("digest"), 128),
                total=as_count(data.get("total")),
                completed=as_count(data.get("completed")),
            )
            out.append(progress)
            return progress.status == "success"

        # No total deadline: a pull of a large model legitimately takes longer than any
        # run; the idle gap between progress lines still catches a stalled download.
        lines = stream_lines(
            self._client, make_request, timeouts=self._timeouts, texts=self, total=False
        )
        last: PullProgress | None = None
        async with aclosing(decode_stream(lines, decode)) as stream:
            async for items in stream:
                if isinstance(items, Loading | Retrying):
                    continue
                for last in items:
                    yield last
        if last is not None and last.status == "success":
            return  # decoding stops at the success line, so it is the last one
        raise ModelWireError(
            ErrorCode.PULL_FAILED,
            f"The pull of '{model}' from {self.label} ended before Ollama reported success.",
            "Try the pull again; Ollama resumes partial downloads.",
        )

    def _parse_pull_line(self, model: str, line: str) -> dict[str, Any]:
        data = json_object(line)
        if data is None:
            raise ModelWireError(
                ErrorCode.PULL_FAILED,
                f"{self.label} sent a pull line that is not a JSON object: {line[:120]!r}",
                "Check that the base URL points at Ollama.",
            )
        error = data.get("error")
        if error is not None:
            error = cap_provider_text(str(error))
            if _PULL_UNKNOWN in str(error):
                # PULL_FAILED, not MODEL_NOT_FOUND: the name is unknown to the registry,
                # so "pull it" (MODEL_NOT_FOUND's hint) would be the wrong advice.
                raise ModelWireError(
                    ErrorCode.PULL_FAILED,
                    f"Ollama's library has no model '{model}' ({error}).",
                    "Check the name and tag (for example llama3.2 or qwen2.5:0.5b) at "
                    "https://ollama.com/library.",
                    extra={"model": model},
                )
            raise ModelWireError(
                ErrorCode.PULL_FAILED,
                f"Ollama could not pull '{model}': {error}",
                "Check the network connection of the machine running Ollama, then try again.",
                extra={"model": model},
            )
        return data

    async def aclose(self) -> None:
        await self._client.aclose()


def _body_model(request: httpx.Request) -> str:
    doc = json_object(request.content.decode("utf-8", "replace"))
    return str(doc.get("model")) if doc and doc.get("model") else "(unknown)"
