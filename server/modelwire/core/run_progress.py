"""A streaming run's events: numbered, tagged with the client's run id, and coalesced.

The first delta goes out at once (no visible latency); later ones within
COALESCE_SECONDS are merged so a fast model does not flood the editor.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

COALESCE_SECONDS = 0.008
COALESCE_MAX_CHARS = 8192


class EventSink(Protocol):
    def __call__(self, event: dict[str, Any]) -> None: ...


@dataclass(slots=True)
class RunProgress:
    """Mutable state of one streaming run."""

    run_id: str
    emit: EventSink
    client_run_id: str | None = None
    seq: int = 0
    output: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    pending_chars: int = 0
    last_flush: float = 0.0
    flush_handle: asyncio.TimerHandle | None = None
    deltas: int = 0

    def send(self, kind: str, **payload: Any) -> None:
        self.seq += 1
        event = {"runId": self.run_id, "seq": self.seq, "kind": kind, **payload}
        if self.client_run_id is not None:
            event["clientRunId"] = self.client_run_id
        self.emit(event)

    def delta(self, text: str) -> None:
        self.output.append(text)
        self.pending.append(text)
        self.pending_chars += len(text)
        self.deltas += 1
        now = time.perf_counter()
        if now - self.last_flush >= COALESCE_SECONDS or self.pending_chars >= COALESCE_MAX_CHARS:
            self.flush()
        elif self.flush_handle is None:
            loop = asyncio.get_running_loop()
            self.flush_handle = loop.call_later(COALESCE_SECONDS, self.flush)

    def flush(self) -> None:
        if self.flush_handle is not None:
            self.flush_handle.cancel()
            self.flush_handle = None
        if not self.pending:
            return
        text = "".join(self.pending)
        self.pending.clear()
        self.pending_chars = 0
        self.last_flush = time.perf_counter()
        self.send("delta", text=text)

    @property
    def text(self) -> str:
        return "".join(self.output)
