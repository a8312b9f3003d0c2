"""A streaming run's events: numbered, tagged with the client's run id, and coalesced.

The first delta goes out at once (no visible latency); later ones within
COALESCE_SECONDS are merged so a fast model does not flood the editor.

The output is kept as one string per *sent* event, not per source delta (a flood of
4-character chunks kept 100k tiny strings), is capped at `max_chars` (OUTPUT_TOO_LARGE),
and hands the store only what is new since the last checkpoint (`unsaved`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Protocol

from modelwire.errors import ErrorCode, ModelWireError
from modelwire.run_events import AnyEventBody, DeltaEvent, RunEvent

COALESCE_SECONDS = 0.008
COALESCE_MAX_CHARS = 8192


class EventSink(Protocol):
    """Where a run's events go: the LSP bridge, the CLI view, a test's list."""

    def __call__(self, event: RunEvent) -> None: ...


@dataclass(slots=True)
class RunProgress:
    """Mutable state of one streaming run."""

    run_id: str
    emit: EventSink
    client_run_id: str | None = None
    max_chars: int = 4096 * 1024
    seq: int = 0
    size: int = 0
    saved_chunks: int = 0
    output: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    pending_chars: int = 0
    last_flush: float = 0.0
    flush_handle: asyncio.TimerHandle | None = None
    deltas: int = 0

    def send(self, body: AnyEventBody) -> None:
        """Number `body` within the run and hand it to the sink."""
        self.seq += 1
        self.emit(
            RunEvent(
                run_id=self.run_id,
                seq=self.seq,
                body=body,
                client_run_id=self.client_run_id,
            )
        )

    def delta(self, text: str) -> None:
        if self.size + len(text) > self.max_chars:
            self._over_limit(text)
        self.size += len(text)
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
        self.output.append(text)
        self.send(DeltaEvent(text=text))

    def _over_limit(self, text: str) -> None:
        room = self.max_chars - self.size
        if room > 0:
            self.size += room
            self.pending.append(text[:room])
        raise ModelWireError(
            ErrorCode.OUTPUT_TOO_LARGE,
            f"The answer passed the output limit of {self.max_chars // 1024} KiB; the run "
            "was stopped and the text up to the limit kept.",
            "Ask for a shorter answer (a selection, a smaller agent), or raise "
            "modelwire.limits.outputMaxKiB.",
        )

    def unsaved(self) -> str:
        """The output received since the last call: what a checkpoint appends. What
        waits to be coalesced is sent first, so store and editor hold the same text."""
        self.flush()
        new = self.output[self.saved_chunks :]
        self.saved_chunks = len(self.output)
        return "".join(new)

    @property
    def text(self) -> str:
        """Everything received so far (sent events plus what waits to be sent)."""
        return "".join(self.output) + "".join(self.pending)
