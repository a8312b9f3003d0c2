"""Scripted tool-call turns for the doubles, in the real wire shapes (docs/wire-facts.md).

A test queues turns with `double.script_tools(ToolTurn(...), ...)`; each chat request
that offers `tools` takes the next turn (requests without tools get the normal reply).
`repeat=True` keeps answering with the last turn: a model that never stops calling.

Layouts:
- Ollama: `lines` (one call per NDJSON line, then the done line), `one_line` (every
  call on one line), `done_line` (the calls ride on the `done: true` line). `arguments`
  is an object; `id` is `call_` + 8 characters (Ollama 0.12.10+), `index` inside
  `function`; the turn still ends `done_reason: "stop"`.
- OpenAI: `fragmented` (the first fragment of a call carries index, id, type, name and
  `arguments: ""`; later ones only index and a piece of arguments; parallel calls
  interleave), `llamacpp` (every fragment repeats id, type and name), `truncated` (the
  arguments stop mid-JSON yet the turn finishes with `tool_calls`, as llama.cpp does
  when max_tokens cuts a call off). Then `delta: {}` with `finish_reason: "tool_calls"`.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ToolTurn:
    """One scripted model turn: optional text, then calls `{name, arguments, id?}`."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    content: str = ""
    layout: str = ""

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ToolTurn:
        return cls(
            list(doc.get("calls") or []), str(doc.get("content") or ""), doc.get("layout") or ""
        )

    def call_id(self, index: int) -> str:
        given = self.calls[index].get("id")
        # Ollama and OpenAI ids look like `call_` + 8 characters.
        return str(given) if given else f"call_{(index + 1) * 2654435761 % 16**8:08x}"


class ToolScript:
    """The queue of turns (shared between the test thread and the double's loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._turns: deque[ToolTurn] = deque()
        self._repeat = False
        self.taken = 0

    def set(self, turns: list[ToolTurn], repeat: bool = False) -> None:
        with self._lock:
            self._turns = deque(turns)
            self._repeat = repeat

    def clear(self) -> None:
        self.set([])

    def take(self) -> ToolTurn | None:
        with self._lock:
            if not self._turns:
                return None
            self.taken += 1
            if self._repeat and len(self._turns) == 1:
                return self._turns[0]
            return self._turns.popleft()


# --- Ollama ---------------------------------------------------------------------------


def _ollama_call(turn: ToolTurn, index: int) -> dict[str, Any]:
    call = turn.calls[index]
    return {
        "id": turn.call_id(index),
        "function": {"index": index, "name": call["name"], "arguments": call.get("arguments", {})},
    }


def ollama_tool_lines(turn: ToolTurn, prefix: str, final: dict[str, Any]) -> list[bytes]:
    """NDJSON lines for a scripted turn; `final` is the done line (content empty)."""
    lines: list[bytes] = []

    def message_line(content: str, calls: list[dict[str, Any]] | None) -> bytes:
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            message["tool_calls"] = calls
        return (prefix + json.dumps(message) + ',"done":false}\n').encode()

    for word in turn.content.split(" ") if turn.content else []:
        lines.append(message_line(word + " ", None))
    all_calls = [_ollama_call(turn, i) for i in range(len(turn.calls))]
    layout = turn.layout or "lines"
    if layout == "lines":
        lines.extend(message_line("", [call]) for call in all_calls)
    elif layout == "one_line" and all_calls:
        lines.append(message_line("", all_calls))
    elif layout == "done_line" and all_calls:
        final = {**final, "message": {"role": "assistant", "content": "", "tool_calls": all_calls}}
    lines.append(json.dumps(final).encode() + b"\n")
    return lines


# --- OpenAI and llama.cpp -------------------------------------------------------------


def _pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def openai_tool_deltas(turn: ToolTurn) -> list[dict[str, Any]]:
    """The `delta` objects of a scripted turn, in stream order (without the finish)."""
    deltas: list[dict[str, Any]] = []
    for word in turn.content.split(" ") if turn.content else []:
        deltas.append({"content": word + " "})
    layout = turn.layout or "fragmented"
    args = [
        json.dumps(call.get("arguments", {}), ensure_ascii=False)
        if not isinstance(call.get("arguments"), str)
        else call["arguments"]
        for call in turn.calls
    ]
    if layout == "truncated":
        args = [a[: max(1, len(a) // 2)] for a in args]
    pieces = [_pieces(a) for a in args]

    def head(i: int) -> dict[str, Any]:
        return {"index": i, "id": turn.call_id(i), "type": "function"}

    if layout == "llamacpp":
        for i, call_pieces in enumerate(pieces):
            for piece in call_pieces:
                name = turn.calls[i]["name"]
                deltas.append(
                    {"tool_calls": [{**head(i), "function": {"name": name, "arguments": piece}}]}
                )
        return deltas
    # OpenAI: a head fragment per call, then argument pieces, parallel calls interleaved.
    for i, call in enumerate(turn.calls):
        first: dict[str, Any] = {
            "tool_calls": [{**head(i), "function": {"name": call["name"], "arguments": ""}}]
        }
        if i == 0:  # as OpenAI streams it: explicit nulls the client must treat as absent
            first = {"role": "assistant", "content": None, **first}
        deltas.append(first)
    longest = max((len(p) for p in pieces), default=0)
    for step in range(longest):
        for i, call_pieces in enumerate(pieces):
            if step < len(call_pieces):
                deltas.append(
                    {"tool_calls": [{"index": i, "function": {"arguments": call_pieces[step]}}]}
                )
    return deltas
