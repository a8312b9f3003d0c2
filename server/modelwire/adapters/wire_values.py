"""Reading a backend's JSON fields defensively (issue 15, item 8).

A model server chooses every value: a `created` in milliseconds, a number where a name
should be, an integer with 400 digits, a megabyte model id. These turn any of them into
the type the rest of ModelWire expects, or None, never an exception.
"""

from __future__ import annotations

from modelwire.redaction import cap_provider_text

# Counts (bytes, tokens) beyond this are nonsense, and JavaScript clients could not
# hold them exactly anyway (2**53).
MAX_COUNT = 2**53 - 1
# A server listing more models than this is not describing models.
MAX_MODELS = 10_000


def as_count(value: object) -> int | None:
    """A non-negative integer that a JSON client can hold, else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_COUNT else None


def as_name(value: object, limit: int = 256) -> str | None:
    """An identifier (a model name): a string of 1..limit characters, else None. Not
    cut short like `as_text`: a shortened name would name something else."""
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def as_text(value: object, limit: int = 256) -> str | None:
    """A non-empty string, capped at `limit` characters, else None."""
    if not isinstance(value, str) or not value:
        return None
    return cap_provider_text(value, limit)
