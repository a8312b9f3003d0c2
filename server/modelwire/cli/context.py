"""What every command takes from its surroundings: settings from the environment,
the requester (this directory), the connection to use, and a core for the call."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelwire.core.app import ModelWire
    from modelwire.core.secrets import Decision, Requester
    from modelwire.core.settings import Settings
    from modelwire.protocol import Connection


CLIENT_NAME = "modelwire-cli"
ENV_CONNECTION = "MODELWIRE_DEFAULT_CONNECTION"
ENV_MODEL = "MODELWIRE_DEFAULT_MODEL"
ENV_AGENT_CONNECTIONS = "MODELWIRE_AGENT_CONNECTIONS"


def env_settings() -> Settings:
    """CLI settings: flags win (passed per call), then these environment variables."""
    import json

    from modelwire.core.settings import Settings, parse_settings

    agent_connections: dict[str, str] = {}
    raw = os.environ.get(ENV_AGENT_CONNECTIONS, "").strip()
    if raw:
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = "not JSON"
        parsed, warnings = parse_settings({"agentConnections": doc})
        for warning in warnings:
            print(f"modelwire: {ENV_AGENT_CONNECTIONS}: {warning}", file=sys.stderr)
        agent_connections = parsed.agent_connections
    return Settings(
        default_connection=os.environ.get(ENV_CONNECTION, "").strip() or None,
        default_model=os.environ.get(ENV_MODEL, "").strip() or None,
        agent_connections=agent_connections,
    )


def requester() -> Requester:
    from modelwire.core.secrets import Requester

    # The workspace is the current directory, as a file URI like the editor's folders,
    # so consent and audit entries read the same from both front doors.
    return Requester(client=CLIENT_NAME, workspace=Path.cwd().as_uri())


async def consent_once(requester: Requester, connection_id: str, name: str) -> Decision:
    """The person at the terminal typed the command: that is consent for this run only
    ("once"). It is audited like an editor's answer and never remembered."""
    return "once"


def pick_connection(app: ModelWire, ref: str | None, settings: Settings) -> Connection:
    """`--connection NAME` (name or id), else the one a run would use."""
    if ref:
        return app.connections.resolve(ref)
    from modelwire.core.routing import resolve_connection

    conn, _, _ = resolve_connection(
        connection_id=None, model_ref=None, settings=settings, connections=app.connections
    )
    return conn


def default_connection_id(app: ModelWire, settings: Settings) -> str | None:
    from modelwire.core.routing import default_connection

    found = default_connection(settings, app.connections)
    return found[0].id if found else None


async def with_core(body: Callable[[ModelWire], Awaitable[int]]) -> int:
    from modelwire.core.app import ModelWire

    app = ModelWire(kind="cli")
    try:
        return await body(app)
    finally:
        await app.aclose()
