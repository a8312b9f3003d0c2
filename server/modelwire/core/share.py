"""Sharing a connection's model over P2P (`modelwire share`): what may be shared, and
serving each remote prompt as a run through the run service.

Only local, keyless connections are shared: Ollama, Embedded, or an OpenAI-compatible
server on loopback without a key. The owner's paid key never serves anonymous peers.
A served prompt is a run like any other (record, routing with source `share` and the
client's public key, audit line), visible in `modelwire runs` and the editor's history.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from modelwire.adapters.base import ChatMessage
from modelwire.adapters.netpolicy import check_loopback_url
from modelwire.core.agents import Agent
from modelwire.core.runs import RunContext, RunRequest, ServedPrompt
from modelwire.core.secrets import Requester
from modelwire.core.settings import Settings
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.p2p import wire
from modelwire.p2p.host import PromptError
from modelwire.protocol import Connection
from modelwire.run_events import DeltaEvent, EndEvent, RunEvent

if TYPE_CHECKING:
    from modelwire.core.app import ModelWire

SHARE_CLIENT = "p2p-client"
# Run records need a URI; a served prompt has no document.
SHARE_URI = "p2p://share/{request_id}"

_TO_WIRE: dict[ErrorCode, str] = {
    ErrorCode.MODEL_BUSY: wire.MODEL_BUSY,
    ErrorCode.ENDPOINT_UNREACHABLE: wire.OLLAMA_NOT_FOUND,
    ErrorCode.EMBEDDED_UNAVAILABLE: wire.OLLAMA_NOT_FOUND,
    ErrorCode.MODEL_NOT_FOUND: wire.OLLAMA_MODEL_NOT_AVAILABLE,
    ErrorCode.GENERATION_ABORTED: wire.GENERATION_ABORTED,
}


def check_shareable(app: ModelWire, conn: Connection) -> None:
    """Raise SHARE_NOT_ALLOWED unless the connection is local and keyless."""
    provider = app.providers.get(conn.provider_id)
    hint = (
        "Share a local connection: Ollama, Embedded, or an OpenAI-compatible server on "
        "localhost without a key."
    )
    if conn.has_secret:
        raise ModelWireError(
            ErrorCode.SHARE_NOT_ALLOWED,
            f"Connection {conn.name!r} has a key: it cannot be shared "
            "(the key would serve anyone with the Server ID).",
            hint,
            connection_id=conn.id,
        )
    if provider.protocol == "peer":
        raise ModelWireError(
            ErrorCode.SHARE_NOT_ALLOWED,
            f"Connection {conn.name!r} is itself a shared model; it cannot be shared again.",
            hint,
            connection_id=conn.id,
        )
    if provider.local_only:
        return
    try:
        check_loopback_url(conn.base_url)
    except ModelWireError:
        raise ModelWireError(
            ErrorCode.SHARE_NOT_ALLOWED,
            f"Connection {conn.name!r} is not on this machine ({conn.base_url}).",
            hint,
            connection_id=conn.id,
        ) from None


def served_messages(agent: Agent | None, prompt: str) -> tuple[ChatMessage, ...]:
    """With a shared agent its instructions lead; the prompt is the user's message."""
    user = ChatMessage("user", prompt)
    if agent is None or not agent.system_prompt:
        return (user,)
    return (ChatMessage("system", agent.system_prompt), user)


# Told about each served prompt once its run has ended (run id, client key).
ServedCallback = Callable[[str, str], None]


class ShareServer:
    """The `PromptServer` of a host session, backed by the run service."""

    def __init__(
        self,
        app: ModelWire,
        conn: Connection,
        model: str,
        agent: Agent | None,
        settings: Settings,
        on_served: ServedCallback,
    ) -> None:
        self._app = app
        self._conn = conn
        self._model = model
        self._agent = agent
        self._settings = settings
        self._on_served = on_served

    def busy(self) -> bool:
        return self._app.runs.lane_in_use(self._conn.id)

    async def serve(self, prompt: str, peer_key: str, request_id: str) -> AsyncIterator[str]:
        events: asyncio.Queue[RunEvent] = asyncio.Queue()
        requester = Requester(
            client=f"{SHARE_CLIENT}:{peer_key}", workspace=f"share:{self._conn.id}"
        )
        request = RunRequest(
            agent_id=self._agent.id if self._agent else "chat",
            uri=SHARE_URI.format(request_id=uuid.uuid4().hex),
            connection_id=self._conn.id,
            model_ref=self._model,
            served=ServedPrompt(served_messages(self._agent, prompt), peer_key),
        )

        def emit(event: RunEvent) -> None:
            events.put_nowait(event)

        ctx = RunContext(requester=requester, settings=self._settings, folder=None, emit=emit)
        task = asyncio.get_running_loop().create_task(self._app.runs.start(request, ctx))
        run_id: str | None = None
        try:
            while True:
                event = await events.get()
                run_id = run_id or event.run_id
                if isinstance(event.body, DeltaEvent):
                    yield event.body.text
                elif isinstance(event.body, EndEvent):
                    break
            try:
                await task
            except ModelWireError as exc:
                raise PromptError(
                    _TO_WIRE.get(exc.code, wire.GENERATION_FAILED), exc.message
                ) from None
        finally:
            if not task.done():
                task.cancel()
            with contextlib.suppress(BaseException):
                await task
            if run_id is not None:
                self._app.secrets.audit(
                    connection_id=self._conn.id,
                    purpose="share",
                    decision="served",
                    requester=requester,
                    run_id=run_id,
                )
                self._on_served(run_id, peer_key)
