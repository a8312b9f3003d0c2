"""An orchestrator run inside the run service: its loop, its steps, its child runs.

The loop (core/orchestrator.py) gets a model turn on the run's own routing, holding the
connection's slot for that turn only, and a child starter. A child is an ordinary run
(`RunService.start`): routed like any run (its per-agent setting first), asked for
consent and audited for its own connection, recorded with `parentRunId` and the step
that started it, its events tagged with the parent's id. It runs in its own task so
that cancelling the child alone is a tool result for the parent, while cancelling the
parent cancels the child first (awaiting a task passes the cancellation down).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from modelwire.adapters.base import ChatRequest, Finish
from modelwire.core.orchestrator import AgentChoice, Budget, ChildOutcome, Loop
from modelwire.core.providers import EMBEDDED_ID
from modelwire.core.run_progress import RunProgress
from modelwire.core.run_types import RunContext, RunRequest, _Job
from modelwire.core.workspace_tools import Workspace
from modelwire.errors import ModelWireError
from modelwire.protocol import Position, Range, RunRecord, RunStep
from modelwire.run_events import RunEvent, StepEvent

if TYPE_CHECKING:
    from modelwire.core.runs import RunService


def step_event(step: RunStep) -> StepEvent:
    """The `step` run event of a tool call (docs/protocol.md); the summary comes with
    the duration, once the step has ended."""
    ended = step.duration_ms is not None
    return StepEvent(
        step=step.index,
        tool=step.tool,
        target=step.target,
        outcome=step.outcome,
        child_run_id=step.child_run_id or None,
        error_code=step.error_code or None,
        duration_ms=step.duration_ms,
        summary=step.summary if ended else None,
    )


def _workspace(folder: Path | None) -> Workspace | None:
    if folder is None:
        return None
    try:
        return Workspace(folder)
    except OSError:
        return None


async def orchestrate(
    service: RunService,
    job: _Job,
    ctx: RunContext,
    record: RunRecord,
    progress: RunProgress,
) -> None:
    """Run `job`'s orchestrator loop to its answer (or a budget's error)."""
    agents = ctx.settings.agents
    budget = Budget(
        max_steps=agents.max_steps,
        max_depth=agents.max_depth,
        total_seconds=agents.total_seconds,
        prompt_max_bytes=ctx.settings.limits.prompt_max_bytes,
    )
    deadline = job.req.deadline or asyncio.get_running_loop().time() + budget.total_seconds
    uses = [
        AgentChoice(a.id, a.description)
        for a in service.agents_for(ctx.folder)
        if a.id in job.agent.uses
    ]
    record.steps = []

    def on_step(step: RunStep) -> None:
        service.save_steps(record)
        progress.flush()  # the text so far comes before the step, as it happened
        progress.send(step_event(step))

    async def turn(request: ChatRequest) -> tuple[str, Finish]:
        return await service.turn(job, ctx, record, progress, request, take_slot=True)

    async def start_child(
        agent_id: str,
        input_text: str | None,
        lines: tuple[int, int] | None,
        step: int,
        on_started: Callable[[str], None],
    ) -> ChildOutcome:
        child_id = str(uuid.uuid4())
        on_started(child_id)
        parent_id = record.run_id

        def emit(event: RunEvent) -> None:
            ctx.emit(event.model_copy(update={"parent_run_id": parent_id}))

        rng = None
        if lines is not None:
            rng = Range(
                start=Position(line=lines[0] - 1, character=0),
                end=Position(line=lines[1] - 1, character=0),
            )
        request = RunRequest(
            agent_id=agent_id,
            uri=job.req.uri,
            range=rng,
            run_id=child_id,
            parent_run_id=parent_id,
            parent_step=step,
            depth=job.req.depth + 1,
            input_text=input_text,
            deadline=deadline,
        )
        # Findings land in the Problems panel only when they are about the file itself.
        child_ctx = dataclasses.replace(
            ctx,
            emit=emit,
            publish_diagnostics=ctx.publish_diagnostics if input_text is None else None,
        )
        task = asyncio.ensure_future(service.start(request, child_ctx))
        try:
            child = await task
        except ModelWireError as exc:
            return ChildOutcome(child_id, "failed", "", exc.code.value, exc.message)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this run is being cancelled: the child was cancelled with it
            return ChildOutcome(child_id, "cancelled", "", "GENERATION_ABORTED", "cancelled")
        return ChildOutcome(child.run_id, child.status, child.output)

    loop = Loop(
        model=job.routing.model_ref,
        max_tokens=job.agent.max_tokens,
        tools=job.agent.tools,
        uses=uses,
        first_tool=job.agent.first_tool,
        # llama.cpp's server (the embedded model) picks tools reliably only when forced.
        forced_only=job.routing.provider_id == EMBEDDED_ID,
        workspace=_workspace(ctx.folder),
        budget=budget,
        depth=job.req.depth,
        deadline=deadline,
        turn=turn,
        start_child=start_child,
        on_step=on_step,
    )
    record.steps = loop.steps
    messages = job.agent_messages()
    finish = await loop.run(messages)
    record.finish_reason = finish.finish_reason
