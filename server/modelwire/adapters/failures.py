"""Error texts for HTTP failures, and how an adapter tells the transport about its own.

Every timeout, dropped connection and redirect a provider adapter can meet is worded
here once, with its hint; the provider-specific parts (an unreachable server, an error
status) come from the adapter through `FailureTexts`.
"""

from __future__ import annotations

import contextlib
import email.utils
import time
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import urlsplit

import httpx

from modelwire.errors import ErrorCode, ModelWireError

TimeoutKind = Literal["connect", "firstToken", "idle", "total", "read"]

_TIMEOUT_WORDS: dict[TimeoutKind, str] = {
    "connect": "could not connect",
    "firstToken": "produced no first token",
    "idle": "stopped sending output",
    "total": "did not finish",
    "read": "did not answer",
}
_TIMEOUT_HINTS: dict[TimeoutKind, str] = {
    "connect": "Check that the server is running and reachable, or raise the connect timeout.",
    "firstToken": (
        "The model may still be loading: try again, pick a smaller model, or raise the "
        "first-token timeout."
    ),
    "idle": "The server stalled mid-answer: try again, or raise the idle timeout.",
    "total": "The answer took too long: ask for less output, or raise the total timeout.",
    "read": "The server is slow to answer: try again, or raise the timeout.",
}


def timeout_error(label: str, kind: TimeoutKind, seconds: float) -> ModelWireError:
    return ModelWireError(
        ErrorCode.TIMEOUT,
        f"{label} {_TIMEOUT_WORDS[kind]} within {seconds:g} s ({kind} timeout).",
        _TIMEOUT_HINTS[kind],
        extra={"timeout": kind},
    )


def dropped_error(label: str, exc: BaseException) -> ModelWireError:
    return ModelWireError(
        ErrorCode.GENERATION_FAILED,
        f"The connection to {label} dropped before the answer was complete ({_exc_text(exc)}).",
        "The server may have crashed or restarted; try again.",
    )


def _shown_location(raw: str) -> str:
    """A redirect target as safe to show: scheme, host and path only. The query string
    (where a hostile server would echo a key or a token) and userinfo never appear."""
    try:
        parts = urlsplit(raw.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an invalid URL"
    shown = f"{parts.scheme}://{host}{port}{parts.path[:100]}" if parts.scheme else parts.path[:100]
    shown = "".join(c for c in shown if c.isprintable() and not c.isspace())
    return shown or "another URL"


def invalid_redirect_error(label: str) -> ModelWireError:
    return ModelWireError(
        ErrorCode.INVALID_BASE_URL,
        f"{label} answered with a redirect to an invalid URL; ModelWire does not follow redirects.",
        "Check the base URL: it should point straight at the server's API, not at a page "
        "that redirects.",
    )


def is_bad_location(exc: httpx.RemoteProtocolError) -> bool:
    # httpx builds the redirect target even when it will not follow it, and says so.
    return "location header" in str(exc).lower()


def redirect_error(label: str, response: httpx.Response) -> ModelWireError:
    where = (
        _shown_location(response.headers.get("location", ""))
        if ("location" in response.headers)
        else "another URL"
    )
    return ModelWireError(
        ErrorCode.INVALID_BASE_URL,
        f"{label} redirected the request to {where}; ModelWire does not follow redirects.",
        "Use the final address as the base URL (for example https:// instead of http://).",
        extra={"httpStatus": response.status_code},
    )


def _exc_text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI) or `retry-after` (seconds or an
    HTTP date), whichever is present; None when the server gave no usable hint."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        with contextlib.suppress(ValueError):
            return max(0.0, float(raw_ms) / 1000.0)
    raw = headers.get("retry-after")
    if not raw:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(raw))
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(raw)
        return max(0.0, when.timestamp() - time.time())
    return None


class FailureTexts(Protocol):
    """What a provider adapter tells the transport about its own failures."""

    @property
    def label(self) -> str:
        """How messages name the server, e.g. "Ollama at http://localhost:11434"."""
        ...

    def unreachable(self, exc: httpx.TransportError) -> ModelWireError: ...

    async def for_status(self, response: httpx.Response, body: bytes) -> StatusVerdict: ...


@dataclass(frozen=True, slots=True)
class StatusVerdict:
    """A failed attempt: the error, and whether one retry may help (and after how long)."""

    error: ModelWireError
    may_retry: bool
    retry_after_s: float | None = None
