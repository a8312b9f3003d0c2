"""Errors users meet, and the redaction that keeps keys out of them.

See docs/protocol.md §6 and docs/security.md.
"""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelwire.errors import (
    INVALID_PARAMS_RPC,
    REDACTED,
    REQUEST_CANCELLED_RPC,
    SERVER_ERROR_RPC,
    ErrorCode,
    ModelWireError,
    invalid_params,
    redact,
    secret_in_use,
)

# An opaque key (no `sk-` shape), so only the active-secret rule can catch it.
OPAQUE_KEY = "gsk_Q7wP2mN9xT4vB8cR1zL6"


# --- Redaction ----------------------------------------------------------------------


def test_a_key_in_use_is_removed_from_any_text() -> None:
    with secret_in_use(OPAQUE_KEY):
        cleaned = redact(f"401 Unauthorized: key {OPAQUE_KEY} is not valid")

    assert OPAQUE_KEY not in cleaned
    assert cleaned == f"401 Unauthorized: key {REDACTED} is not valid"


def test_the_masked_echo_of_a_key_in_use_is_removed_too() -> None:
    # Providers echo the head and tail of a rejected key: "gsk_Q7wP*****zL6" and the like.
    head, tail = OPAQUE_KEY[:8], OPAQUE_KEY[-6:]

    with secret_in_use(OPAQUE_KEY):
        cleaned = redact(f"Incorrect API key provided: {head}************{tail}.")

    assert head not in cleaned and tail not in cleaned
    assert cleaned.count(REDACTED) == 2


def test_a_key_is_forgotten_once_the_request_that_used_it_ends() -> None:
    with secret_in_use(OPAQUE_KEY):
        pass

    assert redact(f"key {OPAQUE_KEY}") == f"key {OPAQUE_KEY}"


def test_a_key_is_forgotten_even_when_the_request_fails() -> None:
    with pytest.raises(RuntimeError), secret_in_use(OPAQUE_KEY):
        raise RuntimeError("boom")

    assert OPAQUE_KEY in redact(OPAQUE_KEY)


def test_two_requests_using_the_same_key_keep_it_covered_until_both_end() -> None:
    with secret_in_use(OPAQUE_KEY):
        with secret_in_use(OPAQUE_KEY):
            pass
        still_covered = redact(OPAQUE_KEY)

    assert still_covered == REDACTED


def test_a_key_in_use_on_another_thread_is_redacted_here() -> None:
    entered, done = threading.Event(), threading.Event()

    def request() -> None:
        with secret_in_use(OPAQUE_KEY):
            entered.set()
            done.wait(5)

    worker = threading.Thread(target=request)
    worker.start()
    try:
        assert entered.wait(5)
        assert redact(OPAQUE_KEY) == REDACTED
    finally:
        done.set()
        worker.join(5)


def test_short_keys_are_redacted_whole_without_fragments() -> None:
    # Fragments of a short key would match ordinary words.
    with secret_in_use("abc123xyz"):
        assert redact("abc123xyz and abc123") == f"{REDACTED} and abc123"


@pytest.mark.parametrize(
    "key",
    [
        "sk-abcdef123456",
        "sk-proj-AbC_dEf-0123456789",
        "pk-live_0123456789",
        "rk-0123456789abcdef",
    ],
)
def test_key_shaped_tokens_are_redacted_even_if_never_seen(key: str) -> None:
    cleaned = redact(f"upstream said: invalid key '{key}'")

    assert key not in cleaned
    assert REDACTED in cleaned


def test_bearer_tokens_are_redacted() -> None:
    cleaned = redact("request headers: Authorization: Bearer eyJhbGciOi.J9xyz_abc-123")

    assert "eyJhbGciOi" not in cleaned
    assert cleaned == f"request headers: Authorization: {REDACTED}"


def test_ordinary_text_is_left_alone() -> None:
    text = "Model 'llama3.2' not found; try `ollama pull llama3.2`. task-runner ok-123"

    assert redact(text) == text
    assert redact("") == ""


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_a_key_in_use_never_survives_redaction_whatever_surrounds_it(noise: str) -> None:
    with secret_in_use(OPAQUE_KEY):
        cleaned = redact(f"{noise}{OPAQUE_KEY}{noise}")

    assert OPAQUE_KEY not in cleaned


# --- ModelWireError -------------------------------------------------------------------


def test_error_text_is_redacted_when_the_error_is_made() -> None:
    with secret_in_use(OPAQUE_KEY):
        err = ModelWireError(
            ErrorCode.AUTH_FAILED, f"Rejected {OPAQUE_KEY}", f"Check {OPAQUE_KEY[:8]}…"
        )

    assert OPAQUE_KEY not in err.message and OPAQUE_KEY[:8] not in err.hint
    assert OPAQUE_KEY not in str(err)


def test_error_data_has_the_wire_shape() -> None:
    err = ModelWireError(
        ErrorCode.ENDPOINT_UNREACHABLE,
        "Ollama is not running at http://127.0.0.1:11434.",
        "Start it with `ollama serve`.",
        connection_id="c-1",
        provider_id="ollama",
        extra={"choices": ["llama3.2"]},
    )

    assert err.to_data() == {
        "code": "ENDPOINT_UNREACHABLE",
        "message": "Ollama is not running at http://127.0.0.1:11434.",
        "hint": "Start it with `ollama serve`.",
        "retryable": True,
        "connectionId": "c-1",
        "providerId": "ollama",
        "choices": ["llama3.2"],
    }


def test_error_data_leaves_out_unknown_connection_and_provider() -> None:
    data = invalid_params("range.start.line must be a number").to_data()

    assert set(data) == {"code", "message", "hint", "retryable"}
    assert data["code"] == "INVALID_PARAMS" and data["retryable"] is False
    assert "docs/protocol.md" in data["hint"]


def test_context_fills_gaps_but_never_overwrites() -> None:
    err = ModelWireError(ErrorCode.AUTH_FAILED, "no", connection_id="known")

    err.with_context(connection_id="other", provider_id="openai")

    assert (err.connection_id, err.provider_id) == ("known", "openai")


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        (ErrorCode.ENDPOINT_UNREACHABLE, True),
        (ErrorCode.RATE_LIMITED, True),
        (ErrorCode.MODEL_BUSY, True),
        (ErrorCode.TIMEOUT, True),
        (ErrorCode.AUTH_FAILED, False),
        (ErrorCode.MODEL_NOT_FOUND, False),
        (ErrorCode.CONSENT_DENIED, False),
    ],
)
def test_only_transient_failures_are_retryable_by_default(code: ErrorCode, retryable: bool) -> None:
    assert ModelWireError(code, "m").retryable is retryable
    assert ModelWireError(code, "m", retryable=not retryable).retryable is not retryable


@pytest.mark.parametrize(
    ("code", "rpc"),
    [
        (ErrorCode.INVALID_PARAMS, INVALID_PARAMS_RPC),
        (ErrorCode.INVALID_BASE_URL, INVALID_PARAMS_RPC),
        (ErrorCode.NON_LOOPBACK_REJECTED, INVALID_PARAMS_RPC),
        (ErrorCode.PROMPT_TOO_LARGE, INVALID_PARAMS_RPC),
        (ErrorCode.GENERATION_ABORTED, REQUEST_CANCELLED_RPC),
        (ErrorCode.NO_DEFAULT_CONNECTION, SERVER_ERROR_RPC),
        (ErrorCode.MODEL_BUSY, SERVER_ERROR_RPC),
        (ErrorCode.INTERNAL, SERVER_ERROR_RPC),
    ],
)
def test_json_rpc_codes_tell_bad_params_and_cancellation_apart(code: ErrorCode, rpc: int) -> None:
    assert ModelWireError(code, "m").rpc_code == rpc
    assert (INVALID_PARAMS_RPC, REQUEST_CANCELLED_RPC) == (-32602, -32800)


def test_every_code_the_design_promises_exists() -> None:
    promised = {
        "NO_DEFAULT_CONNECTION",
        "CONNECTION_NOT_FOUND",
        "PROVIDER_NOT_FOUND",
        "ENDPOINT_UNREACHABLE",
        "NON_LOOPBACK_REJECTED",
        "MODEL_NOT_FOUND",
        "AUTH_FAILED",
        "RATE_LIMITED",
        "SECRET_MISSING",
        "KEYRING_UNAVAILABLE",
        "CONSENT_DENIED",
        "MODEL_BUSY",
        "TIMEOUT",
        "PROMPT_TOO_LARGE",
        "GENERATION_FAILED",
        "GENERATION_ABORTED",
    }

    assert promised <= {c.value for c in ErrorCode}
