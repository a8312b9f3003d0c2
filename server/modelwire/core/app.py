"""The composition root: one `ModelWire` core shared by the LSP server and the CLI."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from modelwire import __version__
from modelwire.core import peer_keys, warm_up
from modelwire.core.access import access_context, secret_provider_factory
from modelwire.core.agents import AgentCatalog
from modelwire.core.backends import BackendPool
from modelwire.core.connections import ConnectionRegistry
from modelwire.core.model_lists import ModelLists
from modelwire.core.processes import ProcessTable
from modelwire.core.providers import EMBEDDED_ID, ProviderRegistry
from modelwire.core.routing import resolve_routing
from modelwire.core.runs import RunService
from modelwire.core.secrets import ConsentPrompt, Requester, SecretStore
from modelwire.core.settings import Settings
from modelwire.core.store import Store, default_home
from modelwire.errors import RETRYABLE_CODES, ErrorCode, ModelWireError
from modelwire.protocol import (
    Connection,
    HealthResult,
    ListModelsResult,
    ModelEntry,
    PullModelResult,
    StatusResult,
)

log = logging.getLogger(__name__)

# Other processes' changes are seen within this (the promise is "within 1 s").
WATCH_SECONDS = 0.25

PullCallback = Callable[[str, int | None, int | None], None]


def _embedded_available() -> bool:
    from modelwire.adapters.embedded import embedded_status

    return embedded_status()[0]


def _embedded_model() -> str | None:
    from modelwire.adapters.embedded import default_model_path

    path = default_model_path()
    return path.stem if path is not None else None


class ModelWire:
    """Everything the front doors call. Holds no editor or terminal specifics."""

    def __init__(
        self, home: Path | None = None, *, load_plugins: bool = True, kind: str = "sidecar"
    ) -> None:
        self.home = home or default_home()
        self.store = Store(self.home)
        self.processes = ProcessTable(self.store, kind)
        self.processes.forget_dead()
        self.providers = ProviderRegistry(load_plugins=load_plugins)
        self.secrets = SecretStore(self.store, self.home)
        self._embedded_ok: bool | None = None
        self.connections = ConnectionRegistry(
            self.store,
            self.providers,
            self.secrets,
            embedded_available=self.embedded_available,
            embedded_model=_embedded_model,
        )
        self.agents = AgentCatalog()
        self.backends = BackendPool(
            self.providers,
            secret_provider_factory(self.secrets),
            ModelLists(self.store),
            embedded=self._make_embedded,
            identity_for=self._peer_identity,
        )
        self.connections.on_change(self.backends.forget)
        self.runs = RunService(
            self.store,
            self.providers,
            self.connections,
            self.secrets,
            self.agents,
            self.backends,
            self.processes,
        )

    async def watch_changes(self, interval: float = WATCH_SECONDS) -> None:
        """Keep up with other processes on this data folder until cancelled: their
        connection, key and consent changes reach subscribers within `interval`."""
        while True:
            await asyncio.sleep(interval)
            try:
                self.connections.refresh()
            except ModelWireError as exc:  # a busy or broken store: try again next tick
                log.debug("change watch: %s", exc.message)
            except Exception:  # a bug must not stop the watch for the session
                log.exception("change watch failed")

    def _peer_identity(self, conn: Connection) -> Callable[[], Awaitable[bytes]]:
        async def seed() -> bytes:
            return await asyncio.to_thread(peer_keys.ensure_seed, self.secrets, conn.id)

        return seed

    def embedded_available(self) -> bool:
        # Checked once (a find_spec, no import); a restart picks up a new install.
        if self._embedded_ok is None:
            try:
                self._embedded_ok = _embedded_available()
            except Exception:  # never let a probe break listing
                self._embedded_ok = False
        return self._embedded_ok

    def _make_embedded(self):  # type: ignore[no-untyped-def]
        from modelwire.adapters.embedded import RUN_DIR, EmbeddedServer

        return EmbeddedServer(run_dir=self.home / RUN_DIR)

    # --- connection health and models ---------------------------------------------------

    async def _consent(
        self,
        conn: Connection,
        requester: Requester | None,
        use: str,
        prompt: ConsentPrompt | None,
        interactive: bool,
    ) -> None:
        """The same rule as runs: no stored key leaves without this workspace's consent."""
        try:
            await self.runs.consent_gate.require(
                conn, requester, prompt, None, use=use, interactive=interactive
            )
        except ModelWireError as exc:
            raise exc.with_context(connection_id=conn.id, provider_id=conn.provider_id) from None

    async def warm_up(self, conn: Connection, settings: Settings) -> bool:
        """Start the embedded model server for `conn` ahead of its first run (it stops
        again when idle) and prime its cache (core/warm_up.py). Other connections are
        servers of the user's: nothing to do."""
        if conn.provider_id != EMBEDDED_ID:
            return False
        async with self.backends.lease(conn, settings) as adapter:
            if self.runs.lane_in_use(conn.id):
                return True  # a run is warming it, and must not be interrupted
            agent = self.agents.get(warm_up.PRIME_AGENT, None)
            model = resolve_routing(
                connection_id=conn.id,
                model_ref=None,
                settings=settings,
                connections=self.connections,
                providers=self.providers,
                agent_id=agent.id,
            ).model_ref
            limit, _queue = self.runs.limits.of(conn.id, settings)
            request = warm_up.priming_request(agent, model)
            await warm_up.prime(adapter, self.runs.lanes, conn.id, limit, request)
            return True

    async def test_connection(
        self,
        connection_id: str,
        settings: Settings,
        requester: Requester | None = None,
        *,
        consent: ConsentPrompt | None = None,
        interactive: bool = True,
    ) -> HealthResult:
        conn = self.connections.get(connection_id)
        await self._consent(conn, requester, "testConnection", consent, interactive)
        with access_context(None, requester, "testConnection"):
            health = await self.backends.health(conn, settings)
        error = None
        if health.error_code:
            error = {
                "code": health.error_code,
                "message": health.error or "",
                "hint": health.hint or "",
                "retryable": health.error_code in RETRYABLE_CODES,
                "connectionId": conn.id,
                "providerId": conn.provider_id,
            }
        return HealthResult(
            connection_id=conn.id,
            reachable=health.reachable,
            version=health.version,
            model_count=health.model_count,
            latency_ms=health.latency_ms,
            checked_at=health.checked_at,
            error=error,
        )

    async def list_models(
        self,
        connection_id: str,
        settings: Settings,
        refresh: bool,
        requester: Requester | None = None,
        *,
        consent: ConsentPrompt | None = None,
        interactive: bool = True,
    ) -> ListModelsResult:
        conn = self.connections.get(connection_id)
        provider = self.providers.get(conn.provider_id)
        if not provider.capabilities.list_models:
            raise ModelWireError(
                ErrorCode.UNSUPPORTED,
                f"{provider.display_name} does not list its models.",
                "Type the model name as the connection's default model (or in "
                "modelwire.defaultModel).",
                connection_id=conn.id,
                provider_id=provider.id,
            )
        if refresh or not self.backends.has_models(conn.id):  # a cached list sends nothing
            await self._consent(conn, requester, "listModels", consent, interactive)
        try:
            with access_context(None, requester, "listModels"):
                models, fetched_at, cached = await self.backends.list_models(
                    conn, settings, refresh
                )
        except ModelWireError as exc:
            raise exc.with_context(connection_id=conn.id, provider_id=conn.provider_id) from None
        return ListModelsResult(
            connection_id=conn.id,
            models=[
                ModelEntry(
                    id=m.id,
                    size=m.size,
                    family=m.family,
                    parameter_size=m.parameter_size,
                    quantization=m.quantization,
                    modified_at=m.modified_at,
                )
                for m in models
            ],
            fetched_at=fetched_at,
            cached=cached,
        )

    async def pull_model(
        self,
        connection_id: str,
        model: str,
        settings: Settings,
        on_progress: PullCallback,
        requester: Requester | None = None,
        *,
        consent: ConsentPrompt | None = None,
    ) -> PullModelResult:
        conn = self.connections.get(connection_id)
        provider = self.providers.get(conn.provider_id)
        if not provider.capabilities.pull_model:
            raise ModelWireError(
                ErrorCode.UNSUPPORTED,
                f"{provider.display_name} connections cannot pull models.",
                "Pulling is an Ollama feature; other providers download models with their "
                "own tools.",
                connection_id=conn.id,
                provider_id=provider.id,
            )
        await self._consent(conn, requester, "pullModel", consent, True)
        last = "success"
        try:
            async with self.backends.lease(conn, settings) as adapter:
                async for item in adapter.pull_model(model):
                    last = item.status
                    on_progress(item.status, item.completed, item.total)
        except ModelWireError as exc:
            raise exc.with_context(connection_id=conn.id, provider_id=provider.id) from None
        self.backends.forget_models(conn.id)
        return PullModelResult(connection_id=conn.id, model=model, status=last)

    def status(self) -> StatusResult:
        backend, secure = self.secrets.backend_description()
        active, queued = self.runs.counts()
        return StatusResult(
            version=__version__,
            keyring_backend=backend,
            keyring_secure=secure,
            storage_path=str(self.store.path),
            storage_error=self.store.degraded_reason,
            active_runs=active,
            queued_runs=queued,
            connections=self.runs.load(),
        )

    async def aclose(self) -> None:
        await self.runs.shutdown()
        await self.backends.aclose()
        self.processes.close()
        self.store.close()
