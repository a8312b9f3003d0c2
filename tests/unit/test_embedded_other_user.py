"""Another local user cannot stand in for the embedded model server, nor talk to it
(issue 15, item 1). Run as a real second uid (`runuser -u nobody`).

The old attack: the server's TCP port was in /proc/<pid>/cmdline and bound only after
the model loaded, so user `nobody` bound it first, received the prompt (the user's
file) and answered it. Now the server listens on a Unix socket in a 0700 folder of the
data folder, and the client checks the folder's and the socket's owner and the peer's
uid before sending anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelwire.adapters.embedded import EmbeddedServer
from modelwire.errors import ErrorCode, ModelWireError
from tests.conftest import require_peer
from tests.unit.test_embedded import FAKE_SERVER

pytestmark = pytest.mark.real_peer("second-uid")

SYSTEM_PYTHON = "/usr/bin/python3"

# Run as nobody: put a socket where ModelWire looks for the server, answer like it
# (listing the model alias), and record anything sent to it.
SQUATTER = textwrap.dedent(
    """
    import os, socket, sys, threading
    folder, alias, record = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(folder, exist_ok=True)
    os.chmod(folder, 0o777)
    path = os.path.join(folder, "llama.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    os.chmod(path, 0o777)
    srv.listen(8)
    print("ready", flush=True)
    body = ('{"object":"list","data":[{"id":"%s","object":"model"}]}' % alias).encode()
    while True:
        conn, _ = srv.accept()
        data = conn.recv(65536)
        with open(record, "ab") as fh:
            fh.write(data)
        conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\n"
                     b"Content-Length: %d\\r\\n\\r\\n" % len(body) + body)
        conn.close()
    """
)


def as_nobody(*args: str) -> list[str]:
    return ["runuser", "-u", "nobody", "--", SYSTEM_PYTHON, *args]


@pytest.fixture
def second_uid() -> None:
    require_peer(
        os.geteuid() == 0 and shutil.which("runuser") is not None and Path(SYSTEM_PYTHON).exists(),
        "a second local user (root, runuser and user nobody)",
        "run the tests as root on Linux (the CI container does)",
    )


@pytest.fixture
def shared_parent() -> Iterator[Path]:
    """A folder every local user can traverse and write, like a careless MODELWIRE_HOME
    parent: the worst case for the data folder."""
    folder = Path(tempfile.mkdtemp(prefix="mw-shared-", dir="/tmp"))
    folder.chmod(0o1777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def fake_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "fake_llama_server.py").write_text(FAKE_SERVER)
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(modules), *sys.path]))
    monkeypatch.setenv("MODELWIRE_FAKE_DIR", str(state))


def model(tmp_path: Path) -> Path:
    path = tmp_path / "Tiny-Model.Q4_0.gguf"
    path.write_bytes(b"GGUF fake")
    return path


async def test_a_squatters_socket_is_refused_and_receives_nothing(
    second_uid: None, shared_parent: Path, tmp_path: Path, fake_module: None
) -> None:
    home = shared_parent / "home"
    home.mkdir(mode=0o777)
    home.chmod(0o777)  # world-writable: nobody can create the rendezvous folder first
    record = shared_parent / "received"
    squatter = subprocess.Popen(
        as_nobody("-c", SQUATTER, str(home / "embedded"), "Tiny-Model.Q4_0", str(record)),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert squatter.stdout is not None and squatter.stdout.readline().strip() == "ready"
        server = EmbeddedServer(
            model(tmp_path), run_dir=home / "embedded", module="fake_llama_server"
        )
        with pytest.raises(ModelWireError) as caught:
            await server.ensure_started()
        server.stop_sync()
    finally:
        squatter.kill()
        squatter.wait()
    assert caught.value.code is ErrorCode.EMBEDDED_UNAVAILABLE
    assert "not a folder of yours" in caught.value.message
    assert not record.exists()  # not even a connect with a request in it


async def test_another_user_cannot_connect_to_the_running_server(
    second_uid: None, shared_parent: Path, tmp_path: Path, fake_module: None
) -> None:
    home = shared_parent / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)  # readable and traversable by everyone, like a home directory
    server = EmbeddedServer(model(tmp_path), run_dir=home / "embedded", module="fake_llama_server")
    try:
        await server.ensure_started()
        sock = home / "embedded" / "llama.sock"
        assert sock.exists()
        probe = subprocess.run(
            as_nobody(
                "-c",
                "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
                "s.sendall(b'GET /v1/models HTTP/1.0\\r\\n\\r\\n'); print(s.recv(100))",
                str(sock),
            ),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert probe.returncode != 0
        assert "PermissionError" in probe.stderr
        plant = subprocess.run(
            as_nobody("-c", "import sys; open(sys.argv[1], 'w')", str(home / "embedded" / "x")),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "PermissionError" in plant.stderr
    finally:
        await server.stop()


async def test_the_server_command_line_names_no_port(
    tmp_path: Path, fake_module: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELWIRE_HOME", str(tmp_path / "home"))
    server = EmbeddedServer(model(tmp_path), module="fake_llama_server")
    try:
        await server.ensure_started()
        assert server.pid is not None
        argv = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
        assert b"--port" not in argv and b"--host" not in argv
        assert argv[argv.index(b"--uds") + 1] == b"llama.sock"
    finally:
        await server.stop()
