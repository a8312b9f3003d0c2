"""How a run looks in a terminal: the answer on stdout, progress on stderr."""

from __future__ import annotations

import time
from typing import TextIO

from modelwire.cli import format as fmt
from modelwire.cli.terminal import write_control
from modelwire.run_events import (
    DeltaEvent,
    EndEvent,
    LoadingEvent,
    QueuedEvent,
    RetryEvent,
    RunEvent,
    StartedEvent,
    StepEvent,
)


class RunView:
    """Renders run events: text to stdout as it arrives, progress to stderr.

    On a terminal the progress is one status line (with a live wait counter) that is
    erased before the first token; otherwise each step is one plain stderr line.
    """

    def __init__(self, out: TextIO, err: TextIO, label: str) -> None:
        self.out = out
        self.err = err
        self.label = label
        self.live = err.isatty()
        self.run_id: str | None = None
        self.route = ""
        self.status = ""
        self.shown = False
        self.started_at = time.monotonic()
        self.text_started = False
        self.last_char = "\n"
        self.notice: str | None = None

    def __call__(self, event: RunEvent) -> None:
        if event.parent_run_id is not None:
            return  # a child run's own events: its parent's `step` events tell its story
        self.run_id = self.run_id or event.run_id
        body = event.body
        if isinstance(body, StepEvent):
            self.agent_step(body)
        elif isinstance(body, DeltaEvent):
            text = body.text
            if not text:
                return
            if not self.text_started:
                self.text_started = True
                self.clear()
            self.out.write(text)
            self.out.flush()
            self.last_char = text[-1]
        elif isinstance(body, QueuedEvent):
            self.step(f"queued: {body.position} run(s) ahead on this connection")
        elif isinstance(body, StartedEvent):
            r = body.routing
            self.route = (
                f"{r.connection_name} ({r.provider_id}) {r.model_ref} {fmt.DOT} source={r.source}"
            )
            self.step("waiting for the first token")
        elif isinstance(body, LoadingEvent):
            self.step("the model is loading")
        elif isinstance(body, RetryEvent):
            self.step(f"retrying in {body.delay_ms / 1000:.1f} s after: {body.reason}")
        elif isinstance(body, EndEvent):
            self.notice = body.notice
            self.clear()

    def agent_step(self, event: StepEvent) -> None:
        """An orchestrator's tool call: one stderr line when it ends (the answer on
        stdout stays clean)."""
        if event.outcome == "running":
            if not event.child_run_id:
                self.step(f"step {event.step}: {event.tool} {event.target}")
            return
        self.clear()
        outcome = str(event.outcome)
        if event.error_code:
            outcome += f" ({event.error_code})"
        took = fmt.seconds(event.duration_ms)
        line = f"  {event.step}. {event.tool} {event.target}"
        self.err.write(f"{line} {fmt.DOT} {outcome} {fmt.DOT} {took}\n")
        self.err.flush()

    def step(self, status: str) -> None:
        if self.text_started:
            return  # retries and loading only happen before the first token anyway
        self.status = status
        if self.live:
            self.redraw()
        else:
            route = f" {fmt.ARROW} {self.route}" if self.route else ""
            self.err.write(f"modelwire: {self.label}{route}: {status}\n")
            self.err.flush()

    def redraw(self) -> None:
        if not self.live or self.text_started or not self.status:
            return
        waited = time.monotonic() - self.started_at
        route = f" {fmt.ARROW} {self.route} {fmt.DOT}" if self.route else ":"
        line = f"… {self.label}{route} {self.status} ({waited:.1f} s)"
        write_control(self.err, "\r\x1b[K")
        self.err.write(line)
        self.err.flush()
        self.shown = True

    def clear(self) -> None:
        if self.live and self.shown:
            write_control(self.err, "\r\x1b[K")
            self.err.flush()
            self.shown = False

    def finish_text(self) -> None:
        """End the answer with a newline so the shell prompt starts on its own line."""
        if self.text_started and self.last_char != "\n":
            self.out.write("\n")
            self.out.flush()
