"""A key in use never comes back through server-controlled text (issue 15, item 4), in
any piece, encoding or split; and names that merely start like keys are left alone
(item 9)."""

from __future__ import annotations

import base64
import random
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelwire.errors import REDACTED, ErrorCode, ModelWireError, redact, secret_in_use
from modelwire.redaction import EchoFilter, redact_field

KEY = "sk-proj-Zq8Tn4Lw1Xe7Rb2Vc9Ym5Kd3Hg6Jf0Pa"


def _encodings(key: str) -> dict[str, str]:
    raw = key.encode()
    return {
        "plain": key,
        "a 12-char piece": key[9:21],
        "reversed": key[::-1],
        "base64": base64.b64encode(raw).decode(),
        "base64 inside a blob": base64.b64encode(b"xx" + raw + b"yy").decode(),
        "urlsafe base64": base64.urlsafe_b64encode(b"x" + raw).decode(),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "percent-encoded": "".join(f"%{b:02X}" for b in raw),
        "URL-quoted": quote(key, safe=""),
        "zero-width-joined": "\u200d".join(key),
        "zero-width spaces in a piece": "\u200b".join(key[5:25]),
    }


def _pieces_of(key: str) -> list[str]:
    """What a leak would look like: every 12-char window of the key and its forms."""
    forms = [key, key[::-1], key.encode().hex()]
    return [f[i : i + 12] for f in forms for i in range(len(f) - 11)]


@pytest.mark.parametrize(("name", "echo"), sorted(_encodings(KEY).items()))
def test_every_encoding_of_the_key_in_use_is_redacted(name: str, echo: str) -> None:
    with secret_in_use(KEY):
        cleaned = redact(f"upstream says: {echo} (org mismatch)")
    visible = cleaned.replace("\u200b", "").replace("\u200d", "")
    assert REDACTED in cleaned, name
    assert not [p for p in _pieces_of(KEY) if p in visible], cleaned


@pytest.mark.parametrize(("name", "echo"), sorted(_encodings(KEY).items()))
def test_an_echo_split_across_stream_chunks_is_redacted(name: str, echo: str) -> None:
    answer = f"Sure. Your key is {echo} and that is all."
    rng = random.Random(name)
    cuts = sorted(rng.sample(range(1, len(answer)), 12))
    chunks = [answer[a:b] for a, b in zip([0, *cuts], [*cuts, len(answer)], strict=True)]
    echoes = EchoFilter(KEY)
    out = "".join(echoes.push(c) for c in chunks) + echoes.flush()
    visible = out.replace("\u200b", "").replace("\u200d", "")
    assert out.startswith("Sure. Your key is ") and out.endswith(" and that is all.")
    assert REDACTED in out
    assert not [p for p in _pieces_of(KEY) if p in visible], out


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=60), st.lists(st.integers(1, 7), min_size=1, max_size=40))
def test_the_key_never_survives_any_chunking(noise: str, sizes: list[int]) -> None:
    answer = noise + KEY + noise
    chunks, at = [], 0
    for size in sizes * 20:
        if at >= len(answer):
            break
        chunks.append(answer[at : at + size])
        at += size
    chunks.append(answer[at:])
    echoes = EchoFilter(KEY)
    out = "".join(echoes.push(c) for c in chunks) + echoes.flush()
    assert not [p for p in _pieces_of(KEY) if p in out]


def test_ordinary_answer_text_passes_through_unchanged() -> None:
    echoes = EchoFilter(KEY)
    words = [
        "def",
        "add(a,",
        "b):\n",
        "",
        "",
        "",
        "return",
        "a",
        "+",
        "b",
        "",
        "#",
        "sk",
        "is",
        "a",
        "prefix,",
        "Zq8",
        "is",
        "not\n",
    ]
    out = "".join(echoes.push(w + " ") for w in words) + echoes.flush()
    assert out == " ".join(words) + " "


def test_a_short_value_echoing_the_key_is_replaced_whole() -> None:
    with secret_in_use(KEY):
        assert redact_field(f"gpt-{KEY[3:20]}") == REDACTED
        assert redact_field("gpt-4o-mini") == "gpt-4o-mini"


def test_error_extra_values_are_redacted_too() -> None:
    with secret_in_use(KEY):
        err = ModelWireError(
            ErrorCode.MODEL_NOT_FOUND, "no", extra={"installedModels": [KEY, "ok"], "model": KEY}
        )
    assert KEY not in repr(err.to_data())
    assert err.extra["installedModels"][1] == "ok"


@pytest.mark.parametrize(
    "name",
    [
        "/home/me/src/sk-learn-utils/model.py",
        "pk-payments-service/handlers.py",
        "rk-release-notes-2024.md",
        "sk-learn-classification-pipeline",
        "pk_payments_gateway_v2",
    ],
)
def test_names_that_only_start_like_keys_are_left_alone(name: str) -> None:
    assert redact(f"audit: workspace file:///{name}") == f"audit: workspace file:///{name}"


@pytest.mark.parametrize(
    "key",
    [
        "sk-Zq8Tn4Lw1Xe7Rb2Vc9Ym5Kd3Hg6Jf0PaQ1w2E3r4T5y6U7",  # legacy 48-char
        "sk-proj-abc_DEF-ghi0123jklMNOpqr456",
        "sk-ant-api03-Zq8Tn4Lw1Xe7Rb2Vc9Ym5Kd3",
        "sk_live_51HxYzAbCdEf0123456789",
        "sk-live-abcdefghijklmnop",
    ],
)
def test_real_key_shapes_are_still_caught(key: str) -> None:
    assert key not in redact(f"path /x/{key}/y")
