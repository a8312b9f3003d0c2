"""Run a share host: a bridge in host mode feeding a `HostSession` until stopped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from modelwire.errors import ErrorCode, ModelWireError
from modelwire.p2p import identity, wire
from modelwire.p2p.bridge import Bridge, Event
from modelwire.p2p.host import HostInfo, HostSession, PromptServer, Reporter

STATE_POLL_SECONDS = 0.5


async def serve_share(
    server: PromptServer,
    info: HostInfo,
    report: Reporter,
    on_ready: Callable[[str], None],
    stop: asyncio.Event,
    allow: list[str] | None = None,
) -> None:
    """Share until `stop` is set. `on_ready` gets the Server ID once the host is
    announced on the DHT; `report` one line per state change and client event."""
    topic = identity.new_topic()
    full = wire.error_line(
        wire.SERVER_FULL, f"The host already serves {wire.MAX_CLIENTS} clients; try later."
    )
    bridge = await Bridge.start("host", topic, identity.new_seed(), allow=allow, full_line=full)
    session = HostSession(bridge, server, info, report)
    events: asyncio.Queue[Event] = asyncio.Queue()

    async def pump() -> None:
        async for event in bridge.events():
            events.put_nowait(event)

    pumping = asyncio.get_running_loop().create_task(pump())
    stopping = asyncio.get_running_loop().create_task(stop.wait())
    state = "Stopped"
    try:
        while True:
            getter = asyncio.get_running_loop().create_task(events.get())
            done, _ = await asyncio.wait(
                {getter, stopping}, timeout=STATE_POLL_SECONDS, return_when="FIRST_COMPLETED"
            )
            if getter not in done:
                getter.cancel()
            if stopping in done:
                return
            if getter in done:
                event = getter.result()
                if event.kind in ("fatal", "exit"):
                    raise ModelWireError(
                        ErrorCode.CONNECT_FAILED,
                        f"The P2P bridge stopped: {event.reason}",
                        "Check this machine's network, then run `modelwire share` again.",
                    )
                if event.kind == "ready":
                    state = session.state
                    on_ready(identity.server_id(topic))
                    report(f"{state} · clients {session.clients}")
                    continue
                _dispatch(session, event, report)
            if state != "Stopped" and session.state != state:
                # The owner's own runs change the state too, with no P2P event.
                state = session.state
                report(f"{state} · clients {session.clients}")
    finally:
        stopping.cancel()
        await session.aclose()
        await asyncio.sleep(0.05)  # let the end lines reach the bridge
        await bridge.stop()
        pumping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumping
        report("Stopped")


def _dispatch(session: HostSession, event: Event, report: Reporter) -> None:
    if event.kind == "open":
        session.opened(event.peer_id, event.peer)
    elif event.kind == "line":
        session.line(event.peer_id, event.line)
    elif event.kind == "oversize":
        session.oversize(event.peer_id)
    elif event.kind == "close":
        session.closed(event.peer_id, event.reason)
    elif event.kind == "refused":
        why = "the host is full" if event.reason == "full" else "not on the allow-list"
        report(f"client {identity.short_key(event.peer)} refused: {why}")
