"""Run records in the store: one upsert per state change, output checkpoints, reads."""

from __future__ import annotations

import logging
from typing import Any

from modelwire.core.processes import ProcessTable
from modelwire.core.store import Store, dumps, loads
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import Routing, RunRecord, RunStep, RunUsage, Timings

log = logging.getLogger(__name__)


# The startRun result repeats the output only up to this size: the client already has
# the text from the delta events, and getRun returns it whole (docs/protocol.md).
RESULT_OUTPUT_MAX = 64 * 1024


def result_for_client(record: RunRecord) -> RunRecord:
    """The record as the startRun result: a large output is left out, not sent twice."""
    if len(record.output) <= RESULT_OUTPUT_MAX:
        return record
    return record.model_copy(update={"output": "", "output_omitted": True})


def run_not_found(run_id: str) -> ModelWireError:
    return ModelWireError(
        ErrorCode.RUN_NOT_FOUND,
        f"There is no run {run_id!r}.",
        "List runs with modelwire/listRuns.",
    )


_UNFINISHED = ("queued", "running")


class RunRecords:
    """Reads and writes the `runs` table. Each record carries its owner process; a
    queued or running record whose owner has ended reads (and is stored) as
    `interrupted` — checked on every read, so a crash shows at once everywhere."""

    def __init__(self, store: Store, processes: ProcessTable) -> None:
        self._store = store
        self._processes = processes

    def sweep_interrupted(self) -> int:
        """Mark unfinished runs whose owner process has ended as interrupted (never a
        live process's runs: another window may be streaming them right now)."""
        rows = self._store.query(
            "SELECT run_id, owner FROM runs WHERE status IN ('queued', 'running')"
        )
        return self._interrupt(rows)

    def _interrupt(self, rows: list[Any]) -> int:
        dead = self._processes.gone({r["owner"] for r in rows if r["owner"]})
        orphaned = [r["run_id"] for r in rows if not r["owner"] or r["owner"] in dead]
        changed = 0
        for run_id in orphaned:
            # The status guard keeps a record the owner finished meanwhile.
            changed += self._store.execute(
                "UPDATE runs SET status = 'interrupted' WHERE run_id = ? "
                "AND status IN ('queued', 'running')",
                (run_id,),
            )
        return changed

    def _fresh(self, rows: list[Any]) -> list[Any]:
        """Rows as they stand once dead owners' unfinished runs are interrupted."""
        me = self._processes.id
        suspects = [r for r in rows if r["status"] in _UNFINISHED and r["owner"] != me]
        if not suspects or not self._interrupt(suspects):
            return rows
        ids = {r["run_id"] for r in suspects}
        marks = ",".join("?" * len(ids))
        again = {
            r["run_id"]: r
            for r in self._store.query(f"SELECT * FROM runs WHERE run_id IN ({marks})", [*ids])
        }
        return [again.get(r["run_id"], r) for r in rows]

    def save(self, record: RunRecord) -> None:
        """Write the whole record (insert or update: one statement either way)."""
        self._store.execute(
            "INSERT INTO runs(run_id, agent_id, uri, connection_id, routing, status, timings, "
            "usage, finish_reason, error_code, error_message, output, diagnostics_count, "
            "owner, parent_run_id, parent_step, steps) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(run_id) DO UPDATE SET "
            "connection_id=excluded.connection_id, routing=excluded.routing, "
            "status=excluded.status, timings=excluded.timings, usage=excluded.usage, "
            "finish_reason=excluded.finish_reason, error_code=excluded.error_code, "
            "error_message=excluded.error_message, output=excluded.output, "
            "diagnostics_count=excluded.diagnostics_count, steps=excluded.steps",
            (
                record.run_id,
                record.agent_id,
                record.uri,
                record.routing.connection_id if record.routing else None,
                dumps(record.routing.wire() if record.routing else None),
                record.status,
                dumps(record.timings.wire()),
                dumps(record.usage.wire() if record.usage else None),
                record.finish_reason,
                record.error_code,
                record.error_message,
                record.output,
                record.diagnostics_count,
                self._processes.id,
                record.parent_run_id,
                record.parent_step,
                dumps([s.wire() for s in record.steps] if record.steps is not None else None),
            ),
        )
        if record.status not in _UNFINISHED:
            # The record now holds the whole output: the checkpoint parts are spent.
            self._store.execute("DELETE FROM run_output_parts WHERE run_id = ?", (record.run_id,))

    def checkpoint(self, run_id: str, new_output: str) -> None:
        """Append what arrived since the last checkpoint, as a new part: rewriting the
        whole output every second grew the store to 118 MB in a minute under a flood."""
        if not new_output:
            return
        try:
            self._store.execute(
                "INSERT INTO run_output_parts(run_id, text) VALUES (?, ?)", (run_id, new_output)
            )
        except ModelWireError as exc:
            log.warning("run %s: output checkpoint failed: %s", run_id, exc.message)

    def save_steps(self, record: RunRecord) -> None:
        """Only the steps: written on every step change, so it stays one small UPDATE."""
        steps = dumps([s.wire() for s in record.steps or []])
        try:
            self._store.execute("UPDATE runs SET steps=? WHERE run_id=?", (steps, record.run_id))
        except ModelWireError as exc:
            log.warning("run %s: steps not saved: %s", record.run_id, exc.message)

    def children(self, run_ids: list[str]) -> list[RunRecord]:
        """The child runs of these runs (one level), oldest first."""
        if not run_ids:
            return []
        marks = ",".join("?" * len(run_ids))
        rows = self._store.query(
            f"SELECT * FROM runs WHERE parent_run_id IN ({marks}) ORDER BY seq", run_ids
        )
        return [record_from_row(r, include_output=False) for r in rows]

    def exists(self, run_id: str) -> bool:
        return bool(self._store.query("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)))

    def _with_parts(self, record: RunRecord) -> RunRecord:
        """An unfinished or interrupted run's output is its checkpointed parts."""
        if record.status in ("queued", "running", "interrupted") and not record.output:
            parts = self._store.query(
                "SELECT text FROM run_output_parts WHERE run_id = ? ORDER BY part",
                (record.run_id,),
            )
            record.output = "".join(p["text"] for p in parts)
        return record

    def get(self, run_id: str) -> RunRecord:
        rows = self._store.query("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            raise run_not_found(run_id)
        return self._with_parts(record_from_row(self._fresh(rows)[0], include_output=True))

    def list(
        self, limit: int, uri: str | None = None, include_output: bool = False
    ) -> list[RunRecord]:
        if uri:
            rows = self._store.query(
                "SELECT * FROM runs WHERE uri = ? ORDER BY seq DESC LIMIT ?", (uri, limit)
            )
        else:
            rows = self._store.query("SELECT * FROM runs ORDER BY seq DESC LIMIT ?", (limit,))
        records = [record_from_row(r, include_output) for r in self._fresh(rows)]
        return [self._with_parts(r) for r in records] if include_output else records


def record_from_row(row: Any, include_output: bool) -> RunRecord:
    routing = loads(row["routing"])
    usage = loads(row["usage"])
    steps = loads(row["steps"])
    return RunRecord(
        run_id=row["run_id"],
        agent_id=row["agent_id"],
        uri=row["uri"],
        routing=Routing.model_validate(routing) if routing else None,
        status=row["status"],
        timings=Timings.model_validate(loads(row["timings"])),
        usage=RunUsage.model_validate(usage) if usage else None,
        finish_reason=row["finish_reason"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        output=row["output"] if include_output else "",
        diagnostics_count=row["diagnostics_count"],
        parent_run_id=row["parent_run_id"],
        parent_step=row["parent_step"],
        steps=[RunStep.model_validate(s) for s in steps] if steps is not None else None,
    )
