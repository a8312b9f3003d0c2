"""The CLI front door (`modelwire …`): argument parsing and printing over the same core.

No business logic lives here: every command builds a `ModelWire` core, calls it, and
prints. Answers go to stdout; progress, the routing line and errors go to stderr, so
`modelwire run explain f.py > out.md` captures only the model's text. Exit codes follow
the error codes (docs/cli.md).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from pydantic import ValidationError

from modelwire import cli_format as fmt
from modelwire.errors import ErrorCode, ModelWireError, redact

if TYPE_CHECKING:
    from modelwire.core.agents import Agent, Finding
    from modelwire.core.app import ModelWire
    from modelwire.core.secrets import Decision, Requester
    from modelwire.core.settings import Settings
    from modelwire.protocol import Connection, Range, RunRecord

CLIENT_NAME = "modelwire-cli"
ENV_CONNECTION = "MODELWIRE_DEFAULT_CONNECTION"
ENV_MODEL = "MODELWIRE_DEFAULT_MODEL"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_ACCESS = 4
EXIT_UNAVAILABLE = 5
EXIT_FAILED = 6
EXIT_CANCELLED = 130

# docs/cli.md documents this map; scripts match on the numbers, so keep them stable.
EXIT_CODES: dict[ErrorCode, int] = {
    ErrorCode.INVALID_PARAMS: EXIT_USAGE,
    ErrorCode.INVALID_BASE_URL: EXIT_USAGE,
    ErrorCode.NON_LOOPBACK_REJECTED: EXIT_USAGE,
    ErrorCode.CONNECTION_NAME_TAKEN: EXIT_USAGE,
    ErrorCode.PROVIDER_EXISTS: EXIT_USAGE,
    ErrorCode.PROMPT_TOO_LARGE: EXIT_USAGE,
    ErrorCode.UNSUPPORTED: EXIT_USAGE,
    ErrorCode.NO_DEFAULT_CONNECTION: EXIT_NOT_FOUND,
    ErrorCode.CONNECTION_NOT_FOUND: EXIT_NOT_FOUND,
    ErrorCode.PROVIDER_NOT_FOUND: EXIT_NOT_FOUND,
    ErrorCode.MODEL_NOT_FOUND: EXIT_NOT_FOUND,
    ErrorCode.AGENT_NOT_FOUND: EXIT_NOT_FOUND,
    ErrorCode.DOCUMENT_NOT_FOUND: EXIT_NOT_FOUND,
    ErrorCode.RUN_NOT_FOUND: EXIT_NOT_FOUND,
    ErrorCode.EMBEDDED_UNAVAILABLE: EXIT_NOT_FOUND,
    ErrorCode.AUTH_FAILED: EXIT_ACCESS,
    ErrorCode.SECRET_MISSING: EXIT_ACCESS,
    ErrorCode.KEYRING_UNAVAILABLE: EXIT_ACCESS,
    ErrorCode.CONSENT_DENIED: EXIT_ACCESS,
    ErrorCode.ENDPOINT_UNREACHABLE: EXIT_UNAVAILABLE,
    ErrorCode.TIMEOUT: EXIT_UNAVAILABLE,
    ErrorCode.MODEL_BUSY: EXIT_UNAVAILABLE,
    ErrorCode.RATE_LIMITED: EXIT_UNAVAILABLE,
    ErrorCode.GENERATION_FAILED: EXIT_FAILED,
    ErrorCode.PULL_FAILED: EXIT_FAILED,
    ErrorCode.GENERATION_ABORTED: EXIT_CANCELLED,
    ErrorCode.STORAGE_FAILED: EXIT_FAILURE,
    ErrorCode.INTERNAL: EXIT_FAILURE,
}


def exit_code_for(code: ErrorCode | str | None) -> int:
    try:
        return EXIT_CODES.get(ErrorCode(code), EXIT_FAILURE) if code else EXIT_FAILURE
    except ValueError:
        return EXIT_FAILURE


class UsageError(Exception):
    """A command line the CLI itself rejects (exit 2, like argparse)."""


# --- shared plumbing ------------------------------------------------------------------


def _err(text: str = "") -> None:
    print(text, file=sys.stderr, flush=True)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _settings() -> Settings:
    """CLI settings: flags win (passed per call), then these environment variables."""
    from modelwire.core.settings import Settings

    return Settings(
        default_connection=os.environ.get(ENV_CONNECTION, "").strip() or None,
        default_model=os.environ.get(ENV_MODEL, "").strip() or None,
    )


def _requester() -> Requester:
    from modelwire.core.secrets import Requester

    # The workspace is the current directory, as a file URI like the editor's folders,
    # so consent and audit entries read the same from both front doors.
    return Requester(client=CLIENT_NAME, workspace=Path.cwd().as_uri())


async def _consent_once(requester: Requester, connection_id: str, name: str) -> Decision:
    """The person at the terminal typed the command: that is consent for this run only
    ("once"). It is audited like an editor's answer and never remembered."""
    return "once"


def _connection(app: ModelWire, ref: str | None, settings: Settings) -> Connection:
    """`--connection NAME` (name or id), else the one a run would use."""
    if ref:
        return app.connections.resolve(ref)
    from modelwire.core.routing import resolve_connection

    conn, _, _ = resolve_connection(
        connection_id=None, model_ref=None, settings=settings, connections=app.connections
    )
    return conn


def _default_connection_id(app: ModelWire, settings: Settings) -> str | None:
    from modelwire.core.routing import default_connection

    found = default_connection(settings, app.connections)
    return found[0].id if found else None


async def _with_core(body: Callable[[ModelWire], Awaitable[int]]) -> int:
    from modelwire.core.app import ModelWire

    app = ModelWire()
    try:
        return await body(app)
    finally:
        await app.aclose()


# --- run --------------------------------------------------------------------------------


def parse_selection(text: str) -> Range:
    """`START:END`, 1-based inclusive lines, as an LSP range over whole lines."""
    from modelwire.protocol import Position, Range

    start_s, sep, end_s = text.partition(":")
    try:
        start = int(start_s)
        end = int(end_s) if sep else start
    except ValueError:
        raise UsageError(f"--selection must be START:END line numbers (got {text!r})") from None
    if start < 1 or end < start:
        raise UsageError(f"--selection needs 1 <= START <= END (got {text!r})")
    # The end character is past any line's end, so the last line is taken whole.
    return Range(
        start=Position(line=start - 1, character=0),
        end=Position(line=end - 1, character=2**31 - 1),
    )


class RunView:
    """Renders run events: text to stdout as it arrives, progress to stderr.

    On a terminal the progress is one status line (with a live wait counter) that is
    erased before the first token; otherwise each step is one plain stderr line.
    """

    def __init__(self, out: TextIO, err: TextIO, label: str) -> None:
        self.out = out
        self.err = err
        self.label = label
        self.live = err.isatty()
        self.run_id: str | None = None
        self.route = ""
        self.status = ""
        self.shown = False
        self.started_at = time.monotonic()
        self.text_started = False
        self.last_char = "\n"
        self.notice: str | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        self.run_id = self.run_id or event.get("runId")
        if kind == "delta":
            text = str(event.get("text", ""))
            if not text:
                return
            if not self.text_started:
                self.text_started = True
                self.clear()
            self.out.write(text)
            self.out.flush()
            self.last_char = text[-1]
        elif kind == "queued":
            self.step(f"queued: {event.get('position')} run(s) ahead on this connection")
        elif kind == "started":
            r = event.get("routing") or {}
            self.route = (
                f"{r.get('connectionName')} ({r.get('providerId')}) {r.get('modelRef')} "
                f"{fmt.DOT} source={r.get('source')}"
            )
            self.step("waiting for the first token")
        elif kind == "loading":
            self.step("the model is loading")
        elif kind == "retry":
            delay = float(event.get("delayMs") or 0) / 1000
            self.step(f"retrying in {delay:.1f} s after: {event.get('reason')}")
        elif kind == "end":
            self.notice = event.get("notice")
            self.clear()

    def step(self, status: str) -> None:
        if self.text_started:
            return  # retries and loading only happen before the first token anyway
        self.status = status
        if self.live:
            self.redraw()
        else:
            route = f" {fmt.ARROW} {self.route}" if self.route else ""
            self.err.write(f"modelwire: {self.label}{route}: {status}\n")
            self.err.flush()

    def redraw(self) -> None:
        if not self.live or self.text_started or not self.status:
            return
        waited = time.monotonic() - self.started_at
        route = f" {fmt.ARROW} {self.route} {fmt.DOT}" if self.route else ":"
        line = f"… {self.label}{route} {self.status} ({waited:.1f} s)"
        self.err.write("\r\x1b[K" + line)
        self.err.flush()
        self.shown = True

    def clear(self) -> None:
        if self.live and self.shown:
            self.err.write("\r\x1b[K")
            self.err.flush()
            self.shown = False

    def finish_text(self) -> None:
        """End the answer with a newline so the shell prompt starts on its own line."""
        if self.text_started and self.last_char != "\n":
            self.out.write("\n")
            self.out.flush()


def finding_lines(path: str, findings: list[Finding]) -> list[str]:
    """Compiler-style `file:line: severity: message` (problem matchers read these)."""
    return [f"{path}:{f.line + 1}: {f.severity}: {f.message}" for f in findings]


async def cmd_run(args: argparse.Namespace) -> int:
    rng = parse_selection(args.selection) if args.selection else None
    path = Path(args.file)
    label = f"{args.agent} {path.name}"

    async def body(app: ModelWire) -> int:
        from modelwire.core.runs import RunContext, RunRequest

        settings = _settings()
        connection_id = app.connections.resolve(args.connection).id if args.connection else None
        view = RunView(sys.stdout, sys.stderr, label)
        findings: list[Finding] = []

        def collect(uri: str, found: list[Finding], agent: Agent) -> None:
            findings.extend(found)

        ctx = RunContext(
            requester=_requester(),
            settings=settings,
            folder=Path.cwd(),
            emit=view,
            consent=_consent_once,
            publish_diagnostics=collect,
        )
        request = RunRequest(
            agent_id=args.agent,
            uri=path.absolute().as_uri(),  # noqa: ASYNC240 - a getcwd, not file I/O
            range=rng,
            connection_id=connection_id,
            model_ref=args.model or None,
        )
        task = asyncio.ensure_future(app.runs.start(request, ctx))
        cancelled = _cancel_on_signals(task, view)
        ticker = asyncio.ensure_future(_tick(view)) if view.live else None
        error: ModelWireError | None = None
        try:
            await task
        except asyncio.CancelledError:
            if not cancelled:
                raise
        except ModelWireError as exc:
            error = exc
        finally:
            if ticker is not None:
                ticker.cancel()
            _restore_signals()
            view.clear()
            view.finish_text()
        if findings:
            if view.text_started:
                print()
            print("\n".join(finding_lines(args.file, findings)), flush=True)
        if view.notice:
            _err(f"note: {view.notice}")
        record: RunRecord | None = None
        if view.run_id is not None:
            with suppress(ModelWireError):
                record = app.runs.get(view.run_id)
        if record is not None:
            _err(fmt.routing_line(record))
        if cancelled:
            return EXIT_CANCELLED
        if error is not None:
            _err(fmt.error_text(error))
            return exit_code_for(error.code)
        return EXIT_OK

    return await _with_core(body)


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _cancel_on_signals(task: asyncio.Future[Any], view: RunView) -> list[int]:
    """First Ctrl-C (or SIGTERM) cancels the run, which the core records as cancelled;
    a second one exits at once. Returns the list the caught signals are appended to."""
    loop = asyncio.get_running_loop()
    caught: list[int] = []

    def on_signal(signum: int) -> None:
        if caught:
            os._exit(EXIT_CANCELLED)
        caught.append(signum)
        view.clear()
        _err("modelwire: cancelling the run (press Ctrl-C again to quit at once)")
        task.cancel()

    for signum in _SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    return caught


def _restore_signals() -> None:
    loop = asyncio.get_running_loop()
    for signum in _SIGNALS:
        loop.remove_signal_handler(signum)


async def _tick(view: RunView) -> None:
    while not view.text_started:
        await asyncio.sleep(0.1)
        view.redraw()


# --- agents ------------------------------------------------------------------------------


async def cmd_agents(args: argparse.Namespace) -> int:
    async def body(app: ModelWire) -> int:
        agents = app.agents.list(Path.cwd())
        if args.json:
            _print_json(
                [
                    {
                        "id": a.id,
                        "title": a.title,
                        "description": a.description,
                        "input": a.input,
                        "output": a.output,
                        "origin": a.origin,
                    }
                    for a in agents
                ]
            )
        else:
            rows = [[a.id, a.origin, a.output, a.description] for a in agents]
            print(fmt.table(["AGENT", "ORIGIN", "OUTPUT", "DESCRIPTION"], rows))
        for warning in app.agents.warnings(Path.cwd()):
            _err(f"warning: {warning}")
        return EXIT_OK

    return await _with_core(body)


# --- connections -------------------------------------------------------------------------


async def cmd_connections(args: argparse.Namespace) -> int:
    handlers: dict[str, Callable[[ModelWire, argparse.Namespace], Awaitable[int]]] = {
        "list": _conn_list,
        "add": _conn_add,
        "edit": _conn_edit,
        "remove": _conn_remove,
        "test": _conn_test,
        "set-secret": _conn_set_secret,
        "delete-secret": _conn_delete_secret,
    }
    handler = handlers[args.action]
    return await _with_core(lambda app: handler(app, args))


async def _conn_list(app: ModelWire, args: argparse.Namespace) -> int:
    settings = _settings()
    conns = app.connections.list()
    default_id = _default_connection_id(app, settings)
    if args.json:
        _print_json(
            {
                "connections": [c.wire() for c in conns],
                "defaultConnectionId": default_id,
            }
        )
        return EXIT_OK
    if not conns:
        _err("No connections. Add one with `modelwire connections add`.")
        return EXIT_OK
    rows = [
        [
            ("* " if c.id == default_id else "  ") + c.name,
            c.provider_id,
            c.base_url,
            c.default_model or "",
            "yes" if c.has_secret else "no",
        ]
        for c in conns
    ]
    print(fmt.table(["  NAME", "PROVIDER", "BASE URL", "DEFAULT MODEL", "KEY"], rows))
    if default_id is not None:
        _err("* = used by `modelwire run` when no --connection is given")
    return EXIT_OK


async def _conn_add(app: ModelWire, args: argparse.Namespace) -> int:
    from modelwire.protocol import CreateConnectionParams

    params = CreateConnectionParams(
        name=args.name,
        provider_id=args.provider,
        base_url=args.base_url,
        default_model=args.default_model,
    )
    conn = app.connections.create(params)
    if args.json:
        _print_json(conn.wire())
    else:
        print(f"Added connection {conn.name!r} ({conn.provider_id}, {conn.base_url}).")
    if app.providers.get(conn.provider_id).auth == "apiKey":
        _err(f"Store its API key with: modelwire connections set-secret {_quote(conn.name)}")
    return EXIT_OK


async def _conn_edit(app: ModelWire, args: argparse.Namespace) -> int:
    from modelwire.protocol import UpdateConnectionParams

    conn = app.connections.resolve(args.connection)
    changes: dict[str, Any] = {"id": conn.id}
    if args.name is not None:
        changes["name"] = args.name
    if args.base_url is not None:
        changes["base_url"] = args.base_url
    if args.default_model is not None:
        changes["default_model"] = args.default_model  # "" clears it
    if len(changes) == 1:
        raise UsageError("nothing to change: give --name, --base-url or --default-model")
    updated = app.connections.update(UpdateConnectionParams(**changes))
    if args.json:
        _print_json(updated.wire())
    else:
        print(f"Updated connection {updated.name!r}.")
    return EXIT_OK


async def _conn_remove(app: ModelWire, args: argparse.Namespace) -> int:
    conn = app.connections.resolve(args.connection)
    app.connections.delete(conn.id)
    print(f"Removed connection {conn.name!r}" + (" and its key." if conn.has_secret else "."))
    return EXIT_OK


async def _conn_test(app: ModelWire, args: argparse.Namespace) -> int:
    settings = _settings()
    targets = (
        [app.connections.resolve(args.connection)] if args.connection else app.connections.list()
    )
    if not targets:
        _err("No connections to test. Add one with `modelwire connections add`.")
        return EXIT_NOT_FOUND
    results = await asyncio.gather(
        *(app.test_connection(c.id, settings, _requester()) for c in targets)
    )
    if args.json:
        _print_json([r.wire() for r in results])
    worst = EXIT_OK
    for conn, health in zip(targets, results, strict=True):
        if not args.json:
            print(_health_line(conn.name, health))
        if health.error:
            if not args.json:
                print(f"    hint: {health.error.get('hint') or '-'}  [{health.error.get('code')}]")
            worst = worst or exit_code_for(health.error.get("code"))
    return worst


def _health_line(name: str, health: Any) -> str:
    if health.reachable and not health.error:
        parts = [f"ok   {name}"]
        if health.version:
            parts.append(f"version {health.version}")
        if health.model_count is not None:
            parts.append(f"{health.model_count} model(s)")
        if health.latency_ms is not None:
            parts.append(f"{health.latency_ms:.0f} ms")
        return f" {fmt.DOT} ".join(parts)
    message = (health.error or {}).get("message") or "unreachable"
    return f"FAIL {name} {fmt.DOT} {message}"


def _read_secret(name: str) -> str:
    """From a hidden prompt on a terminal, else one line of stdin. Never an argument:
    argv is visible to every user of the machine and lands in shell history."""
    if sys.stdin.isatty():
        return getpass.getpass(f"API key for {name!r} (input hidden): ")
    return sys.stdin.readline().rstrip("\r\n")


async def _conn_set_secret(app: ModelWire, args: argparse.Namespace) -> int:
    conn = app.connections.resolve(args.connection)
    secret = _read_secret(conn.name)
    try:
        updated = await asyncio.to_thread(app.connections.set_secret, conn.id, secret, _requester())
    finally:
        del secret
    backend, _ = app.secrets.backend_description()
    print(f"Stored the API key of {updated.name!r} in the OS keyring ({backend}).")
    return EXIT_OK


async def _conn_delete_secret(app: ModelWire, args: argparse.Namespace) -> int:
    conn = app.connections.resolve(args.connection)
    updated = await asyncio.to_thread(app.connections.delete_secret, conn.id, _requester())
    print(f"Removed the API key of {updated.name!r}.")
    return EXIT_OK


def _quote(name: str) -> str:
    return f"'{name}'" if any(c.isspace() for c in name) else name


# --- models and pull ---------------------------------------------------------------------


async def cmd_models(args: argparse.Namespace) -> int:
    async def body(app: ModelWire) -> int:
        settings = _settings()
        conn = _connection(app, args.connection, settings)
        result = await app.list_models(conn.id, settings, args.refresh, _requester())
        if args.json:
            _print_json(result.wire())
            return EXIT_OK
        rows = [
            [
                m.id + (" *" if m.id == conn.default_model else ""),
                fmt.size(m.size),
                m.parameter_size or "",
                m.quantization or "",
                fmt.local_datetime(m.modified_at),
            ]
            for m in result.models
        ]
        _err(
            f"{conn.name} ({conn.provider_id}): {len(rows)} model(s)"
            + (" (cached; --refresh to re-query)" if result.cached else "")
        )
        if rows:
            print(fmt.table(["MODEL", "SIZE", "PARAMS", "QUANT", "MODIFIED"], rows))
        return EXIT_OK

    return await _with_core(body)


class PullView:
    """A progress bar on stderr: redrawn in place on a terminal, else one line per
    step and per 10% of a layer, so logs stay short."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.live = err.isatty()
        self.status: str | None = None
        self.decile = -1
        self.drawn = False

    def __call__(self, status: str, completed: int | None, total: int | None) -> None:
        bar = fmt.progress_bar(completed, total)
        if self.live:
            if status != self.status and self.drawn:
                self.err.write("\n")  # each step keeps its own line; a bar redraws in place
            self.err.write(f"\r\x1b[K{status} {bar}".rstrip())
            self.drawn = True
        else:
            decile = (completed or 0) * 10 // total if total else -1
            if status != self.status or decile != self.decile:
                self.err.write(f"{status} {bar}".rstrip() + "\n")
            self.decile = decile
        self.status = status
        self.err.flush()

    def close(self) -> None:
        if self.drawn:
            self.err.write("\n")
            self.err.flush()
            self.drawn = False


async def cmd_pull(args: argparse.Namespace) -> int:
    async def body(app: ModelWire) -> int:
        settings = _settings()
        conn = _connection(app, args.connection, settings)
        view = PullView(sys.stderr)
        _err(f"Pulling {args.model} on {conn.name} ({conn.provider_id})")
        task = asyncio.ensure_future(app.pull_model(conn.id, args.model, settings, view))
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, task.cancel)
        try:
            result = await task
        except asyncio.CancelledError:
            view.close()
            _err("Pull cancelled; Ollama keeps what it downloaded and resumes next time.")
            return EXIT_CANCELLED
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            view.close()
        print(f"Pulled {result.model} on {conn.name}: {result.status}.")
        return EXIT_OK

    return await _with_core(body)


# --- runs, status, doctor ----------------------------------------------------------------


async def cmd_runs(args: argparse.Namespace) -> int:
    async def body(app: ModelWire) -> int:
        records = app.runs.list(args.last)
        if args.json:
            _print_json([r.wire() for r in records])
            return EXIT_OK
        rows = [
            [
                fmt.local_clock(r.timings.queued_at),
                r.agent_id,
                fmt.file_label(r.uri),
                fmt.routing_target(r),
                r.routing.source if r.routing else "",
                fmt.seconds(r.timings.first_token_ms),
                fmt.seconds(r.timings.total_ms),
                fmt.outcome(r),
            ]
            for r in reversed(records)  # oldest first, like a log
        ]
        if not rows:
            _err("No runs yet. Try: modelwire run explain <file>")
            return EXIT_OK
        headers = ["TIME", "AGENT", "FILE", "ROUTED TO", "SOURCE", "FIRST", "TOTAL", "STATUS"]
        print(fmt.table(headers, rows))
        return EXIT_OK

    return await _with_core(body)


async def cmd_status(args: argparse.Namespace) -> int:
    async def body(app: ModelWire) -> int:
        status = await asyncio.to_thread(app.status)
        if args.json:
            _print_json(status.wire())
            return EXIT_OK
        secure = "secure" if status.keyring_secure else "NOT USABLE"
        print(f"modelwire {status.version}")
        print(f"keyring:     {status.keyring_backend} ({secure})")
        print(f"storage:     {status.storage_path}")
        if status.storage_error:
            print(f"             NOT SAVED: {status.storage_error}")
        print(f"connections: {len(app.connections.list())}")
        print(
            f"runs:        {status.active_runs} active, {status.queued_runs} queued (this process)"
        )
        return EXIT_OK

    return await _with_core(body)


async def cmd_doctor(args: argparse.Namespace) -> int:
    async def body(app: ModelWire) -> int:
        from modelwire.adapters.embedded import embedded_status

        status = await asyncio.to_thread(app.status)
        problems = 0

        def check(ok: bool, text: str, fix: str = "") -> None:
            nonlocal problems
            problems += 0 if ok else 1
            print(f"{'ok  ' if ok else 'FAIL'} {text}")
            if fix and not ok:
                print(f"     fix: {fix}")

        check(
            status.keyring_secure,
            f"keyring backend {status.keyring_backend}",
            "run a Secret Service (gnome-keyring, KWallet) in this session, or see "
            "docs/security.md; API keys cannot be stored until then",
        )
        check(
            status.storage_error is None,
            f"storage {status.storage_path}"
            + (f": {status.storage_error}" if status.storage_error else ""),
            "make the folder writable or point MODELWIRE_HOME elsewhere",
        )
        embedded_ok, why = embedded_status()
        check(embedded_ok, f"embedded model: {why}", "scripts/setup --embedded")
        settings = _settings()
        conns = app.connections.list()
        if not conns:
            check(
                False,
                "no connections",
                "modelwire connections add … (or install the embedded model)",
            )
        results = await asyncio.gather(
            *(app.test_connection(c.id, settings, _requester()) for c in conns)
        )
        for conn, health in zip(conns, results, strict=True):
            line = _health_line(conn.name, health).split(" ", 1)[1].lstrip()
            check(
                health.reachable and not health.error,
                f"connection {line}",
                str((health.error or {}).get("hint") or ""),
            )
        default_id = _default_connection_id(app, settings)
        default = next((c.name for c in conns if c.id == default_id), None)
        check(
            default is not None,
            f"default connection for runs: {default or 'none'}",
            f"pass --connection, or set {ENV_CONNECTION}",
        )
        return EXIT_OK if problems == 0 else EXIT_FAILURE

    return await _with_core(body)


# --- the parser --------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse quotes unrecognised arguments back; a key typed by mistake
    (`set-secret Cloud sk-…`) must not be echoed with them."""

    def error(self, message: str) -> NoReturn:
        super().error(redact(message))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="modelwire",
        description="Run AI agents on files against local and cloud models.",
        epilog="Exit codes: 0 ok, 1 internal, 2 usage, 3 not found, 4 key/consent, "
        "5 unreachable/busy, 6 generation failed, 130 cancelled (docs/cli.md).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    sub.add_parser("serve", help="start the language-server sidecar on stdio (for editors)")

    run = sub.add_parser("run", help="run an agent on a file; the answer streams to stdout")
    run.add_argument("agent", metavar="AGENT", help="explain, review, document, summarize, …")
    run.add_argument("file", metavar="FILE")
    run.add_argument("--selection", metavar="START:END", help="1-based inclusive line range")
    run.add_argument(
        "--connection", metavar="NAME", help=f"connection name or id ({ENV_CONNECTION})"
    )
    run.add_argument(
        "--model", metavar="M", help=f"model, or 'connection-name/model' ({ENV_MODEL})"
    )

    agents = sub.add_parser("agents", help="list the agents (built in and .modelwire/agents)")
    agents.add_argument("--json", action="store_true")

    conns = sub.add_parser("connections", help="manage named connections")
    actions = conns.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser
    )
    c_list = actions.add_parser("list", help="table of connections (never a key)")
    c_list.add_argument("--json", action="store_true")
    c_add = actions.add_parser("add", help="add a connection")
    c_add.add_argument("--name", required=True)
    c_add.add_argument("--provider", required=True, help="ollama, openai, or a plugin's id")
    c_add.add_argument("--base-url", help="default: the provider's")
    c_add.add_argument("--default-model")
    c_add.add_argument("--json", action="store_true")
    c_edit = actions.add_parser("edit", help="change a connection")
    c_edit.add_argument("connection", metavar="NAME")
    c_edit.add_argument("--name", help="new name")
    c_edit.add_argument("--base-url")
    c_edit.add_argument("--default-model", help="'' clears it")
    c_edit.add_argument("--json", action="store_true")
    c_remove = actions.add_parser("remove", help="delete a connection and its key")
    c_remove.add_argument("connection", metavar="NAME")
    c_test = actions.add_parser("test", help="check that connections answer (all by default)")
    c_test.add_argument("connection", metavar="NAME", nargs="?")
    c_test.add_argument("--json", action="store_true")
    c_secret = actions.add_parser(
        "set-secret", help="store a connection's API key (hidden prompt, or stdin)"
    )
    c_secret.add_argument("connection", metavar="NAME")
    c_unsecret = actions.add_parser("delete-secret", help="remove a connection's API key")
    c_unsecret.add_argument("connection", metavar="NAME")

    models = sub.add_parser("models", help="models a connection offers")
    models.add_argument("--connection", metavar="NAME")
    models.add_argument(
        "--refresh", action="store_true", help="re-query (no effect yet: one process)"
    )
    models.add_argument("--json", action="store_true")

    pull = sub.add_parser("pull", help="download a model into Ollama")
    pull.add_argument("model", metavar="MODEL")
    pull.add_argument("--connection", metavar="NAME")

    runs = sub.add_parser("runs", help="run history with routing and timings")
    runs.add_argument("--last", type=int, default=20, metavar="N")
    runs.add_argument("--json", action="store_true")

    status = sub.add_parser("status", help="version, keyring, storage")
    status.add_argument("--json", action="store_true")
    sub.add_parser("doctor", help="check the keyring, storage, embedded model and connections")
    return parser


COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "run": cmd_run,
    "agents": cmd_agents,
    "connections": cmd_connections,
    "models": cmd_models,
    "pull": cmd_pull,
    "runs": cmd_runs,
    "status": cmd_status,
    "doctor": cmd_doctor,
}


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="modelwire: %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.INFO if verbose else logging.WARNING)
    from modelwire.lsp.logs import install_redaction

    install_redaction()


def _validation_reason(exc: ValidationError) -> str:
    reasons = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err.get("loc", ()))
        reasons.append(f"{where.replace('_', '-')}: {err.get('msg')}" if where else err["msg"])
    return "; ".join(reasons)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        from modelwire.lsp.server import serve

        return serve()
    if getattr(args, "last", 1) < 1:
        parser.error("--last must be at least 1")
    _setup_logging(args.verbose)
    try:
        return asyncio.run(COMMANDS[args.command](args))
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        _err(f"{parser.prog}: error: {exc}")
        return EXIT_USAGE
    except ModelWireError as exc:
        _err(fmt.error_text(exc))
        return exit_code_for(exc.code)
    except ValidationError as exc:
        parser.print_usage(sys.stderr)
        _err(f"{parser.prog}: error: {_validation_reason(exc)}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err("modelwire: interrupted")
        return EXIT_CANCELLED
    except BrokenPipeError:
        # `modelwire runs | head`: the reader left; not an error worth a traceback.
        with suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
