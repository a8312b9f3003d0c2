"""Named connections: the source of truth for routing.

Connections are held in memory and written through to the store. Other processes on
the same data folder write the store too: every write bumps the `connections`
generation in the same transaction, and a read first asks SQLite whether anyone else
committed (`PRAGMA data_version`, ~2 µs) and only then whether the generation moved,
so listing stays a memory read unless something changed. A connection's secret lives
in the OS keyring; the record only knows `has_secret`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable
from typing import Literal

from modelwire.clock import now_iso
from modelwire.core import peer_keys
from modelwire.core.connection_rows import connection_from_row
from modelwire.core.connection_rules import (
    EMBEDDED_CONNECTION_ID,
    EMBEDDED_CONNECTION_NAME,
    check_name,
    check_secret,
    connection_not_found,
    name_taken,
    validate_url,
)
from modelwire.core.providers import EMBEDDED_ID, PEER_BASE_URL, ProviderRegistry
from modelwire.core.secrets import Requester, SecretStore
from modelwire.core.store import CHANGES_TOPIC, Store, dumps
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import Connection, CreateConnectionParams, UpdateConnectionParams

# Re-exported: callers import these names from here.
__all__ = [
    "EMBEDDED_CONNECTION_ID",
    "EMBEDDED_CONNECTION_NAME",
    "ConnectionRegistry",
    "connection_not_found",
]

log = logging.getLogger(__name__)


class ConnectionRegistry:
    """Create / update / delete / list connections, validating them per provider."""

    def __init__(
        self,
        store: Store,
        providers: ProviderRegistry,
        secrets: SecretStore,
        embedded_available: Callable[[], bool] = lambda: False,
        embedded_model: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._store = store
        self._providers = providers
        self._secrets = secrets
        self._embedded_available = embedded_available
        self._embedded_model = embedded_model
        self._embedded_conn: Connection | Literal[False] | None = None
        self._by_id: dict[str, Connection] = {}
        self._listeners: list[Callable[[str], None]] = []
        self._subscribers: list[Callable[[list[str]], None]] = []
        self._data_version = -1
        self._generation = -1
        self._reload_lock = threading.Lock()
        self.refresh()

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Called with a connection id after it changes or is deleted (drop caches)."""
        self._listeners.append(listener)

    def subscribe(self, subscriber: Callable[[list[str]], None]) -> None:
        """Called with the ids of connections (or their consent) changed by any process
        on this data folder, this one included: tell the editor."""
        self._subscribers.append(subscriber)

    def _changed(self, connection_id: str) -> None:
        for listener in self._listeners:
            listener(connection_id)
        self._announce([connection_id])

    def _announce(self, ids: list[str]) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(ids)
            except Exception:  # a front door's failure must not undo a saved change
                log.exception("connection change subscriber failed")

    # --- keeping up with other processes ------------------------------------------------

    def refresh(self) -> list[str]:
        """Reload from the store when another process changed connections or consent;
        return the ids that changed (empty when nothing did: the common, cheap case)."""
        version = self._store.data_version()
        if version == self._data_version:
            return []
        with self._reload_lock:
            if version == self._data_version:
                return []
            self._data_version = version
            generation = self._store.generation(CHANGES_TOPIC)
            if generation == self._generation:
                return []
            self._generation = generation
            fresh = {
                conn.id: conn
                for conn in map(
                    connection_from_row,
                    self._store.query("SELECT * FROM connections ORDER BY created_at"),
                )
            }
            old, self._by_id = self._by_id, fresh
        # Empty when only consent changed: the editor re-reads all the same.
        changed = sorted(cid for cid in old.keys() | fresh.keys() if old.get(cid) != fresh.get(cid))
        for cid in changed:
            for listener in self._listeners:
                listener(cid)
        self._announce(changed)
        return changed

    def _write(self, sql: str, args: tuple[object, ...]) -> int:
        """One change plus the generation bump, committed together."""
        rowcount, generation = self._store.bump(CHANGES_TOPIC, sql, args)
        with self._reload_lock:
            # Ours was the only change since we last looked: nothing to reload for it.
            if generation == self._generation + 1:
                self._generation = generation
        return rowcount

    # --- reading --------------------------------------------------------------------

    def user_connections(self) -> list[Connection]:
        self.refresh()
        return list(self._by_id.values())

    def embedded(self) -> Connection | None:
        """The built-in Embedded connection, present when the embedded model is installed.

        Built once: it cannot change while the process runs, and listing is a hot path
        (status bars poll it) where the model-file lookup cost ~90 µs a call."""
        if self._embedded_conn is None:
            self._embedded_conn = self._build_embedded() or False
        return self._embedded_conn or None

    def _build_embedded(self) -> Connection | None:
        if not self._embedded_available():
            return None
        return Connection(
            id=EMBEDDED_CONNECTION_ID,
            name=EMBEDDED_CONNECTION_NAME,
            provider_id=EMBEDDED_ID,
            base_url="managed://embedded",
            # The name the managed server lists in /v1/models (the GGUF file's stem).
            default_model=self._embedded_model() or self._providers.get(EMBEDDED_ID).default_model,
            has_secret=False,
            created_at="1970-01-01T00:00:00.000Z",
            updated_at="1970-01-01T00:00:00.000Z",
        )

    def list(self) -> list[Connection]:
        self.refresh()
        conns = sorted(self._by_id.values(), key=lambda c: c.name.lower())
        embedded = self.embedded()
        return [*conns, embedded] if embedded else conns

    def get(self, connection_id: str) -> Connection:
        self.refresh()
        conn = self._by_id.get(connection_id)
        if conn is None and connection_id == EMBEDDED_CONNECTION_ID:
            conn = self.embedded()
        if conn is None:
            raise connection_not_found(connection_id)
        return conn

    def find(self, ref: str) -> Connection | None:
        """By id, else by name (case-insensitive, as names are unique that way)."""
        self.refresh()
        if ref in self._by_id:
            return self._by_id[ref]
        lowered = ref.strip().lower()
        for conn in self.list():
            if conn.name.lower() == lowered or conn.id == ref:
                return conn
        return None

    def resolve(self, ref: str) -> Connection:
        conn = self.find(ref)
        if conn is None:
            raise connection_not_found(ref)
        return conn

    # --- writing --------------------------------------------------------------------

    def create(
        self, params: CreateConnectionParams, *, ollama_base_url: str | None = None
    ) -> Connection:
        """Add a connection. Without a base URL it gets the provider's default, or for an
        Ollama-protocol provider `ollama_base_url` (the `modelwire.ollama.baseUrl`
        setting of the client that asks), loopback-checked like any other URL."""
        if params.provider_id == EMBEDDED_ID:
            raise ModelWireError(
                ErrorCode.INVALID_PARAMS,
                "The Embedded connection is built in and cannot be created.",
                "Use the connection named 'Embedded'.",
            )
        provider = self._providers.get(params.provider_id)
        name = check_name(params.name, self._by_id.values())
        default_url = (
            ollama_base_url
            if provider.protocol == "ollama" and ollama_base_url
            else provider.default_base_url
        )
        base_url = validate_url(self._providers, provider.id, params.base_url or default_url)
        stamp = now_iso()
        conn = Connection(
            id=str(uuid.uuid4()),
            name=name,
            provider_id=provider.id,
            base_url=base_url,
            default_model=params.default_model or None,
            has_secret=False,
            max_concurrent=params.max_concurrent,
            timeouts=params.timeouts,
            created_at=stamp,
            updated_at=stamp,
        )
        try:
            self._write(
                "INSERT INTO connections(id, name, provider_id, base_url, default_model, "
                "max_concurrent, timeouts, has_secret, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    conn.id,
                    conn.name,
                    conn.provider_id,
                    conn.base_url,
                    conn.default_model,
                    conn.max_concurrent,
                    dumps(conn.timeouts.wire() if conn.timeouts else None),
                    0,
                    stamp,
                    stamp,
                ),
            )
        except sqlite3.IntegrityError:
            raise name_taken(name) from None
        self._by_id[conn.id] = conn
        self._announce([conn.id])
        return conn

    def update(self, params: UpdateConnectionParams) -> Connection:
        current = self._editable(params.id)
        changes = params.model_dump(exclude_unset=True, exclude={"id"})
        name = (
            check_name(params.name, self._by_id.values(), except_id=current.id)
            if params.name
            else current.name
        )
        base_url = (
            validate_url(self._providers, current.provider_id, params.base_url)
            if params.base_url
            else current.base_url
        )
        updated = current.model_copy(
            update={
                "name": name,
                "base_url": base_url,
                "default_model": (params.default_model or None)
                if "default_model" in changes
                else current.default_model,
                "max_concurrent": params.max_concurrent
                if "max_concurrent" in changes
                else current.max_concurrent,
                "timeouts": params.timeouts if "timeouts" in changes else current.timeouts,
                "updated_at": now_iso(),
            }
        )
        try:
            self._write(
                "UPDATE connections SET name=?, base_url=?, default_model=?, max_concurrent=?, "
                "timeouts=?, updated_at=? WHERE id=?",
                (
                    updated.name,
                    updated.base_url,
                    updated.default_model,
                    updated.max_concurrent,
                    dumps(updated.timeouts.wire() if updated.timeouts else None),
                    updated.updated_at,
                    updated.id,
                ),
            )
        except sqlite3.IntegrityError:
            raise name_taken(name) from None
        self._by_id[updated.id] = updated
        self._changed(updated.id)
        return updated

    def delete(self, connection_id: str) -> bool:
        conn = self._editable(connection_id)
        if conn.has_secret:
            self._secrets.delete(conn.id)
        if conn.base_url == PEER_BASE_URL:
            peer_keys.forget(self._secrets, conn.id)
        self._write("DELETE FROM connections WHERE id = ?", (conn.id,))
        self._secrets.forget_connection(conn.id)
        self._by_id.pop(conn.id, None)
        self._changed(conn.id)
        return True

    def set_secret(
        self, connection_id: str, secret: str, requester: Requester | None = None
    ) -> Connection:
        conn = self._editable(connection_id)
        if self._providers.get(conn.provider_id).auth != "apiKey":
            raise ModelWireError(
                ErrorCode.INVALID_PARAMS,
                f"Connection {conn.name!r} uses a provider that takes no API key.",
                "Only connections to providers with auth 'apiKey' (such as OpenAI) take a key.",
                connection_id=conn.id,
            )
        peer = self._providers.get(conn.provider_id).protocol == "peer"
        check_secret(secret, conn.id, peer=peer)
        if peer:
            peer_keys.ensure_seed(self._secrets, conn.id)  # the stable client identity
        self._secrets.set(conn.id, secret.strip())
        self._secrets.audit(
            connection_id=conn.id, purpose="setSecret", decision="stored", requester=requester
        )
        return self._mark_secret(conn, True)

    def delete_secret(self, connection_id: str, requester: Requester | None = None) -> Connection:
        conn = self._editable(connection_id)
        if conn.has_secret:  # no key, no keyring access (works on a keyring-less machine)
            self._secrets.delete(conn.id)
            self._secrets.audit(
                connection_id=conn.id,
                purpose="deleteSecret",
                decision="deleted",
                requester=requester,
            )
        self._secrets.forget_connection(conn.id)
        return self._mark_secret(conn, False)

    def _mark_secret(self, conn: Connection, has_secret: bool) -> Connection:
        updated = conn.model_copy(update={"has_secret": has_secret, "updated_at": now_iso()})
        self._write(
            "UPDATE connections SET has_secret=?, updated_at=? WHERE id=?",
            (int(has_secret), updated.updated_at, conn.id),
        )
        self._by_id[conn.id] = updated
        self._changed(conn.id)
        return updated

    def _editable(self, connection_id: str) -> Connection:
        if connection_id == EMBEDDED_CONNECTION_ID:
            raise ModelWireError(
                ErrorCode.INVALID_PARAMS,
                "The Embedded connection is built in and cannot be changed.",
                "Configure the embedded model with MODELWIRE_EMBEDDED_MODEL.",
            )
        return self.get(connection_id)
