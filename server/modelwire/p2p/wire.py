"""The LocalLLM wire protocol: NDJSON messages `{"type", "request_id"?, "payload"?}`.

Decoding is strict and bounded: a line is at most LINE_MAX_BYTES (the bridge drops
longer ones), every field has a type and a size cap, and anything else is a
`BadMessage` the session answers with `BAD_MESSAGE`. Additions to the spec (all
optional, documented in docs/p2p.md): `protocol_version` and `agent` in `server_info`,
the `loading` status, and the `SERVER_FULL` / `PROMPT_TOO_LARGE` error codes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

PROTOCOL_VERSION: Final = 1
LINE_MAX_BYTES: Final = 64 * 1024
PROMPT_MAX_BYTES: Final = 8 * 1024
MAX_CLIENTS: Final = 5
CLIENT_SILENCE_SECONDS: Final = 30.0
REQUEST_ID_MAX: Final = 128
NAME_MAX: Final = 200
MESSAGE_MAX: Final = 1000
# A host splits longer output so every line stays far below LINE_MAX_BYTES even when
# JSON escapes each character (6 bytes per control character).
CHUNK_MAX_CHARS: Final = 4096

SERVER_INFO: Final = "server_info"
CHAT_START: Final = "chat_start"
CHAT_CHUNK: Final = "chat_chunk"
CHAT_END: Final = "chat_end"
ABORT: Final = "abort"
ERROR: Final = "error"
TYPES: Final = frozenset({SERVER_INFO, CHAT_START, CHAT_CHUNK, CHAT_END, ABORT, ERROR})
CLIENT_TYPES: Final = frozenset({CHAT_START, ABORT, ERROR})
HOST_TYPES: Final = frozenset({SERVER_INFO, CHAT_CHUNK, CHAT_END, ERROR})

STATUS_READY: Final = "ready"
STATUS_BUSY: Final = "busy"
STATUS_LOADING: Final = "loading"  # addition: the host's model is loading

# Error codes of the spec, then ModelWire's additions.
INVALID_SERVER_ID: Final = "INVALID_SERVER_ID"
CONNECT_FAILED: Final = "CONNECT_FAILED"
HOST_OFFLINE: Final = "HOST_OFFLINE"
HOST_DISCONNECTED: Final = "HOST_DISCONNECTED"
OLLAMA_NOT_FOUND: Final = "OLLAMA_NOT_FOUND"
OLLAMA_MODEL_NOT_AVAILABLE: Final = "OLLAMA_MODEL_NOT_AVAILABLE"
MODEL_BUSY: Final = "MODEL_BUSY"
GENERATION_FAILED: Final = "GENERATION_FAILED"
GENERATION_ABORTED: Final = "GENERATION_ABORTED"
BAD_MESSAGE: Final = "BAD_MESSAGE"
UNSUPPORTED_VERSION: Final = "UNSUPPORTED_VERSION"
TIMEOUT_NO_RESPONSE: Final = "TIMEOUT_NO_RESPONSE"
SERVER_FULL: Final = "SERVER_FULL"
PROMPT_TOO_LARGE: Final = "PROMPT_TOO_LARGE"


@dataclass(frozen=True, slots=True)
class Message:
    type: str
    request_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BadMessage:
    """A line that is not a valid message; `request_id` when one could be read."""

    reason: str
    request_id: str | None = None


def encode(type_: str, request_id: str | None = None, **payload: Any) -> str:
    """One line (no newline). Non-ASCII is escaped, so a line is plain ASCII."""
    message: dict[str, Any] = {"type": type_}
    if request_id is not None:
        message["request_id"] = request_id
    if payload:
        message["payload"] = payload
    return json.dumps(message, separators=(",", ":"))


def error_line(code: str, message: str, request_id: str | None = None) -> str:
    return encode(ERROR, request_id, code=code, message=message[:MESSAGE_MAX])


def _str_field(payload: dict[str, Any], name: str, cap: int, required: bool = True) -> str | None:
    value = payload.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise _Invalid(f"payload.{name} must be a string")
    if len(value) > cap:
        raise _Invalid(f"payload.{name} is longer than {cap} characters")
    return value


class _Invalid(Exception):
    pass


_REQUIRED: dict[str, tuple[tuple[str, int], ...]] = {
    CHAT_START: (("prompt", LINE_MAX_BYTES),),
    CHAT_CHUNK: (("text", LINE_MAX_BYTES),),
    CHAT_END: (("finish_reason", NAME_MAX),),
    ERROR: (("code", NAME_MAX), ("message", LINE_MAX_BYTES)),
    SERVER_INFO: (("host_name", NAME_MAX), ("model", NAME_MAX), ("status", NAME_MAX)),
    ABORT: (),
}
_OPTIONAL: dict[str, tuple[tuple[str, int], ...]] = {
    SERVER_INFO: (("agent", NAME_MAX),),
}


def decode(line: str, allowed: frozenset[str] = TYPES) -> Message | BadMessage:
    """Parse and validate one line; never raises."""
    if len(line) > LINE_MAX_BYTES:
        return BadMessage(f"a line is longer than {LINE_MAX_BYTES} bytes")
    try:
        raw = json.loads(line)
    except (ValueError, RecursionError):
        return BadMessage("the line is not JSON")
    if not isinstance(raw, dict):
        return BadMessage("a message must be a JSON object")
    request_id = raw.get("request_id")
    if request_id is not None and (
        not isinstance(request_id, str) or not 0 < len(request_id) <= REQUEST_ID_MAX
    ):
        return BadMessage(f"request_id must be a string of 1–{REQUEST_ID_MAX} characters")
    type_ = raw.get("type")
    if not isinstance(type_, str):
        return BadMessage("type must be a string", request_id)
    if type_ not in TYPES:
        return BadMessage(f"unknown message type {type_[:40]!r}", request_id)
    if type_ not in allowed:
        return BadMessage(f"{type_} is not sent in this direction", request_id)
    payload = raw.get("payload", {})
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        return BadMessage("payload must be a JSON object", request_id)
    try:
        clean: dict[str, Any] = {}
        for name, cap in _REQUIRED[type_]:
            clean[name] = _str_field(payload, name, cap)
        for name, cap in _OPTIONAL.get(type_, ()):
            value = _str_field(payload, name, cap, required=False)
            if value is not None:
                clean[name] = value
        version = payload.get("protocol_version")
        if type_ == SERVER_INFO and isinstance(version, int) and not isinstance(version, bool):
            clean["protocol_version"] = version
    except _Invalid as exc:
        return BadMessage(str(exc), request_id)
    if type_ == ABORT and request_id is None:
        return BadMessage("abort needs the request_id of the generation to stop")
    return Message(type_, request_id, clean)


def prompt_bytes(prompt: str) -> int:
    return len(prompt.encode("utf-8", "surrogatepass"))


def split_text(text: str) -> list[str]:
    return [text[i : i + CHUNK_MAX_CHARS] for i in range(0, len(text), CHUNK_MAX_CHARS)] or [""]
