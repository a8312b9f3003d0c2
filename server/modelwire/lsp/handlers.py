"""The custom `modelwire/*` handlers: decode params, call the core, encode results.

Loaded on the first custom request (see `modelwire.lsp.server`), so pydantic models and
the core are not imported before `initialize` is answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

from lsprotocol import types as lsp
from pydantic import ValidationError
from pygls.exceptions import JsonRpcException

from modelwire import protocol as p
from modelwire.core.run_records import result_for_client
from modelwire.core.runs import RunContext, RunRequest
from modelwire.errors import ErrorCode, ModelWireError, invalid_params
from modelwire.lsp.editor import RunEventBridge
from modelwire.lsp.server import ModelWireServer
from modelwire.run_events import QueuedEvent, RunEvent, StartedEvent

log = logging.getLogger(__name__)

P = TypeVar("P", bound=p.Params)
Handler = Callable[[ModelWireServer, Any], Awaitable[Any]]
HANDLERS: dict[str, Handler] = {}


def _rpc_error(exc: ModelWireError) -> JsonRpcException:
    return JsonRpcException(message=exc.message, code=exc.rpc_code, data=exc.to_data())


def describe_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(x) for x in err["loc"]) or "params"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def decode(model: type[P], params: Any) -> P:
    """Params → typed model, or a -32602 naming the field and the reason."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise invalid_params(f"params must be an object, not {type(params).__name__}.")
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise invalid_params(f"Invalid params: {describe_validation(exc)}.") from None


def method(
    name: str, model: type[P]
) -> Callable[[Callable[[ModelWireServer, P], Awaitable[Any]]], Handler]:
    """Register a custom request: typed params in, camelCase dict out, errors mapped."""

    def register(fn: Callable[[ModelWireServer, P], Awaitable[Any]]) -> Handler:
        @wraps(fn)
        async def handler(ls: ModelWireServer, params: Any) -> Any:
            try:
                result = await fn(ls, decode(model, params))
            except ModelWireError as exc:
                log.info("%s failed: %s [%s]", name, exc.message, exc.code.value)
                raise _rpc_error(exc) from None
            except asyncio.CancelledError:
                # Answer -32800 with the same error.data as every other failure (pygls'
                # own cancel answer carries none). The task ends here instead.
                raise _rpc_error(
                    ModelWireError(
                        ErrorCode.GENERATION_ABORTED,
                        f"{name} was cancelled.",
                        "Run it again when you want it.",
                        retryable=False,
                    )
                ) from None
            except JsonRpcException:
                raise
            except Exception:
                # A bug, or data nobody validated: the traceback (local paths, values)
                # goes to the sidecar's log; the client gets one clean error, never a
                # -32603 carrying the traceback.
                log.exception("%s failed unexpectedly", name)
                raise _rpc_error(
                    ModelWireError(
                        ErrorCode.INTERNAL,
                        f"{name} failed with an internal error.",
                        "This is a bug in ModelWire; the sidecar log has details.",
                        retryable=False,
                    )
                ) from None
            return result.wire() if isinstance(result, p.WireModel) else result

        HANDLERS[name] = handler
        return handler

    return register


# --- providers ------------------------------------------------------------------


@method(p.LIST_PROVIDERS, p.ListProvidersParams)
async def list_providers(
    ls: ModelWireServer, params: p.ListProvidersParams
) -> p.ListProvidersResult:
    return p.ListProvidersResult(providers=ls.core.providers.list())


@method(p.REGISTER_PROVIDER, p.RegisterProviderParams)
async def register_provider(
    ls: ModelWireServer, params: p.RegisterProviderParams
) -> p.ProviderDescriptor:
    return ls.core.providers.register(params)


# --- connections ----------------------------------------------------------------


@method(p.LIST_CONNECTIONS, p.ListConnectionsParams)
async def list_connections(
    ls: ModelWireServer, params: p.ListConnectionsParams
) -> p.ListConnectionsResult:
    from modelwire.core.routing import default_connection

    folder = ls.editor.folder_for(params.scope_uri)
    settings = await ls.editor.settings_for(folder or params.scope_uri)
    result = p.ListConnectionsResult(
        connections=ls.core.connections.list(), default_model=settings.default_model
    )
    found = default_connection(settings, ls.core.connections)
    if found is not None:  # no default for this scope: the list is still useful
        result.default_connection_id, result.default_source = found[0].id, found[1]
    return result


@method(p.CREATE_CONNECTION, p.CreateConnectionParams)
async def create_connection(ls: ModelWireServer, params: p.CreateConnectionParams) -> p.Connection:
    settings = await ls.editor.settings_for(None)
    return await asyncio.to_thread(  # the loopback check may resolve `localhost`
        ls.core.connections.create, params, ollama_base_url=settings.ollama_base_url
    )


@method(p.UPDATE_CONNECTION, p.UpdateConnectionParams)
async def update_connection(ls: ModelWireServer, params: p.UpdateConnectionParams) -> p.Connection:
    return await asyncio.to_thread(ls.core.connections.update, params)


@method(p.DELETE_CONNECTION, p.ConnectionIdParams)
async def delete_connection(
    ls: ModelWireServer, params: p.ConnectionIdParams
) -> p.DeleteConnectionResult:
    deleted = await asyncio.to_thread(ls.core.connections.delete, params.id)
    return p.DeleteConnectionResult(deleted=deleted)


@method(p.SET_SECRET, p.SetSecretParams)
async def set_secret(ls: ModelWireServer, params: p.SetSecretParams) -> p.SecretResult:
    conn = await asyncio.to_thread(
        ls.core.connections.set_secret,
        params.connection_id,
        params.secret,
        ls.editor.requester(None),
    )
    return p.SecretResult(connection_id=conn.id, has_secret=conn.has_secret)


@method(p.DELETE_SECRET, p.DeleteSecretParams)
async def delete_secret(ls: ModelWireServer, params: p.DeleteSecretParams) -> p.SecretResult:
    conn = await asyncio.to_thread(
        ls.core.connections.delete_secret, params.connection_id, ls.editor.requester(None)
    )
    return p.SecretResult(connection_id=conn.id, has_secret=conn.has_secret)


@method(p.TEST_CONNECTION, p.TestConnectionParams)
async def test_connection(ls: ModelWireServer, params: p.TestConnectionParams) -> p.HealthResult:
    settings = await ls.editor.settings_for(None)
    return await ls.core.test_connection(
        params.connection_id,
        settings,
        ls.editor.requester(ls.editor.folder_for(params.scope_uri)),
        consent=ls.editor.consent,
        interactive=params.interactive,
    )


@method(p.LIST_MODELS, p.ListModelsParams)
async def list_models(ls: ModelWireServer, params: p.ListModelsParams) -> p.ListModelsResult:
    settings = await ls.editor.settings_for(None)
    return await ls.core.list_models(
        params.connection_id,
        settings,
        params.refresh,
        ls.editor.requester(ls.editor.folder_for(params.scope_uri)),
        consent=ls.editor.consent,
        interactive=params.interactive,
    )


@method(p.PULL_MODEL, p.PullModelParams)
async def pull_model(ls: ModelWireServer, params: p.PullModelParams) -> p.PullModelResult:
    settings = await ls.editor.settings_for(None)
    token = params.work_done_token
    progress = ls.work_done_progress
    if token is not None:
        progress.begin(
            token,
            lsp.WorkDoneProgressBegin(
                title=f"Pulling {params.model}", cancellable=False, percentage=0
            ),
        )

    def on_progress(status: str, completed: int | None, total: int | None) -> None:
        if token is None:
            return
        pct = int(completed * 100 / total) if completed is not None and total else None
        progress.report(token, lsp.WorkDoneProgressReport(message=status, percentage=pct))

    try:
        result = await ls.core.pull_model(
            params.connection_id,
            params.model,
            settings,
            on_progress,
            ls.editor.requester(ls.editor.folder_for(params.scope_uri)),
            consent=ls.editor.consent,
        )
    finally:
        if token is not None:
            progress.end(token, lsp.WorkDoneProgressEnd(message="done"))
            progress.tokens.pop(token, None)
    return result


# --- agents and runs ------------------------------------------------------------


@method(p.LIST_AGENTS, p.ListAgentsParams)
async def list_agents(ls: ModelWireServer, params: p.ListAgentsParams) -> p.ListAgentsResult:
    folder = ls.editor.folder_path(ls.editor.folder_for(params.scope_uri))
    agents = await asyncio.to_thread(ls.core.agents.list, folder)
    return p.ListAgentsResult(
        agents=[
            p.AgentInfo(
                id=a.id,
                title=a.title,
                description=a.description,
                input=a.input,
                output=a.output,
                origin=a.origin,
                uses=list(a.uses) or None,
                tools=list(a.tools) or None,
                needs_prompt=a.needs_prompt,
            )
            for a in agents
        ]
    )


@method(p.START_RUN, p.StartRunParams)
async def start_run(ls: ModelWireServer, params: p.StartRunParams) -> p.RunRecord:

    uri = params.text_document.uri
    folder_uri = ls.editor.folder_for(uri)
    settings = await ls.editor.settings_for(folder_uri or uri)
    sink = RunEventBridge(ls, params.work_done_token, f"ModelWire: {params.agent_id}")
    ctx = RunContext(
        requester=ls.editor.requester(folder_uri),
        settings=settings,
        folder=ls.editor.folder_path(folder_uri),
        emit=sink,
        document=ls.editor.document,
        consent=ls.editor.consent,
        publish_diagnostics=ls.editor.publish_findings,
    )
    token = params.work_done_token

    def remember_token(event: RunEvent) -> None:
        if token is not None and isinstance(event.body, QueuedEvent | StartedEvent):
            ls.run_tokens[token] = event.run_id
        sink(event)

    ctx.emit = remember_token
    try:
        record = await ls.core.runs.start(
            RunRequest(
                agent_id=params.agent_id,
                uri=uri,
                range=params.range,
                connection_id=params.connection_id,
                model_ref=params.model_ref,
                client_run_id=params.client_run_id,
                prompt=params.prompt,
            ),
            ctx,
        )
        return result_for_client(record)
    finally:
        if token is not None:
            ls.run_tokens.pop(token, None)


@method(p.CANCEL_RUN, p.CancelRunParams)
async def cancel_run(ls: ModelWireServer, params: p.CancelRunParams) -> p.CancelRunResult:
    return p.CancelRunResult(run_id=params.run_id, cancelled=ls.core.runs.cancel(params.run_id))


@method(p.LIST_RUNS, p.ListRunsParams)
async def list_runs(ls: ModelWireServer, params: p.ListRunsParams) -> p.ListRunsResult:
    return p.ListRunsResult(runs=ls.core.runs.list(params.limit, params.uri, params.include_output))


@method(p.GET_RUN, p.GetRunParams)
async def get_run(ls: ModelWireServer, params: p.GetRunParams) -> p.RunRecord:
    return ls.core.runs.get(params.run_id)


@method(p.GET_RUN_REQUESTS, p.GetRunRequestsParams)
async def get_run_requests(
    ls: ModelWireServer, params: p.GetRunRequestsParams
) -> p.GetRunRequestsResult:
    requests = await asyncio.to_thread(ls.core.runs.requests_of, params.run_id)
    return p.GetRunRequestsResult(run_id=params.run_id, requests=requests)


@method(p.STATUS, p.StatusParams)
async def status(ls: ModelWireServer, params: p.StatusParams) -> p.StatusResult:
    return await asyncio.to_thread(ls.core.status)


@method(p.WARM_UP, p.WarmUpParams)
async def warm_up(ls: ModelWireServer, params: p.WarmUpParams) -> p.WarmUpResult:
    from modelwire.core.routing import default_connection

    folder = ls.editor.folder_for(params.scope_uri)
    settings = await ls.editor.settings_for(folder or params.scope_uri)
    found = default_connection(settings, ls.core.connections)
    if found is None:
        return p.WarmUpResult(warmed=False)
    conn = found[0]
    return p.WarmUpResult(connection_id=conn.id, warmed=await ls.core.warm_up(conn, settings))
