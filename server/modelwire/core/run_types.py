"""What a run is asked to do and for whom: the run service's inputs.

`RunRequest` comes from a front door (validated wire params) or from an orchestrator
(a child run); `RunContext` says who asked and how to talk back; `_Job` is a run's inputs
once resolved, before any network call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modelwire.adapters.base import ChatMessage
from modelwire.core.agents import Agent, Finding, build_messages
from modelwire.core.documents import Document
from modelwire.core.run_progress import EventSink
from modelwire.core.secrets import ConsentPrompt, Requester
from modelwire.core.settings import Settings
from modelwire.protocol import Connection, Range, Routing


@dataclass(slots=True)
class RunRequest:
    """What the front door asks for (already validated wire params)."""

    agent_id: str
    uri: str
    range: Range | None = None
    connection_id: str | None = None
    model_ref: str | None = None
    client_run_id: str | None = None
    # Set for a child run of an orchestrator (never from the wire): see run_children.py.
    run_id: str | None = None
    parent_run_id: str | None = None
    parent_step: int | None = None
    depth: int = 0
    input_text: str | None = None
    deadline: float | None = None
    # The user's own words (startRun's `prompt`), after the code in the agent's message.
    prompt: str | None = None
    # A prompt served to a P2P client (core/share.py): messages built by the share host
    # (no document), routing source `share` with the client's key as requester, and
    # `exclusive`: it runs only when nothing else runs on the connection — MODEL_BUSY at
    # once otherwise, never queued.
    served: ServedPrompt | None = None


@dataclass(frozen=True, slots=True)
class ServedPrompt:
    messages: tuple[ChatMessage, ...]
    requester_key: str
    exclusive: bool = True


@dataclass(slots=True)
class RunContext:
    """Where the run comes from and how to talk back to its requester."""

    requester: Requester
    settings: Settings
    folder: Path | None
    emit: EventSink
    document: Callable[[str], Document | None] = lambda uri: None
    consent: ConsentPrompt | None = None
    publish_diagnostics: Callable[[str, list[Finding], Agent], None] | None = None
    # False: never wait in the connection's queue — MODEL_BUSY unless a slot is free
    # now (the P2P share host's "one inference at a time" rule).
    queue: bool = True


@dataclass(frozen=True, slots=True)
class _Job:
    """A run's inputs, resolved before any network call."""

    req: RunRequest
    agent: Agent
    doc: Document
    text: str
    selection: tuple[int, int] | None
    routing: Routing
    conn: Connection
    focus: tuple[int, int] | None = None  # the user's selection, for a whole-file agent

    def agent_messages(self) -> tuple[ChatMessage, ...]:
        """The agent's system and user messages for this run's text."""
        return build_messages(
            self.agent,
            text=self.text,
            uri=self.req.uri,
            language_id=self.doc.language_id,
            selection=self.selection,
            focus=self.focus,
            request=self.req.prompt,
        )
