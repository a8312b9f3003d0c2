"""A sidecar over stdio, driven the way an editor drives it (camelCase dicts)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

SERVER_COMMAND = [sys.executable, "-m", "modelwire", "serve"]


def plain(value: Any) -> Any:
    """pygls hands custom results back as namedtuples; tests compare plain JSON."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


class Session:
    """One editor session: requests, recorded run events, consent answers."""

    def __init__(self, client: LanguageClient, home: Path) -> None:
        self.client = client
        self.home = home
        self.events: list[dict[str, Any]] = []
        self.consent_answers: list[str | None] = []
        self.consent_prompts: list[str] = []
        self._event_waiters: list[tuple[Any, asyncio.Future[dict[str, Any]]]] = []

        @client.feature("modelwire/runEvent")
        def on_run_event(params: Any) -> None:
            event = plain(params)
            self.events.append(event)
            for waiter in list(self._event_waiters):
                predicate, fut = waiter
                if not fut.done() and predicate(event):
                    fut.set_result(event)
                    self._event_waiters.remove(waiter)

        @client.feature(lsp.WINDOW_SHOW_MESSAGE_REQUEST)
        def on_message_request(
            params: lsp.ShowMessageRequestParams,
        ) -> lsp.MessageActionItem | None:
            self.consent_prompts.append(params.message)
            answer = self.consent_answers.pop(0) if self.consent_answers else None
            return lsp.MessageActionItem(title=answer) if answer else None

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        result = await self.client.protocol.send_request_async(method, params or {})
        return plain(result)

    async def error(self, method: str, params: Any) -> JsonRpcException:
        """Send a request that must fail; return the JSON-RPC error."""
        try:
            result = await asyncio.wait_for(
                self.client.protocol.send_request_async(method, params), timeout=20
            )
        except JsonRpcException as exc:
            exc.data = plain(exc.data)
            return exc
        raise AssertionError(f"{method} succeeded with {plain(result)!r}; an error was expected")

    def wait_event(self, predicate: Any, timeout: float = 20) -> Any:
        for event in self.events:
            if predicate(event):
                fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
                fut.set_result(event)
                return asyncio.wait_for(fut, timeout)
        fut = asyncio.get_running_loop().create_future()
        self._event_waiters.append((predicate, fut))
        return asyncio.wait_for(fut, timeout)

    def run_events(self, run_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["runId"] == run_id]

    def open_document(self, uri: str, text: str, language_id: str = "python") -> None:
        self.client.text_document_did_open(
            lsp.DidOpenTextDocumentParams(
                lsp.TextDocumentItem(uri=uri, language_id=language_id, version=1, text=text)
            )
        )

    def set_settings(self, settings: dict[str, Any], scope_uri: str | None = None) -> None:
        self.client.set_configuration(settings, section="modelwire", scope_uri=scope_uri)
        self.client.workspace_did_change_configuration(
            lsp.DidChangeConfigurationParams(settings=None)
        )


@asynccontextmanager
async def sidecar(
    home: Path,
    *,
    folders: list[Path] | None = None,
    env: dict[str, str] | None = None,
    client_name: str = "pytest-editor",
) -> AsyncIterator[Session]:
    """Start `python -m modelwire serve`, initialize like VS Code, shut down cleanly."""
    server_env = {**os.environ, "MODELWIRE_HOME": str(home), **(env or {})}
    config = ClientServerConfig(server_command=SERVER_COMMAND, server_env=server_env)
    client: LanguageClient = await config.start()  # type: ignore[assignment]
    session = Session(client, home)
    workspace_folders = [lsp.WorkspaceFolder(uri=f.as_uri(), name=f.name) for f in (folders or [])]
    await client.initialize_session(
        lsp.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            client_info=lsp.ClientInfo(name=client_name, version="1.0"),
            workspace_folders=workspace_folders or None,
            root_uri=workspace_folders[0].uri if workspace_folders else None,
        )
    )
    try:
        yield session
    finally:
        try:
            await asyncio.wait_for(client.shutdown_session(), timeout=15)
        finally:
            await client.stop()
