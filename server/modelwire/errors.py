"""The one error type users meet, with stable string codes.

This module is a leaf: the core and the adapters both raise `ModelWireError`, and the
front doors turn it into a JSON-RPC error (LSP) or an exit code (CLI). It imports
nothing else from the package so that adapters can use it without importing the core.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable codes carried in `error.data.code`; extensions and scripts match on them."""

    INVALID_PARAMS = "INVALID_PARAMS"
    NO_DEFAULT_CONNECTION = "NO_DEFAULT_CONNECTION"
    CONNECTION_NOT_FOUND = "CONNECTION_NOT_FOUND"
    CONNECTION_NAME_TAKEN = "CONNECTION_NAME_TAKEN"
    PROVIDER_NOT_FOUND = "PROVIDER_NOT_FOUND"
    PROVIDER_EXISTS = "PROVIDER_EXISTS"
    INVALID_BASE_URL = "INVALID_BASE_URL"
    AGENT_NOT_FOUND = "AGENT_NOT_FOUND"
    DOCUMENT_NOT_FOUND = "DOCUMENT_NOT_FOUND"
    RUN_NOT_FOUND = "RUN_NOT_FOUND"
    UNSUPPORTED = "UNSUPPORTED"
    ENDPOINT_UNREACHABLE = "ENDPOINT_UNREACHABLE"
    NON_LOOPBACK_REJECTED = "NON_LOOPBACK_REJECTED"
    MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
    AUTH_FAILED = "AUTH_FAILED"
    RATE_LIMITED = "RATE_LIMITED"
    SECRET_MISSING = "SECRET_MISSING"
    KEYRING_UNAVAILABLE = "KEYRING_UNAVAILABLE"
    CONSENT_DENIED = "CONSENT_DENIED"
    MODEL_BUSY = "MODEL_BUSY"
    TIMEOUT = "TIMEOUT"
    PROMPT_TOO_LARGE = "PROMPT_TOO_LARGE"
    GENERATION_FAILED = "GENERATION_FAILED"
    GENERATION_ABORTED = "GENERATION_ABORTED"
    PULL_FAILED = "PULL_FAILED"
    STORAGE_FAILED = "STORAGE_FAILED"
    EMBEDDED_UNAVAILABLE = "EMBEDDED_UNAVAILABLE"
    INTERNAL = "INTERNAL"
    # Sharing over P2P (docs/p2p.md): the LocalLLM protocol's codes, as users meet them.
    INVALID_SERVER_ID = "INVALID_SERVER_ID"
    CONNECT_FAILED = "CONNECT_FAILED"
    HOST_OFFLINE = "HOST_OFFLINE"
    HOST_DISCONNECTED = "HOST_DISCONNECTED"
    TIMEOUT_NO_RESPONSE = "TIMEOUT_NO_RESPONSE"
    SERVER_FULL = "SERVER_FULL"
    BAD_MESSAGE = "BAD_MESSAGE"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
    BRIDGE_UNAVAILABLE = "BRIDGE_UNAVAILABLE"
    SHARE_NOT_ALLOWED = "SHARE_NOT_ALLOWED"


# JSON-RPC numeric codes. Input the caller got wrong is -32602 (as LSP clients expect for
# bad params); a cancelled run is -32800 (LSP RequestCancelled); everything else is a
# server-defined error in the JSON-RPC reserved range, told apart by `data.code`.
INVALID_PARAMS_RPC = -32602
REQUEST_CANCELLED_RPC = -32800
SERVER_ERROR_RPC = -32001

_RPC_CODES: dict[ErrorCode, int] = {
    ErrorCode.INVALID_PARAMS: INVALID_PARAMS_RPC,
    ErrorCode.INVALID_BASE_URL: INVALID_PARAMS_RPC,
    ErrorCode.NON_LOOPBACK_REJECTED: INVALID_PARAMS_RPC,
    ErrorCode.PROMPT_TOO_LARGE: INVALID_PARAMS_RPC,
    ErrorCode.CONNECTION_NAME_TAKEN: INVALID_PARAMS_RPC,
    ErrorCode.PROVIDER_EXISTS: INVALID_PARAMS_RPC,
    ErrorCode.GENERATION_ABORTED: REQUEST_CANCELLED_RPC,
    ErrorCode.INVALID_SERVER_ID: INVALID_PARAMS_RPC,
}

RETRYABLE_CODES = frozenset(
    {
        ErrorCode.ENDPOINT_UNREACHABLE,
        ErrorCode.RATE_LIMITED,
        ErrorCode.MODEL_BUSY,
        ErrorCode.TIMEOUT,
        ErrorCode.HOST_OFFLINE,
        ErrorCode.HOST_DISCONNECTED,
        ErrorCode.TIMEOUT_NO_RESPONSE,
        ErrorCode.SERVER_FULL,
        ErrorCode.CONNECT_FAILED,
    }
)


class ModelWireError(Exception):
    """A failure a user can meet: stable code, one-line message, actionable hint."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        hint: str = "",
        *,
        retryable: bool | None = None,
        connection_id: str | None = None,
        provider_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        message = redact(message)
        hint = redact(hint)
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.retryable = code in RETRYABLE_CODES if retryable is None else retryable
        self.connection_id = connection_id
        self.provider_id = provider_id
        self.extra = extra or {}

    @property
    def rpc_code(self) -> int:
        return _RPC_CODES.get(self.code, SERVER_ERROR_RPC)

    def with_context(
        self, *, connection_id: str | None = None, provider_id: str | None = None
    ) -> ModelWireError:
        """Fill in which connection/provider failed, without overwriting what is known."""
        self.connection_id = self.connection_id or connection_id
        self.provider_id = self.provider_id or provider_id
        return self

    def to_data(self) -> dict[str, Any]:
        """The `error.data` object of the wire contract."""
        data: dict[str, Any] = {
            "code": self.code.value,
            "message": self.message,
            "hint": self.hint,
            "retryable": self.retryable,
        }
        if self.connection_id:
            data["connectionId"] = self.connection_id
        if self.provider_id:
            data["providerId"] = self.provider_id
        data.update(self.extra)
        return data


def invalid_params(reason: str, hint: str = "") -> ModelWireError:
    return ModelWireError(
        ErrorCode.INVALID_PARAMS,
        reason,
        hint or "Check the request against docs/protocol.md.",
    )


# --- Secret redaction ---------------------------------------------------------------
#
# Keys look like this across providers (OpenAI `sk-…`, `sk-proj-…`, bearer tokens). A
# pattern catches keys we never saw; the active set catches the exact key in use by a
# request in flight, including the fragments a provider echoes back ("sk-abc…wxyz").

_KEY_PATTERN = re.compile(
    # A key, a bearer token, or a provider's masked echo of a key (`sk-proj-ab****wxyz`).
    r"\b(sk|pk|rk)-[A-Za-z0-9_\-]{6,}(\*+[A-Za-z0-9_\-]*)?"
    r"|\b(sk|pk|rk)-[A-Za-z0-9_\-]*\*{2,}[A-Za-z0-9_\-]*"
    r"|\bBearer\s+[A-Za-z0-9._\-]{8,}"
    # A P2P Server ID: base58 of 32 random bytes (43–44 characters, with a digit).
    r"|(?<![A-Za-z0-9])(?=[1-9A-HJ-NP-Za-km-z]*[1-9])(?=[1-9A-HJ-NP-Za-km-z]*[A-Za-z])"
    r"[1-9A-HJ-NP-Za-km-z]{43,44}(?![A-Za-z0-9])"
)
_active_lock = threading.Lock()
_active_secrets: dict[int, str] = {}
_tokens = itertools.count()
REDACTED = "[REDACTED]"


def _fragments(secret: str) -> list[str]:
    """The secret plus the prefix/suffix fragments providers echo (OpenAI shows
    `sk-abc*****wxyz`): any 6+ char head or 4+ char tail long enough to be specific."""
    parts = [secret]
    if len(secret) >= 12:
        parts.append(secret[:8])
        parts.append(secret[-6:])
    return parts


def redact(text: str) -> str:
    """Remove every active secret (and its echoed fragments) and key-shaped tokens."""
    if not text:
        return text
    with _active_lock:
        secrets = list(_active_secrets.values())
    for secret in secrets:
        for fragment in _fragments(secret):
            if fragment and fragment in text:
                text = text.replace(fragment, REDACTED)
    return _KEY_PATTERN.sub(REDACTED, text)


@contextmanager
def secret_in_use(secret: str) -> Iterator[None]:
    """Register a secret for redaction while a request uses it, then forget it."""
    token = next(_tokens)
    with _active_lock:
        _active_secrets[token] = secret
    try:
        yield
    finally:
        with _active_lock:
            _active_secrets.pop(token, None)
