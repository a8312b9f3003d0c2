"""Consent before a stored key is used: asked once per (workspace, connection).

Every use of a stored key goes through `ConsentGate.require` first — runs,
`testConnection`, `listModels`, `pullModel` — with the use named in the audit line.
A connection without a key needs no consent (a keyless local server is a normal
set-up); a run on a hosted API with no key fails early with SECRET_MISSING.

One prompt per (workspace, connection) at a time: requests that arrive while it is
open wait for it and share its answer (100 concurrent runs raise one prompt, and an
"Always" covers the ones waiting). A non-interactive request (the status bar's health
check) never prompts: without a remembered "Always" it gets CONSENT_REQUIRED.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from modelwire.core.providers import ProviderRegistry
from modelwire.core.secrets import ConsentPrompt, Decision, Requester, SecretStore
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import Connection


class ConsentGate:
    """Decides whether a requester may use a connection's stored key."""

    def __init__(self, providers: ProviderRegistry, secrets: SecretStore) -> None:
        self._providers = providers
        self._secrets = secrets
        self._open: dict[tuple[str, str], asyncio.Future[Decision]] = {}

    async def require(
        self,
        conn: Connection,
        requester: Requester | None,
        prompt: ConsentPrompt | None,
        run_id: str | None,
        *,
        use: str = "run",
        interactive: bool = True,
    ) -> None:
        """Return when the key may be used; raise CONSENT_DENIED, CONSENT_REQUIRED or
        (runs only) SECRET_MISSING. No requester: the CLI, whose user typed the command."""
        if not conn.has_secret:
            if use == "run" and self._missing_key(conn):
                raise ModelWireError(
                    ErrorCode.SECRET_MISSING,
                    f"Connection {conn.name!r} has no API key.",
                    "Set it with ModelWire: Edit Connection "
                    "(or `modelwire connections set-secret`).",
                    connection_id=conn.id,
                )
            return
        if requester is None:
            return
        key = (requester.workspace, conn.id)
        while True:
            if self._secrets.remembered(requester.workspace, conn.id) == "always":
                return
            pending = self._open.get(key)
            if pending is None:
                break
            await asyncio.wait({pending})
            if not pending.cancelled():  # its asker was cancelled: ask again
                self._decided(conn, requester, run_id, use, pending.result())
                return
        if not interactive:
            raise ModelWireError(
                ErrorCode.CONSENT_REQUIRED,
                f"This workspace has not allowed the use of the key of {conn.name!r}.",
                "Run an agent or test the connection from the editor to be asked; nothing "
                "was sent.",
                connection_id=conn.id,
            )
        if prompt is None:
            self._decided(conn, requester, run_id, use, "once")
            return
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._open[key] = future
        try:
            decision = await prompt(requester, conn.id, conn.name)
        except BaseException:
            future.cancel()
            raise
        else:
            future.set_result(decision)
        finally:
            self._open.pop(key, None)
        if decision == "always":
            self._secrets.remember(requester.workspace, conn.id, "always")
        self._decided(conn, requester, run_id, use, decision)

    def _decided(
        self, conn: Connection, requester: Requester, run_id: str | None, use: str, decision: str
    ) -> None:
        self._secrets.audit(
            connection_id=conn.id,
            purpose="consent",
            decision=decision,
            requester=requester,
            run_id=run_id,
            use=use,
        )
        if decision == "deny":
            raise ModelWireError(
                ErrorCode.CONSENT_DENIED,
                f"Use of the key of {conn.name!r} was denied for this workspace.",
                "Try again and choose Allow, or pick another connection; nothing was sent.",
                connection_id=conn.id,
            )

    def _missing_key(self, conn: Connection) -> bool:
        return self._providers.get(conn.provider_id).auth == "apiKey" and needs_key(conn.base_url)


def needs_key(base_url: str) -> bool:
    """Hosted APIs always need a key; a keyless local server is a normal set-up."""
    host = (urlsplit(base_url).hostname or "").lower()
    return host == "api.openai.com" or host.endswith(".openai.com")
