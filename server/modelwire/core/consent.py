"""Consent before a stored key is used: asked once per (workspace, connection).

A connection without a key needs no consent (a keyless local server is a normal
set-up), unless its provider requires a key for a hosted API: then SECRET_MISSING.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from modelwire.core.providers import ProviderRegistry
from modelwire.core.secrets import ConsentPrompt, Requester, SecretStore
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import Connection


class ConsentGate:
    """Decides whether a requester may use a connection's stored key."""

    def __init__(self, providers: ProviderRegistry, secrets: SecretStore) -> None:
        self._providers = providers
        self._secrets = secrets

    async def require(
        self,
        conn: Connection,
        requester: Requester,
        prompt: ConsentPrompt | None,
        run_id: str | None,
    ) -> None:
        """Return when the key may be used; raise CONSENT_DENIED / SECRET_MISSING."""
        if not conn.has_secret:
            if self._providers.get(conn.provider_id).auth == "apiKey" and needs_key(conn.base_url):
                raise ModelWireError(
                    ErrorCode.SECRET_MISSING,
                    f"Connection {conn.name!r} has no API key.",
                    "Set it with ModelWire: Edit Connection "
                    "(or `modelwire connections set-secret`).",
                    connection_id=conn.id,
                )
            return
        workspace = requester.workspace
        if self._secrets.remembered(workspace, conn.id) == "always":
            return
        decision = "once" if prompt is None else await prompt(requester, conn.id, conn.name)
        if decision == "always":
            self._secrets.remember(workspace, conn.id, "always")
        self._secrets.audit(
            connection_id=conn.id,
            purpose="consent",
            decision=decision,
            requester=requester,
            run_id=run_id,
        )
        if decision == "deny":
            raise ModelWireError(
                ErrorCode.CONSENT_DENIED,
                f"Use of the key of {conn.name!r} was denied for this workspace.",
                "Run again and choose Allow, or pick another connection.",
                connection_id=conn.id,
            )


def needs_key(base_url: str) -> bool:
    """Hosted APIs always need a key; a keyless local server is a normal set-up."""
    host = (urlsplit(base_url).hostname or "").lower()
    return host == "api.openai.com" or host.endswith(".openai.com")
