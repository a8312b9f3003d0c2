"""A prompt served to a P2P client (`modelwire share`), resolved into a run's inputs.

It has no document: the share host built the messages. Routing is the shared
connection's, with source `share` and the client's public key as requester, so the
record says who asked.
"""

from __future__ import annotations

from modelwire.core.agents import Agent
from modelwire.core.connections import ConnectionRegistry
from modelwire.core.documents import Document
from modelwire.core.providers import ProviderRegistry
from modelwire.core.routing import resolve_routing
from modelwire.core.run_types import RunContext, RunRequest, ServedPrompt, _Job


def prepare_served(
    req: RunRequest,
    served: ServedPrompt,
    ctx: RunContext,
    connections: ConnectionRegistry,
    providers: ProviderRegistry,
) -> _Job:
    routing = resolve_routing(
        connection_id=req.connection_id,
        model_ref=req.model_ref,
        settings=ctx.settings,
        connections=connections,
        providers=providers,
    ).model_copy(update={"source": "share", "requester": served.requester_key})
    conn = connections.get(routing.connection_id)
    text = "\n\n".join(m.content for m in served.messages)
    agent = Agent(
        id=req.agent_id,
        title=req.agent_id,
        description="a prompt served to a P2P client",
        input="file",
        output="text",
        system_prompt="",
        origin="builtin",
    )
    return _Job(req, agent, Document(req.uri, text), text, None, routing, conn)
