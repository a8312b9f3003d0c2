"""The provider registry: core providers, editor-contributed ones, Python plugins.

Listing answers from memory. Plugins are discovered once, at first use, through the
entry-point group `modelwire.providers`; each entry point resolves to a
`ProviderDescriptor` or a dict of its fields (a plugin cannot bring new wire protocols:
only `ollama` and `openai` are spoken).
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from pydantic import ValidationError

from modelwire.adapters.netpolicy import check_loopback_url, parse_base_url
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import Capabilities, Origin, ProviderDescriptor, RegisterProviderParams

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "modelwire.providers"
EMBEDDED_ID = "embedded"
PEER_ID = "peer"
PEER_BASE_URL = "peer://hyperswarm"

CORE_PROVIDERS: tuple[ProviderDescriptor, ...] = (
    ProviderDescriptor(
        id="ollama",
        display_name="Ollama",
        protocol="ollama",
        auth="none",
        default_base_url="http://localhost:11434",
        default_model="llama3.2",
        local_only=True,
        capabilities=Capabilities(list_models=True, pull_model=True, streaming=True),
        origin="core",
    ),
    ProviderDescriptor(
        id="openai",
        display_name="OpenAI / OpenAI-compatible",
        protocol="openai",
        auth="apiKey",
        default_base_url="https://api.openai.com/v1",
        default_model="gpt-4o-mini",
        local_only=False,
        capabilities=Capabilities(list_models=True, pull_model=False, streaming=True),
        origin="core",
    ),
    ProviderDescriptor(
        id=EMBEDDED_ID,
        display_name="Embedded (SmolLM2-135M, runs inside ModelWire)",
        protocol="openai",
        auth="none",
        default_base_url="http://127.0.0.1/v1",
        default_model="SmolLM2-135M-Instruct",
        local_only=True,
        capabilities=Capabilities(list_models=True, pull_model=False, streaming=True),
        origin="core",
    ),
    # A model someone shares with `modelwire share`: the connection's secret is the
    # host's Server ID (docs/p2p.md). `apiKey` auth: it is kept, consented and audited
    # exactly like an API key.
    ProviderDescriptor(
        id=PEER_ID,
        display_name="Shared model (P2P, Server ID)",
        protocol="peer",
        auth="apiKey",
        default_base_url=PEER_BASE_URL,
        # The host chooses the model; routing records `shared` unless the connection's
        # default model names it (listModels returns the host's model).
        default_model="shared",
        local_only=False,
        capabilities=Capabilities(list_models=True, pull_model=False, streaming=True),
        origin="core",
    ),
)


def _not_found(provider_id: str, known: list[str]) -> ModelWireError:
    return ModelWireError(
        ErrorCode.PROVIDER_NOT_FOUND,
        f"There is no provider {provider_id!r}.",
        f"Known providers: {', '.join(known)}.",
        provider_id=provider_id,
    )


class ProviderRegistry:
    """All providers this sidecar can speak to, by id."""

    def __init__(self, load_plugins: bool = True) -> None:
        self._providers: dict[str, ProviderDescriptor] = {p.id: p for p in CORE_PROVIDERS}
        self._plugins_loaded = not load_plugins

    def _ensure_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                loaded = ep.load()
                if callable(loaded) and not isinstance(loaded, type):
                    loaded = loaded()
                data = loaded.wire() if isinstance(loaded, ProviderDescriptor) else loaded
                params = RegisterProviderParams.model_validate(data)
                self._add(params, origin="plugin")
            except (
                ModelWireError,
                ValidationError,
                Exception,
            ) as exc:  # a bad plugin must not stop the sidecar
                log.warning("ignoring provider plugin %s: %s", ep.name, exc)

    def list(self) -> list[ProviderDescriptor]:
        self._ensure_plugins()
        return list(self._providers.values())

    def get(self, provider_id: str) -> ProviderDescriptor:
        self._ensure_plugins()
        try:
            return self._providers[provider_id]
        except KeyError:
            raise _not_found(provider_id, list(self._providers)) from None

    def register(self, params: RegisterProviderParams) -> ProviderDescriptor:
        """A provider contributed by the editor at run time (origin `extension`)."""
        self._ensure_plugins()
        return self._add(params, origin="extension")

    def _add(self, params: RegisterProviderParams, origin: Origin) -> ProviderDescriptor:
        if params.id in self._providers:
            raise ModelWireError(
                ErrorCode.PROVIDER_EXISTS,
                f"A provider with id {params.id!r} is already registered.",
                "Pick another id; core provider ids cannot be replaced.",
                provider_id=params.id,
            )
        if params.capabilities is not None and not params.capabilities.streaming:
            # Both protocols are spoken streaming only (runs show text as it arrives).
            raise ModelWireError(
                ErrorCode.INVALID_PARAMS,
                f"Provider {params.id!r} says it cannot stream; ModelWire streams every answer.",
                "Register it with capabilities.streaming true (every Ollama and "
                "OpenAI-compatible server streams), or leave capabilities out.",
                provider_id=params.id,
            )
        parse_base_url(params.default_base_url)
        # Only Ollama's protocol is bound to loopback; an extension cannot declare an
        # Ollama-protocol provider that escapes that rule.
        local_only = params.local_only or params.protocol == "ollama"
        if local_only:
            check_loopback_url(params.default_base_url)
        descriptor = ProviderDescriptor(
            id=params.id,
            display_name=params.display_name,
            protocol=params.protocol,
            auth=params.auth,
            default_base_url=params.default_base_url,
            default_model=params.default_model,
            local_only=local_only,
            capabilities=params.capabilities
            or Capabilities(pull_model=params.protocol == "ollama"),
            origin=origin,
        )
        self._providers[descriptor.id] = descriptor
        return descriptor
