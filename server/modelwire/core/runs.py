"""The run service: one agent execution from request to record.

docs/architecture.md follows one run through it.

A run is recorded as soon as it is accepted, routed (connection + model, with the
source of that choice), queued on its connection's lane, streamed from the adapter to
the editor as `runEvent`s, and finished as succeeded / failed / cancelled. The record
is written at each state change and the output is checkpointed while streaming, so a
crash loses at most the last second of text and the run reads `interrupted`.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelwire.adapters.base import (
    ChatRequest,
    Finish,
)
from modelwire.clock import now_iso
from modelwire.core.agents import (
    Agent,
    AgentCatalog,
    count_lines,
    parse_findings,
)
from modelwire.core.backends import BackendPool
from modelwire.core.connection_load import ConnectionLimits
from modelwire.core.connections import ConnectionRegistry
from modelwire.core.consent import ConsentGate
from modelwire.core.documents import read_document, select_lines
from modelwire.core.lanes import model_busy
from modelwire.core.processes import ProcessTable
from modelwire.core.providers import ProviderRegistry
from modelwire.core.request_log import RequestLog
from modelwire.core.routing import resolve_routing
from modelwire.core.run_children import orchestrate
from modelwire.core.run_progress import RunProgress
from modelwire.core.run_records import RunRecords, run_not_found
from modelwire.core.run_served import prepare_served
from modelwire.core.run_turn import TurnRunner
from modelwire.core.run_types import RunContext, RunRequest, ServedPrompt, _Job
from modelwire.core.secrets import SecretStore
from modelwire.core.shared_lanes import SharedLanes, SlotHold
from modelwire.core.store import Store
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import (
    ConnectionLoad,
    ModelRequestEntry,
    RunRecord,
    RunStatus,
    Timings,
)
from modelwire.run_events import EndEvent, ErrorEvent, QueuedEvent, StartedEvent

log = logging.getLogger(__name__)

# Re-exported: the front doors build these and pass them to RunService.start.
__all__ = ["RunContext", "RunRequest", "RunService", "ServedPrompt"]


@dataclass(slots=True)
class _Active:
    run_id: str
    connection_id: str | None
    task: asyncio.Task[Any] | None
    cancel_requested: bool = False


class RunService:
    """Starts, streams, cancels and records runs."""

    def __init__(
        self,
        store: Store,
        providers: ProviderRegistry,
        connections: ConnectionRegistry,
        secrets: SecretStore,
        agents: AgentCatalog,
        backends: BackendPool,
        processes: ProcessTable,
    ) -> None:
        self._records = RunRecords(store, processes)
        self.consent_gate = ConsentGate(providers, secrets)
        self.requests = RequestLog(store)
        self._turns = TurnRunner(backends, self._records, self.requests)
        self._providers = providers
        self._connections = connections
        self._agents = agents
        self._backends = backends
        self.lanes = SharedLanes(store, processes)
        self.limits = ConnectionLimits(connections, providers, self.lanes)
        self._active: dict[str, _Active] = {}
        self.interrupted_on_start = self._records.sweep_interrupted()

    # --- lanes ----------------------------------------------------------------------

    def load(self) -> list[ConnectionLoad]:
        """Active and queued runs per connection, of every process on the data folder."""
        return self.limits.load()

    # --- cancellation ---------------------------------------------------------------

    def cancel(self, run_id: str) -> bool:
        active = self._active.get(run_id)
        if active is None:
            if not self._records.exists(run_id):
                raise run_not_found(run_id)
            return False  # already finished
        active.cancel_requested = True
        if active.task is not None and not active.task.done():
            active.task.cancel()
        return True

    async def shutdown(self, within: float = 3.0) -> None:
        """Cancel every run and let each record its end before the store closes."""
        tasks = [a.task for a in self._active.values() if a.task is not None and not a.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=within)

    # --- records --------------------------------------------------------------------

    def get(self, run_id: str) -> RunRecord:
        return self._records.get(run_id)

    def list(
        self, limit: int, uri: str | None = None, include_output: bool = False
    ) -> list[RunRecord]:
        return self._records.list(limit, uri, include_output)

    def exists(self, run_id: str) -> bool:
        return self._records.exists(run_id)

    def requests_of(self, run_id: str) -> builtins.list[ModelRequestEntry]:
        """The model requests a run sent (the request inspector)."""
        if not self._records.exists(run_id):
            raise run_not_found(run_id)
        return self.requests.list(run_id)

    def children(self, run_ids: builtins.list[str]) -> builtins.list[RunRecord]:
        return self._records.children(run_ids)

    def agents_for(self, folder: Path | None) -> builtins.list[Agent]:
        return self._agents.list(folder)

    def save_steps(self, record: RunRecord) -> None:
        self._records.save_steps(record)

    def counts(self) -> tuple[int, int]:
        """Active and queued runs of every process on the data folder."""
        return self.limits.counts()

    # --- the run --------------------------------------------------------------------

    async def start(self, req: RunRequest, ctx: RunContext) -> RunRecord:
        """Run to completion and return the final record; raises ModelWireError on
        failure and CancelledError when cancelled (after recording either)."""
        run_id = req.run_id or str(uuid.uuid4())
        t0 = time.perf_counter()
        record = RunRecord(
            run_id=run_id,
            agent_id=req.agent_id,
            uri=req.uri,
            status="queued",
            timings=Timings(queued_at=now_iso()),
            parent_run_id=req.parent_run_id,
            parent_step=req.parent_step,
        )
        progress = RunProgress(
            run_id, ctx.emit, req.client_run_id, ctx.settings.limits.output_max_chars
        )
        active = _Active(run_id, None, asyncio.current_task())
        self._active[run_id] = active
        lane: SlotHold | None = None
        notice: str | None = None
        try:
            job = self._prepare(req, ctx)
            record.routing = job.routing
            active.connection_id = job.conn.id
            self._records.save(record)  # the first write: queued, with its routing
            # Ask before queueing: the prompt shows at once, and a denied run never
            # holds a slot other runs wait for. The time the user spends deciding is
            # theirs, not the run's: it is left out of the timings.
            asked_at = time.perf_counter()
            await self.consent_gate.require(job.conn, ctx.requester, ctx.consent, run_id)
            t0 += time.perf_counter() - asked_at

            if job.agent.orchestrates:
                # An orchestrator takes its connection's slot per model turn, not for the
                # whole run: its children may need the same connection meanwhile.
                self._mark_running(record, job, progress)
                await orchestrate(self, job, ctx, record, progress)
            else:
                lane = await self._acquire(job, ctx, progress)
                self._mark_running(record, job, progress)
                await self._stream(job, ctx, record, progress)
            record.output = progress.text
            if job.agent.output == "diagnostics":
                notice = self._publish_findings(job, ctx, record)
            record.status = "succeeded"
            return record
        except asyncio.CancelledError:
            self._fail(
                record,
                progress,
                "cancelled",
                ModelWireError(
                    ErrorCode.GENERATION_ABORTED, "The run was cancelled.", "", retryable=False
                ),
            )
            raise
        except ModelWireError as exc:
            if record.routing is not None:
                exc.with_context(
                    connection_id=record.routing.connection_id,
                    provider_id=record.routing.provider_id,
                )
            self._fail(record, progress, "failed", exc)
            raise
        except Exception as exc:
            # A bug must fail this run, not the sidecar.
            log.exception("run %s failed unexpectedly", run_id)
            err = ModelWireError(
                ErrorCode.INTERNAL,
                f"Internal error: {type(exc).__name__}",
                "This is a bug in ModelWire; the sidecar log has details.",
            )
            self._fail(record, progress, "failed", err)
            raise err from exc
        finally:
            if lane is not None:
                self.lanes.release(lane)
            self._active.pop(run_id, None)
            record.timings.total_ms = round((time.perf_counter() - t0) * 1000, 2)
            record.timings.finished_at = now_iso()
            try:
                self._records.save(record)
            except ModelWireError as exc:
                log.error("run %s: could not save its record: %s", run_id, exc.message)
            progress.send(
                EndEvent(
                    status=record.status,
                    finish_reason=record.finish_reason,
                    usage=record.usage,
                    timings=record.timings,
                    error_code=record.error_code,
                    notice=notice,
                )
            )

    async def _acquire(self, job: _Job, ctx: RunContext, progress: RunProgress) -> SlotHold:
        """Wait for a generation slot on the run's connection, in the queue shared by
        every process (MODEL_BUSY when it is full, or at once with `ctx.queue` off)."""
        limit, queue = self.limits.of(job.conn.id, ctx.settings)
        if job.req.served is not None and job.req.served.exclusive:
            # A served P2P prompt never queues, and never runs beside the owner's runs
            # (in any process on this data folder).
            if self.lane_in_use(job.conn.id):
                raise model_busy(job.conn.name, limit, 0, job.conn.id)
            queue = 0
        return await self.lanes.acquire(
            job.conn.id,
            progress.run_id,
            limit,
            queue if ctx.queue else 0,
            lambda position: progress.send(
                QueuedEvent(position=position, connection_id=job.conn.id)
            ),
            lambda: model_busy(job.conn.name, limit, queue if ctx.queue else 0, job.conn.id),
        )

    def _mark_running(self, record: RunRecord, job: _Job, progress: RunProgress) -> None:
        record.status = "running"
        record.timings.started_at = now_iso()
        self._records.save(record)
        progress.send(StartedEvent(routing=job.routing))

    def lane_in_use(self, connection_id: str) -> bool:
        """Whether a run is active or queued on the connection, in any process."""
        return any(
            load.connection_id == connection_id and (load.active or load.queued)
            for load in self.lanes.load()
        )

    def _prepare(self, req: RunRequest, ctx: RunContext) -> _Job:
        """Everything decided before any network call: agent, text, size, routing."""
        if req.served is not None:
            return prepare_served(req, req.served, ctx, self._connections, self._providers)
        agent = self._agents.get(req.agent_id, ctx.folder)
        if agent.needs_prompt and not req.prompt:
            raise ModelWireError(
                ErrorCode.INVALID_PARAMS,
                f"The {agent.id} agent needs a prompt: the user's request.",
                "Send it in startRun's `prompt`.",
            )
        doc = ctx.document(req.uri) or read_document(
            req.uri, ctx.settings.limits.prompt_max_bytes, ctx.folder
        )
        focus: tuple[int, int] | None = None
        if req.input_text is not None:  # an orchestrator gave its child this text to work on
            text, selection = req.input_text, None
        elif req.range is not None and agent.input == "file":
            # A whole-file agent reads the whole file; the selection says where to look.
            text, selection = doc.text, None
            focus = select_lines(doc.text, req.range)[1]
        else:
            text, selection = select_lines(doc.text, req.range) if req.range else (doc.text, None)
        size = len(text.encode("utf-8")) + len((req.prompt or "").encode("utf-8"))
        if size > ctx.settings.limits.prompt_max_bytes:
            raise ModelWireError(
                ErrorCode.PROMPT_TOO_LARGE,
                f"The text is {size // 1024} KiB; the limit is "
                f"{ctx.settings.limits.prompt_max_kib} KiB.",
                f"The {agent.id} agent reads the whole file: raise modelwire.limits.promptMaxKiB, "
                "or run an agent that reads a selection."
                if agent.input == "file"
                else "Run the agent on a selection, or raise modelwire.limits.promptMaxKiB.",
            )
        routing = resolve_routing(
            connection_id=req.connection_id,
            model_ref=req.model_ref,
            settings=ctx.settings,
            connections=self._connections,
            providers=self._providers,
            agent_id=agent.id,
        )
        conn = self._connections.get(routing.connection_id)
        return _Job(req, agent, doc, text, selection, routing, conn, focus)

    async def _stream(
        self, job: _Job, ctx: RunContext, record: RunRecord, progress: RunProgress
    ) -> None:
        """One plain run: the agent's prompt (or a served P2P prompt), one streamed answer."""
        served = job.req.served
        messages = served.messages if served is not None else job.agent_messages()
        request = ChatRequest(
            model=job.routing.model_ref,
            messages=messages,
            max_tokens=job.agent.max_tokens,
            temperature=job.agent.temperature,
        )
        _, finish = await self.turn(job, ctx, record, progress, request)
        record.finish_reason = finish.finish_reason

    async def turn(
        self,
        job: _Job,
        ctx: RunContext,
        record: RunRecord,
        progress: RunProgress,
        request: ChatRequest,
        *,
        take_slot: bool = False,
    ) -> tuple[str, Finish]:
        """Send one model request and stream its answer into the run's events, adding up
        usage and checkpointing the output; returns this turn's text and its Finish.
        `take_slot` holds the connection's slot for just this turn (orchestrators)."""
        lane = await self._acquire(job, ctx, progress) if take_slot else None
        try:
            return await self._turns.run(
                job.conn, job.routing, ctx.settings, ctx.requester, record, progress, request
            )
        finally:
            if lane is not None:
                self.lanes.release(lane)

    def _publish_findings(self, job: _Job, ctx: RunContext, record: RunRecord) -> str | None:
        """Review output → diagnostics; returns a notice when the answer was unreadable."""
        findings, problem = parse_findings(
            record.output,
            line_offset=job.selection[0] if job.selection else 0,
            line_count=count_lines(job.text),
        )
        record.diagnostics_count = len(findings)
        if ctx.publish_diagnostics is not None:
            ctx.publish_diagnostics(job.req.uri, findings, job.agent)
        return problem

    @staticmethod
    def _fail(
        record: RunRecord, progress: RunProgress, status: RunStatus, exc: ModelWireError
    ) -> None:
        """Record how the run ended and tell the client (the `error` event)."""
        progress.flush()
        record.output = progress.text
        record.status = status
        record.error_code = exc.code.value
        record.error_message = exc.message
        progress.send(ErrorEvent.of(exc.to_data()))
