"""The one interface every provider protocol implements."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from modelwire.errors import ModelWireError


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Layered timeouts (seconds). `first_token` covers Ollama's model load."""

    connect: float = 5.0
    first_token: float = 60.0
    idle: float = 60.0
    total: float = 900.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to reach one connection's backend."""

    base_url: str
    timeouts: Timeouts = field(default_factory=Timeouts)
    local_only: bool = False
    # A Unix socket to reach the server through (the embedded model); the URL's host
    # is then never resolved or connected to.
    uds: str | None = None


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call: `parameters` is its JSON Schema."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One complete call the model made, its arguments already parsed."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A chat turn. An assistant turn may carry `tool_calls`; a `tool` turn answers one
    call (`tool_call_id`, and `tool_name`, which Ollama wants)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    tool_name: str | None = None


# `auto` lets the model choose; a tool name forces that tool (OpenAI and llama.cpp
# only: Ollama has no tool_choice); `none` keeps the tools listed but unused.
ToolChoice = str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: tuple[ChatMessage, ...]
    max_tokens: int | None = None
    temperature: float | None = None
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of generated text."""

    text: str


@dataclass(frozen=True, slots=True)
class Finish:
    """The last item of a stream: why it stopped, what it cost, and the tool calls the
    model made in this turn (collected whole, in call order)."""

    finish_reason: str
    usage: Usage = field(default_factory=Usage)
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class Loading:
    """No first token yet after a short while (the model is probably loading)."""

    waited_s: float


@dataclass(frozen=True, slots=True)
class Retrying:
    """The adapter is retrying once, before the first byte, after `reason`."""

    reason: str
    delay_s: float


StreamItem = Delta | Finish | Loading | Retrying


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    size: int | None = None
    family: str | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    modified_at: str | None = None


@dataclass(frozen=True, slots=True)
class Health:
    reachable: bool
    version: str | None
    model_count: int | None
    latency_ms: float | None
    checked_at: str
    error_code: str | None = None
    error: str | None = None
    hint: str | None = None

    @classmethod
    def failed(cls, exc: ModelWireError, checked_at: str, *, reachable: bool = False) -> Health:
        """The health record of a check that ended in `exc` (reachable: the server
        answered, but with an error)."""
        return cls(
            reachable=reachable,
            version=None,
            model_count=None,
            latency_ms=None,
            checked_at=checked_at,
            error_code=exc.code.value,
            error=exc.message,
            hint=exc.hint,
        )


@dataclass(frozen=True, slots=True)
class PullProgress:
    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None


# The API key is fetched at request time through this callable (keyring read + consent),
# so the adapter never holds it longer than one request.
SecretProvider = Callable[[], Awaitable[str | None]]


class ProviderAdapter(Protocol):
    """What the core needs from a provider protocol. One instance per connection."""

    async def health(self) -> Health: ...

    async def list_models(self) -> list[ModelInfo]: ...

    def stream_chat(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        """Yield `Loading`/`Retrying` signals, `Delta`s, then exactly one `Finish`.

        Raises `ModelWireError` on failure. Closing the iterator (or cancelling the task
        that drives it) closes the HTTP stream promptly.
        """
        ...

    def pull_model(self, model: str) -> AsyncGenerator[PullProgress, None]: ...

    async def aclose(self) -> None: ...
