"""Tool calls on the wire: request shapes and the collection of streamed calls.

The shapes differ per server (the tool-call section of docs/providers.md):

- Ollama sends each call whole (`arguments` a JSON object) on any NDJSON line, the
  `done: true` line included; several calls may share a line.
- OpenAI streams `delta.tool_calls` fragments: the first fragment of a call carries its
  `id`, `type` and `name`, later ones only `index` and a piece of the `arguments`
  string, which is concatenated per `index`. llama.cpp's server repeats `id` and `name`
  in every fragment, so only the first of each is kept (the openai SDK's accumulator
  concatenates them, which would turn `read_file` into `read_fileread_file`).
- Explicit `null` fields mean absent. Arguments are parsed with `strict=False` because
  llama.cpp writes raw newlines inside strings; arguments that do not parse (a call cut
  off by `max_tokens` still finishes with `tool_calls`) are an error, never guessed.

Every count and size is bounded: the server is not trusted to stop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from modelwire.adapters.base import ChatMessage, ChatRequest, ToolCall, ToolSpec
from modelwire.errors import ErrorCode, ModelWireError, redact

MAX_CALLS_PER_TURN = 16
MAX_ARGUMENT_CHARS = 64 * 1024
MAX_NAME_CHARS = 64
DOES_NOT_SUPPORT_TOOLS = "does not support tools"


def _invalid(label: str, why: str) -> ModelWireError:
    return ModelWireError(
        ErrorCode.TOOL_CALL_INVALID,
        f"{label} sent a tool call that cannot be used: {why}.",
        "The model may have run out of tokens mid-call; try again, raise the agent's "
        "maxTokens, or pick a model that calls tools reliably.",
    )


def _too_many(label: str) -> ModelWireError:
    return _invalid(label, f"more than {MAX_CALLS_PER_TURN} calls in one turn")


def parse_arguments(raw: object, label: str, name: str) -> dict[str, Any]:
    """A call's arguments as an object: Ollama sends one, OpenAI a JSON string."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        raise _invalid(label, f"the arguments of {name!r} are not an object")
    if len(raw) > MAX_ARGUMENT_CHARS:
        raise _invalid(label, f"the arguments of {name!r} exceed {MAX_ARGUMENT_CHARS} characters")
    try:
        value = json.loads(raw, strict=False)
    except ValueError:
        raise _invalid(label, f"the arguments of {name!r} are not valid JSON") from None
    if not isinstance(value, dict):
        raise _invalid(label, f"the arguments of {name!r} are not a JSON object")
    return value


def _name(raw: object, label: str) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > MAX_NAME_CHARS:
        raise _invalid(label, "a call has no usable function name")
    return raw


# --- Ollama ---------------------------------------------------------------------------


def ollama_calls(message: dict[str, Any], label: str, already: int) -> list[ToolCall]:
    """The whole calls on one NDJSON line's `message` (`already` = calls seen before)."""
    raw_calls = message.get("tool_calls")
    if not raw_calls:
        return []
    if not isinstance(raw_calls, list):
        raise _invalid(label, "tool_calls is not a list")
    if already + len(raw_calls) > MAX_CALLS_PER_TURN:
        raise _too_many(label)
    calls: list[ToolCall] = []
    for offset, raw in enumerate(raw_calls):
        function = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(function, dict):
            raise _invalid(label, "a call has no function")
        name = _name(function.get("name"), label)
        raw_id = raw.get("id")
        # Servers before 0.12.10 send no id; the follow-up matches calls by order then.
        call_id = str(raw_id) if raw_id else f"call_{already + offset}"
        arguments = parse_arguments(function.get("arguments"), label, name)
        calls.append(ToolCall(call_id[:MAX_NAME_CHARS], name, arguments))
    return calls


def ollama_body_parts(request: ChatRequest) -> dict[str, Any]:
    """`messages` and `tools` of an /api/chat body (Ollama has no tool_choice)."""
    parts: dict[str, Any] = {"messages": [_ollama_message(m) for m in request.messages]}
    if request.tools and request.tool_choice != "none":
        parts["tools"] = [_tool(spec) for spec in request.tools]
    return parts


def _ollama_message(m: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "function": {"index": i, "name": c.name, "arguments": c.arguments}}
            for i, c in enumerate(m.tool_calls)
        ]
    if m.role == "tool":
        if m.tool_name:
            out["tool_name"] = m.tool_name
        if m.tool_call_id:
            out["tool_call_id"] = m.tool_call_id
    return out


# --- OpenAI and compatible servers ----------------------------------------------------


@dataclass(slots=True)
class _Partial:
    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)
    size: int = 0


class OpenAIToolCalls:
    """Collects `delta.tool_calls` fragments of one streamed turn, by `index`."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._calls: dict[int, _Partial] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(self, fragments: object) -> None:
        if not isinstance(fragments, list):
            raise _invalid(self._label, "delta.tool_calls is not a list")
        for fragment in fragments:
            if not isinstance(fragment, dict):
                raise _invalid(self._label, "a tool-call fragment is not an object")
            index = fragment.get("index")
            if index is None:  # a server that sends whole calls without an index
                index = len(self._calls)
            if not isinstance(index, int) or isinstance(index, bool) or index < 0:
                raise _invalid(self._label, "a tool-call fragment has no usable index")
            partial = self._calls.get(index)
            if partial is None:
                if len(self._calls) >= MAX_CALLS_PER_TURN:
                    raise _too_many(self._label)
                partial = self._calls[index] = _Partial()
            # First non-null id and name win: llama.cpp repeats both in every fragment.
            if partial.id is None and fragment.get("id") is not None:
                partial.id = str(fragment["id"])[:MAX_NAME_CHARS]
            function = fragment.get("function")
            if function is None:
                continue
            if not isinstance(function, dict):
                raise _invalid(self._label, "a tool-call fragment's function is not an object")
            if partial.name is None and function.get("name") is not None:
                partial.name = _name(function["name"], self._label)
            piece = function.get("arguments")
            if piece is None:
                continue
            if isinstance(piece, dict):  # a server that sends the object itself
                piece = json.dumps(piece)
            if not isinstance(piece, str):
                raise _invalid(self._label, "a tool-call fragment's arguments are not text")
            partial.size += len(piece)
            if partial.size > MAX_ARGUMENT_CHARS:
                raise _invalid(
                    self._label, f"a call's arguments exceed {MAX_ARGUMENT_CHARS} characters"
                )
            partial.arguments.append(piece)

    def finish(self) -> tuple[ToolCall, ...]:
        """The complete calls in index order; raises when one cannot be used."""
        calls: list[ToolCall] = []
        for index in sorted(self._calls):
            partial = self._calls[index]
            name = _name(partial.name, self._label)
            # A hostile server may echo the key in a call; it must not reach a record.
            raw = redact("".join(partial.arguments))
            arguments = parse_arguments(raw, self._label, name)
            calls.append(ToolCall(partial.id or f"call_{index}", name, arguments))
        return tuple(calls)


def openai_body_parts(request: ChatRequest) -> dict[str, Any]:
    """`messages`, `tools` and `tool_choice` of a /chat/completions body."""
    parts: dict[str, Any] = {"messages": [_openai_message(m) for m in request.messages]}
    if request.tools:
        parts["tools"] = [_tool(spec) for spec in request.tools]
        choice = request.tool_choice
        if choice in ("auto", "none", "required"):
            parts["tool_choice"] = choice
        elif choice:
            # The only choice llama.cpp's server honours reliably: grammar-constrained.
            parts["tool_choice"] = {"type": "function", "function": {"name": choice}}
    return parts


def _openai_message(m: ChatMessage) -> dict[str, Any]:
    if m.role == "assistant" and m.tool_calls:
        return {
            "role": "assistant",
            # "" rather than null: llama.cpp's server answers 500 to a null content.
            "content": m.content,
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                }
                for c in m.tool_calls
            ],
        }
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content}
    return {"role": m.role, "content": m.content}


def _tool(spec: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": spec.name,
            "description": spec.description,
            "parameters": spec.parameters,
        },
    }


def tools_unsupported(label: str, model: str, text: str) -> ModelWireError:
    """Ollama's 400 for a model without the tools capability."""
    return ModelWireError(
        ErrorCode.TOOLS_UNSUPPORTED,
        f"The model '{model}' at {label} cannot call tools, which this agent needs.",
        "Route the agent to a model with tool support (on Ollama for example llama3.2, "
        "qwen2.5 or mistral-nemo; or an OpenAI connection) with the "
        "modelwire.agentConnections setting or --model, or pick an agent without tools.",
        extra={"model": model, "providerMessage": text[:300]},
    )
