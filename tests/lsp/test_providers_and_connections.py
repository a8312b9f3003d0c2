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


async def test_an_extension_can_contribute_a_provider_for_a_known_protocol(tmp_path: Path) -> None:
    async with sidecar(tmp_path) as s:
        lm = await s.call(
            "modelwire/registerProvider",
            {
                "id": "lmstudio",
                "displayName": "LM Studio",
                "protocol": "openai",
                "auth": "none",
                "defaultBaseUrl": "http://127.0.0.1:1234/v1",
            },
        )
        assert lm["origin"] == "extension" and lm["protocol"] == "openai"
        listed = await s.call("modelwire/listProviders")
        assert "lmstudio" in [p["id"] for p in listed["providers"]]
        conn = await s.call("modelwire/createConnection", {"name": "LM", "providerId": "lmstudio"})
        assert conn["baseUrl"] == "http://127.0.0.1:1234/v1"  # the provider's default

        unknown = await s.error(
            "modelwire/registerProvider",
            {
                "id": "grpc",
                "displayName": "X",
                "protocol": "grpc",
                "defaultBaseUrl": "http://127.0.0.1:1/",
            },
        )
        assert unknown.code == -32602 and "protocol" in unknown.message
        taken = await s.error(
            "modelwire/registerProvider",
            {
                "id": "ollama",
                "displayName": "Mine",
                "protocol": "ollama",
                "defaultBaseUrl": "http://localhost:11434",
            },
        )
        assert taken.data["code"] == "PROVIDER_EXISTS"
        remote = await s.error(
            "modelwire/registerProvider",
            {
                "id": "far-ollama",
                "displayName": "Far",
                "protocol": "ollama",
                "defaultBaseUrl": "http://10.1.2.3:11434",
            },
        )
        assert remote.data["code"] == "NON_LOOPBACK_REJECTED"


async def test_status_reports_version_storage_and_keyring(tmp_path: Path) -> None:
    async with sidecar(tmp_path) as s:
        status = await s.call("modelwire/status")
    assert status["version"] == "0.1.0"
    assert status["storagePath"] == str(tmp_path / "modelwire.db")
    assert status["activeRuns"] == 0 and status["queuedRuns"] == 0
    assert isinstance(status["keyringBackend"], str) and "keyringSecure" in status


async def test_an_ollama_connection_without_a_url_gets_the_ollama_base_url_setting(
    tmp_path: Path,
) -> None:
    """A client that only sets `modelwire.ollama.baseUrl` (Neovim, say) gets that URL for
    a new Ollama connection; other providers keep their own default."""
    async with sidecar(tmp_path) as s:
        s.set_settings({"ollama": {"baseUrl": "http://127.0.0.1:11500"}})
        ollama = await s.call(
            "modelwire/createConnection", {"name": "Ollama", "providerId": "ollama"}
        )
        compat = await s.call(
            "modelwire/createConnection", {"name": "Cloud", "providerId": "openai"}
        )
        explicit = await s.call(
            "modelwire/createConnection",
            {"name": "Other", "providerId": "ollama", "baseUrl": "http://localhost:11434"},
        )
    assert ollama["baseUrl"] == "http://127.0.0.1:11500"
    assert compat["baseUrl"] == "https://api.openai.com/v1"
    assert explicit["baseUrl"] == "http://localhost:11434"
