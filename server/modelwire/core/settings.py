"""Editor settings (section `modelwire`), parsed leniently.

Like jedi-language-server's options: a bad value never breaks the sidecar; it falls
back to the default and produces a warning the front door shows once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic.alias_generators import to_camel

from modelwire.adapters.base import Timeouts
from modelwire.protocol import TimeoutSettings

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


# What an unset timeout means. Ollama loads the model before its first token, so it
# gets longer for that one; every other provider (the embedded model too) 60 s.
DEFAULT_TIMEOUTS = Timeouts(connect=5.0, first_token=60.0, idle=60.0, total=900.0)
FIRST_TOKEN_BY_PROTOCOL: dict[str, float] = {"ollama": 300.0}
# Finding a P2P host through the DHT takes seconds, not milliseconds.
PEER_CONNECT_SECONDS = 20.0


def timeouts_for(
    protocol: str, connection: TimeoutSettings | None, *layers: TimeoutSettings | None
) -> Timeouts:
    """The timeouts of a request: each value from the first layer that sets it (the
    connection's overrides, then the settings), else the default for `protocol`."""
    ordered = (connection, *layers)

    def pick(name: str, default: float) -> tuple[float, int]:
        for index, layer in enumerate(ordered):
            value = getattr(layer, name) if layer is not None else None
            if value:
                return float(value), index
        return default, len(ordered)

    d = DEFAULT_TIMEOUTS
    connect, source = pick("connect_seconds", d.connect)
    if protocol == "peer" and source > 0:  # a connection's own value is kept as set
        connect = max(connect, PEER_CONNECT_SECONDS)
    first = FIRST_TOKEN_BY_PROTOCOL.get(protocol, d.first_token)
    return Timeouts(
        connect=connect,
        first_token=pick("first_token_seconds", first)[0],
        idle=pick("idle_seconds", d.idle)[0],
        total=pick("total_seconds", d.total)[0],
    )


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
    # What the user set; unset values mean the defaults (`timeouts_for`).
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


def _bounds(name: str) -> tuple[float, float]:
    """The range `TimeoutSettings` declares for a field: one source for both checks."""
    lo = hi = None
    for rule in TimeoutSettings.model_fields[name].metadata:
        lo = getattr(rule, "ge", lo)
        hi = getattr(rule, "le", hi)
    assert lo is not None and hi is not None, name
    return float(lo), float(hi)


def _timeouts(raw: Any, current: TimeoutSettings, warnings: list[str]) -> TimeoutSettings:
    """`timeouts.*Seconds`, each checked against the range of `TimeoutSettings`; a bad
    value keeps what `current` had and warns, saying what is used instead."""
    values: dict[str, float | None] = {}
    for name in TimeoutSettings.model_fields:
        key = f"timeouts.{to_camel(name)}"
        value = _get(raw, key)
        kept: float | None = getattr(current, name)
        lo, hi = _bounds(name)
        if value is None:
            values[name] = kept
        elif isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            if name == "first_token_seconds":
                used = "the defaults (300 s for Ollama, 60 s for other providers)"
            else:
                used = f"{getattr(timeouts_for('', current), name.removesuffix('_seconds')):g}"
            warnings.append(
                f"modelwire.{key} must be a number from {lo:g} to {hi:g}; using {used}."
            )
            values[name] = kept
        else:
            values[name] = float(value)
    return TimeoutSettings(**values)


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
    timeouts = _timeouts(raw, base.timeouts, warnings)
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
