"""Secret access at request time: which run asks, for what, and the audit line.

The run service sets the access context around an adapter call; the adapter calls the
connection's secret provider when it builds a request; the provider reads the keyring
(off the event loop) and audits the access with that context.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from modelwire.adapters.base import SecretProvider
from modelwire.core.secrets import Requester, SecretStore
from modelwire.protocol import Connection


@dataclass(frozen=True, slots=True)
class Access:
    run_id: str | None
    requester: Requester | None
    purpose: str


_current: ContextVar[Access | None] = ContextVar("modelwire_access", default=None)


@contextmanager
def access_context(run_id: str | None, requester: Requester | None, purpose: str) -> Iterator[None]:
    token = _current.set(Access(run_id, requester, purpose))
    try:
        yield
    finally:
        _current.reset(token)


def secret_provider_factory(secrets: SecretStore) -> Callable[[Connection], SecretProvider]:
    def provider_for(conn: Connection) -> SecretProvider:
        async def provide() -> str | None:
            if not conn.has_secret:
                return None
            access = _current.get() or Access(None, None, "unspecified")
            try:
                value = await secrets.read_async(conn.id)
            except Exception:
                secrets.audit(
                    connection_id=conn.id,
                    purpose=access.purpose,
                    decision="error",
                    requester=access.requester,
                    run_id=access.run_id,
                )
                raise
            secrets.audit(
                connection_id=conn.id,
                purpose=access.purpose,
                decision="read" if value else "missing",
                requester=access.requester,
                run_id=access.run_id,
            )
            return value

        return provide

    return provider_for
