"""The request inspector's store: the exact bodies a run sent to its model.

Bounded: a body larger than MAX_BODY_BYTES is kept as its first MAX_BODY_BYTES of JSON
text (marked truncated), a run keeps at most MAX_REQUESTS_PER_RUN requests, and only
the requests of the newest KEEP_RUNS runs are kept (older ones are pruned when a new
run stores its first request). docs/agents.md states these numbers.

Never a secret: the adapters put the API key in the Authorization header, never in a
body, and every stored text still goes through `redact` (key-shaped tokens and any key
in use right now), so a key pasted into a prompt is not kept either.
"""

from __future__ import annotations

import json
from typing import Any

from modelwire.clock import now_iso
from modelwire.core.store import Store
from modelwire.errors import redact
from modelwire.protocol import ModelRequestEntry

MAX_BODY_BYTES = 256 * 1024
MAX_REQUESTS_PER_RUN = 32
KEEP_RUNS = 200


class RequestLog:
    """Reads and writes the `run_requests` table."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add(
        self, run_id: str, connection_id: str | None, provider_id: str | None, body: Any
    ) -> None:
        text = redact(json.dumps(body, ensure_ascii=False, separators=(",", ":")))
        size = len(text.encode("utf-8"))
        truncated = size > MAX_BODY_BYTES
        if truncated:
            text = text.encode("utf-8")[:MAX_BODY_BYTES].decode("utf-8", "ignore")
        with self._store.transaction() as db:
            seq = db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM run_requests WHERE run_id = ?", (run_id,)
            ).fetchone()[0]
            if seq >= MAX_REQUESTS_PER_RUN:
                return
            if seq == 0:
                # A new run's first request: forget the requests of runs beyond the newest.
                db.execute(
                    "DELETE FROM run_requests WHERE run_id NOT IN (SELECT run_id FROM "
                    "runs ORDER BY seq DESC LIMIT ?)",
                    (KEEP_RUNS,),
                )
            db.execute(
                "INSERT INTO run_requests(run_id, seq, sent_at, connection_id, provider_id, "
                "body, body_bytes, truncated) VALUES (?,?,?,?,?,?,?,?)",
                (run_id, seq + 1, now_iso(), connection_id, provider_id, text, size, truncated),
            )

    def list(self, run_id: str) -> list[ModelRequestEntry]:
        rows = self._store.query(
            "SELECT * FROM run_requests WHERE run_id = ? ORDER BY seq", (run_id,)
        )
        entries: list[ModelRequestEntry] = []
        for row in rows:
            entry = ModelRequestEntry(
                seq=row["seq"],
                sent_at=row["sent_at"],
                connection_id=row["connection_id"],
                provider_id=row["provider_id"],
                body_bytes=row["body_bytes"],
            )
            if row["truncated"]:
                entry.truncated_body = row["body"]
            else:
                entry.body = json.loads(row["body"])
            entries.append(entry)
        return entries
