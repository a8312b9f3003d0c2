"""What the core needs from the editor, over LSP: settings, documents, consent, progress."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from lsprotocol import types as lsp

from modelwire.core.agents import Agent, Finding
from modelwire.core.documents import Document
from modelwire.core.providers import PEER_ID
from modelwire.core.secrets import Decision, Requester
from modelwire.core.settings import Settings, parse_settings
from modelwire.protocol import RUN_EVENT, SETTINGS_SECTION
from modelwire.run_events import (
    AnyEventBody,
    DeltaEvent,
    EndEvent,
    LoadingEvent,
    QueuedEvent,
    RetryEvent,
    RunEvent,
    StartedEvent,
    StepEvent,
)

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from modelwire.lsp.server import ModelWireServer

log = logging.getLogger(__name__)

ALLOW_ONCE = "Allow once"
ALLOW_ALWAYS = "Always for this folder"
# The label before 0.1.0 said "workspace" for what is a workspace folder; still accepted.
ALLOW_ALWAYS_OLD = "Always for this workspace"
DENY = "Deny"


def folder_label(workspace: str) -> str:
    """How the consent prompt names a workspace folder: its name and path, not a raw
    `file://` URI (which a user does not read as "my project")."""
    parts = urlsplit(workspace)
    if parts.scheme != "file":
        return "files outside any folder" if workspace.startswith("(") else f"folder '{workspace}'"
    path = unquote(parts.path)
    name = Path(path).name or path
    return f"folder '{name}' ({path})"


PROGRESS_REPORT_INTERVAL = 0.1


def _path(uri: str) -> str:
    parts = urlsplit(uri)
    return unquote(parts.path) if parts.scheme == "file" else uri


class EditorBridge:
    """Per-session editor state: folders, pulled settings, warnings already shown."""

    def __init__(self, ls: ModelWireServer) -> None:
        self.ls = ls
        self.global_settings = Settings()
        self._pushed: Any = None  # settings pushed by a client without workspace/configuration
        self._scoped: dict[str, Settings] = {}
        self._warned: set[str] = set()

    @property
    def client_name(self) -> str:
        return self.ls.client_name or "lsp-client"

    def _supports_configuration(self) -> bool:
        caps = self.ls.client_capabilities
        return bool(caps and caps.workspace and caps.workspace.configuration)

    def folder_for(self, uri: str | None) -> str | None:
        """The workspace folder URI that contains `uri` (longest match), if any."""
        folders = list(self.ls.workspace.folders.values()) if self.ls.workspace else []
        if uri is None:
            return folders[0].uri if len(folders) == 1 else None
        best: str | None = None
        target = _path(uri)
        for folder in folders:
            root = _path(folder.uri).rstrip("/")
            if (target == root or target.startswith(root + "/")) and (
                best is None or len(root) > len(_path(best))
            ):
                best = folder.uri
        return best

    def folder_path(self, folder_uri: str | None) -> Path | None:
        if folder_uri is None or urlsplit(folder_uri).scheme != "file":
            return None
        return Path(_path(folder_uri))

    def requester(self, folder_uri: str | None) -> Requester:
        return Requester(client=self.client_name, workspace=folder_uri or "(no workspace)")

    def settings_changed(self, pushed: Any) -> None:
        self._scoped.clear()
        if isinstance(pushed, dict) and isinstance(pushed.get(SETTINGS_SECTION), dict):
            self._pushed = pushed[SETTINGS_SECTION]

    def set_initial(self, options: Any) -> None:
        if isinstance(options, dict) and isinstance(options.get("settings"), dict):
            self._pushed = options["settings"].get(SETTINGS_SECTION, options["settings"])

    async def settings_for(self, scope_uri: str | None) -> Settings:
        """Settings for a scope, pulled with workspace/configuration and cached until the
        client says they changed."""
        key = scope_uri or ""
        cached = self._scoped.get(key)
        if cached is not None:
            return cached
        raw: Any = self._pushed
        if self._supports_configuration():
            try:
                answer = await self.ls.workspace_configuration_async(
                    lsp.ConfigurationParams(
                        items=[lsp.ConfigurationItem(scope_uri=scope_uri, section=SETTINGS_SECTION)]
                    )
                )
                raw = answer[0] if answer else None
            except Exception as exc:  # a client error must not fail the run
                log.warning("workspace/configuration failed: %s", exc)
        settings, warnings = parse_settings(_plain(raw))
        for warning in warnings:
            if warning not in self._warned:
                self._warned.add(warning)
                self.ls.window_show_message(
                    lsp.ShowMessageParams(
                        type=lsp.MessageType.Warning, message=f"ModelWire: {warning}"
                    )
                )
        self._scoped[key] = settings
        return settings

    def document(self, uri: str) -> Document | None:
        """The editor's synced copy, when the document is open."""
        doc = self.ls.workspace.text_documents.get(uri) if self.ls.workspace else None
        if doc is None:
            return None
        return Document(uri, doc.source, doc.language_id)

    def _secret_noun(self, connection_id: str) -> str:
        """What the connection's secret is, in the user's words: a peer's is its Server ID."""
        try:
            peer = self.ls.core.connections.get(connection_id).provider_id == PEER_ID
        except Exception:  # gone meanwhile: the generic word is still true
            peer = False
        return "the Server ID of shared model" if peer else "the API key of connection"

    async def consent(self, requester: Requester, connection_id: str, name: str) -> Decision:
        answer = await self.ls.window_show_message_request_async(
            lsp.ShowMessageRequestParams(
                type=lsp.MessageType.Warning,
                message=(
                    f"ModelWire: allow requests from {folder_label(requester.workspace)} to use "
                    f"{self._secret_noun(connection_id)} '{name}'?"
                ),
                actions=[
                    lsp.MessageActionItem(ALLOW_ONCE),
                    lsp.MessageActionItem(ALLOW_ALWAYS),
                    lsp.MessageActionItem(DENY),
                ],
            )
        )
        title = getattr(answer, "title", None) if answer is not None else None
        if title == ALLOW_ONCE:
            return "once"
        if title in (ALLOW_ALWAYS, ALLOW_ALWAYS_OLD):
            return "always"
        return "deny"  # dismissed counts as no

    def publish_findings(self, uri: str, findings: list[Finding], agent: Agent) -> None:
        severity = {
            "error": lsp.DiagnosticSeverity.Error,
            "warning": lsp.DiagnosticSeverity.Warning,
            "info": lsp.DiagnosticSeverity.Information,
        }
        diagnostics = [
            lsp.Diagnostic(
                range=lsp.Range(lsp.Position(f.line, 0), lsp.Position(f.end_line + 1, 0)),
                message=f.message,
                severity=severity.get(f.severity, lsp.DiagnosticSeverity.Warning),
                source="modelwire",
                code=agent.id,
            )
            for f in findings
        ]
        self.ls.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics)
        )


class RunEventBridge:
    """Sends run events as `modelwire/runEvent`, and mirrors them on `$/progress` when
    the client passed a workDoneToken (so Neovim & co. show progress with no custom code)."""

    def __init__(self, ls: LanguageServer, token: int | str | None, title: str) -> None:
        self.ls = ls
        self.token = token
        self.title = title
        self.run_id: str | None = None
        self._begun = False
        self._chars = 0
        self._last_report = 0.0

    def __call__(self, event: RunEvent) -> None:
        # A child run's events (an orchestrator's run_agent step) go to the client too,
        # but the progress and the run id stay the parent's: its `end` is the one that
        # ends the request.
        child = event.parent_run_id is not None
        if not child:
            self.run_id = event.run_id
        self.ls.protocol.notify(RUN_EVENT, event.wire())
        if self.token is not None and not child:
            self._progress(event.body)

    def _progress(self, body: AnyEventBody) -> None:
        token = self.token
        if token is None:
            return
        progress = self.ls.work_done_progress
        if not self._begun and isinstance(body, QueuedEvent | StartedEvent):
            self._begun = True
            progress.begin(
                token,
                lsp.WorkDoneProgressBegin(title=self.title, cancellable=True, message="Starting…"),
            )
        if not self._begun:
            return
        message: str | None = None
        if isinstance(body, QueuedEvent):
            message = f"Queued (position {body.position})"
        elif isinstance(body, StartedEvent):
            r = body.routing
            message = f"{r.connection_name} · {r.model_ref} ({r.source})"
        elif isinstance(body, LoadingEvent):
            message = "Waiting for the model to load…"
        elif isinstance(body, RetryEvent):
            message = f"Retrying ({body.reason})"
        elif isinstance(body, StepEvent) and body.outcome == "running":
            message = f"Step {body.step}: {body.tool} {body.target}"
        elif isinstance(body, DeltaEvent):
            self._chars += len(body.text)
            now = time.perf_counter()
            if now - self._last_report >= PROGRESS_REPORT_INTERVAL:
                self._last_report = now
                message = f"Generating… {self._chars} characters"
        elif isinstance(body, EndEvent):
            progress.end(
                token,
                lsp.WorkDoneProgressEnd(message=f"Run {body.status}"),
            )
            progress.tokens.pop(token, None)
            return
        if message is not None:
            progress.report(token, lsp.WorkDoneProgressReport(message=message))


def _plain(value: Any) -> Any:
    """Clients' configuration answers may arrive as namedtuples (pygls' fallback)."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
