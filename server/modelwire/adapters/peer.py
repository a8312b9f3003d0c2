"""The `peer` provider: a model shared with `modelwire share`, reached over Hyperswarm.

One adapter per connection holds one Node bridge (client mode) and one `PeerLink`,
connected on first use and kept, so a run pays the connect once. Every LocalLLM
error becomes a ModelWire error with a hint (docs/p2p.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable

from modelwire.adapters.base import (
    ChatRequest,
    Delta,
    Endpoint,
    Finish,
    Health,
    ModelInfo,
    PullProgress,
    SecretProvider,
    StreamItem,
)
from modelwire.clock import now_iso
from modelwire.errors import ErrorCode, ModelWireError, secret_in_use
from modelwire.p2p import wire
from modelwire.p2p.bridge import Bridge
from modelwire.p2p.client import PeerError, PeerLink, ServerInfo
from modelwire.p2p.identity import parse_server_id
from modelwire.p2p.text import plain

log = logging.getLogger(__name__)

IdentityProvider = Callable[[], Awaitable[bytes]]

# Protocol codes → (ModelWire code, hint).
_ERRORS: dict[str, tuple[ErrorCode, str]] = {
    wire.MODEL_BUSY: (ErrorCode.MODEL_BUSY, "The host is generating for someone; try again."),
    wire.SERVER_FULL: (ErrorCode.SERVER_FULL, "The host serves 5 clients already; try later."),
    wire.HOST_OFFLINE: (
        ErrorCode.HOST_OFFLINE,
        "Ask the host to run `modelwire share`, and check the Server ID.",
    ),
    wire.HOST_DISCONNECTED: (
        ErrorCode.HOST_DISCONNECTED,
        "The host stopped sharing or lost its network; try again when it is back.",
    ),
    wire.TIMEOUT_NO_RESPONSE: (
        ErrorCode.TIMEOUT_NO_RESPONSE,
        "The host may be overloaded or its model still loading; try again.",
    ),
    wire.CONNECT_FAILED: (ErrorCode.CONNECT_FAILED, "Check this machine's network; try again."),
    wire.INVALID_SERVER_ID: (
        ErrorCode.INVALID_SERVER_ID,
        "Copy the Server ID exactly as `modelwire share` prints it.",
    ),
    wire.OLLAMA_NOT_FOUND: (
        ErrorCode.ENDPOINT_UNREACHABLE,
        "The host's model server is not running; ask the host to start it.",
    ),
    wire.OLLAMA_MODEL_NOT_AVAILABLE: (
        ErrorCode.MODEL_NOT_FOUND,
        "The host does not have its model installed; ask the host to pull it.",
    ),
    wire.GENERATION_FAILED: (ErrorCode.GENERATION_FAILED, "The host's model failed; try again."),
    wire.GENERATION_ABORTED: (ErrorCode.GENERATION_ABORTED, ""),
    wire.BAD_MESSAGE: (
        ErrorCode.BAD_MESSAGE,
        "The host and this client disagree on a message; update ModelWire on both machines.",
    ),
    wire.UNSUPPORTED_VERSION: (ErrorCode.UNSUPPORTED_VERSION, "Update ModelWire."),
    wire.PROMPT_TOO_LARGE: (
        ErrorCode.PROMPT_TOO_LARGE,
        # A selection helps only agents that read one (Explain, Ask); Review and the other
        # whole-file agents send the whole file whatever is selected.
        "A shared model takes at most 8 KB, instructions included: select fewer lines for an "
        "agent that reads a selection; for one that reads the whole file (such as review), "
        "use a smaller file or another connection.",
    ),
}


def to_modelwire(exc: PeerError) -> ModelWireError:
    code, hint = _ERRORS.get(exc.code, (ErrorCode.GENERATION_FAILED, "Try again."))
    # The host chose the message: bounded and stripped of control characters.
    return ModelWireError(code, plain(exc.message, 300), hint)


class PeerAdapter:
    """ProviderAdapter for one peer connection."""

    def __init__(
        self,
        endpoint: Endpoint,
        secret_provider: SecretProvider | None,
        identity_provider: IdentityProvider | None,
    ) -> None:
        self._endpoint = endpoint
        self._secret_provider = secret_provider
        self._identity_provider = identity_provider
        self._bridge: Bridge | None = None
        self._link: PeerLink | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._busy = False

    async def _topic(self) -> bytes:
        server_id = await self._secret_provider() if self._secret_provider else None
        if not server_id:
            raise ModelWireError(
                ErrorCode.SECRET_MISSING,
                "This peer connection has no Server ID.",
                "Set it with `modelwire connections set-secret NAME` (or Edit Connection).",
            )
        with secret_in_use(server_id):
            topic = parse_server_id(server_id)
        if topic is None:
            raise to_modelwire(
                PeerError(wire.INVALID_SERVER_ID, "The stored Server ID is not valid.")
            )
        return topic

    async def _connected(self) -> tuple[PeerLink, ServerInfo]:
        """The live link, connecting (or reconnecting) first when needed."""
        async with self._lock:
            link = self._link
            if link is not None and link.connected and link.info is not None:
                return link, link.info
            await self._drop()
            topic = await self._topic()
            seed = await self._identity_provider() if self._identity_provider else None
            if seed is None:
                raise ModelWireError(ErrorCode.INTERNAL, "No key pair for this peer connection.")
            bridge = await Bridge.start("client", topic, seed)
            link = PeerLink(bridge.send)
            self._bridge, self._link = bridge, link
            self._reader = asyncio.get_running_loop().create_task(self._read(bridge, link))
            try:
                info = await link.wait_info(self._endpoint.timeouts.connect)
            except PeerError as exc:
                await self._drop()
                raise to_modelwire(exc) from None
            if info.protocol_version is not None and info.protocol_version > wire.PROTOCOL_VERSION:
                log.info("host speaks protocol %s; using %s", info.protocol_version, 1)
            return link, info

    @staticmethod
    async def _read(bridge: Bridge, link: PeerLink) -> None:
        async for event in bridge.events():
            if event.kind == "open":
                link.opened(event.peer_id)
            elif event.kind == "line":
                link.line(event.peer_id, event.line)
            elif event.kind == "close":
                link.closed(event.peer_id)
            elif event.kind in ("fatal", "exit"):
                log.warning("P2P bridge: %s", event.reason)
                link.fail(
                    PeerError(wire.CONNECT_FAILED, f"The P2P bridge stopped ({event.reason}).")
                )
                return

    async def _drop(self) -> None:
        bridge, reader = self._bridge, self._reader
        self._bridge = self._link = self._reader = None
        if bridge is not None:
            await bridge.stop()
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    # --- ProviderAdapter -----------------------------------------------------------------

    async def health(self) -> Health:
        started = time.perf_counter()
        try:
            _, info = await self._connected()
        except ModelWireError as exc:
            return Health.failed(exc, now_iso())
        agent = f", agent {plain(info.agent, 80)}" if info.agent else ""
        return Health(
            reachable=True,
            version=f"host {plain(info.host_name, 80)!r}: {plain(info.model, 80)}{agent} "
            f"({plain(info.status, 20)})",
            model_count=1,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            checked_at=now_iso(),
        )

    async def list_models(self) -> list[ModelInfo]:
        _, info = await self._connected()
        return [ModelInfo(id=info.model)]

    async def stream_chat(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        # One prompt: the spec's chat is stateless, so the agent's instructions and the
        # text travel together.
        prompt = "\n\n".join(m.content for m in request.messages if m.content)
        if wire.prompt_bytes(prompt) > wire.PROMPT_MAX_BYTES:
            raise to_modelwire(
                PeerError(
                    wire.PROMPT_TOO_LARGE,
                    f"The prompt is {wire.prompt_bytes(prompt)} bytes; a shared model takes at "
                    f"most {wire.PROMPT_MAX_BYTES}.",
                )
            )
        if self._busy:
            raise to_modelwire(PeerError(wire.MODEL_BUSY, "A run on this connection is active."))
        self._busy = True
        try:
            link, _ = await self._connected()
            chunks = link.chat(prompt)
            try:
                async for text in chunks:
                    if text:
                        yield Delta(text)
            except PeerError as exc:
                raise to_modelwire(exc) from None
            finally:
                await chunks.aclose()  # sends `abort` when the run was cancelled
            yield Finish("stop")
        finally:
            self._busy = False

    async def pull_model(self, model: str) -> AsyncGenerator[PullProgress, None]:
        raise ModelWireError(
            ErrorCode.UNSUPPORTED,
            "A shared model cannot be pulled from here.",
            "The host chooses the model it shares.",
        )
        yield  # pragma: no cover - makes this an async generator

    async def aclose(self) -> None:
        async with self._lock:
            await self._drop()
