"""A `connections` table row read back as a `Connection`, tolerating older rows."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

from pydantic import ValidationError

from modelwire.core.store import loads
from modelwire.protocol import Connection, TimeoutSettings


def stored_timeouts(raw: Any) -> TimeoutSettings | None:
    """A row's timeout overrides. One saved under the wider ranges of earlier versions
    is dropped value by value (the settings' value applies), so the connection stays
    readable."""
    if not raw or not isinstance(raw, dict):
        return None
    try:
        return TimeoutSettings.model_validate(raw)
    except ValidationError:
        kept = {}
        for key, value in raw.items():
            with contextlib.suppress(ValidationError):
                TimeoutSettings.model_validate({key: value})
                kept[key] = value
        return TimeoutSettings.model_validate(kept) if kept else None


def connection_from_row(row: sqlite3.Row) -> Connection:
    return Connection(
        id=row["id"],
        name=row["name"],
        provider_id=row["provider_id"],
        base_url=row["base_url"],
        default_model=row["default_model"],
        has_secret=bool(row["has_secret"]),
        max_concurrent=row["max_concurrent"],
        timeouts=stored_timeouts(loads(row["timeouts"])),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
