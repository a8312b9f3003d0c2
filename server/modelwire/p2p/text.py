"""Text a peer sent, made safe to show: no terminal control, no bidi tricks, bounded.

Removed: C0 controls except newline and tab, DEL, C1 controls (0x80–0x9F, which
include the 8-bit CSI), and every Unicode format character (category Cf: bidi
overrides and isolates, zero-width joiners), which can make a terminal show text in
another order than it was sent.
"""

from __future__ import annotations

import re
import unicodedata

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _strip_format(text: str) -> str:
    if text.isascii():
        return text
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def for_terminal(text: str) -> str:
    """Streamed output: keeps newlines and tabs, drops everything that steers a terminal."""
    return _strip_format(_CONTROLS.sub("", text))


def plain(text: str, cap: int) -> str:
    """One line (a name, an error message): newlines and tabs become spaces, then cut."""
    one_line = for_terminal(text[: cap * 2]).replace("\n", " ").replace("\t", " ")
    return one_line[:cap]
