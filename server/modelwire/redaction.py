"""Keeping keys out of text, in linear time (docs/security.md).

Two rules. A *shape* rule catches keys we never saw (`sk-proj-…`, a provider's masked
echo `sk-ab****wxyz`, `Bearer …`) without erasing ordinary names that merely start like
one (`sk-learn-utils`, `pk-payments-api`). An *echo* rule catches the keys in use by a
request in flight: the key itself, any 12-character piece of it, reversed, base64, hex
and percent-encoded, and the same with zero-width characters slipped in between.

Every pattern here is linear: tokens start only where a run starts (a look-behind) and
runs are consumed possessively, so no input makes the engine backtrack over a run once
per starting position (the quadratic `[\\w-]*\\*{4,}` froze the sidecar for 30 s on a
60 KB error body). Echo search is a set lookup per position. This module is a leaf.
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from modelwire.invisible import FORMAT_CHARS, HAS_FORMAT

REDACTED = "[REDACTED]"
# Shortest piece of an active key that counts as an echo (issue 15: "any ≥ 12-character
# substring"). Shorter pieces match ordinary words too often to be worth erasing.
ECHO_MIN = 12
# Provider text (error bodies, mid-stream errors) is cut to this many characters before
# any pattern or redaction runs; a user needs a sentence, not a megabyte.
PROVIDER_TEXT_MAX = 2048

# A token that starts like a key: `sk-`, `pk_`, `rk-` at the start of a run of key
# characters (the look-behind: never inside `task-runner`), consumed possessively.
_KEYLIKE = re.compile(r"(?<![A-Za-z0-9_\-*])(?:sk|pk|rk)[-_][A-Za-z0-9_\-*]++")
_BEARER = re.compile(r"\bBearer\s++[A-Za-z0-9._\-]{8,}+")
# A P2P Server ID: base58 of 32 random bytes (43–44 characters, with a digit and a
# letter). Starts only where an alphanumeric run starts, so each run is scanned once.
_SERVER_ID = re.compile(
    r"(?<![A-Za-z0-9])(?=[1-9A-HJ-NP-Za-km-z]*?[1-9])(?=[1-9A-HJ-NP-Za-km-z]*?[A-Za-z])"
    r"[1-9A-HJ-NP-Za-km-z]{43,44}(?![A-Za-z0-9])"
)
# Any masked token (`sk-proj-ab****wxyz`, `gsk_****1234`): the visible head and tail are
# not the full key, so the echo rule may not see them.
_MASKED = re.compile(r"(?<![\w\-*])[\w\-]*+\*{4,}+[\w\-]*+")
# Words real key formats put right after the prefix (OpenAI, Anthropic, OpenRouter,
# Stripe): with them a shorter remainder is enough to call it a key.
_KEY_KINDS = frozenset({"proj", "svcacct", "admin", "ant", "or", "live", "test"})
_RUN = re.compile(r"[A-Za-z0-9]++")


def _looks_like_key(token: str) -> bool:
    """A key is random: a long run mixing letters with digits or capitals. A name
    (`sk-learn-metrics`, `pk-payments-2024`) is words with separators."""
    if "**" in token:
        return True  # a masked echo
    rest = token[3:]
    head = rest.split("-", 1)[0].split("_", 1)[0].lower()
    if head in _KEY_KINDS and len(rest) - len(head) >= 10:
        return True
    for run in _RUN.findall(rest):
        if len(run) < 12:
            continue
        has_digit = any(c.isdigit() for c in run)
        has_upper = any(c.isupper() for c in run)
        has_lower = any(c.islower() for c in run)
        if has_digit + has_upper + has_lower >= 2 and (len(run) >= 16 or has_digit):
            return True
    return False


def _key_shape(match: re.Match[str]) -> str:
    token = match.group(0)
    return REDACTED if _looks_like_key(token) else token


def clean_masked(text: str) -> str:
    """Erase masked tokens (`****` inside a word) from provider text."""
    return _MASKED.sub(REDACTED, text) if "****" in text else text


def cap_provider_text(text: str, limit: int = PROVIDER_TEXT_MAX) -> str:
    """The first `limit` characters, marked as cut: applied before any regex runs."""
    return text if len(text) <= limit else text[:limit] + "…"


# --- Echoes of the keys in use ----------------------------------------------------


@lru_cache(maxsize=16)
def _echo_forms(secret: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """The strings an echo of `secret` may appear as, and all their 12-grams."""
    raw = secret.encode()
    forms = [secret, secret[::-1], raw.hex(), raw.hex().upper()]
    forms += ["".join(f"%{b:02x}" for b in raw), "".join(f"%{b:02X}" for b in raw)]
    for shift in range(3):
        # base64 of the key at each alignment inside a longer blob; the edge groups mix
        # in unknown bytes, so they are left out.
        encoded = base64.b64encode(b"\0" * shift + raw).decode().rstrip("=")
        inner = encoded[4 if shift else 0 : -4]
        forms += [inner, inner.replace("+", "-").replace("/", "_")]
    grams = frozenset(
        form[i : i + ECHO_MIN] for form in forms for i in range(len(form) - ECHO_MIN + 1)
    )
    return tuple(f for f in forms if f), grams


def _spans_plain(text: str, grams: frozenset[str]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for i in range(len(text) - ECHO_MIN + 1):
        if text[i : i + ECHO_MIN] in grams:
            if spans and spans[-1][1] >= i:
                spans[-1] = (spans[-1][0], i + ECHO_MIN)
            else:
                spans.append((i, i + ECHO_MIN))
    return spans


def echo_spans(text: str, secrets: list[str]) -> list[tuple[int, int]]:
    """Sorted, merged (start, end) ranges of `text` that echo one of `secrets`."""
    if not secrets or len(text) < ECHO_MIN:
        return []
    index: list[int] | None = None
    view = text
    if HAS_FORMAT.search(text):
        index = [i for i, c in enumerate(text) if c not in FORMAT_CHARS]
        view = "".join(text[i] for i in index)
    spans: list[tuple[int, int]] = []
    for secret in secrets:
        if len(secret) < ECHO_MIN:
            continue
        for start, end in _spans_plain(view, _echo_forms(secret)[1]):
            if index is not None:
                start, end = index[start], index[end - 1] + 1
            spans.append((start, end))
    return _merge(spans)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    out: list[str] = []
    last = 0
    for start, end in spans:
        out += [text[last:start], REDACTED]
        last = end
    out.append(text[last:])
    return "".join(out)


def _fragments(secret: str) -> list[str]:
    """The secret plus the prefix/suffix fragments providers echo (OpenAI shows
    `sk-abc*****wxyz`): the 8-char head and 6-char tail of a long enough key."""
    parts = [secret]
    if len(secret) >= 12:
        parts += [secret[:8], secret[-6:]]
    return parts


_active_lock = threading.Lock()
_active_secrets: dict[int, str] = {}
_tokens = itertools.count()


def active_secrets() -> list[str]:
    with _active_lock:
        return list(_active_secrets.values())


def redact(text: str) -> str:
    """Remove every echo of an active secret and every key-shaped token."""
    if not text:
        return text
    secrets = active_secrets()
    if secrets:
        spans = echo_spans(text, secrets)
        if spans:
            text = _replace(text, spans)
        for secret in secrets:
            for fragment in _fragments(secret):
                if fragment and fragment in text:
                    text = text.replace(fragment, REDACTED)
    if "k-" in text or "k_" in text:
        text = _KEYLIKE.sub(_key_shape, text)
    if "Bearer" in text:
        text = _BEARER.sub(REDACTED, text)
    if len(text) >= 43:
        text = _SERVER_ID.sub(REDACTED, text)
    return text


def redact_field(text: str, limit: int = 256) -> str:
    """A short server-chosen value (a model id, a finish reason): capped, and replaced
    whole when it echoes a key, since half a value is no better than none."""
    text = cap_provider_text(text, limit)
    cleaned = redact(text)
    return REDACTED if cleaned != text else text


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


class EchoFilter:
    """Redacts echoes of `secret` from a stream of text pieces (an answer), across the
    boundaries between pieces.

    It holds back the shortest tail that could still grow into an echo (at most
    `ECHO_MIN - 1` visible characters, usually none), so the delay is a few characters,
    never a line. `flush()` at the end of the stream releases the rest.
    """

    __slots__ = ("_carry", "_forms", "_held", "_secret")

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._forms = _echo_forms(secret)[0] if len(secret) >= ECHO_MIN else ()
        self._held = ""
        self._carry = 0  # leading characters of _held already known to be an echo

    def push(self, piece: str) -> str:
        """Feed one piece; returns the text that is safe to pass on now."""
        text = self._held + piece
        if not self._forms:
            return redact(text)
        spans = echo_spans(text, [self._secret])
        if self._carry:
            spans = _merge([(0, self._carry), *spans])
        cut = len(text) - self._tail(text)
        emitted = [(s, min(e, cut)) for s, e in spans if s < cut]
        carry = max((e - cut for s, e in spans if e > cut and s <= cut), default=0)
        self._held, self._carry = text[cut:], carry
        return _replace(text[:cut], emitted)

    def flush(self) -> str:
        text, carry = self._held, self._carry
        self._held, self._carry = "", 0
        if not text:
            return ""
        spans = echo_spans(text, [self._secret]) if self._forms else []
        if carry:
            spans = _merge([(0, carry), *spans])
        return redact(_replace(text, spans))

    def _tail(self, text: str) -> int:
        """Length of the longest tail (≤ ECHO_MIN - 1 visible characters) that is a piece
        of some form of the key, so it may be the start of an echo."""
        visible: list[str] = []
        length = 0
        best = 0
        for ch in reversed(text):
            length += 1
            if ch in FORMAT_CHARS:
                continue
            visible.append(ch)
            if len(visible) >= ECHO_MIN:
                break
            piece = "".join(reversed(visible))
            if any(piece in form for form in self._forms):
                best = length
            else:
                break
        return best
