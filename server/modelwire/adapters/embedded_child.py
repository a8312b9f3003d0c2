"""The embedded model server as a child process: its environment, its bootstrap, and
signals. It outlives the process that started it while other processes on the same
data folder use it, and exits by itself once none does (see embedded_rendezvous)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from pathlib import Path

from modelwire.adapters.embedded_install import INSTALL_HINT, MODEL_ENV
from modelwire.adapters.embedded_rendezvous import LOG, SOCKET, USERS_LOCK

KILL_WAIT_S = 5.0

# The child's environment is an allow-list. llama-cpp-python's settings read the
# environment too (`HOST`, `PORT`, `CONFIG_FILE`, `API_KEY`…), and none of the user's
# secrets belong in the child.
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
USERS_ENV = "MODELWIRE_EMBEDDED_USERS_LOCK"

# Runs in the child before the server module (in the private folder, as its cwd):
# a private umask, a watch that exits once no process holds the users lock, and the
# cwd dropped from sys.path so nothing in a folder can shadow the server's modules.
# While exiting it keeps the users lock exclusively until its socket is gone, so a
# process that needs the server meanwhile waits and then starts a fresh one.
BOOTSTRAP = """\
import fcntl, os, sys, threading, time, runpy
users = os.environ.pop("MODELWIRE_EMBEDDED_USERS_LOCK", "")
os.umask(0o077)
def _watch():
    fd = os.open(users, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    while True:
        time.sleep(1.0)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue
        try:
            os.unlink("llama.sock")
        except OSError:
            pass
        os._exit(0)
if users:
    threading.Thread(target=_watch, daemon=True, name="modelwire-users-watch").start()
sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]
module = sys.argv[1]
sys.argv = [module, *sys.argv[2:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def child_env(run_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key in _ENV_ALLOW or key.startswith(_ENV_ALLOW_PREFIXES)
    }
    env.pop(MODEL_ENV, None)
    env[USERS_ENV] = str(run_dir / USERS_LOCK)
    env["PYTHONUNBUFFERED"] = "1"  # a crash's last words reach the log
    return env


def spawn(command: list[str], run_dir: Path) -> subprocess.Popen[bytes]:
    """Start the server in its own session, output to the private log (truncated)."""
    posix = os.name == "posix"
    log_fd = os.open(run_dir / LOG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=subprocess.STDOUT,
            env=child_env(run_dir),
            cwd=run_dir,
            close_fds=True,
            # Own session: it outlives a stop of ours only when others still use it,
            # and a stop signals its whole group.
            start_new_session=posix,
            creationflags=0 if posix else getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
        )
    finally:
        os.close(log_fd)


def server_args(model: Path, alias: str, n_ctx: int, n_threads: int | None) -> list[str]:
    return [
        "--model",
        str(model),
        "--model_alias",
        alias,
        "--n_ctx",
        str(n_ctx),
        *(("--n_threads", str(n_threads)) if n_threads else ()),
        # Relative to the child's cwd (the private folder): short enough for sun_path.
        "--uds",
        SOCKET,
    ]


def crash_hint(output: str) -> str:
    lowered = output.lower()
    if "no module named" in lowered:
        return INSTALL_HINT
    if "failed to load model" in lowered or "gguf" in lowered:
        return f"The model file could not be loaded; point {MODEL_ENV} at a valid GGUF file."
    return "See the output above; the sidecar's log has the full output."


def signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
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


async def wait_exit(proc: subprocess.Popen[bytes], within: float) -> bool:
    """Wait for the child to exit (and reap it) without blocking the event loop."""
    try:
        await asyncio.to_thread(proc.wait, within)
    except subprocess.TimeoutExpired:
        return False
    return True


def stop_sync(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the group, SIGKILL after `grace`; blocking (atexit, signal paths)."""
    signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        signal_group(proc, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(KILL_WAIT_S)
