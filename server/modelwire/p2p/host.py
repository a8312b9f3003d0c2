"""The host side of the LocalLLM protocol, independent of transport and of the core.

`HostSession` receives transport events (a peer opened, sent a line, sent an oversize
line, closed) and answers through a `Link` (send a line / end a peer). Prompts are
served by a `PromptServer` (in ModelWire: the run service, see share.py). The rules:

- every peer gets `server_info` on connect;
- one generation on the host at a time: a `chat_start` while one runs (for any peer, or
  the owner's own run on the same connection) is answered `MODEL_BUSY` at once — there
  is no queue;
- prompts over 8 KB are refused; malformed lines, unknown types and oversize lines are
  answered `BAD_MESSAGE`; a peer that keeps sending them, or floods `chat_start`, is
  dropped; the others are not affected;
- `abort` stops the generation it names; a peer that leaves aborts its generation.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from modelwire.p2p import wire

log = logging.getLogger(__name__)

# A peer is dropped after this many bad lines (malformed, unknown, oversize).
MAX_STRIKES = 8
# …or after more than this many refused chat_start (busy, too large) in FLOOD_WINDOW s.
FLOOD_STARTS = 20
FLOOD_WINDOW = 10.0
# While a generation is silent (model loading), tell the peer every so often, well
# inside its 30 s no-response timeout.
HEARTBEAT_SECONDS = 10.0


class Link(Protocol):
    def send(self, peer_id: int, line: str) -> None: ...

    def end(self, peer_id: int) -> None: ...


class PromptError(Exception):
    """A generation failed; `code` is a protocol error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PromptServer(Protocol):
    def busy(self) -> bool:
        """Whether the model is generating for anyone (remote or the owner)."""
        ...

    def serve(self, prompt: str, peer_key: str, request_id: str) -> AsyncIterator[str]:
        """Yield text pieces; raise PromptError. Closing it stops the generation."""
        ...


@dataclass(slots=True)
class _Peer:
    id: int
    key: str
    strikes: int = 0
    starts: deque[float] = field(default_factory=deque)
    request_id: str | None = None
    task: asyncio.Task[None] | None = None
    dropped: bool = False


@dataclass(frozen=True, slots=True)
class HostInfo:
    host_name: str
    model: str
    agent: str | None = None


# Reports one state change or served prompt (share.py prints it).
Reporter = Callable[[str], None]


class HostSession:
    """All peers of one share."""

    def __init__(self, link: Link, server: PromptServer, info: HostInfo, report: Reporter) -> None:
        self._link = link
        self._server = server
        self._info = info
        self._report = report
        self._peers: dict[int, _Peer] = {}
        self._active: _Peer | None = None
        self._stopping = False

    @property
    def clients(self) -> int:
        return len(self._peers)

    @property
    def state(self) -> str:
        return "Busy" if self._active is not None or self._server.busy() else "Ready"

    def server_info_line(self) -> str:
        extra: dict[str, Any] = {"protocol_version": wire.PROTOCOL_VERSION}
        if self._info.agent:
            extra["agent"] = self._info.agent
        status = wire.STATUS_BUSY if self.state == "Busy" else wire.STATUS_READY
        return wire.encode(
            wire.SERVER_INFO,
            host_name=self._info.host_name,
            model=self._info.model,
            status=status,
            **extra,
        )

    # --- transport events ----------------------------------------------------------

    def opened(self, peer_id: int, key: str) -> None:
        self._peers[peer_id] = _Peer(peer_id, key)
        self._link.send(peer_id, self.server_info_line())
        self._report(f"client {key[:8]} connected {self._summary()}")

    def closed(self, peer_id: int, reason: str = "") -> None:
        peer = self._peers.pop(peer_id, None)
        if peer is None:
            return
        if peer.task is not None and not peer.task.done():
            peer.task.cancel()
        why = f" ({reason})" if reason and reason != "closed" else ""
        self._report(f"client {peer.key[:8]} left{why} {self._summary()}")

    def oversize(self, peer_id: int) -> None:
        peer = self._peers.get(peer_id)
        if peer is not None:
            self._strike(
                peer, wire.BadMessage(f"a line is longer than {wire.LINE_MAX_BYTES} bytes")
            )

    def line(self, peer_id: int, text: str) -> None:
        peer = self._peers.get(peer_id)
        if peer is None or peer.dropped:
            return
        message = wire.decode(text, wire.CLIENT_TYPES)
        if isinstance(message, wire.BadMessage):
            self._strike(peer, message)
        elif message.type == wire.CHAT_START:
            self._chat_start(peer, message)
        elif (
            message.type == wire.ABORT
            and peer.request_id == message.request_id
            and peer.task is not None
        ):
            peer.task.cancel()
        # An `error` from a client needs no answer.

    async def aclose(self) -> None:
        """Stop: abort generations and end every peer (they see HOST_DISCONNECTED)."""
        self._stopping = True
        tasks = [p.task for p in self._peers.values() if p.task is not None and not p.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=3.0)
        for peer_id in list(self._peers):
            self._link.end(peer_id)

    # --- rules ---------------------------------------------------------------------

    def _summary(self) -> str:
        return f"· {self.state} · clients {len(self._peers)}"

    def _strike(self, peer: _Peer, bad: wire.BadMessage) -> None:
        if peer.dropped:
            return
        peer.strikes += 1
        self._link.send(peer.id, wire.error_line(wire.BAD_MESSAGE, bad.reason, bad.request_id))
        if peer.strikes >= MAX_STRIKES:
            self._drop(peer, "too many bad messages")

    def _drop(self, peer: _Peer, why: str) -> None:
        peer.dropped = True
        if peer.task is not None and not peer.task.done():
            peer.task.cancel()
        self._link.end(peer.id)
        self._report(f"client {peer.key[:8]} dropped: {why}")

    def _refused(self, peer: _Peer) -> bool:
        """Count a refused prompt; True when the peer was dropped for flooding. Served
        prompts are not counted: one at a time, they pace themselves."""
        now = time.monotonic()
        peer.starts.append(now)
        while peer.starts and now - peer.starts[0] > FLOOD_WINDOW:
            peer.starts.popleft()
        if len(peer.starts) > FLOOD_STARTS:
            self._drop(peer, f"more than {FLOOD_STARTS} refused prompts in {FLOOD_WINDOW:.0f} s")
            return True
        return False

    def _chat_start(self, peer: _Peer, message: wire.Message) -> None:
        request_id = message.request_id or uuid.uuid4().hex
        prompt = str(message.payload["prompt"])
        size = wire.prompt_bytes(prompt)
        if size > wire.PROMPT_MAX_BYTES:
            if self._refused(peer):
                return
            self._link.send(
                peer.id,
                wire.error_line(
                    wire.BAD_MESSAGE,
                    f"The prompt is {size} bytes; the limit is {wire.PROMPT_MAX_BYTES}.",
                    request_id,
                ),
            )
            return
        if self._active is not None or self._server.busy():
            if self._refused(peer):
                return
            self._link.send(
                peer.id,
                wire.error_line(
                    wire.MODEL_BUSY, "The host's model is busy; try again shortly.", request_id
                ),
            )
            self._report(f"client {peer.key[:8]} refused: MODEL_BUSY {self._summary()}")
            return
        self._active = peer
        peer.request_id = request_id
        peer.task = asyncio.get_running_loop().create_task(self._generate(peer, prompt, request_id))

    async def _generate(self, peer: _Peer, prompt: str, request_id: str) -> None:
        self._report(f"client {peer.key[:8]} prompt {request_id[:8]} {self._summary()}")
        last_sent = time.monotonic()
        beat = asyncio.get_running_loop().create_task(self._heartbeat(peer, lambda: last_sent))
        try:
            async for text in self._server.serve(prompt, peer.key, request_id):
                for piece in wire.split_text(text):
                    self._link.send(peer.id, wire.encode(wire.CHAT_CHUNK, request_id, text=piece))
                last_sent = time.monotonic()
            self._link.send(peer.id, wire.encode(wire.CHAT_END, request_id, finish_reason="stop"))
        except asyncio.CancelledError:
            if self._stopping:
                line = wire.error_line(
                    wire.HOST_DISCONNECTED, "The host stopped sharing.", request_id
                )
                self._link.send(peer.id, line)
            elif peer.id in self._peers and not peer.dropped:
                line = wire.error_line(
                    wire.GENERATION_ABORTED, "The generation was stopped.", request_id
                )
                self._link.send(peer.id, line)
        except PromptError as exc:
            self._link.send(peer.id, wire.error_line(exc.code, exc.message, request_id))
        except Exception:
            log.exception("serving a prompt failed")
            self._link.send(
                peer.id, wire.error_line(wire.GENERATION_FAILED, "The host failed.", request_id)
            )
        finally:
            beat.cancel()
            peer.request_id = None
            if self._active is peer:
                self._active = None
            self._report(f"client {peer.key[:8]} done {request_id[:8]} {self._summary()}")

    async def _heartbeat(self, peer: _Peer, last_sent: Callable[[], float]) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS / 2)
            if time.monotonic() - last_sent() >= HEARTBEAT_SECONDS:
                line = wire.encode(
                    wire.SERVER_INFO,
                    host_name=self._info.host_name,
                    model=self._info.model,
                    status=wire.STATUS_LOADING,
                    protocol_version=wire.PROTOCOL_VERSION,
                )
                self._link.send(peer.id, line)
