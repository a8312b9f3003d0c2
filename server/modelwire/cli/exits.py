"""Exit codes: one number per kind of failure, stable for scripts (docs/cli.md)."""

from __future__ import annotations

from modelwire.errors import ErrorCode

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_ACCESS = 4
EXIT_UNAVAILABLE = 5
EXIT_FAILED = 6
EXIT_CANCELLED = 130

# docs/cli.md documents this map; scripts match on the numbers, so keep them stable.
EXIT_CODES: dict[ErrorCode, int] = {
    ErrorCode.INVALID_PARAMS: EXIT_USAGE,
    ErrorCode.INVALID_BASE_URL: EXIT_USAGE,
    ErrorCode.NON_LOOPBACK_REJECTED: EXIT_USAGE,
    ErrorCode.CONNECTION_NAME_TAKEN: EXIT_USAGE,
    ErrorCode.PROVIDER_EXISTS: EXIT_USAGE,
    ErrorCode.PROMPT_TOO_LARGE: EXIT_USAGE,
    ErrorCode.UNSUPPORTED: EXIT_USAGE,
    ErrorCode.NO_DEFAULT_CONNECTION: EXIT_NOT_FOUND,
    ErrorCode.CONNECTION_NOT_FOUND: EXIT_NOT_FOUND,
    ErrorCode.PROVIDER_NOT_FOUND: EXIT_NOT_FOUND,
    ErrorCode.MODEL_NOT_FOUND: EXIT_NOT_FOUND,
    ErrorCode.AGENT_NOT_FOUND: EXIT_NOT_FOUND,
    ErrorCode.DOCUMENT_NOT_FOUND: EXIT_NOT_FOUND,
    ErrorCode.DOCUMENT_OUTSIDE_WORKSPACE: EXIT_ACCESS,
    ErrorCode.RUN_NOT_FOUND: EXIT_NOT_FOUND,
    ErrorCode.EMBEDDED_UNAVAILABLE: EXIT_NOT_FOUND,
    ErrorCode.AUTH_FAILED: EXIT_ACCESS,
    ErrorCode.SECRET_MISSING: EXIT_ACCESS,
    ErrorCode.KEYRING_UNAVAILABLE: EXIT_ACCESS,
    ErrorCode.CONSENT_DENIED: EXIT_ACCESS,
    ErrorCode.ENDPOINT_UNREACHABLE: EXIT_UNAVAILABLE,
    ErrorCode.TIMEOUT: EXIT_UNAVAILABLE,
    ErrorCode.MODEL_BUSY: EXIT_UNAVAILABLE,
    ErrorCode.RATE_LIMITED: EXIT_UNAVAILABLE,
    ErrorCode.GENERATION_FAILED: EXIT_FAILED,
    ErrorCode.OUTPUT_TOO_LARGE: EXIT_FAILED,
    ErrorCode.PULL_FAILED: EXIT_FAILED,
    ErrorCode.TOOLS_UNSUPPORTED: EXIT_FAILED,
    ErrorCode.TOOL_CALL_INVALID: EXIT_FAILED,
    ErrorCode.STEP_LIMIT: EXIT_FAILED,
    ErrorCode.DELEGATION_TOO_DEEP: EXIT_FAILED,
    ErrorCode.GENERATION_ABORTED: EXIT_CANCELLED,
    ErrorCode.STORAGE_FAILED: EXIT_FAILURE,
    ErrorCode.INTERNAL: EXIT_FAILURE,
}


def exit_code_for(code: ErrorCode | str | None) -> int:
    try:
        return EXIT_CODES.get(ErrorCode(code), EXIT_FAILURE) if code else EXIT_FAILURE
    except ValueError:
        return EXIT_FAILURE


class UsageError(Exception):
    """A command line the CLI itself rejects (exit 2, like argparse)."""
