"""How an OpenAI-compatible server's errors read: statuses, provider messages, quotas.

Providers echo masked keys and quote limits in headers; everything here turns that
into one `ModelWireError` with a hint, without the key.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from modelwire.adapters.failures import StatusVerdict, retry_after_seconds
from modelwire.adapters.framing import parse_json_body
from modelwire.adapters.transport import RETRY_AFTER_CAP_S
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.redaction import cap_provider_text, clean_masked

_CONTEXT_TOO_LONG = re.compile(r"context[ _]length|maximum context|too many tokens", re.I)


def text_of(value: object) -> str:
    """A server-chosen field as text: strings as they are, anything else as JSON-ish
    text, never a crash (a non-string `message` or `code` is seen in the wild)."""
    return value if isinstance(value, str) else cap_provider_text(repr(value), 200)


def _clean(text: str) -> str:
    """Provider text for a message: capped first (so every pattern runs on a few KB),
    then masked key echoes (`sk-proj-****…abcd`) erased. `ModelWireError` redacts the
    rest (the key in use, in any of its encodings)."""
    return clean_masked(cap_provider_text(text))


def provider_error(body: bytes) -> tuple[str, str | None]:
    """(message, code) from `{"error": {message, type, code}}` and its common variants."""
    data = parse_json_body(body)
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            code = error.get("code") if error.get("code") is not None else error.get("type")
            message = text_of(error.get("message"))
            return _clean(message), (_clean(text_of(code)) if code is not None else None)
        if isinstance(error, str):
            return _clean(error), None
        for key in ("detail", "message"):
            if key in data:
                return _clean(text_of(data[key])), None
    return _clean(body[:300].decode("utf-8", "replace").strip()), None


def _requested_model(request: httpx.Request) -> str | None:
    with contextlib.suppress(Exception):
        doc = json.loads(request.content)
        if isinstance(doc, dict) and isinstance(doc.get("model"), str):
            return str(doc["model"])
    return None


async def status_verdict(
    label: str,
    response: httpx.Response,
    body: bytes,
    *,
    keyed: bool,
    offered_names: Callable[[httpx.Request], Awaitable[list[str]]],
) -> StatusVerdict:
    """Read an error status of an OpenAI-compatible server (`keyed`: the connection
    sends an API key; `offered_names` lists the models, for MODEL_NOT_FOUND)."""
    status = response.status_code
    message, code = provider_error(body)
    extra: dict[str, Any] = {"httpStatus": status}
    said = f": {message}" if message else "."
    if status in (401, 403):
        hint = (
            "Set a valid key for this connection with ModelWire: Edit Connection (or "
            "`modelwire connections set-secret NAME`), and check that it belongs to "
            "this provider and project."
            if keyed
            else "This server wants an API key and none is stored for this connection: "
            "set one with ModelWire: Edit Connection (or `modelwire connections "
            "set-secret NAME`)."
        )
        return StatusVerdict(
            ModelWireError(
                ErrorCode.AUTH_FAILED,
                f"{label} rejected the API key (HTTP {status}){said}",
                hint,
                extra=extra,
            ),
            may_retry=False,
        )
    if status == 404 and (code == "model_not_found" or "model" in message.lower()):
        model = _requested_model(response.request)
        extra["installedModels"] = await offered_names(response.request)
        if model:
            extra["model"] = model
        return StatusVerdict(
            ModelWireError(
                ErrorCode.MODEL_NOT_FOUND,
                f"{label} has no model '{model}'{said}"
                if model
                else f"{label} does not know that model{said}",
                "Pick one of the models this server offers, or check the model name.",
                extra=extra,
            ),
            may_retry=False,
        )
    if status == 404:
        return StatusVerdict(
            ModelWireError(
                ErrorCode.INVALID_BASE_URL,
                f"{label} has no {response.request.url.path} (HTTP 404){said}",
                "Check the base URL: OpenAI-compatible servers usually end in /v1 "
                "(for example http://127.0.0.1:8080/v1).",
                extra=extra,
            ),
            may_retry=False,
        )
    if status == 429:
        return _rate_limited(label, response, message, code, extra)
    if status in (400, 413) and (
        code == "context_length_exceeded" or _CONTEXT_TOO_LONG.search(message)
    ):
        return StatusVerdict(
            ModelWireError(
                ErrorCode.PROMPT_TOO_LARGE,
                f"The prompt is too long for the model{said}",
                "Run the agent on a selection instead of the whole file, or pick a "
                "model with a longer context.",
                extra=extra,
            ),
            may_retry=False,
        )
    if status == 503:
        # llama.cpp answers 503 "Loading model" while it loads; vLLM/OpenAI when
        # overloaded. Both pass with time.
        return StatusVerdict(
            ModelWireError(
                ErrorCode.MODEL_BUSY,
                f"{label} is busy (HTTP 503){said}",
                "The model may still be loading; try again in a moment.",
                extra=extra,
            ),
            may_retry=True,
            retry_after_s=retry_after_seconds(response.headers),
        )
    return StatusVerdict(
        ModelWireError(
            ErrorCode.GENERATION_FAILED,
            f"{label} failed (HTTP {status}){said}",
            "Try again; if it keeps failing, check the server's log."
            if status >= 500
            else "The server refused the request; check the model name and the server's log.",
            extra=extra,
        ),
        may_retry=status >= 500,
        retry_after_s=retry_after_seconds(response.headers) if status >= 500 else None,
    )


def _rate_limited(
    label: str, response: httpx.Response, message: str, code: str | None, extra: dict[str, Any]
) -> StatusVerdict:
    said = f": {message}" if message else "."
    if code == "insufficient_quota":
        return StatusVerdict(
            ModelWireError(
                ErrorCode.RATE_LIMITED,
                f"{label} says the account is out of quota{said}",
                "Check the plan and billing details of the account this key belongs to.",
                retryable=False,
                extra=extra,
            ),
            may_retry=False,
        )
    wait = retry_after_seconds(response.headers)
    if wait is not None:
        extra["retryAfterS"] = round(wait, 3)
    for name in ("x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens"):
        # A number, or nothing: the header is server-chosen text and once carried
        # the key back verbatim.
        value = response.headers.get(name, "").strip()
        if value.isdigit() and len(value) <= 12:
            extra[_camel_header(name)] = int(value)
    if wait is not None and wait > RETRY_AFTER_CAP_S:
        hint = f"The provider asks to wait {wait:.0f} s; try again later."
    elif wait is not None:
        hint = f"Wait {max(wait, 0.1):.1f} s and try again, or lower the concurrency limit."
    else:
        hint = "Wait a moment and try again, or lower the concurrency limit."
    return StatusVerdict(
        ModelWireError(
            ErrorCode.RATE_LIMITED,
            f"{label} rate-limited the request{said}",
            hint,
            extra=extra,
        ),
        may_retry=True,
        retry_after_s=wait,
    )


def _camel_header(name: str) -> str:
    head, *rest = name.removeprefix("x-").split("-")
    return head + "".join(word.capitalize() for word in rest)
