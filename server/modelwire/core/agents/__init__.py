"""Agents: the built-in tasks, workspace-defined ones, their prompts, review parsing.

`agent` (the type), `builtin` (the four built-ins), `workspace` (loading untrusted
`.modelwire/agents/*.md` files), `catalog` (both, cached per folder), `prompts` (the
messages of a run) and `findings` (reading a review back). Import from here.
"""

from modelwire.core.agents.agent import Agent, AgentInput, AgentOrigin, AgentOutput
from modelwire.core.agents.builtin import builtin_agents
from modelwire.core.agents.catalog import AgentCatalog
from modelwire.core.agents.findings import (
    EMPTY_REVIEW,
    MAX_FINDINGS,
    MAX_MESSAGE_CHARS,
    UNREADABLE_REVIEW,
    Finding,
    Severity,
    parse_findings,
)
from modelwire.core.agents.prompts import FINDINGS_FORMAT, build_messages, count_lines
from modelwire.core.agents.workspace import AGENTS_DIR, MAX_SCAN_ENTRIES, load_workspace_agents

__all__ = [
    "AGENTS_DIR",
    "EMPTY_REVIEW",
    "FINDINGS_FORMAT",
    "MAX_FINDINGS",
    "MAX_MESSAGE_CHARS",
    "MAX_SCAN_ENTRIES",
    "UNREADABLE_REVIEW",
    "Agent",
    "AgentCatalog",
    "AgentInput",
    "AgentOrigin",
    "AgentOutput",
    "Finding",
    "Severity",
    "build_messages",
    "builtin_agents",
    "count_lines",
    "load_workspace_agents",
    "parse_findings",
]
