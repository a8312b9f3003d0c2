"""An editor manages providers and connections over stdio."""

from __future__ import annotations

from pathlib import Path

from tests.lsp.session import sidecar


async def test_editor_lists_core_providers(tmp_path: Path) -> None:
    async with sidecar(tmp_path) as s:
        result = await s.call("modelwire/listProviders")
    ids = {p["id"]: p for p in result["providers"]}
    assert {"ollama", "openai", "embedded"} <= set(ids)
    assert ids["ollama"]["localOnly"] is True
    assert ids["ollama"]["defaultBaseUrl"] == "http://localhost:11434"
    assert ids["openai"]["auth"] == "apiKey"
    assert ids["openai"]["defaultBaseUrl"] == "https://api.openai.com/v1"


async def test_create_list_and_delete_connections(tmp_path: Path) -> None:
    async with sidecar(tmp_path) as s:
        ollama = await s.call(
            "modelwire/createConnection",
            {
                "name": "Local Ollama",
                "providerId": "ollama",
                "baseUrl": "http://localhost:11434",
                "defaultModel": "llama3.2",
            },
        )
        assert ollama["providerId"] == "ollama" and ollama["hasSecret"] is False
        listed = await s.call("modelwire/listConnections", {})
        assert [c["name"] for c in listed["connections"] if c["providerId"] != "embedded"] == [
            "Local Ollama"
        ]
        assert (await s.call("modelwire/deleteConnection", {"id": ollama["id"]}))["deleted"] is True
        listed = await s.call("modelwire/listConnections", {})
        assert [c for c in listed["connections"] if c["providerId"] != "embedded"] == []
