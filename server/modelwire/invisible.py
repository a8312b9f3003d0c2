"""Characters a reader cannot see: Unicode format characters (category Cf).

Zero-width spaces and joiners, bidi embeddings/overrides/isolates (U+202A–202E,
U+2066–2069), the BOM, soft hyphens, tag characters. They let hostile text look like
something else: a key with zero-width joiners between its characters, a file name whose
bidi override reverses what follows, a connection name that looks like another. The
redaction looks through them; the terminal sanitiser and name validation refuse them.

The set is written out (Unicode 14, Python 3.11's tables) instead of computed from
`unicodedata` at import, which would cost ~0.3 s of start-up; a unit test checks it
against `unicodedata` so it cannot drift.
"""

from __future__ import annotations

import re

FORMAT_RANGES: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD),
    (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180E, 0x180E),
    (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F),
    (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
    (0x13430, 0x13438), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)  # fmt: skip

FORMAT_CHARS = frozenset(chr(c) for a, b in FORMAT_RANGES for c in range(a, b + 1))
# One character class for regexes: `[...]` of the ranges above.
FORMAT_CLASS = "".join(
    re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
    for a, b in FORMAT_RANGES
)
HAS_FORMAT = re.compile(f"[{FORMAT_CLASS}]")

# Everything that is not plain visible text: C0 controls (newline and tab included),
# DEL, C1 controls and the format characters above.
_HIDDEN = re.compile(f"[\x00-\x1f\x7f-\x9f{FORMAT_CLASS}]")


def has_hidden(text: str) -> bool:
    """True when `text` holds a control, bidi or zero-width character: never valid in
    an identifier, a name or a URI that is stored and shown again."""
    return _HIDDEN.search(text) is not None
