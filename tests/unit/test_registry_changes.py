"""Connection edits from a worker thread (the LSP door validates there) retire the old
adapter on the event loop that owns it: its HTTP client is closed, not leaked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from testkit.doubles.ollama_double import OllamaDouble

from modelwire.core.app import ModelWire
from modelwire.core.settings import Settings
from modelwire.protocol import CreateConnectionParams, UpdateConnectionParams

BOUND = 5.0


def _client_of(core: ModelWire, connection_id: str) -> httpx.AsyncClient:
    adapter = core.backends._slots[connection_id].adapter
    client = adapter._client  # type: ignore[attr-defined]
    assert isinstance(client, httpx.AsyncClient)
    return client


async def _closed(client: httpx.AsyncClient) -> None:
    async with asyncio.timeout(BOUND):
        while not client.is_closed:
            await asyncio.sleep(0.01)


async def test_an_edit_from_a_worker_thread_closes_the_replaced_client(tmp_path: Path) -> None:
    core = ModelWire(tmp_path, load_plugins=False)
    with OllamaDouble() as first, OllamaDouble() as second:
        conn = core.connections.create(
            CreateConnectionParams(name="Local", provider_id="ollama", base_url=first.url)
        )
        assert (await core.test_connection(conn.id, Settings())).reachable
        old = _client_of(core, conn.id)

        await asyncio.to_thread(
            core.connections.update, UpdateConnectionParams(id=conn.id, base_url=second.url)
        )

        await _closed(old)
        assert (await core.test_connection(conn.id, Settings())).reachable
        assert _client_of(core, conn.id) is not old
        await core.aclose()


async def test_a_delete_from_a_worker_thread_closes_the_client(tmp_path: Path) -> None:
    core = ModelWire(tmp_path, load_plugins=False)
    with OllamaDouble() as double:
        conn = core.connections.create(
            CreateConnectionParams(name="Local", provider_id="ollama", base_url=double.url)
        )
        await core.test_connection(conn.id, Settings())
        old = _client_of(core, conn.id)

        await asyncio.to_thread(core.connections.delete, conn.id)

        await _closed(old)
        assert conn.id not in core.backends._slots
        await core.aclose()


async def test_a_change_made_by_another_process_closes_the_client_here(tmp_path: Path) -> None:
    core = ModelWire(tmp_path, load_plugins=False)
    other = ModelWire(tmp_path, load_plugins=False)  # its own store connection: a peer
    with OllamaDouble() as first, OllamaDouble() as second:
        conn = core.connections.create(
            CreateConnectionParams(name="Local", provider_id="ollama", base_url=first.url)
        )
        await core.test_connection(conn.id, Settings())
        old = _client_of(core, conn.id)

        other.connections.update(UpdateConnectionParams(id=conn.id, base_url=second.url))
        assert core.connections.refresh() == [conn.id]

        await _closed(old)
        assert core.connections.get(conn.id).base_url == second.url
        await other.aclose()
        await core.aclose()
