"""Run events (`modelwire/runEvent`): one model per kind, the wire half of protocol.py.

The core builds a body (`QueuedEvent(position=…)`), `RunProgress` wraps it in a
numbered `RunEvent`, and both front doors render from the typed body: the LSP server
sends `RunEvent.wire()`, the CLI prints from the fields. The extension's TypeScript
types are generated from these models (`python -m modelwire.protocol_ts`), and a test
fails when they differ.

Adding a kind is one model here: a `WireModel` subclass with a `kind` literal default,
listed in `EVENT_BODIES` (docs/protocol.md, "Adding a run event").
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from modelwire.protocol import Routing, RunStatus, RunUsage, StepOutcome, Timings, WireModel


class EventBody(WireModel):
    """What one kind of event says; the envelope adds the run id and the number."""

    kind: str
    # Fields sent as `null` when unset instead of being left out: the `end` and
    # `error` events have always carried them so, and clients may read them as present.
    nulls: ClassVar[frozenset[str]] = frozenset()


class QueuedEvent(EventBody):
    """The run waits for a slot on its connection (`position` runs ahead of it)."""

    kind: Literal["queued"] = "queued"
    position: int
    connection_id: str


class StartedEvent(EventBody):
    """The run has its slot; where it was routed and why."""

    kind: Literal["started"] = "started"
    routing: Routing


class LoadingEvent(EventBody):
    """No token yet after ~1 s (the model is loading), or the embedded server starts."""

    kind: Literal["loading"] = "loading"
    waited_ms: int
    reason: str | None = None


class DeltaEvent(EventBody):
    """Answer text, coalesced (several source deltas per event on a fast model)."""

    kind: Literal["delta"] = "delta"
    text: str


class RetryEvent(EventBody):
    """The one retry before any output: the error code that caused it and the wait."""

    kind: Literal["retry"] = "retry"
    reason: str
    delay_ms: int


class StepEvent(EventBody):
    """An orchestrator's tool call, when it starts (`running`) and when it ends."""

    kind: Literal["step"] = "step"
    step: int
    tool: str
    target: str
    outcome: StepOutcome
    child_run_id: str | None = None
    error_code: str | None = None
    duration_ms: float | None = None
    summary: str | None = None


class EndEvent(EventBody):
    """The last event of every run, whatever happened."""

    kind: Literal["end"] = "end"
    status: RunStatus
    finish_reason: str | None = None
    usage: RunUsage | None = None
    timings: Timings
    error_code: str | None = None
    notice: str | None = None
    nulls: ClassVar[frozenset[str]] = frozenset({"finish_reason", "usage", "error_code", "notice"})


class ErrorEvent(EventBody):
    """Why the run failed: the error's `data` object (docs/protocol.md §6)."""

    kind: Literal["error"] = "error"
    code: str
    message: str
    hint: str | None = None
    retryable: bool
    connection_id: str | None = None
    provider_id: str | None = None
    # Code-specific fields (`installedModels`, `timeout`, …), sent beside the others.
    extra: dict[str, Any] = {}
    nulls: ClassVar[frozenset[str]] = frozenset({"hint"})

    @classmethod
    def of(cls, data: dict[str, Any]) -> ErrorEvent:
        """From `ModelWireError.to_data()`."""
        known = {k: data[k] for k in ("code", "message", "hint", "retryable") if k in data}
        ids = {k: data[k] for k in ("connectionId", "providerId") if k in data}
        rest = {k: v for k, v in data.items() if k not in known and k not in ids}
        return cls(**known, **ids, extra=rest)


AnyEventBody = (
    QueuedEvent
    | StartedEvent
    | LoadingEvent
    | DeltaEvent
    | RetryEvent
    | StepEvent
    | EndEvent
    | ErrorEvent
)
EVENT_BODIES: tuple[type[EventBody], ...] = (
    QueuedEvent,
    StartedEvent,
    LoadingEvent,
    DeltaEvent,
    RetryEvent,
    StepEvent,
    EndEvent,
    ErrorEvent,
)


class RunEvent(WireModel):
    """One `modelwire/runEvent` notification: a body, numbered within its run."""

    run_id: str
    seq: int
    body: AnyEventBody
    # Present when startRun carried a clientRunId.
    client_run_id: str | None = None
    # Present on the events of a child run (an orchestrator's run_agent step).
    parent_run_id: str | None = None

    @property
    def kind(self) -> str:
        return self.body.kind

    def wire(self) -> dict[str, Any]:
        """The notification's params: `runId`, `seq`, `kind`, the body's fields, then
        `clientRunId`/`parentRunId` when set (the order clients have always seen)."""
        out: dict[str, Any] = {"runId": self.run_id, "seq": self.seq}
        body = self.body
        nulls = body.nulls
        for name, field in type(body).model_fields.items():
            value = getattr(body, name)
            if name == "extra":
                out.update(value)
                continue
            if value is None and name not in nulls:
                continue
            out[field.alias or name] = value.wire() if isinstance(value, WireModel) else value
        if self.client_run_id is not None:
            out["clientRunId"] = self.client_run_id
        if self.parent_run_id is not None:
            out["parentRunId"] = self.parent_run_id
        return out
