"""Each connection's concurrency limit and queue size, and the load of every process."""

from __future__ import annotations

from modelwire.core.connections import ConnectionRegistry
from modelwire.core.providers import ProviderRegistry
from modelwire.core.settings import Settings
from modelwire.core.shared_lanes import SharedLanes
from modelwire.protocol import ConnectionLoad


class ConnectionLimits:
    """Limits by connection and settings; what `status` shows per connection."""

    def __init__(
        self, connections: ConnectionRegistry, providers: ProviderRegistry, lanes: SharedLanes
    ) -> None:
        self._connections = connections
        self._providers = providers
        self._lanes = lanes
        self._last: dict[str, tuple[int, int]] = {}  # in force at this process's last run

    def of(self, connection_id: str, settings: Settings) -> tuple[int, int]:
        """(concurrency limit, queue size) of a connection under these settings."""
        conn = self._connections.get(connection_id)
        provider = self._providers.get(conn.provider_id)
        local_single = provider.protocol == "ollama" or provider.id == "embedded"
        limit = conn.max_concurrent or (
            settings.limits.max_concurrent_ollama
            if local_single
            else settings.limits.max_concurrent_other
        )
        self._last[connection_id] = (limit, settings.limits.queue_size)
        return limit, settings.limits.queue_size

    def load(self) -> list[ConnectionLoad]:
        """Active and queued runs per connection, of every live process. The limits are
        this process's last ones (or the defaults, for connections it has not run)."""
        loads: list[ConnectionLoad] = []
        for lane in self._lanes.load():
            conn = self._connections.find(lane.connection_id)
            limit, queue = self._last.get(lane.connection_id) or (
                self.of(lane.connection_id, Settings()) if conn else (0, 0)
            )
            loads.append(
                ConnectionLoad(
                    connection_id=lane.connection_id,
                    connection_name=conn.name if conn else "(deleted)",
                    active=lane.active,
                    queued=lane.queued,
                    limit=limit,
                    queue_limit=queue,
                )
            )
        return loads

    def counts(self) -> tuple[int, int]:
        lanes = self._lanes.load()
        return sum(lane.active for lane in lanes), sum(lane.queued for lane in lanes)
