"""Editor settings (section `modelwire`), parsed leniently.

Like jedi-language-server's options: a bad value never breaks the sidecar; it falls
back to the default and produces a warning the front door shows once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from modelwire.adapters.base import Timeouts

OLLAMA_DEFAULT_BASE_URL = "http://localhost:11434"


@dataclass(frozen=True, slots=True)
class Limits:
    """Concurrency and size limits (docs/settings.md)."""

    max_concurrent_ollama: int = 1
    max_concurrent_other: int = 4
    queue_size: int = 8
    prompt_max_kib: int = 256
    # A run's whole answer; beyond it the run fails with OUTPUT_TOO_LARGE (a runaway or
    # hostile server must not fill memory and the store). Counted in characters.
    output_max_kib: int = 4096

    @property
    def prompt_max_bytes(self) -> int:
        return self.prompt_max_kib * 1024

    @property
    def output_max_chars(self) -> int:
        return self.output_max_kib * 1024


PEER_CONNECT_SECONDS = 20.0


@dataclass(frozen=True, slots=True)
class TimeoutSettings:
    """Timeouts in seconds; `first_token` defaults differ per protocol (Ollama loads models)."""

    connect: float = 5.0
    first_token_ollama: float = 300.0
    first_token_other: float = 60.0
    idle: float = 60.0
    total: float = 900.0
    first_token_override: float | None = None

    def for_protocol(self, protocol: str) -> Timeouts:
        first = self.first_token_override or (
            self.first_token_ollama if protocol == "ollama" else self.first_token_other
        )
        # Finding a P2P host through the DHT takes seconds, not milliseconds.
        connect = max(self.connect, PEER_CONNECT_SECONDS) if protocol == "peer" else self.connect
        return Timeouts(connect=connect, first_token=first, idle=self.idle, total=self.total)


@dataclass(frozen=True, slots=True)
class AgentBudgets:
    """Budgets of an orchestrator run (docs/agents.md)."""

    max_steps: int = 8
    max_depth: int = 2
    total_seconds: float = 600.0


@dataclass(frozen=True, slots=True)
class Settings:
    """The `modelwire` settings of one scope (a workspace folder, or global)."""

    default_connection: str | None = None
    default_model: str | None = None
    ollama_base_url: str = OLLAMA_DEFAULT_BASE_URL
    timeouts: TimeoutSettings = field(default_factory=TimeoutSettings)
    limits: Limits = field(default_factory=Limits)
    # Agent id → connection name (or `connection-name/model`): where that agent's runs go
    # unless the run names a connection itself.
    agent_connections: dict[str, str] = field(default_factory=dict)
    agents: AgentBudgets = field(default_factory=AgentBudgets)


def _get(obj: Any, dotted: str) -> Any:
    """Read `a.b` from either nested objects or flat dotted keys (clients differ)."""
    if not isinstance(obj, dict):
        return None
    if dotted in obj:
        return obj[dotted]
    head, _, rest = dotted.partition(".")
    if rest:
        return _get(obj.get(head), rest)
    return obj.get(head)


def _text(raw: Any, key: str, warnings: list[str], limit: int = 300) -> str | None:
    value = _get(raw, key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        warnings.append(f"modelwire.{key} must be a text of at most {limit} characters; ignored.")
        return None
    return value.strip() or None


def _number(raw: Any, key: str, default: float, lo: float, hi: float, warnings: list[str]) -> float:
    value = _get(raw, key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        warnings.append(
            f"modelwire.{key} must be a number from {lo:g} to {hi:g}; using {default:g}."
        )
        return default
    return float(value)


def _int(raw: Any, key: str, default: int, lo: int, hi: int, warnings: list[str]) -> int:
    value = _get(raw, key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        warnings.append(
            f"modelwire.{key} must be a whole number from {lo} to {hi}; using {default}."
        )
        return default
    return value


def _first_token(raw: Any, current: float | None, warnings: list[str]) -> float | None:
    """Unset means the per-protocol defaults (Ollama 300 s, others 60 s)."""
    value = _get(raw, "timeouts.firstTokenSeconds")
    if value is None:
        return current
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1 <= value <= 7200:
        warnings.append(
            "modelwire.timeouts.firstTokenSeconds must be a number from 1 to 7200; using "
            "the defaults (300 s for Ollama, 60 s for other providers)."
        )
        return current
    return float(value)


MAX_AGENT_CONNECTIONS = 100


def _agent_connections(raw: Any, current: dict[str, str], warnings: list[str]) -> dict[str, str]:
    value = _get(raw, "agentConnections")
    if value is None:
        return current
    bad = "modelwire.agentConnections must map agent ids to connection names; ignored."
    if not isinstance(value, dict) or len(value) > MAX_AGENT_CONNECTIONS:
        warnings.append(bad)
        return current
    mapping: dict[str, str] = {}
    for agent_id, target in value.items():
        if (
            not isinstance(agent_id, str)
            or not isinstance(target, str)
            or not 0 < len(agent_id) <= 64
            or not 0 < len(target.strip()) <= 300
        ):
            warnings.append(bad)
            return current
        mapping[agent_id] = target.strip()
    return mapping


def parse_settings(raw: Any, base: Settings | None = None) -> tuple[Settings, list[str]]:
    """Turn a `workspace/configuration` answer for section `modelwire` into Settings."""
    base = base or Settings()
    warnings: list[str] = []
    if raw is None:
        return base, warnings
    if not isinstance(raw, dict):
        return base, ["The modelwire settings are not an object; using defaults."]
    t = base.timeouts
    timeouts = replace(
        t,
        connect=_number(raw, "timeouts.connectSeconds", t.connect, 0.1, 600, warnings),
        first_token_override=_first_token(raw, t.first_token_override, warnings),
        idle=_number(raw, "timeouts.idleSeconds", t.idle, 1, 3600, warnings),
        total=_number(raw, "timeouts.totalSeconds", t.total, 1, 86400, warnings),
    )
    lim = base.limits
    limits = Limits(
        max_concurrent_ollama=_int(
            raw, "limits.maxConcurrentOllama", lim.max_concurrent_ollama, 1, 64, warnings
        ),
        max_concurrent_other=_int(
            raw, "limits.maxConcurrentOther", lim.max_concurrent_other, 1, 64, warnings
        ),
        queue_size=_int(raw, "limits.queueSize", lim.queue_size, 0, 1000, warnings),
        prompt_max_kib=_int(raw, "limits.promptMaxKiB", lim.prompt_max_kib, 1, 65536, warnings),
        output_max_kib=_int(raw, "limits.outputMaxKiB", lim.output_max_kib, 16, 262144, warnings),
    )
    return (
        Settings(
            default_connection=_text(raw, "defaultConnection", warnings),
            default_model=_text(raw, "defaultModel", warnings),
            ollama_base_url=_text(raw, "ollama.baseUrl", warnings, 2048) or base.ollama_base_url,
            timeouts=timeouts,
            limits=limits,
            agent_connections=_agent_connections(raw, base.agent_connections, warnings),
            agents=AgentBudgets(
                max_steps=_int(raw, "agents.maxSteps", base.agents.max_steps, 1, 64, warnings),
                max_depth=_int(raw, "agents.maxDepth", base.agents.max_depth, 1, 8, warnings),
                total_seconds=_number(
                    raw, "agents.totalSeconds", base.agents.total_seconds, 1, 86400, warnings
                ),
            ),
        ),
        warnings,
    )
