"""Agent runs end to end over stdio, against the Ollama and OpenAI doubles."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types as lsp
from testkit.doubles.fixtures import TEST_API_KEY
from testkit.doubles.ollama_double import OllamaDouble
from testkit.doubles.openai_double import OpenAIDouble

from tests.lsp.session import Session, plain, sidecar

SOURCE = "def add(a, b):\n    return a - b\n\n\nprint(add(2, 3))\n"


def make_folder(root: Path, name: str) -> tuple[Path, str]:
    folder = root / name
    folder.mkdir()
    f = folder / "main.py"
    f.write_text(SOURCE)
    return folder, f.as_uri()


async def add_ollama(
    s: Session, double: OllamaDouble, name: str = "Local Ollama", **extra: Any
) -> dict[str, Any]:
    url = double.url.replace("127.0.0.1", "localhost")
    return await s.call(
        "modelwire/createConnection",  # type: ignore[no-any-return]
        {"name": name, "providerId": "ollama", "baseUrl": url, "defaultModel": "llama3.2", **extra},
    )


async def add_openai(s: Session, double: OpenAIDouble, name: str = "Compat") -> dict[str, Any]:
    return await s.call(
        "modelwire/createConnection",  # type: ignore[no-any-return]
        {
            "name": name,
            "providerId": "openai",
            "baseUrl": double.url + "/v1",
            "defaultModel": "gpt-4o-mini",
        },
    )


def start(s: Session, uri: str, **params: Any) -> asyncio.Future[Any]:
    return asyncio.ensure_future(
        s.call("modelwire/startRun", {"agentId": "explain", "textDocument": {"uri": uri}, **params})
    )


async def test_each_workspace_folder_routes_to_its_own_default_connection(tmp_path: Path) -> None:
    ws_a, uri_a = make_folder(tmp_path, "alpha")
    ws_b, uri_b = make_folder(tmp_path, "beta")
    with (
        OllamaDouble(models=["llama3.2"]) as ollama,
        OpenAIDouble(models=["gpt-4o-mini", "gpt-4.1"]) as compat,
    ):
        ollama.behave(reply="Ollama says hello")
        compat.behave(reply="Compat says hello")
        async with sidecar(tmp_path / "home", folders=[ws_a, ws_b]) as s:
            o = await add_ollama(s, ollama)
            c = await add_openai(s, compat)
            s.set_settings({"defaultConnection": "Local Ollama"}, scope_uri=ws_a.as_uri())
            s.set_settings({"defaultConnection": "Compat"}, scope_uri=ws_b.as_uri())

            run_a = await start(s, uri_a)
            run_b = await start(s, uri_b)
            assert run_a["routing"] == {
                "connectionId": o["id"],
                "connectionName": "Local Ollama",
                "providerId": "ollama",
                "modelRef": "llama3.2",
                "source": "settings",
            }
            assert run_b["routing"]["connectionId"] == c["id"]
            assert run_b["routing"]["source"] == "settings"
            assert run_a["output"] == "Ollama says hello" and run_b["output"] == "Compat says hello"
            assert run_a["status"] == run_b["status"] == "succeeded"

            # An explicit connection overrides the folder's setting.
            run_x = await start(s, uri_a, connectionId=c["id"], modelRef="gpt-4.1")
            assert run_x["routing"]["source"] == "explicit"
            assert run_x["routing"]["connectionId"] == c["id"]
            assert run_x["routing"]["modelRef"] == "gpt-4.1"

            # listConnections reports each folder's default.
            la = await s.call("modelwire/listConnections", {"scopeUri": uri_a})
            lb = await s.call("modelwire/listConnections", {"scopeUri": uri_b})
            assert la["defaultConnectionId"] == o["id"] and lb["defaultConnectionId"] == c["id"]

            # Switching a folder's default takes effect without a restart.
            s.set_settings({"defaultConnection": "Compat"}, scope_uri=ws_a.as_uri())
            run_a2 = await start(s, uri_a)
            assert run_a2["routing"]["connectionId"] == c["id"]

            for run in (run_a, run_b, run_x, run_a2):
                stored = await s.call("modelwire/getRun", {"runId": run["runId"]})
                assert stored["routing"] == run["routing"]
                assert stored["output"] == run["output"]
            history = await s.call("modelwire/listRuns", {"limit": 10})
            assert [r["runId"] for r in history["runs"]] == [
                r["runId"] for r in (run_a2, run_x, run_b, run_a)
            ]


async def test_model_specifier_routes_to_the_named_connection(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    _, uri = make_folder(tmp_path, "ws")
    async with sidecar(tmp_path / "home") as s:
        await add_ollama(s, ollama_double)
        await s.call(
            "modelwire/createConnection",
            {"name": "Other", "providerId": "openai", "baseUrl": "http://127.0.0.1:9/v1"},
        )
        run = await start(s, uri, modelRef="Local Ollama/qwen2.5:0.5b")
        assert run["routing"]["connectionName"] == "Local Ollama"
        assert run["routing"]["modelRef"] == "qwen2.5:0.5b"
        assert run["routing"]["source"] == "explicit"
        err = await s.error(
            "modelwire/startRun", {"agentId": "explain", "textDocument": {"uri": uri}}
        )
        assert err.data["code"] == "NO_DEFAULT_CONNECTION"
        assert "Select Default Connection" in err.data["hint"]


async def test_started_with_routing_comes_before_the_first_delta(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    _, uri = make_folder(tmp_path, "ws")
    ollama_double.behave(delay_first_token=0.3, chunk_delay=0.01)
    async with sidecar(tmp_path / "home") as s:
        await add_ollama(s, ollama_double)
        run = await start(s, uri, workDoneToken="tok-1")
        kinds = [e["kind"] for e in s.run_events(run["runId"])]
        assert kinds.index("started") < kinds.index("delta")
        assert kinds[-1] == "end"
        assert (
            "".join(e["text"] for e in s.run_events(run["runId"]) if e["kind"] == "delta")
            == run["output"]
        )
        seqs = [e["seq"] for e in s.run_events(run["runId"])]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        started = next(e for e in s.run_events(run["runId"]) if e["kind"] == "started")
        assert started["routing"]["connectionName"] == "Local Ollama"
        assert run["timings"]["firstTokenMs"] >= 250
        # The same run reported through standard $/progress for generic clients.
        reports = s.client.progress_reports["tok-1"]
        assert reports[0].kind == "begin" and reports[-1].kind == "end"


@pytest.mark.parametrize("how", ["cancelRun", "cancelRequest"])
async def test_cancel_mid_stream_ends_the_run_quickly_and_closes_the_backend_stream(
    tmp_path: Path, ollama_double: OllamaDouble, how: str
) -> None:
    _, uri = make_folder(tmp_path, "ws")
    ollama_double.behave(stall_after=3)
    async with sidecar(tmp_path / "home") as s:
        await add_ollama(s, ollama_double)
        raw = s.client.protocol.send_request_async(
            "modelwire/startRun",
            {"agentId": "explain", "textDocument": {"uri": uri}},
            msg_id=f"run-{how}",
        )
        pending = asyncio.ensure_future(raw)
        delta = await s.wait_event(lambda e: e["kind"] == "delta")
        if how == "cancelRun":
            answer = await s.call("modelwire/cancelRun", {"runId": delta["runId"]})
            assert answer["cancelled"] is True
        else:  # what VS Code sends when its CancellationToken fires
            s.client.protocol.notify("$/cancelRequest", lsp.CancelParams(id=f"run-{how}"))
        # The backend stalls after 3 chunks, so only the cancel can end this run; how fast
        # it does is a figure in bench/ (cancel), not a wall-clock bound here.
        end = await s.wait_event(lambda e: e["kind"] == "end" and e["runId"] == delta["runId"])
        assert end["status"] == "cancelled"
        with pytest.raises(Exception) as info:
            await pending
        assert getattr(info.value, "code", None) == -32800
        assert plain(info.value.data)["code"] == "GENERATION_ABORTED"  # type: ignore[attr-defined]
        chat = ollama_double.requests_to("/api/chat")[-1]
        assert await chat.wait_disconnected_async(2.0), "the backend never saw the disconnect"
        record = await s.call("modelwire/getRun", {"runId": delta["runId"]})
        assert record["status"] == "cancelled"
        assert record["errorCode"] == "GENERATION_ABORTED"
        assert record["output"]  # what streamed before the cancel is kept
        kinds = [e["kind"] for e in s.run_events(delta["runId"])]
        assert kinds[-2:] == ["error", "end"], kinds  # the error, the end, then nothing
        assert "delta" not in kinds[kinds.index("error") :], kinds
        ollama_double.behave(stall_after=None)
        again = await start(s, uri)
        assert again["status"] == "succeeded"


async def test_backend_killed_mid_stream_fails_the_run_and_the_sidecar_keeps_serving(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    _, uri = make_folder(tmp_path, "ws")
    ollama_double.behave(drop_after=2)
    async with sidecar(tmp_path / "home") as s:
        await add_ollama(s, ollama_double)
        err = await s.error(
            "modelwire/startRun", {"agentId": "explain", "textDocument": {"uri": uri}}
        )
        assert err.data["code"] == "GENERATION_FAILED"
        assert err.data["connectionId"] and err.data["providerId"] == "ollama"
        runs = await s.call("modelwire/listRuns", {"limit": 1})
        assert runs["runs"][0]["status"] == "failed"
        assert runs["runs"][0]["errorCode"] == "GENERATION_FAILED"
        ollama_double.behave(drop_after=None)
        ok = await start(s, uri)
        assert ok["status"] == "succeeded"


async def test_stopped_ollama_says_start_ollama_serve(tmp_path: Path) -> None:
    _, uri = make_folder(tmp_path, "ws")
    double = OllamaDouble().start()
    async with sidecar(tmp_path / "home") as s:
        conn = await add_ollama(s, double)
        double.stop()
        health = await s.call("modelwire/testConnection", {"connectionId": conn["id"]})
        assert health["reachable"] is False
        assert health["error"]["code"] == "ENDPOINT_UNREACHABLE"
        assert "ollama serve" in health["error"]["hint"]
        err = await s.error(
            "modelwire/startRun", {"agentId": "explain", "textDocument": {"uri": uri}}
        )
        assert err.data["code"] == "ENDPOINT_UNREACHABLE"
        assert "not running" in err.data["message"]


async def test_twenty_concurrent_runs_on_one_ollama_slot(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    _, uri = make_folder(tmp_path, "ws")
    # The first run holds the only slot for 3 s, so all 20 requests arrive while it runs
    # even on a loaded machine; the runs behind it are then served quickly.
    ollama_double.behave(delay_first_token=3, reply="one two three four five")
    async with sidecar(tmp_path / "home") as s:
        await add_ollama(s, ollama_double)
        s.set_settings({"limits": {"maxConcurrentOllama": 1, "queueSize": 8}})
        futures = [start(s, uri) for _ in range(20)]
        await s.wait_event(lambda e: e["kind"] == "queued" and e["position"] == 8)
        busy_so_far = await asyncio.wait_for(_count_done(futures, 11), 20)
        assert busy_so_far == 11
        ollama_double.behave(delay_first_token=0)
        results = await asyncio.gather(*futures, return_exceptions=True)
        served = [r for r in results if isinstance(r, dict)]
        errors = [getattr(r, "data", {}) for r in results if not isinstance(r, dict)]
        codes = sorted(plain(e).get("code") for e in errors)
        assert codes == ["MODEL_BUSY"] * 11
        assert len(served) == 9 and all(r["status"] == "succeeded" for r in served)
        # Served strictly in arrival order, one at a time.
        starts = sorted(served, key=lambda r: r["timings"]["startedAt"])
        finish = [r["timings"]["finishedAt"] for r in starts]
        assert finish == sorted(finish)
        history = await s.call("modelwire/listRuns", {"limit": 100})
        ids = [r["runId"] for r in history["runs"]]
        assert len(ids) == 20 == len(set(ids))
        statuses = sorted(r["status"] for r in history["runs"])
        assert statuses.count("succeeded") == 9 and statuses.count("failed") == 11
        queued = [e for e in s.events if e["kind"] == "queued"]
        assert max(e["position"] for e in queued) == 8
        first_position: dict[str, int] = {}
        for e in queued:
            first_position.setdefault(e["runId"], e["position"])
        started = [e["runId"] for e in s.events if e["kind"] == "started"]
        waited = [r for r in started if r in first_position]
        assert len(waited) == 8
        assert [first_position[r] for r in waited] == list(range(1, 9))  # FIFO
        status = await s.call("modelwire/status")
        assert status["activeRuns"] == 0 and status["queuedRuns"] == 0


async def _count_done(futures: list[asyncio.Future[Any]], want: int) -> int:
    """Wait until `want` of the futures have finished (the MODEL_BUSY answers)."""
    while sum(f.done() for f in futures) < want:
        await asyncio.sleep(0.01)
    return sum(f.done() for f in futures)


async def test_prompt_too_large_is_refused_before_any_network_call(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    folder = tmp_path / "ws"
    folder.mkdir()
    big = folder / "big.py"
    big.write_text("x = 1\n" * 50_000)  # ~300 KiB
    async with sidecar(tmp_path / "home") as s:
        await add_ollama(s, ollama_double)
        err = await s.error(
            "modelwire/startRun", {"agentId": "explain", "textDocument": {"uri": big.as_uri()}}
        )
        assert err.code == -32602 and err.data["code"] == "PROMPT_TOO_LARGE"
        assert ollama_double.requests_to("/api/chat") == []


async def test_run_uses_the_editors_unsaved_text(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    _, uri = make_folder(tmp_path, "ws")
    async with sidecar(tmp_path / "home") as s:
        await add_ollama(s, ollama_double)
        s.open_document(uri, "UNSAVED_MARKER = 1\n")
        await start(s, uri)
        prompt = str(ollama_double.requests_to("/api/chat")[-1].json["messages"])
        assert "UNSAVED_MARKER" in prompt


async def test_review_findings_become_diagnostics(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    _, uri = make_folder(tmp_path, "ws")
    ollama_double.behave(
        reply="LINE 2 | error | subtracts instead of adding\n"
        "LINE 5 | info | prints at import time\n"
    )
    async with sidecar(tmp_path / "home") as s:
        await add_ollama(s, ollama_double)
        run = await s.call(
            "modelwire/startRun", {"agentId": "review", "textDocument": {"uri": uri}}
        )
        assert run["diagnosticsCount"] == 2
        await s.client.wait_for_notification(
            "textDocument/publishDiagnostics"
        ) if uri not in s.client.diagnostics else None
        diags = s.client.diagnostics[uri]
        assert [(d.range.start.line, d.source, d.severity) for d in diags] == [
            (1, "modelwire", 1),
            (4, "modelwire", 3),
        ]
        assert "subtracts" in diags[0].message


async def test_consent_deny_then_allow_always(
    tmp_path: Path, openai_double: OpenAIDouble, real_keyring: None
) -> None:
    ws, uri = make_folder(tmp_path, "ws")
    async with sidecar(tmp_path / "home", folders=[ws]) as s:
        conn = await add_openai(s, openai_double, "Keyed")
        await s.call("modelwire/setSecret", {"connectionId": conn["id"], "secret": TEST_API_KEY})
        s.consent_answers = ["Deny"]
        err = await s.error(
            "modelwire/startRun", {"agentId": "explain", "textDocument": {"uri": uri}}
        )
        assert err.data["code"] == "CONSENT_DENIED"
        assert openai_double.requests_to("/v1/chat/completions") == []

        s.consent_answers = ["Always for this folder"]
        first = await start(s, uri)
        second = await start(s, uri)
        assert first["status"] == second["status"] == "succeeded"
        assert len(s.consent_prompts) == 2  # deny, then always; no third prompt
        # The prompt names the folder as a user knows it, not as a file:// URI.
        assert f"allow requests from folder 'ws' ({ws})" in s.consent_prompts[0]
        assert "file://" not in s.consent_prompts[0]
        auth = openai_double.requests_to("/v1/chat/completions")[-1].headers["authorization"]
        assert auth == f"Bearer {TEST_API_KEY}"
    audit = [line for line in (tmp_path / "home" / "audit.log").read_text().splitlines()]
    assert any('"decision":"deny"' in line and '"purpose":"consent"' in line for line in audit)
    assert any('"decision":"always"' in line for line in audit)
    assert sum('"purpose":"run"' in line and '"decision":"read"' in line for line in audit) == 2
    assert all(ws.as_uri() in line for line in audit if '"purpose":"consent"' in line)
    # The requester is the editor's clientInfo.name, as docs/protocol.md promises.
    assert all(
        '"client":"pytest-editor"' in line for line in audit if '"purpose":"consent"' in line
    )
    for path in (tmp_path / "home").rglob("*"):
        if path.is_file():
            assert TEST_API_KEY.encode() not in path.read_bytes(), path


async def test_a_run_that_was_streaming_when_the_sidecar_died_reads_interrupted(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    _, uri = make_folder(tmp_path, "ws")
    ollama_double.behave(stall_after=2)
    home = tmp_path / "home"
    async with sidecar(home) as s:
        await add_ollama(s, ollama_double)
        start(s, uri)
        delta = await s.wait_event(lambda e: e["kind"] == "delta")
        s.client._server.kill()  # type: ignore[union-attr]
        await s.client._server.wait()  # type: ignore[union-attr]
        s.client.capabilities = None  # no shutdown handshake with a dead server
    async with sidecar(home) as s:
        record = await s.call("modelwire/getRun", {"runId": delta["runId"]})
    assert record["status"] == "interrupted"
    assert record["routing"]["connectionName"] == "Local Ollama"


async def test_client_run_ids_tell_concurrent_runs_apart_even_when_events_reorder(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    ws_a, uri_a = make_folder(tmp_path, "alpha")
    ws_b, uri_b = make_folder(tmp_path, "beta")
    async with sidecar(tmp_path / "home", folders=[ws_a, ws_b]) as s:
        await add_ollama(s, ollama_double)
        await start(s, uri_b)  # beta's settings are now cached; alpha's are not
        first = start(s, uri_a, clientRunId="editor-1")  # waits on a settings pull
        second = start(s, uri_b, clientRunId="editor-2")
        run_1, run_2 = await asyncio.gather(first, second)
    by_client = {}
    for event in s.events:
        if "clientRunId" in event:
            by_client.setdefault(event["clientRunId"], set()).add(event["runId"])
    assert by_client == {"editor-1": {run_1["runId"]}, "editor-2": {run_2["runId"]}}
    assert run_1["uri"] == uri_a and run_2["uri"] == uri_b


async def test_an_orchestrator_run_over_stdio_shows_steps_children_and_its_requests(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    from testkit.doubles.tool_script import ToolTurn

    folder, uri = make_folder(tmp_path, "ws")
    (folder / "util.py").write_text("def parse(text):\n    return int(text)\n")
    ollama_double.script_tools(
        ToolTurn([{"name": "read_file", "arguments": {"path": "util.py"}}]),
        ToolTurn([{"name": "run_agent", "arguments": {"agent": "review"}}], layout="done_line"),
    )
    with OpenAIDouble(models=["gpt-4o-mini"]) as compat:
        async with sidecar(tmp_path / "home", folders=[folder]) as s:
            await add_ollama(s, ollama_double)
            await add_openai(s, compat, "Work OpenAI")
            s.set_settings(
                {
                    "defaultConnection": "Local Ollama",
                    "agentConnections": {"review": "Work OpenAI"},
                },
                scope_uri=folder.as_uri(),
            )
            run = await start(s, uri, agentId="improve", workDoneToken="tok-o")
            assert run["status"] == "succeeded"
            assert [(st["tool"], st["outcome"]) for st in run["steps"]] == [
                ("read_file", "ok"),
                ("run_agent", "ok"),
            ]
            child_id = run["steps"][1]["childRunId"]
            child = await s.call("modelwire/getRun", {"runId": child_id})
            assert child["parentRunId"] == run["runId"] and child["parentStep"] == 2
            assert child["routing"]["connectionName"] == "Work OpenAI"
            assert all(e["parentRunId"] == run["runId"] for e in s.run_events(child_id))
            mine = [e["kind"] for e in s.run_events(run["runId"])]
            assert mine.count("step") >= 4 and mine[-1] == "end"
            # The progress is the parent's: the child's end did not end it early.
            reports = s.client.progress_reports["tok-o"]
            assert [r.kind for r in reports].count("end") == 1
            assert any("Step 2: run_agent review" in (r.message or "") for r in reports)

            inspected = await s.call("modelwire/getRunRequests", {"runId": run["runId"]})
            assert [len(r["body"]["messages"]) for r in inspected["requests"]] == [2, 4, 6]
            assert inspected["requests"][0]["body"]["tools"][0]["function"]["name"] == "run_agent"
            missing = await s.error("modelwire/getRunRequests", {"runId": "nope"})
            assert missing.data["code"] == "RUN_NOT_FOUND"
