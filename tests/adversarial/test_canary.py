"""Secret canary: a key set on an OpenAI connection never appears in anything the
sidecar writes — stdout (raw bytes), its stderr log, the database and its WAL, the audit
log, temp files — while the whole API surface is exercised, including the error paths
where the provider echoes the key back (401 on testConnection, listModels and runs, and
a mid-stream error that quotes it).

Needs the real OS keyring: run under `scripts/with-keyring` (CI does).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import string
from pathlib import Path
from typing import Any

import pytest
from testkit.doubles.ollama_double import OllamaDouble
from testkit.doubles.openai_double import OpenAIDouble
from testkit.sidecar import RpcError, Sidecar

from tests.adversarial.helpers import SAFE_ENV, make_workspace, run_params
from tests.conftest import require_peer

NOT_HEX_UPPER = "GHJKLMNPQRSTUVWXYZ"  # never in uuids, hex digests or ISO timestamps


def _canary() -> str:
    rng = random.SystemRandom()
    pick = lambda alphabet, n: "".join(rng.choice(alphabet) for _ in range(n))  # noqa: E731
    return (
        "sk-"
        + pick(NOT_HEX_UPPER, 5)
        + pick(string.ascii_letters + string.digits, 30)
        + pick(NOT_HEX_UPPER, 6)
    )


def _needles(canary: str) -> dict[str, bytes]:
    raw = canary.encode()
    zero_width = "\u200d".join(canary)
    return {
        "the key": raw,
        "its 8-char prefix": canary[:8].encode(),
        "its 6-char suffix": canary[-6:].encode(),
        "its base64": base64.b64encode(raw),
        "its base64 (middle)": base64.b64encode(raw)[8:32],
        "its hex": raw.hex().encode(),
        "its HEX": raw.hex().upper().encode(),
        "it reversed": canary[::-1].encode(),
        "it percent-encoded": "".join(f"%{b:02X}" for b in raw).encode(),
        "it zero-width-joined (UTF-8)": zero_width.encode(),
        "it zero-width-joined (JSON)": json.dumps(zero_width)[1:-1].encode(),
        "a 12-char piece": canary[12:24].encode(),
    }


def _files(*roots: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                with contextlib.suppress(OSError):
                    found[str(path)] = path.read_bytes()
    return found


async def _expect_error(s: Sidecar, method: str, params: dict[str, Any]) -> RpcError:
    try:
        result = await s.call(method, params, timeout=30)
    except RpcError as exc:
        return exc
    raise AssertionError(f"{method} succeeded: {result!r}")


@pytest.mark.real_peer("keyring")
async def test_the_key_never_leaves_the_keyring(tmp_path: Path) -> None:
    canary = _canary()
    ws = make_workspace(tmp_path)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**SAFE_ENV, "TMPDIR": str(tmpdir)}
    snapshots: dict[str, bytes] = {}
    with (
        OpenAIDouble(
            models=["gpt-4o-mini"], api_key="sk-someone-elses-key-000000", echo_full_key=True
        ) as openai,
        OllamaDouble(models=["llama3.2"]) as ollama,
    ):
        s = await Sidecar.start(
            ws.home, folders=[ws.folder], env=env, stderr_path=ws.log, capture=True
        )
        try:
            s.open_document(ws.doc_uri, "def f():\n    return 1\n")
            status = await s.call("modelwire/status", {})
            require_peer(
                status["keyringSecure"], "an unlocked OS keyring", "run under scripts/with-keyring"
            )
            await _surface(s, ws, openai, ollama, canary)
            snapshots = _files(ws.home, tmpdir)  # the WAL exists only while the store is open
            assert await s.close() == 0
        finally:
            await s.kill()
        # The double did receive the key (so it was really used), and echoed it back.
        assert any(r.headers.get("authorization") == f"Bearer {canary}" for r in openai.requests)

    written = {
        "stdout (raw JSON-RPC bytes)": bytes(s.raw_out),
        "stderr log": ws.log.read_bytes(),
        **{f"during: {k}": v for k, v in snapshots.items()},
        **{f"after: {k}": v for k, v in _files(ws.home, tmpdir).items()},
    }
    assert any("modelwire.db" in k for k in written) and any("audit.log" in k for k in written)
    assert any(k.endswith("-wal") for k in written), sorted(written)
    assert len(written["stdout (raw JSON-RPC bytes)"]) > 10_000
    # Proof the echo happened and was scrubbed on its way to the editor (not just absent).
    assert b"[REDACTED]" in written["stdout (raw JSON-RPC bytes)"]
    leaks = [
        f"{what} in {where}"
        for where, data in written.items()
        for what, needle in _needles(canary).items()
        if needle in data
    ]
    assert not leaks, leaks


async def _surface(
    s: Sidecar, ws: Any, openai: OpenAIDouble, ollama: OllamaDouble, canary: str
) -> None:
    """Every custom method, the failing paths first (the provider rejects and echoes)."""
    await s.call("modelwire/listProviders", {})
    await s.call(
        "modelwire/registerProvider",
        {
            "id": "compat",
            "displayName": "Compat",
            "protocol": "openai",
            "auth": "apiKey",
            "defaultBaseUrl": openai.url + "/v1",
        },
    )
    a = await s.call(
        "modelwire/createConnection",
        {
            "name": "Cloud",
            "providerId": "openai",
            "baseUrl": openai.url + "/v1",
            "defaultModel": "gpt-4o-mini",
        },
    )
    b = await s.call(
        "modelwire/createConnection",
        {"name": "Compat", "providerId": "compat", "defaultModel": "gpt-4o-mini"},
    )
    local = await s.call(
        "modelwire/createConnection",
        {
            "name": "Local",
            "providerId": "ollama",
            "baseUrl": ollama.url,
            "defaultModel": "llama3.2",
        },
    )
    for conn in (a, b):
        stored = await s.call("modelwire/setSecret", {"connectionId": conn["id"], "secret": canary})
        assert stored == {"connectionId": conn["id"], "hasSecret": True}
    await s.call("modelwire/listConnections", {})
    await s.call("modelwire/listConnections", {"scopeUri": ws.folder.as_uri()})
    await s.call("modelwire/updateConnection", {"id": a["id"], "name": "Cloud API"})

    # The provider rejects the key and echoes it in full (as some compatible servers do).
    health = await s.call("modelwire/testConnection", {"connectionId": a["id"]})
    assert health["error"]["code"] == "AUTH_FAILED"  # reachable, but the key is refused
    err = await _expect_error(s, "modelwire/listModels", {"connectionId": a["id"], "refresh": True})
    assert err.data_code == "AUTH_FAILED"
    err = await _expect_error(s, "modelwire/startRun", run_params(ws, a["id"]))
    assert err.data_code == "AUTH_FAILED"
    assert s.consent_prompts, "a run that needs the key asks the user first"
    s.consent_answer = "Deny"
    err = await _expect_error(s, "modelwire/startRun", run_params(ws, b["id"]))
    assert err.data_code == "CONSENT_DENIED"
    s.consent_answer = "Always for this folder"

    # Now the key is right: the success paths, and a provider error that quotes the key.
    openai.api_key = canary
    health = await s.call("modelwire/testConnection", {"connectionId": a["id"]})
    assert health["reachable"] is True
    models = await s.call("modelwire/listModels", {"connectionId": a["id"], "refresh": True})
    assert models["models"]
    await s.call("modelwire/listModels", {"connectionId": a["id"]})
    done = await s.call("modelwire/startRun", run_params(ws, a["id"]))
    assert done["status"] == "succeeded"
    await s.call(
        "modelwire/startRun",
        {**run_params(ws, b["id"]), "modelRef": "gpt-4o-mini", "workDoneToken": "tok-1"},
    )
    openai.behave(error_after=1, error_message=f"upstream rejected key {canary} (org mismatch)")
    err = await _expect_error(s, "modelwire/startRun", run_params(ws, a["id"]))
    assert err.data_code in ("GENERATION_FAILED", "AUTH_FAILED")
    openai.behave(error_after=None, chunk_delay=0.05, reply=" ".join(["x"] * 200))
    known = set(s.runs)
    long_run = asyncio.ensure_future(s.call("modelwire/startRun", run_params(ws, a["id"])))
    started = await s.wait_event(lambda e: e["kind"] == "delta" and e["runId"] not in known)
    cancelled = await s.call("modelwire/cancelRun", {"runId": started["runId"]})
    assert cancelled["cancelled"] is True
    with pytest.raises(RpcError) as stopped:
        await asyncio.wait_for(long_run, 20)
    assert stopped.value.code == -32800
    openai.behave(chunk_delay=0.0, reply="fine")

    # A hostile server echoes the key everywhere it controls: a model id, the answer
    # (split into 5-char chunks, and encoded), finish_reason, a rate-limit header.
    openai.echo_key_everywhere = True
    models = await s.call("modelwire/listModels", {"connectionId": a["id"], "refresh": True})
    assert any(m["id"] == "[REDACTED]" for m in models["models"]), models
    echoed = await s.call("modelwire/startRun", run_params(ws, a["id"]))
    assert echoed["status"] == "succeeded" and "[REDACTED]" in echoed["output"]
    assert echoed["finishReason"] == "[REDACTED]"
    await s.call("modelwire/getRun", {"runId": echoed["runId"]})
    openai.echo_key_everywhere = False
    openai.fail_next(
        429,
        {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}},
        {"x-ratelimit-remaining-requests": canary, "x-ratelimit-remaining-tokens": "17"},
        times=2,
    )
    err = await _expect_error(s, "modelwire/startRun", run_params(ws, a["id"]))
    assert err.data_code == "RATE_LIMITED" and err.data.get("ratelimitRemainingTokens") == 17

    await s.call("modelwire/getRun", {"runId": done["runId"]})
    await s.call("modelwire/listRuns", {"limit": 100, "includeOutput": True})
    await s.call("modelwire/listAgents", {"scopeUri": ws.folder.as_uri()})
    await s.call("modelwire/status", {})
    err = await _expect_error(s, "modelwire/pullModel", {"connectionId": a["id"], "model": "x"})
    assert err.data_code == "UNSUPPORTED"
    pulled = await s.call(
        "modelwire/pullModel",
        {"connectionId": local["id"], "model": "qwen2.5:0.5b", "workDoneToken": "pull-1"},
    )
    assert pulled["status"] == "success"
    await s.call("modelwire/deleteSecret", {"connectionId": a["id"]})
    err = await _expect_error(s, "modelwire/startRun", run_params(ws, a["id"]))
    assert err.data_code in ("AUTH_FAILED", "SECRET_MISSING")
    await s.call("modelwire/deleteConnection", {"id": b["id"]})
