"""Build the adapter for a connection from its provider's wire protocol."""

from __future__ import annotations

from modelwire.adapters.base import Endpoint, ProviderAdapter, SecretProvider
from modelwire.adapters.ollama import OllamaAdapter
from modelwire.adapters.openai import OpenAIAdapter
from modelwire.adapters.peer import IdentityProvider, PeerAdapter
from modelwire.errors import ErrorCode, ModelWireError


def make_adapter(
    protocol: str,
    endpoint: Endpoint,
    secret_provider: SecretProvider | None = None,
    identity_provider: IdentityProvider | None = None,
) -> ProviderAdapter:
    """One adapter per connection; the caller owns it and must `await adapter.aclose()`.

    `secret_provider` is None for providers whose auth is `none` (no Authorization
    header is sent); Ollama never takes a key.
    """
    if protocol == "ollama":
        return OllamaAdapter(endpoint)
    if protocol == "openai":
        return OpenAIAdapter(endpoint, secret_provider)
    if protocol == "peer":
        # The P2P client: its secret is the Server ID; its identity the client key pair.
        return PeerAdapter(endpoint, secret_provider, identity_provider)
    raise ModelWireError(
        ErrorCode.UNSUPPORTED,
        f"Unknown provider protocol {protocol!r}.",
        "Providers must use the 'ollama' or 'openai' protocol.",
    )
