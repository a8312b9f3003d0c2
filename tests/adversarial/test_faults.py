"""Fault injection: hostile or broken backends, a full or read-only disk, a missing or
locked keyring, an editor that goes away. For each: the right error code, the sidecar
stays up (or exits cleanly), the store stays consistent, no process is left behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path

import pytest
from testkit.doubles.http_double import StandaloneDouble, closed_port
from testkit.doubles.ollama_double import OllamaDouble
from testkit.sidecar import RpcError, Sidecar, proc_rss_mb

from tests.adversarial.helpers import (
    SAFE_ENV,
    Workspace,
    alive,
    assert_alive,
    children_of,
    db_rows,
    have,
    integrity_ok,
    make_workspace,
    ollama_connection,
    poll,
    remount,
    run_error,
    run_params,
    running,
    tmpfs,
)
from tests.conftest import require_peer

NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path)


@pytest.fixture
def ollama() -> OllamaDouble:
    with OllamaDouble(models=["llama3.2"]) as double:
        yield double


def _final_status(s_home: Path, run_id: str) -> str:
    rows = db_rows(s_home, f"SELECT status FROM runs WHERE run_id = '{run_id}'")
    return str(rows[0]["status"])


# --- backends ---------------------------------------------------------------------------


async def test_refused_backend_fails_the_run_with_endpoint_unreachable(ws: Workspace) -> None:
    async with running(ws) as s:
        conn = await ollama_connection(s, f"http://127.0.0.1:{closed_port()}")
        err = await run_error(s, run_params(ws, conn))
        assert err.data_code == "ENDPOINT_UNREACHABLE"
        assert "ollama serve" in err.data["hint"]
        assert err.data["retryable"] is True and err.data["connectionId"] == conn
        run_id = next(iter(s.runs))
        kinds = [e["kind"] for e in s.run_events(run_id)]
        assert kinds[0] == "started" and "retry" in kinds and kinds[-2:] == ["error", "end"]
        record = await s.call("modelwire/getRun", {"runId": run_id})
        assert record["status"] == "failed" and record["errorCode"] == "ENDPOINT_UNREACHABLE"
        await assert_alive(s)


async def test_stall_before_the_first_byte_times_out_and_hangs_up(
    ws: Workspace, ollama: OllamaDouble
) -> None:
    ollama.behave(delay_first_token=60)
    async with running(ws) as s:
        conn = await ollama_connection(
            s, ollama.url, timeouts={"firstTokenSeconds": 1.2, "connectSeconds": 2}
        )
        err = await run_error(s, run_params(ws, conn), timeout=20)
        assert err.data_code == "TIMEOUT" and err.data["timeout"] == "firstToken"
        run_id = next(iter(s.runs))
        kinds = [e["kind"] for e in s.run_events(run_id)]
        assert "loading" in kinds, kinds  # the editor was told the model may be loading
        # One retry at most (DESIGN §7), and the sidecar hung up on both attempts.
        chats = ollama.requests_to("/api/chat")
        assert 1 <= len(chats) <= 2
        for request in chats:
            assert await request.wait_disconnected_async(5)
        await assert_alive(s)


async def test_stall_mid_stream_times_out_and_keeps_the_partial_output(
    ws: Workspace, ollama: OllamaDouble
) -> None:
    ollama.behave(reply="one two three four five six", stall_after=3)
    async with running(ws) as s:
        conn = await ollama_connection(s, ollama.url, timeouts={"idleSeconds": 1})
        err = await run_error(s, run_params(ws, conn), timeout=20)
        assert err.data_code == "TIMEOUT" and err.data["timeout"] == "idle"
        run_id = next(iter(s.runs))
        record = await s.call("modelwire/getRun", {"runId": run_id})
        assert record["status"] == "failed" and record["output"] == "one two three "
        assert len(ollama.requests_to("/api/chat")) == 1  # no retry after the first byte
        assert await ollama.requests_to("/api/chat")[0].wait_disconnected_async(5)
        await assert_alive(s)


async def test_backend_connection_dropped_mid_stream_fails_the_run(
    ws: Workspace, ollama: OllamaDouble
) -> None:
    ollama.behave(reply="one two three four five six", drop_after=2)
    async with running(ws) as s:
        conn = await ollama_connection(s, ollama.url)
        err = await run_error(s, run_params(ws, conn))
        assert err.data_code == "GENERATION_FAILED"
        run_id = next(iter(s.runs))
        record = await s.call("modelwire/getRun", {"runId": run_id})
        assert record["status"] == "failed" and record["output"] == "one two "
        await assert_alive(s)


async def test_backend_process_killed_mid_stream_fails_the_run(ws: Workspace) -> None:
    double = StandaloneDouble(
        "ollama_double",
        "--models",
        "llama3.2",
        "--chunk-delay",
        "0.05",
        "--reply",
        " ".join(f"w{i}" for i in range(200)),
    )
    try:
        async with running(ws) as s:
            conn = await ollama_connection(s, double.url)
            run = asyncio.ensure_future(s.call("modelwire/startRun", run_params(ws, conn)))
            await s.wait_event(lambda e: e["kind"] == "delta", timeout=15)
            double.kill()
            with pytest.raises(RpcError) as err:
                await asyncio.wait_for(run, 20)
            assert err.value.data_code == "GENERATION_FAILED"
            await assert_alive(s)
    finally:
        double.stop()


async def test_garbage_lines_fail_the_run_with_a_short_message(
    ws: Workspace, ollama: OllamaDouble
) -> None:
    garbage = b"<html>proxy error</html>\n\x00\xff\xfe not json\n"
    ollama.fail_next(200, garbage, NDJSON, path="/api/chat")
    async with running(ws) as s:
        conn = await ollama_connection(s, ollama.url)
        err = await run_error(s, run_params(ws, conn))
        assert err.data_code == "GENERATION_FAILED"
        assert len(err.message) < 400
        await assert_alive(s)


async def test_a_2mb_line_of_garbage_is_refused_without_echoing_it(
    ws: Workspace, ollama: OllamaDouble
) -> None:
    ollama.fail_next(200, b"x" * (2 * 1024 * 1024) + b"\n", NDJSON, path="/api/chat")
    async with running(ws) as s:
        conn = await ollama_connection(s, ollama.url)
        err = await run_error(s, run_params(ws, conn))
        assert err.data_code == "GENERATION_FAILED"
        assert len(json.dumps(err.data)) < 2000  # a bounded excerpt, not the 2 MB
        assert proc_rss_mb(s.pid) < 400
        await assert_alive(s)


async def test_a_valid_2mb_line_streams_through_whole(ws: Workspace, ollama: OllamaDouble) -> None:
    text = "a" * (2 * 1024 * 1024)
    lines = [
        {"model": "llama3.2", "message": {"role": "assistant", "content": text}, "done": False},
        {
            "model": "llama3.2",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "eval_count": 1,
            "prompt_eval_count": 1,
        },
    ]
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    ollama.fail_next(200, body, NDJSON, path="/api/chat")
    async with running(ws) as s:
        conn = await ollama_connection(s, ollama.url)
        result = await s.call("modelwire/startRun", run_params(ws, conn), timeout=30)
        # Over 64 KiB the result leaves the output out (it came as deltas): not twice.
        assert result["status"] == "succeeded" and result["outputOmitted"] is True
        assert result["output"] == ""
        assert s.runs[result["runId"]].chars == len(text)
        stored = await s.call("modelwire/getRun", {"runId": result["runId"]}, timeout=30)
        assert stored["output"] == text
        assert proc_rss_mb(s.pid) < 400
        await assert_alive(s)


# --- the disk ---------------------------------------------------------------------------


def _fill(directory: Path) -> Path:
    """Write until the file system is full; return the filler file."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


@pytest.mark.real_peer("tmpfs")
async def test_disk_full_fails_runs_with_storage_failed_and_recovers(
    tmp_path: Path, ollama: OllamaDouble
) -> None:
    with tmpfs(tmp_path / "small", "2m") as mount:
        ws = make_workspace(tmp_path, home=mount / "home")
        async with running(ws) as s:
            conn = await ollama_connection(s, ollama.url)
            ok = await s.call("modelwire/startRun", run_params(ws, conn))
            filler = _fill(mount)
            err = await run_error(s, run_params(ws, conn))
            assert err.data_code == "STORAGE_FAILED"
            assert "disk" in err.message.lower() or "full" in err.message.lower()
            # Reads still work and the sidecar is up.
            await s.call("modelwire/listRuns", {"limit": 10})
            await assert_alive(s)
            filler.unlink()
            again = await s.call("modelwire/startRun", run_params(ws, conn))
            assert again["status"] == "succeeded"
        assert integrity_ok(ws.home)
        statuses = {r["run_id"]: r["status"] for r in db_rows(ws.home)}
        assert statuses[ok["runId"]] == "succeeded" and statuses[again["runId"]] == "succeeded"
        assert not {"queued", "running"} & set(statuses.values())


@pytest.mark.real_peer("tmpfs")
async def test_read_only_home_at_start_degrades_with_a_warning(
    tmp_path: Path, ollama: OllamaDouble
) -> None:
    with tmpfs(tmp_path / "ro", "1m") as mount:
        (mount / "home").mkdir()
        remount(mount, "ro")
        ws = make_workspace(tmp_path, home=mount / "home")
        async with running(ws) as s:
            status = await s.call("modelwire/status", {})
            assert status["storageError"], status
            await poll(lambda: bool(s.notifications), 10, "the degraded-storage warning")
            shown = [n for n in s.notifications if n["method"] == "window/showMessage"]
            assert shown and "MODELWIRE_HOME" in shown[0]["params"]["message"]
            # Still useful in memory: a connection and a run work.
            conn = await ollama_connection(s, ollama.url)
            result = await s.call("modelwire/startRun", run_params(ws, conn))
            assert result["status"] == "succeeded"
        assert list((mount / "home").iterdir()) == []


@pytest.mark.real_peer("tmpfs")
async def test_existing_store_on_a_read_only_home_keeps_its_runs_readable(
    tmp_path: Path, ollama: OllamaDouble
) -> None:
    # A busy mount cannot be flipped to read-only (EBUSY) and file modes do not bind
    # root or an open descriptor, so "read-only mid-session" is covered by the disk-full
    # test (every write fails) and this one: a store written earlier, now read-only.
    with tmpfs(tmp_path / "flip", "4m") as mount:
        ws = make_workspace(tmp_path, home=mount / "home")
        async with running(ws) as s:
            conn = await ollama_connection(s, ollama.url)
            first = await s.call("modelwire/startRun", run_params(ws, conn))
        remount(mount, "ro")
        try:
            async with running(ws) as s:
                status = await s.call("modelwire/status", {})
                assert status["storageError"], status
                await assert_alive(s)
        finally:
            remount(mount, "rw")
        assert integrity_ok(ws.home)
        rows = db_rows(ws.home)
        assert [r["run_id"] for r in rows] == [first["runId"]]
        assert rows[0]["status"] == "succeeded"


# --- the keyring --------------------------------------------------------------------------


async def _set_secret_error(
    ws: Workspace, env: dict[str, str], command: list[str] | None = None
) -> tuple[RpcError, dict[str, object]]:
    async with running(ws, env=env, command=command) as s:
        conn = await s.call(
            "modelwire/createConnection",
            {"name": "Cloud", "providerId": "openai", "baseUrl": "http://127.0.0.1:9/v1"},
        )
        with pytest.raises(RpcError) as err:
            await s.call(
                "modelwire/setSecret",
                {"connectionId": conn["id"], "secret": "sk-test-1234567890"},
                timeout=30,
            )
        status = await assert_alive(s)
        listed = await s.call("modelwire/listConnections", {})
        assert all(not c["hasSecret"] for c in listed["connections"])
    return err.value, status


async def test_fail_keyring_backend_refuses_to_store_a_key(ws: Workspace) -> None:
    err, status = await _set_secret_error(
        ws, {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    )
    assert err.data_code == "KEYRING_UNAVAILABLE"
    assert "gnome-keyring" in err.data["hint"] or "keyring" in err.data["hint"].lower()
    assert status["keyringSecure"] is False


async def test_no_dbus_session_means_keyring_unavailable(ws: Workspace) -> None:
    env = {
        "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
        "DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/bus",
    }
    err, _ = await _set_secret_error(ws, env)
    assert err.data_code == "KEYRING_UNAVAILABLE"


def _insecure_backends() -> list[str]:
    names = ["keyring.backends.null.Keyring"]
    try:
        import keyrings.alt  # noqa: F401
    except ImportError:
        return names  # keyring alone picks `fail` on a headless machine (tested above)
    return [*names, "keyrings.alt.file.PlaintextKeyring"]


@pytest.mark.parametrize("backend", _insecure_backends())
async def test_insecure_keyring_backends_are_refused(ws: Workspace, backend: str) -> None:
    err, status = await _set_secret_error(ws, {"PYTHON_KEYRING_BACKEND": backend})
    assert err.data_code == "KEYRING_UNAVAILABLE"
    assert status["keyringSecure"] is False


@pytest.mark.real_peer("keyring")
async def test_locked_keyring_means_keyring_unavailable(tmp_path: Path) -> None:
    require_peer(
        have("dbus-run-session") and have("gnome-keyring-daemon"),
        "gnome-keyring + D-Bus",
        "scripts/setup --all installs them",
    )
    ws = make_workspace(tmp_path)
    kr = tmp_path / "kr"
    for sub in ("data", "runtime", "config"):
        (kr / sub).mkdir(parents=True)
    (kr / "runtime").chmod(0o700)
    env = {
        "HOME": str(kr),
        "XDG_DATA_HOME": str(kr / "data"),
        "XDG_RUNTIME_DIR": str(kr / "runtime"),
        "XDG_CONFIG_HOME": str(kr / "config"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
    }
    # A daemon that was never unlocked: storing needs a password prompt nobody answers.
    script = (
        "gnome-keyring-daemon --start --components=secrets >/dev/null 2>&1; "
        'exec "$0" -m modelwire serve'
    )
    import sys

    command = ["dbus-run-session", "--", "sh", "-c", script, sys.executable]
    err, _ = await _set_secret_error(ws, env, command)
    assert err.data_code == "KEYRING_UNAVAILABLE"


# --- the editor goes away -------------------------------------------------------------------


async def test_editor_closing_stdin_mid_run_ends_the_sidecar_cleanly(
    ws: Workspace, ollama: OllamaDouble
) -> None:
    ollama.behave(reply=" ".join(f"w{i}" for i in range(400)), chunk_delay=0.05)
    s = await Sidecar.start(ws.home, folders=[ws.folder], env=SAFE_ENV, stderr_path=ws.log)
    try:
        s.open_document(ws.doc_uri, "def f():\n    pass\n")
        conn = await ollama_connection(s, ollama.url)
        run = asyncio.ensure_future(s.call("modelwire/startRun", run_params(ws, conn), timeout=60))
        first = await s.wait_event(lambda e: e["kind"] == "delta", timeout=15)
        kids = children_of(s.pid)
        s.close_stdin()
        code = await asyncio.wait_for(s.proc.wait(), 15)
        assert code == 0, ws.log_text()[-2000:]
        # The backend stream was dropped, and nothing the sidecar started survives it.
        assert await ollama.requests_to("/api/chat")[0].wait_disconnected_async(10)
        await poll(lambda: not any(alive(k) for k in kids), 10, "the sidecar's children to exit")
    finally:
        await s.kill()
    run.cancel()
    assert integrity_ok(ws.home)
    status = _final_status(ws.home, first["runId"])
    assert status in ("running", "cancelled", "interrupted")
    # The next start marks a run cut off this way as interrupted (or it was cancelled).
    async with running(ws) as s2:
        record = await s2.call("modelwire/getRun", {"runId": first["runId"]})
        assert record["status"] in ("cancelled", "interrupted")


async def test_sigterm_mid_run_leaves_no_process_and_a_readable_store(
    ws: Workspace, ollama: OllamaDouble
) -> None:
    ollama.behave(reply=" ".join(f"w{i}" for i in range(400)), chunk_delay=0.05)
    s = await Sidecar.start(ws.home, folders=[ws.folder], env=SAFE_ENV, stderr_path=ws.log)
    try:
        s.open_document(ws.doc_uri, "def f():\n    pass\n")
        conn = await ollama_connection(s, ollama.url)
        run = asyncio.ensure_future(s.call("modelwire/startRun", run_params(ws, conn), timeout=60))
        first = await s.wait_event(lambda e: e["kind"] == "delta", timeout=15)
        s.proc.terminate()
        await asyncio.wait_for(s.proc.wait(), 15)
    finally:
        await s.kill()
    run.cancel()
    assert integrity_ok(ws.home)
    async with running(ws) as s2:
        record = await s2.call("modelwire/getRun", {"runId": first["runId"]})
        assert record["status"] in ("cancelled", "interrupted")


def test_fault_suite_does_not_touch_the_real_home() -> None:
    # Every sidecar above ran with its own MODELWIRE_HOME and proxies to a closed port.
    assert SAFE_ENV["HTTPS_PROXY"].startswith("http://127.0.0.1:")
    assert os.environ.get("MODELWIRE_HOME") is None or "pytest" not in os.environ.get(
        "MODELWIRE_HOME", ""
    )
