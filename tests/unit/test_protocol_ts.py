"""The extension's wire types come from the Python models, field by field.

`editor-extension/src/protocol.generated.ts` is what `python -m modelwire.protocol_ts`
writes; `protocol.ts` re-exports it and declares none of those names itself. Any change
to a result model or a run event that is not regenerated fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelwire import protocol_ts
from modelwire.protocol import Routing, RunUsage, Timings
from modelwire.run_events import (
    DeltaEvent,
    EndEvent,
    ErrorEvent,
    EventBody,
    LoadingEvent,
    QueuedEvent,
    RetryEvent,
    RunEvent,
    StartedEvent,
    StepEvent,
)

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "editor-extension" / "src" / "protocol.generated.ts"
HAND_WRITTEN = ROOT / "editor-extension" / "src" / "protocol.ts"


def interface(name: str) -> dict[str, tuple[bool, str]]:
    """The fields of `export interface name` in the generated file: key → (optional, type)."""
    text = GENERATED.read_text(encoding="utf-8")
    match = re.search(rf"^export interface {name} \{{\n(.*?)^\}}", text, re.M | re.S)
    assert match, f"no interface {name} in {GENERATED.name}"
    fields = {}
    for line in match.group(1).splitlines():
        key, _, ts = line.strip().rstrip(";").partition(": ")
        fields[key.rstrip("?")] = (key.endswith("?"), ts)
    return fields


def test_the_generated_file_is_up_to_date() -> None:
    assert GENERATED.read_text(encoding="utf-8") == protocol_ts.render(), (
        "protocol.generated.ts differs from the models: run python -m modelwire.protocol_ts"
    )


def test_protocol_ts_re_exports_the_generated_types_and_redeclares_none() -> None:
    generated = set(re.findall(r"^export (?:interface|type) (\w+)", GENERATED.read_text(), re.M))
    hand = HAND_WRITTEN.read_text(encoding="utf-8")
    assert "export * from './protocol.generated';" in hand
    redeclared = set(re.findall(r"^(?:export )?(?:interface|type) (\w+)", hand, re.M))
    assert redeclared & generated == set()


def test_the_fields_the_extension_once_missed_are_there() -> None:
    assert interface("StatusResult")["storageError"] == (True, "string")
    assert interface("QueuedEvent")["connectionId"] == (False, "string")
    assert interface("LoadingEvent")["reason"] == (True, "string")
    assert interface("EndEvent")["notice"] == (False, "string | null")
    assert interface("EndEvent")["errorCode"] == (False, "string | null")


TIMINGS = Timings(queued_at="2026-12-01T09:00:00.000Z")
ROUTING = Routing(
    connection_id="c1",
    connection_name="Local",
    provider_id="ollama",
    model_ref="m",
    source="settings",
)
SAMPLES: list[EventBody] = [
    QueuedEvent(position=1, connection_id="c1"),
    StartedEvent(routing=ROUTING),
    LoadingEvent(waited_ms=1000),
    LoadingEvent(waited_ms=0, reason="starting the embedded model"),
    DeltaEvent(text="x"),
    RetryEvent(reason="TIMEOUT", delay_ms=500),
    StepEvent(step=1, tool="read_file", target="a.py", outcome="running"),
    StepEvent(
        step=1,
        tool="run_agent",
        target="review",
        outcome="ok",
        child_run_id="c",
        duration_ms=12.5,
        summary="done",
    ),
    EndEvent(status="succeeded", timings=TIMINGS),
    EndEvent(
        status="failed",
        finish_reason="stop",
        usage=RunUsage(prompt_tokens=3),
        timings=TIMINGS,
        error_code="TIMEOUT",
        notice="n",
    ),
    ErrorEvent.of({"code": "TIMEOUT", "message": "m", "hint": None, "retryable": True}),
]


@pytest.mark.parametrize("body", SAMPLES, ids=lambda b: b.kind)
def test_every_event_on_the_wire_fits_its_typescript_interface(body: EventBody) -> None:
    sent = RunEvent(run_id="r", seq=1, body=body, client_run_id="k").wire()
    fields = {**interface("RunEventBase"), **interface(type(body).__name__)}
    assert set(sent) <= set(fields), f"sent but not typed: {set(sent) - set(fields)}"
    required = {key for key, (optional, _) in fields.items() if not optional}
    assert required <= set(sent), f"typed as always present but not sent: {required - set(sent)}"
    for key, value in sent.items():
        if value is None:
            assert fields[key][1].endswith("| null"), f"{key} is sent as null"
