"""Provider text is processed in linear time (issue 15, item 2: a ReDoS froze the
sidecar for 30 s on a 60 KB error body).

Each hostile 64 KB shape is one that made a backtracking pattern quadratic. The bound
(0.5 s for 64 KB, on a loaded 2-core machine) is two orders of magnitude above the
linear figure and two below what the quadratic patterns took, so it cannot flake and
cannot pass a quadratic pattern; the precise figure lives in `bench/bench_hostile.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelwire.adapters import openai_errors
from modelwire.errors import ErrorCode, ModelWireError, redact, secret_in_use

SIZE = 64 * 1024
BOUND_S = 0.5
KEY = "sk-proj-Zq8Tn4Lw1Xe7Rb2Vc9Ym5Kd3Hg6Jf0Pa"

HOSTILE = {
    "a word run": "a" * SIZE,
    "a word run then stars": "a" * SIZE + "***",
    "key prefixes": "sk-" * (SIZE // 3),
    "key prefixes with spaces": "sk-a " * (SIZE // 5),
    "stars between words": "ab**" * (SIZE // 4),
    "bearer runs": "Bearer " * (SIZE // 7),
    "dashes": "-" * SIZE,
    "masked tails": ("x" * 100 + "*" * 3) * (SIZE // 103),
}


def _time(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_redaction_of_a_hostile_64kb_text_is_linear(name: str) -> None:
    text = HOSTILE[name]
    with secret_in_use(KEY):
        took = _time(lambda: redact(text))
    assert took < BOUND_S, f"redact({name}) took {took:.2f} s"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_64kb_error_body_is_read_in_linear_time(name: str) -> None:
    body = ('{"error": {"message": "' + HOSTILE[name] + '", "code": "x"}}').encode()
    took = _time(lambda: openai_errors.provider_error(body))
    assert took < BOUND_S, f"_provider_error({name}) took {took:.2f} s"


def test_provider_text_is_capped_before_it_is_cleaned() -> None:
    body = ('{"error": {"message": "' + "a" * SIZE + '"}}').encode()
    message, _ = openai_errors.provider_error(body)
    assert len(message) <= 4096


def test_an_error_built_from_64kb_of_provider_text_is_quick() -> None:
    with secret_in_use(KEY):
        took = _time(lambda: ModelWireError(ErrorCode.GENERATION_FAILED, HOSTILE["a word run"]))
    assert took < BOUND_S


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.sampled_from(["a", "sk-", "*", "-", " ", "Bearer ", "_", "Zq8T", "\u200b"]),
        min_size=1,
        max_size=64,
    ),
)
def test_any_mix_of_the_hostile_pieces_at_64kb_is_linear(pieces: list[str]) -> None:
    unit = "".join(pieces)
    text = (unit * (SIZE // len(unit) + 1))[:SIZE]
    with secret_in_use(KEY):
        took = _time(lambda: (redact(text), openai_errors._clean(text)))
    assert took < BOUND_S, f"{unit!r} * n took {took:.2f} s"
