"""The custom wire contract: method names and the typed params/results that cross it.

Wire names are camelCase, Python names snake_case: every model derives from `WireModel`,
whose alias generator does the conversion. `editor-extension/src/protocol.ts` mirrors
this module and `docs/protocol.md` documents it; keep the three in step.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from modelwire.invisible import has_hidden

# Method names live in modelwire.methods (no pydantic); re-exported for one import.
from modelwire.methods import (
    CANCEL_RUN as CANCEL_RUN,
)
from modelwire.methods import (
    CREATE_CONNECTION as CREATE_CONNECTION,
)
from modelwire.methods import (
    DELETE_CONNECTION as DELETE_CONNECTION,
)
from modelwire.methods import (
    DELETE_SECRET as DELETE_SECRET,
)
from modelwire.methods import (
    DID_CHANGE_CONNECTIONS as DID_CHANGE_CONNECTIONS,
)
from modelwire.methods import (
    GET_RUN as GET_RUN,
)
from modelwire.methods import (
    GET_RUN_REQUESTS as GET_RUN_REQUESTS,
)
from modelwire.methods import (
    LIST_AGENTS as LIST_AGENTS,
)
from modelwire.methods import (
    LIST_CONNECTIONS as LIST_CONNECTIONS,
)
from modelwire.methods import (
    LIST_MODELS as LIST_MODELS,
)
from modelwire.methods import (
    LIST_PROVIDERS as LIST_PROVIDERS,
)
from modelwire.methods import (
    LIST_RUNS as LIST_RUNS,
)
from modelwire.methods import (
    PULL_MODEL as PULL_MODEL,
)
from modelwire.methods import (
    REGISTER_PROVIDER as REGISTER_PROVIDER,
)
from modelwire.methods import (
    RUN_EVENT as RUN_EVENT,
)
from modelwire.methods import (
    SET_SECRET as SET_SECRET,
)
from modelwire.methods import (
    SETTINGS_SECTION as SETTINGS_SECTION,
)
from modelwire.methods import (
    START_RUN as START_RUN,
)
from modelwire.methods import (
    STATUS as STATUS,
)
from modelwire.methods import (
    TEST_CONNECTION as TEST_CONNECTION,
)
from modelwire.methods import (
    UPDATE_CONNECTION as UPDATE_CONNECTION,
)
from modelwire.methods import (
    WARM_UP as WARM_UP,
)


def _visible(value: str) -> str:
    if has_hidden(value):
        raise ValueError("must not contain control, bidi or zero-width characters")
    return value


# An id, name or URI that is stored and shown again (run records, `modelwire runs`): an
# escape, NUL or newline in it would forge rows and terminal output later (issue 15).
Visible = Annotated[str, AfterValidator(_visible)]


class WireModel(BaseModel):
    """Base for everything on the wire: camelCase aliases, snake_case attributes."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=False,
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-ready camelCase dict; unset optional fields are left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Params(WireModel):
    """Base for request params. Unknown fields are ignored (LSP convention), but the
    declared ones are strictly typed: a wrong type is a -32602 with the field named."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", strict=True
    )


# --- Providers ----------------------------------------------------------------------

ProtocolKind = Literal["ollama", "openai"]
AuthKind = Literal["none", "apiKey"]
Origin = Literal["core", "extension", "plugin"]


class Capabilities(WireModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, strict=True)

    list_models: bool = True
    pull_model: bool = False
    streaming: bool = True


class ProviderDescriptor(WireModel):
    """A kind of backend and its wire protocol."""

    id: str
    display_name: str
    # `peer` (a model shared over P2P, docs/p2p.md) is a core provider's protocol only:
    # registerProvider still takes `ollama` or `openai`.
    protocol: ProtocolKind | Literal["peer"]
    auth: AuthKind
    default_base_url: str
    default_model: str | None = None
    local_only: bool = False
    capabilities: Capabilities = Field(default_factory=Capabilities)
    origin: Origin = "core"


class ListProvidersParams(Params):
    pass


class ListProvidersResult(WireModel):
    providers: list[ProviderDescriptor]


_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"


class RegisterProviderParams(Params):
    id: str = Field(pattern=_ID_PATTERN)
    display_name: str = Field(min_length=1, max_length=100)
    protocol: ProtocolKind
    auth: AuthKind = "none"
    default_base_url: str = Field(min_length=1, max_length=2048)
    default_model: str | None = Field(default=None, max_length=256)
    local_only: bool = False
    capabilities: Capabilities | None = None


# --- Connections --------------------------------------------------------------------


class TimeoutSettings(WireModel):
    """Timeouts in seconds, each optional: the `modelwire.timeouts.*` settings and a
    connection's overrides of them have this one shape and these ranges
    (docs/settings.md). Unset means the next layer: the connection's value, then the
    settings', then the default (`core.settings.timeouts_for`). On the wire a value out
    of range is `-32602`; in the settings it warns and falls back (`parse_settings`)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, strict=True)

    connect_seconds: float | None = Field(default=None, ge=0.1, le=600)
    first_token_seconds: float | None = Field(default=None, ge=1, le=7200)
    idle_seconds: float | None = Field(default=None, ge=1, le=3600)
    total_seconds: float | None = Field(default=None, ge=1, le=86400)


class Connection(WireModel):
    """A named, configured way to reach a provider. Never carries the secret."""

    id: str
    name: str
    provider_id: str
    base_url: str
    default_model: str | None = None
    has_secret: bool = False
    max_concurrent: int | None = None
    timeouts: TimeoutSettings | None = None
    created_at: str
    updated_at: str


class ListConnectionsParams(Params):
    scope_uri: str | None = Field(default=None, max_length=8192)


DefaultSource = Literal["settings", "single", "fallback"]


class ListConnectionsResult(WireModel):
    connections: list[Connection]
    default_connection_id: str | None = None
    default_source: DefaultSource | None = None
    default_model: str | None = None


_NAME = Field(min_length=1, max_length=100)


class CreateConnectionParams(Params):
    name: str = _NAME
    provider_id: str = Field(min_length=1, max_length=64)
    base_url: str | None = Field(default=None, max_length=2048)
    default_model: str | None = Field(default=None, max_length=256)
    max_concurrent: int | None = Field(default=None, ge=1, le=64)
    timeouts: TimeoutSettings | None = None


class UpdateConnectionParams(Params):
    id: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, min_length=1, max_length=100)
    base_url: str | None = Field(default=None, max_length=2048)
    default_model: str | None = Field(default=None, max_length=256)
    max_concurrent: int | None = Field(default=None, ge=1, le=64)
    timeouts: TimeoutSettings | None = None


class ConnectionIdParams(Params):
    id: str = Field(min_length=1, max_length=64)


class DeleteConnectionResult(WireModel):
    deleted: bool


class SetSecretParams(Params):
    connection_id: str = Field(min_length=1, max_length=64)
    secret: str = Field(min_length=1, max_length=4096)


class DeleteSecretParams(Params):
    connection_id: str = Field(min_length=1, max_length=64)


class SecretResult(WireModel):
    connection_id: str
    has_secret: bool


class TestConnectionParams(Params):
    connection_id: str = Field(min_length=1, max_length=64)
    # False: never prompt for consent (status bars); CONSENT_REQUIRED instead.
    interactive: bool = True
    scope_uri: str | None = Field(default=None, max_length=8192)


class HealthResult(WireModel):
    connection_id: str
    reachable: bool
    version: str | None = None
    model_count: int | None = None
    latency_ms: float | None = None
    checked_at: str
    error: dict[str, Any] | None = None


class ListModelsParams(Params):
    connection_id: str = Field(min_length=1, max_length=64)
    refresh: bool = False
    interactive: bool = True
    scope_uri: str | None = Field(default=None, max_length=8192)


class ModelEntry(WireModel):
    id: str
    size: int | None = None
    family: str | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    modified_at: str | None = None


class ListModelsResult(WireModel):
    connection_id: str
    models: list[ModelEntry]
    fetched_at: str
    cached: bool


ProgressToken = int | str


class PullModelParams(Params):
    connection_id: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=256)
    work_done_token: ProgressToken | None = None
    scope_uri: str | None = Field(default=None, max_length=8192)


class PullModelResult(WireModel):
    connection_id: str
    model: str
    status: str


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
