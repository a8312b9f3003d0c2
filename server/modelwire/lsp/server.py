"""The LSP front door: the pygls server, its lifecycle, and lazy dispatch.

Only what `initialize` needs is imported at start-up (pygls, lsprotocol); the custom
handlers, pydantic models and the core load on first use. Spawn → `initialize` result
is then what a bare pygls server costs (bench/: startup).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from threading import Event
from typing import TYPE_CHECKING, Any, BinaryIO

from lsprotocol import types as lsp
from pygls.exceptions import FeatureRequestError
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer

from modelwire import __version__, methods
from modelwire.lsp.jsonrpc import ModelWireProtocol

if TYPE_CHECKING:
    from modelwire.core.app import ModelWire
    from modelwire.lsp.editor import EditorBridge

log = logging.getLogger(__name__)


class ModelWireServer(LanguageServer):
    """pygls server holding the core and the editor bridge, both created on first use."""

    def __init__(self, core_factory: Callable[[], ModelWire] | None = None) -> None:
        super().__init__(
            "modelwire",
            __version__,
            protocol_cls=ModelWireProtocol,
            text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental,
        )
        self._core_factory = core_factory
        self._core: ModelWire | None = None
        self._editor: EditorBridge | None = None
        self.initialization_options: Any = None
        self.client_name: str | None = None  # `clientInfo.name` from `initialize`
        self.run_tokens: dict[int | str, str] = {}
        self._reading = Event()  # set by shutdown(): ends the frame reader
        self.watch_task: asyncio.Task[None] | None = None

    @property
    def core(self) -> ModelWire:
        if self._core is None:
            if self._core_factory is None:
                from modelwire.core.app import ModelWire

                self._core_factory = ModelWire
            self._core = self._core_factory()
        return self._core

    @property
    def editor(self) -> EditorBridge:
        if self._editor is None:
            from modelwire.lsp.editor import EditorBridge

            self._editor = EditorBridge(self)
        return self._editor

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        """Serve stdio with the hardened frame reader (see lsp/framing.py).

        pygls's own loop cannot take another reader, so this is that loop built from
        pygls's public pieces: the writer, `set_writer`, `thread_pool` and `shutdown`.
        """
        from modelwire.lsp.framing import read_frames

        stop = self._reading = Event()
        source = stdin or sys.stdin.buffer
        pool = self.thread_pool

        class _Reader:
            def readline(self, limit: int) -> Awaitable[bytes]:
                return asyncio.get_running_loop().run_in_executor(pool, source.readline, limit)

            def readexactly(self, n: int) -> Awaitable[bytes]:
                return asyncio.get_running_loop().run_in_executor(pool, source.read, n)

        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
        try:
            asyncio.run(read_frames(stop, _Reader(), self.protocol, self.report_server_error))
        except BrokenPipeError:
            log.error("the editor closed the connection; shutting down")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        self._reading.set()
        super().shutdown()  # type: ignore[no-untyped-call]

    def report_server_error(self, error: Exception, source: Any) -> None:
        if isinstance(error, json.JSONDecodeError | UnicodeDecodeError):
            assert isinstance(self.protocol, ModelWireProtocol)
            self.protocol.parse_error()
            return
        if source is FeatureRequestError:
            return  # already answered to the client, and logged by the handler wrapper
        log.error("server error (%s): %s", getattr(source, "__name__", source), error)


CUSTOM_REQUESTS = tuple(
    value
    for name, value in vars(methods).items()
    if name.isupper()
    and isinstance(value, str)
    and value.startswith("modelwire/")
    and value not in methods.NOTIFICATIONS
)


def _lazy(name: str) -> Callable[[ModelWireServer, Any], Awaitable[Any]]:
    async def dispatch(ls: ModelWireServer, params: Any) -> Any:
        from modelwire.lsp.handlers import HANDLERS

        return await HANDLERS[name](ls, params)

    dispatch.__name__ = dispatch.__qualname__ = "handle_" + name.rsplit("/", 1)[-1]
    return dispatch


def watch_other_processes(ls: ModelWireServer) -> None:
    """Tell the editor when connections, keys or consent change in any process on this
    data folder (the registry reports its own changes too, possibly from a worker
    thread: the notification is always sent from the loop)."""
    loop = asyncio.get_running_loop()

    def notify(ids: list[str]) -> None:
        loop.call_soon_threadsafe(
            ls.protocol.notify, methods.DID_CHANGE_CONNECTIONS, {"connectionIds": ids}
        )

    ls.core.connections.subscribe(notify)
    ls.watch_task = loop.create_task(ls.core.watch_changes())


def build_server(core_factory: Callable[[], ModelWire] | None = None) -> ModelWireServer:
    server = ModelWireServer(core_factory)

    @server.feature(lsp.INITIALIZE)
    def initialize(ls: ModelWireServer, params: lsp.InitializeParams) -> None:
        ls.initialization_options = params.initialization_options
        ls.client_name = params.client_info.name if params.client_info else None

    @server.feature(lsp.INITIALIZED)
    def initialized(ls: ModelWireServer, params: lsp.InitializedParams) -> None:
        ls.editor.set_initial(ls.initialization_options)
        core = ls.core  # open the store now, not on the first request
        if core.store.degraded_reason:
            ls.window_show_message(
                lsp.ShowMessageParams(
                    type=lsp.MessageType.Warning,
                    message=f"ModelWire cannot save its data ({core.store.degraded_reason}); "
                    "connections and runs will be lost on restart. Set MODELWIRE_HOME "
                    "to a writable folder.",
                )
            )
        # Load the handlers now (after `initialize` was answered, before the first
        # request needs them), then freeze: start-up objects (modules, pydantic schemas,
        # the core) live for the whole session, so the collector need not rescan them
        # while runs stream.
        import modelwire.lsp.handlers  # noqa: F401

        watch_other_processes(ls)
        gc.freeze()
        if core.runs.interrupted_on_start:
            log.info(
                "%d run(s) were interrupted by the last shutdown", core.runs.interrupted_on_start
            )

    @server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(
        ls: ModelWireServer, params: lsp.DidChangeConfigurationParams
    ) -> None:
        ls.editor.settings_changed(params.settings)

    @server.feature(lsp.SHUTDOWN)
    async def shutdown(ls: ModelWireServer, params: Any) -> None:
        if ls.watch_task is not None:
            ls.watch_task.cancel()
        if ls._core is not None:
            await ls._core.aclose()
            ls._core = None

    @server.feature(lsp.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def progress_cancel(ls: ModelWireServer, params: lsp.WorkDoneProgressCancelParams) -> None:
        run_id = ls.run_tokens.get(params.token)
        if run_id:
            ls.core.runs.cancel(run_id)

    for name in CUSTOM_REQUESTS:
        server.feature(name)(_lazy(name))
    return server


def serve() -> int:
    """`modelwire serve`: the sidecar on stdio."""
    import sys

    from modelwire.lsp.stdio import claim_stdout

    protocol_out = claim_stdout()
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("pygls").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from modelwire.lsp.logs import install_redaction

    install_redaction()
    server = build_server()
    server.start_io(sys.stdin.buffer, protocol_out)
    return 0
