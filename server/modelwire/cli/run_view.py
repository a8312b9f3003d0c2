"""How a run looks in a terminal: the answer on stdout, progress on stderr."""

from __future__ import annotations

import time
from typing import Any, TextIO

from modelwire.cli import format as fmt
from modelwire.cli.terminal import write_control


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

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        if event.get("parentRunId"):
            return  # a child run's own events: its parent's `step` events tell its story
        self.run_id = self.run_id or event.get("runId")
        if kind == "step":
            self.agent_step(event)
        elif kind == "delta":
            text = str(event.get("text", ""))
            if not text:
                return
            if not self.text_started:
                self.text_started = True
                self.clear()
            self.out.write(text)
            self.out.flush()
            self.last_char = text[-1]
        elif kind == "queued":
            self.step(f"queued: {event.get('position')} run(s) ahead on this connection")
        elif kind == "started":
            r = event.get("routing") or {}
            self.route = (
                f"{r.get('connectionName')} ({r.get('providerId')}) {r.get('modelRef')} "
                f"{fmt.DOT} source={r.get('source')}"
            )
            self.step("waiting for the first token")
        elif kind == "loading":
            self.step("the model is loading")
        elif kind == "retry":
            delay = float(event.get("delayMs") or 0) / 1000
            self.step(f"retrying in {delay:.1f} s after: {event.get('reason')}")
        elif kind == "end":
            self.notice = event.get("notice")
            self.clear()

    def agent_step(self, event: dict[str, Any]) -> None:
        """An orchestrator's tool call: one stderr line when it ends (the answer on
        stdout stays clean)."""
        if event.get("outcome") == "running":
            if not event.get("childRunId"):
                self.step(f"step {event.get('step')}: {event.get('tool')} {event.get('target')}")
            return
        self.clear()
        outcome = str(event.get("outcome"))
        if event.get("errorCode"):
            outcome += f" ({event.get('errorCode')})"
        took = fmt.seconds(event.get("durationMs"))
        line = f"  {event.get('step')}. {event.get('tool')} {event.get('target')}"
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
