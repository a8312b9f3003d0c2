"""Wire models for agents, runs, status and change notifications (see `modelwire.protocol`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from modelwire.protocol_base import Params, ProgressToken, Visible, WireModel

# --- Agents and runs ----------------------------------------------------------------


class AgentInfo(WireModel):
    id: str
    title: str
    description: str = ""
    input: Literal["file", "selection"] = "file"
    output: Literal["text", "diagnostics"] = "text"
    origin: Literal["builtin", "workspace"] = "builtin"
    # An orchestrator: the agents it may delegate to and the read-only tools it may use.
    uses: list[str] | None = None
    tools: list[str] | None = None
    # Runs only with startRun's `prompt` (chat, fix): not for a plain "run on file" menu.
    needs_prompt: bool = False


class ListAgentsParams(Params):
    scope_uri: str | None = Field(default=None, max_length=8192)


class ListAgentsResult(WireModel):
    agents: list[AgentInfo]


class Position(Params):
    line: int = Field(ge=0)
    character: int = Field(ge=0)


class Range(Params):
    start: Position
    end: Position


class TextDocumentId(Params):
    uri: Visible = Field(min_length=1, max_length=8192)


class StartRunParams(Params):
    agent_id: Visible = Field(min_length=1, max_length=128)
    text_document: TextDocumentId
    range: Range | None = None
    connection_id: Visible | None = Field(default=None, max_length=64)
    model_ref: Visible | None = Field(default=None, max_length=300)
    work_done_token: ProgressToken | None = None
    # Chosen by the client and echoed in every runEvent of this run, so a client with
    # several runs in flight knows which events are whose before the runId is known.
    client_run_id: Visible | None = Field(default=None, min_length=1, max_length=128)
    # The user's own words (a chat turn with the conversation so far, a finding to fix):
    # required by the agents that declare needsPrompt, appended as the request otherwise.
    prompt: str | None = Field(default=None, min_length=1, max_length=32768)


# `share`: a prompt a P2P client sent to `modelwire share` (docs/p2p.md).
RoutingSource = Literal["explicit", "settings", "fallback", "share"]
RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]


class Routing(WireModel):
    connection_id: str
    connection_name: str
    provider_id: str
    model_ref: str
    source: RoutingSource
    # Who asked, when it is not this machine's user: a share client's public key (hex).
    requester: str | None = None


class Timings(WireModel):
    queued_at: str
    started_at: str | None = None
    first_token_ms: float | None = None
    total_ms: float | None = None
    finished_at: str | None = None


class RunUsage(WireModel):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


StepOutcome = Literal["running", "ok", "error", "cancelled"]


class RunStep(WireModel):
    """One tool call of an orchestrator run: what it asked for and what came of it."""

    index: int
    tool: str
    target: str = ""
    arguments: dict[str, Any] = Field(default_factory=dict)
    outcome: StepOutcome = "running"
    summary: str = ""
    child_run_id: str | None = None
    error_code: str | None = None
    started_at: str
    duration_ms: float | None = None


class RunRecord(WireModel):
    run_id: str
    agent_id: str
    uri: str
    routing: Routing | None = None
    status: RunStatus
    timings: Timings
    usage: RunUsage | None = None
    finish_reason: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    output: str = ""
    # startRun leaves out an output over 64 KiB (it already went out as deltas).
    output_omitted: bool | None = None
    diagnostics_count: int | None = None
    # A child run started by an orchestrator's run_agent step: its parent and that step.
    parent_run_id: str | None = None
    parent_step: int | None = None
    steps: list[RunStep] | None = None


class CancelRunParams(Params):
    run_id: str = Field(min_length=1, max_length=64)


class CancelRunResult(WireModel):
    run_id: str
    cancelled: bool


class ListRunsParams(Params):
    limit: int = Field(default=50, ge=1, le=1000)
    uri: Visible | None = Field(default=None, max_length=8192)
    include_output: bool = False


class ListRunsResult(WireModel):
    runs: list[RunRecord]


class GetRunParams(Params):
    run_id: str = Field(min_length=1, max_length=64)


class GetRunRequestsParams(Params):
    run_id: str = Field(min_length=1, max_length=64)


class ModelRequestEntry(WireModel):
    """One request a run sent to its model: the exact body, secrets never included."""

    seq: int
    sent_at: str
    connection_id: str | None = None
    provider_id: str | None = None
    body: dict[str, Any] | None = None
    # Set instead of `body` when the body was larger than the stored cap.
    truncated_body: str | None = None
    body_bytes: int


class GetRunRequestsResult(WireModel):
    run_id: str
    requests: list[ModelRequestEntry]


class StatusParams(Params):
    pass


class WarmUpParams(Params):
    """`modelwire/warmUp`: start the scope's default connection ahead of its first run."""

    scope_uri: str | None = Field(default=None, max_length=8192)


class WarmUpResult(WireModel):
    connection_id: str | None = None
    # True when the default is the embedded model and its server is now up.
    warmed: bool


class ConnectionLoad(WireModel):
    connection_id: str
    connection_name: str
    active: int
    queued: int
    limit: int
    queue_limit: int


class StatusResult(WireModel):
    version: str
    keyring_backend: str
    keyring_secure: bool
    storage_path: str
    storage_error: str | None = None
    active_runs: int
    queued_runs: int
    connections: list[ConnectionLoad]


class DidChangeConnectionsParams(WireModel):
    """`modelwire/didChangeConnections`: connections, keys or consent changed in some
    process on this data folder. Empty ids: only consent changed. Re-list either way."""

    connection_ids: list[str]


RunEventKind = Literal["queued", "started", "loading", "delta", "retry", "step", "end", "error"]
