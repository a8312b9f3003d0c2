"""Discovered model lists, kept in the store so every process shares them.

A model list is fetched from the server once and served from here until someone asks
to refresh (`listModels` with `refresh`, `modelwire models --refresh`), pulls a model,
or changes the connection. Being in the store is what lets a CLI call reuse what the
previous call (or an editor's sidecar) fetched, and `--refresh` mean something.
"""

from __future__ import annotations

import dataclasses
import json
import logging

from modelwire.adapters.base import ModelInfo
from modelwire.core.store import Store
from modelwire.errors import ModelWireError

log = logging.getLogger(__name__)


class ModelLists:
    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, connection_id: str) -> tuple[list[ModelInfo], str] | None:
        try:
            rows = self._store.query(
                "SELECT models, fetched_at FROM model_lists WHERE connection_id = ?",
                (connection_id,),
            )
        except ModelWireError as exc:
            log.warning("model list cache unreadable: %s", exc.message)
            return None
        if not rows:
            return None
        try:
            models = [ModelInfo(**entry) for entry in json.loads(rows[0]["models"])]
        except (TypeError, ValueError):
            return None  # written by another version: fetch again
        return models, str(rows[0]["fetched_at"])

    def put(self, connection_id: str, models: list[ModelInfo], fetched_at: str) -> None:
        doc = json.dumps([dataclasses.asdict(m) for m in models], separators=(",", ":"))
        try:
            self._store.execute(
                "INSERT INTO model_lists(connection_id, models, fetched_at) VALUES (?,?,?) "
                "ON CONFLICT(connection_id) DO UPDATE SET models=excluded.models, "
                "fetched_at=excluded.fetched_at",
                (connection_id, doc, fetched_at),
            )
        except ModelWireError as exc:  # a cache that cannot be written is only slower
            log.warning("model list cache not written: %s", exc.message)

    def forget(self, connection_id: str) -> None:
        try:
            self._store.execute("DELETE FROM model_lists WHERE connection_id = ?", (connection_id,))
        except ModelWireError as exc:
            log.warning("model list cache not cleared: %s", exc.message)
