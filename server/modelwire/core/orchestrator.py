"""The orchestrator loop (docs/agents.md): model turn, tool calls, results, again.

The model gets tool definitions; every call it makes is one step, executed here and
answered with a `tool` message, until a turn ends without calls (the answer) or a
budget ends the run: steps, delegation depth, total time, prompt size. Tool errors
(a refused path, an unknown agent, a failed child run) go back to the model as the
tool's result and the loop continues; only budgets and model failures end the run.

This module decides nothing about connections or records: the run service hands it a
`ModelTurn` (one streamed model request on the run's own routing) and a `ChildStarter`
(a child run, routed like any run), and is told about every step through `on_step`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from modelwire.adapters.base import ChatMessage, ChatRequest, Finish, ToolCall, ToolSpec
from modelwire.clock import now_iso
from modelwire.core.workspace_tools import (
    MAX_READ_BYTES,
    ToolError,
    Workspace,
)
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import RunStep, StepOutcome

T = TypeVar("T")

WORKSPACE_TOOLS = ("read_file", "list_files", "search")
RUN_AGENT = "run_agent"
# What one tool result may add to the conversation, and what a step record keeps.
MAX_RESULT_CHARS = 16 * 1024
SUMMARY_CHARS = 400
MAX_STORED_ARGUMENT_CHARS = 2048
# A child failing for these reasons fails its parent too: continuing would only repeat it.
_PROPAGATED = frozenset({ErrorCode.DELEGATION_TOO_DEEP.value})


@dataclass(frozen=True, slots=True)
class Budget:
    """Limits of one orchestrator run; docs/agents.md lists them."""

    max_steps: int = 8
    max_depth: int = 2
    total_seconds: float = 600.0
    prompt_max_bytes: int = 256 * 1024


@dataclass(frozen=True, slots=True)
class ChildOutcome:
    run_id: str
    status: str
    output: str
    error_code: str | None = None
    error_message: str | None = None


class ModelTurn(Protocol):
    """One model request on the run's routing; streams text into the run's output and
    returns the turn's text and its Finish (with the tool calls)."""

    async def __call__(self, request: ChatRequest) -> tuple[str, Finish]: ...


class ChildStarter(Protocol):
    """Run `agent_id` as a child of this run (step `step`) and wait for its end.

    Raises CancelledError only when this run itself is cancelled; a child that fails
    or is cancelled on its own comes back as a ChildOutcome."""

    async def __call__(
        self,
        agent_id: str,
        input_text: str | None,
        lines: tuple[int, int] | None,
        step: int,
        on_started: Callable[[str], None],
    ) -> ChildOutcome: ...


@dataclass(frozen=True, slots=True)
class AgentChoice:
    """An agent the orchestrator may delegate to, as the model is told about it."""

    id: str
    description: str


def tool_specs(tools: Sequence[str], uses: Sequence[AgentChoice]) -> tuple[ToolSpec, ...]:
    """The tool definitions an orchestrator's model gets."""
    specs: list[ToolSpec] = []
    if uses:
        listing = "; ".join(f"{a.id}: {a.description}" for a in uses)
        specs.append(
            ToolSpec(
                RUN_AGENT,
                "Run another agent and get its answer. By default it works on the open "
                "file; give `input` to run it on that text instead, or startLine/endLine "
                f"(1-based) to point it at part of the file. Agents: {listing}",
                {
                    "type": "object",
                    "properties": {
                        "agent": {"type": "string", "enum": [a.id for a in uses]},
                        "input": {"type": "string"},
                        "startLine": {"type": "integer", "minimum": 1},
                        "endLine": {"type": "integer", "minimum": 1},
                    },
                    "required": ["agent"],
                },
            )
        )
    if "read_file" in tools:
        specs.append(
            ToolSpec(
                "read_file",
                "Read a text file of the workspace (path relative to the workspace folder).",
                {
                    "type": "object",
                    "properties": {"path": {"type": "string"}},
                    "required": ["path"],
                },
            )
        )
    if "list_files" in tools:
        specs.append(
            ToolSpec(
                "list_files",
                "List workspace files matching a glob such as **/*.py.",
                {"type": "object", "properties": {"glob": {"type": "string"}}},
            )
        )
    if "search" in tools:
        specs.append(
            ToolSpec(
                "search",
                "Find lines containing a plain text (case-insensitive) in the workspace.",
                {
                    "type": "object",
                    "properties": {"text": {"type": "string"}},
                    "required": ["text"],
                },
            )
        )
    return tuple(specs)


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stored_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(arguments, ensure_ascii=False)
    if len(text) <= MAX_STORED_ARGUMENT_CHARS:
        return arguments
    return {"truncated": _cap(text, MAX_STORED_ARGUMENT_CHARS)}


def _target(call: ToolCall) -> str:
    key = {"run_agent": "agent", "read_file": "path", "list_files": "glob", "search": "text"}
    value = call.arguments.get(key.get(call.name, ""), "")
    return _cap(value if isinstance(value, str) else json.dumps(value), 120)


def _size(messages: Sequence[ChatMessage]) -> int:
    total = 0
    for m in messages:
        total += len(m.content.encode("utf-8"))
        for c in m.tool_calls:
            total += len(json.dumps(c.arguments))
    return total


class Loop:
    """One orchestrator run's conversation with its model."""

    def __init__(
        self,
        *,
        model: str,
        max_tokens: int | None,
        tools: Sequence[str],
        uses: Sequence[AgentChoice],
        first_tool: str | None,
        forced_only: bool,
        workspace: Workspace | None,
        budget: Budget,
        depth: int,
        deadline: float,
        turn: ModelTurn,
        start_child: ChildStarter,
        on_step: Callable[[RunStep], None],
    ) -> None:
        self._model = model
        self._max_tokens = max_tokens
        self._tools = tuple(t for t in tools if t in WORKSPACE_TOOLS)
        self._uses = {a.id for a in uses}
        self._specs = tool_specs(self._tools, uses)
        self._first_tool = first_tool if first_tool in {s.name for s in self._specs} else None
        self._forced_only = forced_only
        self._workspace = workspace
        self._budget = budget
        self._depth = depth
        self._deadline = deadline
        self._turn = turn
        self._start_child = start_child
        self._on_step = on_step
        self.steps: list[RunStep] = []

    async def run(self, messages: Sequence[ChatMessage]) -> Finish:
        """Loop until the model answers; returns the last turn's Finish."""
        if self._forced_only and self._first_tool is None:
            raise ModelWireError(
                ErrorCode.TOOLS_UNSUPPORTED,
                "This model cannot choose tools on its own, and this agent needs them.",
                "Route the orchestrator to a model that calls tools (an Ollama model such "
                "as llama3.2 or qwen2.5, or an OpenAI connection) with "
                "modelwire.agentConnections; its child agents may stay on this model.",
            )
        history = list(messages)
        turns = 0
        while True:
            request = self._request(history, turns)
            size = _size(history)
            if size > self._budget.prompt_max_bytes:
                raise ModelWireError(
                    ErrorCode.PROMPT_TOO_LARGE,
                    f"The orchestrator's conversation grew to {size // 1024} KiB; the "
                    f"limit is {self._budget.prompt_max_bytes // 1024} KiB.",
                    "Ask for less, or raise modelwire.limits.promptMaxKiB.",
                )
            text, finish = await self._timed(self._turn(request))
            turns += 1
            calls = finish.tool_calls
            if not calls or not request.tools:
                return finish
            if len(self.steps) + len(calls) > self._budget.max_steps:
                raise ModelWireError(
                    ErrorCode.STEP_LIMIT,
                    f"The agent kept calling tools: {len(self.steps) + len(calls)} calls "
                    f"would pass the limit of {self._budget.max_steps} steps.",
                    "Ask a narrower question, or use a model that answers once it has "
                    "what it needs (small models often loop).",
                    extra={"maxSteps": self._budget.max_steps},
                )
            history.append(ChatMessage("assistant", text, tool_calls=calls))
            for call in calls:  # in call order: the follow-up must match it
                result = await self._step(call)
                history.append(
                    ChatMessage("tool", result, tool_call_id=call.id, tool_name=call.name)
                )

    def _request(self, history: Sequence[ChatMessage], turns: int) -> ChatRequest:
        if self._forced_only and turns > 0:
            # A model that only calls tools when forced answers with the tools taken away.
            tools: tuple[ToolSpec, ...] = ()
            choice: str | None = None
        else:
            tools = self._specs
            choice = self._first_tool if turns == 0 and self._first_tool else "auto"
        return ChatRequest(
            self._model,
            tuple(history),
            max_tokens=self._max_tokens,
            tools=tools,
            tool_choice=choice if tools else None,
        )

    async def _timed(self, work: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout_at(self._deadline):
                return await work
        except TimeoutError:
            raise ModelWireError(
                ErrorCode.TIMEOUT,
                f"The orchestrator run did not finish within {self._budget.total_seconds:g} s.",
                "Ask for less, or raise modelwire.agents.totalSeconds.",
                extra={"timeout": "orchestration"},
            ) from None

    # --- steps ----------------------------------------------------------------------

    async def _step(self, call: ToolCall) -> str:
        step = RunStep(
            index=len(self.steps) + 1,
            tool=call.name,
            target=_target(call),
            arguments=_stored_arguments(call.arguments),
            started_at=now_iso(),
        )
        self.steps.append(step)
        self._on_step(step)
        started = time.perf_counter()

        def ended(outcome: StepOutcome, summary: str, code: str | None = None) -> None:
            step.outcome = outcome
            step.summary = _cap(summary, SUMMARY_CHARS)
            step.error_code = code
            step.duration_ms = round((time.perf_counter() - started) * 1000, 2)
            self._on_step(step)

        try:
            result, summary = await self._timed(self._execute(call, step))
        except ToolError as exc:
            result = f"error {exc.code}: {exc.message}"
            ended("error", result, exc.code)
            return _cap(result, MAX_RESULT_CHARS)
        except ModelWireError as exc:
            ended("error", exc.message, exc.code.value)
            raise
        except asyncio.CancelledError:
            ended("cancelled", "cancelled")
            raise
        ended("ok", summary)
        return _cap(result, MAX_RESULT_CHARS)

    async def _execute(self, call: ToolCall, step: RunStep) -> tuple[str, str]:
        """(result for the model, summary for the step record)."""
        if call.name == RUN_AGENT and self._uses:
            return await self._run_agent(call, step)
        if call.name not in self._tools:
            allowed = ", ".join([*self._tools, *([RUN_AGENT] if self._uses else [])])
            raise ToolError("UNKNOWN_TOOL", f"There is no tool {call.name!r}; use: {allowed}.")
        workspace = self._workspace
        if workspace is None:
            raise ToolError(
                "NO_WORKSPACE", "This document is not in a workspace folder: no files to read."
            )
        args = call.arguments
        if call.name == "read_file":
            found = await asyncio.to_thread(workspace.read_file, args.get("path"))
            note = f", cut at {MAX_READ_BYTES // 1024} KiB" if found.truncated else ""
            header = f"{found.path} ({len(found.text.encode())} bytes{note}):\n"
            return header + found.text, f"{found.path}: {len(found.text.encode())} bytes{note}"
        if call.name == "list_files":
            paths, more = await asyncio.to_thread(workspace.list_files, args.get("glob"))
            tail = "\n(more files match; narrow the glob)" if more else ""
            text = "\n".join(paths) + tail if paths else "No files match."
            return text, f"{len(paths)} file(s)" + (" (more left out)" if more else "")
        hits, more = await asyncio.to_thread(workspace.search, args.get("text"))
        tail = "\n(more hits left out; search for something narrower)" if more else ""
        text = "\n".join(hits) + tail if hits else "No matches."
        return text, f"{len(hits)} hit(s)" + (" (more left out)" if more else "")

    async def _run_agent(self, call: ToolCall, step: RunStep) -> tuple[str, str]:
        args = call.arguments
        agent_id = args.get("agent")
        if not isinstance(agent_id, str) or agent_id not in self._uses:
            allowed = ", ".join(sorted(self._uses))
            raise ToolError("AGENT_NOT_ALLOWED", f"This agent may delegate only to: {allowed}.")
        if self._depth + 1 > self._budget.max_depth:
            raise ModelWireError(
                ErrorCode.DELEGATION_TOO_DEEP,
                f"Delegating to {agent_id!r} would nest runs {self._depth + 1} deep; the "
                f"limit is {self._budget.max_depth}.",
                "An agent that delegates to itself, or agents that call each other in a "
                "circle, loop: change the agents' `uses` lists.",
                extra={"maxDepth": self._budget.max_depth},
            )
        input_text = args.get("input")
        if input_text is not None and not isinstance(input_text, str):
            raise ToolError("INVALID_ARGUMENTS", "input must be text.")
        lines = _lines(args.get("startLine"), args.get("endLine"))

        def started(run_id: str) -> None:
            step.child_run_id = run_id
            self._on_step(step)

        outcome = await self._start_child(agent_id, input_text or None, lines, step.index, started)
        step.child_run_id = outcome.run_id
        if outcome.status != "succeeded":
            code = outcome.error_code or outcome.status.upper()
            if code in _PROPAGATED:
                raise ModelWireError(
                    ErrorCode(code),
                    outcome.error_message or f"A child run failed with {code}.",
                    "Change the agents' `uses` lists so they do not call each other in a circle.",
                )
            raise ToolError(code, f"{agent_id} {outcome.status}: {outcome.error_message or ''}")
        output = outcome.output.strip() or "(the agent answered with nothing)"
        return output, f"{agent_id}: {len(outcome.output)} characters"


def _lines(start: object, end: object) -> tuple[int, int] | None:
    if start is None and end is None:
        return None
    ok = all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (start, end))
    if not ok or int(start) > int(end):  # type: ignore[call-overload]
        raise ToolError("INVALID_ARGUMENTS", "startLine and endLine must be 1 <= start <= end.")
    return int(start), int(end)  # type: ignore[call-overload]
