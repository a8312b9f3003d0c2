"""What an agent is: a named task run on a file or a selection."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

AgentInput = Literal["file", "selection"]
AgentOutput = Literal["text", "diagnostics"]
AgentOrigin = Literal["builtin", "workspace"]


@dataclass(frozen=True)
class Agent:
    """A named task run on a file or a selection.

    `input == "selection"` means the agent reads the selection when there is one (else
    the file); `"file"` means it always reads the whole file, and a selection only tells
    the model which lines to look at first (the run service does both). `max_tokens` and
    `temperature` None leave them to the provider.
    """

    id: str
    title: str
    description: str
    input: AgentInput
    output: AgentOutput
    system_prompt: str
    origin: AgentOrigin
    max_tokens: int | None = None
    temperature: float | None = None
    # An orchestrator (docs/agents.md): agents it may delegate to with run_agent, the
    # read-only workspace tools it may call, and a tool its first turn must call where
    # the provider can force one (OpenAI, llama.cpp).
    uses: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    first_tool: str | None = None
    # Runs only with the user's own words (startRun's `prompt`): chat, fix.
    needs_prompt: bool = False

    @property
    def orchestrates(self) -> bool:
        return bool(self.uses or self.tools)


def display_name(name: str) -> str:
    """The file name made safe to show: no control characters, bounded length."""
    cleaned = "".join(c if unicodedata.category(c)[0] != "C" else "?" for c in name)
    return cleaned if len(cleaned) <= 80 else cleaned[:77] + "..."
