"""Time in one place, so records and health checks use one format.

A leaf like `errors.py`: it imports nothing from the package, so the adapters and the
core can both use it without the adapters importing the core.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TypeVar

T = TypeVar("T")


def now_iso() -> str:
    """UTC wall-clock time, ISO 8601 with milliseconds and a Z suffix (`checkedAt`,
    `queuedAt`, the audit log)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def timed(awaitable: Awaitable[T]) -> tuple[T, float]:
    """Await `awaitable`; return its result and how long it took, in milliseconds
    rounded to 0.01 (a health check's `latencyMs`)."""
    started = time.perf_counter()
    result = await awaitable
    return result, round((time.perf_counter() - started) * 1000.0, 2)
