"""The client side of the LocalLLM protocol: one link to one host.

`PeerLink` is fed transport events (`opened`, `line`, `closed`) and turns them into
a connection (`wait_info`) and generations (`chat`). Every failure is a `PeerError`
with a protocol code; the adapter maps those to ModelWire errors. Peer text is kept
bounded here (wire.decode caps every field); sanitising for a terminal is the
front door's job.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from modelwire.p2p import wire


class PeerError(Exception):
    """A failure on a peer link; `code` is a protocol error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ServerInfo:
    host_name: str
    model: str
    status: str
    agent: str | None = None
    protocol_version: int | None = None


@dataclass(slots=True)
class _Pending:
    request_id: str
    queue: asyncio.Queue[wire.Message | PeerError]


Sender = Callable[[int, str], None]


class PeerLink:
    """The state of one client's connection to a host."""

    def __init__(self, send: Sender, silence: float = wire.CLIENT_SILENCE_SECONDS) -> None:
        self._send = send
        self._silence = silence
        self._peer_id: int | None = None
        self._info: ServerInfo | None = None
        self._info_event = asyncio.Event()
        self._pending: _Pending | None = None
        self._closed_reason: PeerError | None = None

    @property
    def info(self) -> ServerInfo | None:
        return self._info

    @property
    def connected(self) -> bool:
        return self._peer_id is not None and self._info is not None

    # --- transport events ----------------------------------------------------------

    def opened(self, peer_id: int) -> None:
        # Hyperswarm may reconnect: the newest connection is the one we talk on.
        self._peer_id = peer_id

    def closed(self, peer_id: int) -> None:
        if peer_id != self._peer_id:
            return
        self._peer_id = None
        self.fail(PeerError(wire.HOST_DISCONNECTED, "The host closed the connection."))

    def fail(self, error: PeerError) -> None:
        """The link is gone (closed, bridge exit): fail whoever waits."""
        self._closed_reason = error
        self._info = None
        self._info_event.set()
        if self._pending is not None:
            self._pending.queue.put_nowait(error)

    def line(self, peer_id: int, text: str) -> None:
        if peer_id != self._peer_id:
            return
        message = wire.decode(text, wire.HOST_TYPES)
        if isinstance(message, wire.BadMessage):
            # A host that talks nonsense mid-stream ends that generation.
            if self._pending is not None:
                self._pending.queue.put_nowait(
                    PeerError(wire.BAD_MESSAGE, f"The host sent a bad message: {message.reason}")
                )
            return
        if message.type == wire.SERVER_INFO:
            p = message.payload
            version = p.get("protocol_version")
            self._info = ServerInfo(
                host_name=p["host_name"],
                model=p["model"],
                status=p["status"],
                agent=p.get("agent"),
                protocol_version=version if isinstance(version, int) else None,
            )
            self._closed_reason = None
            self._info_event.set()
            if self._pending is not None:  # a heartbeat while the model loads
                self._pending.queue.put_nowait(message)
            return
        if message.type == wire.ERROR and message.request_id is None and self._pending is None:
            # SERVER_FULL (or any error) before a prompt: remember it for wait_info.
            self._closed_reason = PeerError(
                str(message.payload["code"]), str(message.payload["message"])
            )
            self._info_event.set()
            return
        pending = self._pending
        if pending is not None and message.request_id in (pending.request_id, None):
            pending.queue.put_nowait(message)

    # --- requests --------------------------------------------------------------------

    async def wait_info(self, within: float) -> ServerInfo:
        """The host's server_info, or HOST_OFFLINE when no host answers in time."""
        try:
            await asyncio.wait_for(self._info_event.wait(), within)
        except TimeoutError:
            raise PeerError(
                wire.HOST_OFFLINE, f"No host answered on this Server ID within {within:g} s."
            ) from None
        if self._info is None:
            raise self._closed_reason or PeerError(wire.CONNECT_FAILED, "The connection failed.")
        return self._info

    async def chat(self, prompt: str) -> AsyncGenerator[str, None]:
        """Yield the host's text; raise PeerError. Closing early sends `abort`."""
        size = wire.prompt_bytes(prompt)
        if size > wire.PROMPT_MAX_BYTES:
            raise PeerError(
                wire.PROMPT_TOO_LARGE,
                f"The prompt is {size} bytes; a shared model takes at most "
                f"{wire.PROMPT_MAX_BYTES} bytes.",
            )
        if self._peer_id is None or self._info is None:
            raise self._closed_reason or PeerError(wire.HOST_DISCONNECTED, "Not connected.")
        if self._pending is not None:
            raise PeerError(wire.MODEL_BUSY, "This link already has a generation running.")
        peer_id = self._peer_id
        request_id = uuid.uuid4().hex
        pending = _Pending(request_id, asyncio.Queue())
        self._pending = pending
        finished = False
        try:
            self._send(peer_id, wire.encode(wire.CHAT_START, request_id, prompt=prompt))
            while True:
                try:
                    item = await asyncio.wait_for(pending.queue.get(), self._silence)
                except TimeoutError:
                    raise PeerError(
                        wire.TIMEOUT_NO_RESPONSE,
                        f"The host sent nothing for {self._silence:g} s.",
                    ) from None
                if isinstance(item, PeerError):
                    finished = True
                    raise item
                if item.type == wire.CHAT_CHUNK:
                    yield str(item.payload["text"])
                elif item.type == wire.CHAT_END:
                    finished = True
                    return
                elif item.type == wire.ERROR:
                    finished = True
                    raise PeerError(str(item.payload["code"]), str(item.payload["message"]))
                # server_info during a generation: a heartbeat, it reset the silence timer
        finally:
            self._pending = None
            if not finished and self._peer_id == peer_id:
                self._send(peer_id, wire.encode(wire.ABORT, request_id))
