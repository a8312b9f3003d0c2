"""Time in one place, so records use one format and tests can reason about it."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_iso() -> str:
    """UTC wall-clock time, ISO 8601 with milliseconds and a Z suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def monotonic_ms() -> float:
    return time.perf_counter() * 1000.0
