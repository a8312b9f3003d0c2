"""Wire models for providers, connections, keys and models (see `modelwire.protocol`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from modelwire.protocol_base import Params, ProgressToken, WireModel

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


class PullModelParams(Params):
    connection_id: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=256)
    work_done_token: ProgressToken | None = None
    scope_uri: str | None = Field(default=None, max_length=8192)


class PullModelResult(WireModel):
    connection_id: str
    model: str
    status: str
