"""The one error type users meet, with stable string codes.

This module is a leaf: the core and the adapters both raise `ModelWireError`, and the
front doors turn it into a JSON-RPC error (LSP) or an exit code (CLI). It imports
only the redaction leaf, so that adapters can use it without importing the core.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

# Redaction lives in its own leaf module; these names stay importable from here.
from modelwire.redaction import REDACTED, redact, secret_in_use

__all__ = [
    "REDACTED",
    "ErrorCode",
    "ModelWireError",
    "invalid_params",
    "redact",
    "secret_in_use",
]


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
    DOCUMENT_OUTSIDE_WORKSPACE = "DOCUMENT_OUTSIDE_WORKSPACE"
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
    CONSENT_REQUIRED = "CONSENT_REQUIRED"
    MODEL_BUSY = "MODEL_BUSY"
    TIMEOUT = "TIMEOUT"
    PROMPT_TOO_LARGE = "PROMPT_TOO_LARGE"
    GENERATION_FAILED = "GENERATION_FAILED"
    GENERATION_ABORTED = "GENERATION_ABORTED"
    OUTPUT_TOO_LARGE = "OUTPUT_TOO_LARGE"
    PULL_FAILED = "PULL_FAILED"
    STORAGE_FAILED = "STORAGE_FAILED"
    EMBEDDED_UNAVAILABLE = "EMBEDDED_UNAVAILABLE"
    TOOLS_UNSUPPORTED = "TOOLS_UNSUPPORTED"
    TOOL_CALL_INVALID = "TOOL_CALL_INVALID"
    STEP_LIMIT = "STEP_LIMIT"
    DELEGATION_TOO_DEEP = "DELEGATION_TOO_DEEP"
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
        # `extra` carries server-chosen values too (model names, header values).
        self.extra = _redact_values(extra) if extra else {}

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


def _redact_values(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_values(v) for v in value]
    return value
