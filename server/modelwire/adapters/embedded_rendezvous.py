"""Where every process on one data folder meets the one embedded model server.

`MODELWIRE_HOME/embedded/` is a private (0700) directory we own, checked before every
start and every connect. In it:

- `llama.sock`: the server's Unix socket. Only we can create or reach anything in the
  directory, so no other local user can stand in for the server or talk to it (the
  old TCP port could be bound by anyone first — issue 15, item 1). Before trusting an
  answer we also check the socket file's owner and, on Linux, the peer's uid
  (`SO_PEERCRED`).
- `start.lock`: held (flock, exclusive) while one process starts the server, so two
  processes needing it at once start one.
- `users.lock`: every process using the server holds it shared until it has been idle
  for its idle time, or exits, or dies (the kernel drops the lock). The server tries it
  exclusively every second and exits once it gets it: nobody uses it any more.
- `server.log`: the server's output (never our stdout, which carries JSON-RPC).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import socket
import stat
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from modelwire.errors import ErrorCode, ModelWireError

SOCKET = "llama.sock"
START_LOCK = "start.lock"
USERS_LOCK = "users.lock"
LOG = "server.log"
# sun_path holds 108 bytes on Linux (104 on macOS); longer paths go through a dir fd.
_SUN_PATH_MAX = 100
_POLL_S = 0.05


def _unavailable(message: str, hint: str) -> ModelWireError:
    return ModelWireError(ErrorCode.EMBEDDED_UNAVAILABLE, message, hint, provider_id="embedded")


class Rendezvous:
    """The private directory, its locks, and checks of who answers on the socket."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self._dir_fd: int | None = None

    # --- the directory -----------------------------------------------------------------

    def prepare(self) -> None:
        """Create the directory 0700, or check an existing one is ours and private."""
        try:
            self.dir.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                self.dir.mkdir(mode=0o700)
            info = os.lstat(self.dir)
        except OSError as exc:
            raise _unavailable(
                f"Cannot create the embedded model's folder {self.dir}: {exc.strerror}.",
                "Make MODELWIRE_HOME writable (or point it at a folder you own).",
            ) from None
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise _unavailable(
                f"The embedded model's folder {self.dir} is not a folder of yours "
                "(another user or a link put it there); refusing to use it.",
                "Remove it (it holds nothing of value) or point MODELWIRE_HOME elsewhere.",
            )
        if info.st_mode & 0o077:
            os.chmod(self.dir, 0o700)  # ours: make it private again

    def path(self, name: str) -> Path:
        return self.dir / name

    def client_socket(self) -> str:
        """The socket path to connect to (through a held dir fd when it is too long)."""
        full = str(self.path(SOCKET))
        if len(full.encode()) <= _SUN_PATH_MAX or not Path("/proc/self/fd").is_dir():
            return full
        if self._dir_fd is None:
            self._dir_fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return f"/proc/self/fd/{self._dir_fd}/{SOCKET}"

    def close(self) -> None:
        fd, self._dir_fd = self._dir_fd, None
        if fd is not None:
            os.close(fd)

    # --- who answers -------------------------------------------------------------------

    def server_pid(self) -> int | None:
        """The pid of the process serving our socket, if it is ours and answers.

        The socket file must be a socket owned by us, and (where the OS tells) the
        process listening on it must run as our uid. None: nothing (or a stale file)."""
        try:
            info = os.lstat(self.path(SOCKET))
        except FileNotFoundError:
            return None
        if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
            raise _unavailable(
                f"{self.path(SOCKET)} is not a socket of yours; refusing to use it.",
                "Remove it; the embedded model server recreates it.",
            )
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2.0)
            try:
                sock.connect(self.client_socket())
            except OSError as exc:
                if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                    return None  # a server that died without cleaning up
                raise
            peercred = getattr(socket, "SO_PEERCRED", None)
            if peercred is None:
                return 0  # no way to ask: the private folder is the guarantee
            pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, peercred, 12))
        if uid != os.getuid():
            raise _unavailable(
                f"The process answering on {self.path(SOCKET)} runs as uid {uid}, not as you; "
                "refusing to send it anything.",
                "Stop that process and remove the socket.",
            )
        return int(pid)

    async def listed_models(self, wait_s: float) -> list[str] | None:
        """The ids `GET /v1/models` lists over the socket; None when it does not answer."""
        transport = httpx.AsyncHTTPTransport(uds=self.client_socket())
        try:
            async with httpx.AsyncClient(
                transport=transport, trust_env=False, timeout=httpx.Timeout(wait_s)
            ) as client:
                response = await client.get("http://localhost/v1/models")
            if response.status_code != 200:
                return None
            data = response.json().get("data", [])
            return [str(i.get("id")) for i in data if isinstance(i, dict)][:20]
        except (httpx.HTTPError, ValueError, AttributeError):
            return None

    async def wait_listed(self, model_id: str, within: float) -> int | None:
        """Wait for the server answering on the socket to list `model_id`: it may be busy
        generating for someone, which is no reason to start a second one. Returns its
        pid, or None once nothing answers any more (it was exiting: start a new one)."""
        deadline = time.monotonic() + within
        while True:
            pid = await asyncio.to_thread(self.server_pid)
            if pid is None:
                return None
            listed = await self.listed_models(wait_s=10.0)
            if listed is not None:
                if model_id in listed:
                    return pid
                raise _unavailable(
                    f"Another ModelWire process serves {', '.join(listed) or 'no model'} as "
                    f"the embedded model, not {model_id}.",
                    "Use the same MODELWIRE_EMBEDDED_MODEL in every window of this data "
                    "folder, or close the others.",
                )
            if time.monotonic() >= deadline:
                raise _unavailable(
                    "The embedded model server (started by another ModelWire process) did "
                    f"not answer within {within:g} s.",
                    "It may be busy or stuck; try again, or stop the other processes.",
                )
            await asyncio.sleep(0.25)

    def remove_stale_socket(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(SOCKET).unlink()

    # --- locks -------------------------------------------------------------------------

    def _open(self, name: str) -> int:
        return os.open(self.path(name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    async def _lock(self, fd: int, mode: int, within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise _unavailable(
                        f"Timed out waiting for {what} of the embedded model server.",
                        "Another ModelWire process is starting or stopping it; try again.",
                    ) from None
                await asyncio.sleep(_POLL_S)

    @contextlib.asynccontextmanager
    async def starting(self, within: float) -> AsyncIterator[None]:
        """Exclusive: one process at a time checks for, or starts, the server."""
        fd = self._open(START_LOCK)
        try:
            await self._lock(fd, fcntl.LOCK_EX, within, "another process's start")
            yield
        finally:
            os.close(fd)  # drops the lock

    async def become_user(self, within: float) -> int:
        """Hold the users lock shared (waits while a server that is exiting holds it
        exclusively). Returns the fd: closing it ends this process's use."""
        fd = self._open(USERS_LOCK)
        try:
            await self._lock(fd, fcntl.LOCK_SH, within, "the previous server to exit")
        except BaseException:
            os.close(fd)
            raise
        return fd

    def nobody_uses(self) -> bool:
        """Whether no process holds the users lock (call after dropping our own)."""
        fd = self._open(USERS_LOCK)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
        return True

    def log_tail(self, max_lines: int = 20, max_bytes: int = 16384) -> str:
        """The end of the server's output, for a failure message (bounded)."""
        try:
            with open(self.path(LOG), "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - max_bytes))
                data = fh.read(max_bytes)
        except OSError:
            return ""
        lines = [ln[:400] for ln in data.decode("utf-8", "replace").splitlines() if ln.strip()]
        return "\n".join(lines[-max_lines:])
