"""Connections over the wire: the Ollama loopback rule, secrets, and what is never sent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.lsp.session import sidecar

REFUSED = [
    "http://0.0.0.0:11434",
    "http://192.168.1.5:11434",
    "http://localhost@evil.example",
    "http://127.0.0.1.nip.io:11434",
    "http://127.1:11434",
    "http://2130706433:11434",
    "http://0x7f000001:11434",
    "http://[::ffff:127.0.0.1]:11434",
    "http://localhost.:11434",
    "http://user:pw@localhost:11434",
    "http://10.0.0.1:11434",
]
ACCEPTED = ["http://localhost:11434", "http://127.0.0.1:11434", "http://[::1]:11434"]


async def test_ollama_connections_outside_loopback_are_refused(tmp_path: Path) -> None:
    async with sidecar(tmp_path) as s:
        for i, url in enumerate(REFUSED):
            err = await s.error(
                "modelwire/createConnection",
                {"name": f"o{i}", "providerId": "ollama", "baseUrl": url},
            )
            assert err.code == -32602, url
            assert err.data["code"] == "NON_LOOPBACK_REJECTED", url
            assert "ssh" in err.data["hint"].lower()
            assert "pw" not in err.message  # credentials typed into a URL are not echoed
        for i, url in enumerate(ACCEPTED):
            conn = await s.call(
                "modelwire/createConnection",
                {"name": f"ok{i}", "providerId": "ollama", "baseUrl": url},
            )
            assert conn["baseUrl"] == url
        # Editing an accepted connection to a remote host is refused the same way.
        err = await s.error(
            "modelwire/updateConnection", {"id": conn["id"], "baseUrl": "http://192.168.1.5:11434"}
        )
        assert err.data["code"] == "NON_LOOPBACK_REJECTED"


async def test_connection_names_are_unique_ignoring_case(tmp_path: Path) -> None:
    async with sidecar(tmp_path) as s:
        await s.call("modelwire/createConnection", {"name": "Work", "providerId": "openai"})
        err = await s.error("modelwire/createConnection", {"name": "work", "providerId": "openai"})
        assert err.data["code"] == "CONNECTION_NAME_TAKEN"
        err = await s.error("modelwire/createConnection", {"name": "x", "providerId": "nope"})
        assert err.data["code"] == "PROVIDER_NOT_FOUND"


async def test_connections_survive_a_restart(tmp_path: Path) -> None:
    async with sidecar(tmp_path) as s:
        made = await s.call(
            "modelwire/createConnection",
            {
                "name": "LM Studio",
                "providerId": "openai",
                "baseUrl": "http://127.0.0.1:1234/v1",
                "defaultModel": "qwen2.5",
            },
        )
    async with sidecar(tmp_path) as s:
        listed = await s.call("modelwire/listConnections")
    again = [c for c in listed["connections"] if c["id"] == made["id"]]
    assert again == [made]


async def test_openai_key_is_stored_in_the_keyring_and_never_returned(
    tmp_path: Path, real_keyring: None
) -> None:
    secret = "sk-canary-0123456789abcdefghij"
    async with sidecar(tmp_path) as s:
        ollama = await s.call(
            "modelwire/createConnection", {"name": "Local Ollama", "providerId": "ollama"}
        )
        openai = await s.call(
            "modelwire/createConnection", {"name": "OpenAI", "providerId": "openai"}
        )
        answer = await s.call(
            "modelwire/setSecret", {"connectionId": openai["id"], "secret": secret}
        )
        assert answer == {"connectionId": openai["id"], "hasSecret": True}
        listed = await s.call("modelwire/listConnections")
        by_id = {c["id"]: c for c in listed["connections"]}
        assert by_id[openai["id"]]["hasSecret"] is True
        assert by_id[ollama["id"]]["hasSecret"] is False
        assert secret not in repr(listed)

        import keyring

        assert keyring.get_password("modelwire", openai["id"]) == secret
        # Encrypted at rest: the gnome-keyring file never holds the key in clear.
        keyrings = Path(os.environ["XDG_DATA_HOME"]) / "keyrings"
        files = list(keyrings.glob("*.keyring"))
        assert files, "gnome-keyring wrote no keyring file"
        for f in files:
            assert secret.encode() not in f.read_bytes()

        err = await s.error("modelwire/setSecret", {"connectionId": ollama["id"], "secret": "x"})
        assert err.data["code"] == "INVALID_PARAMS"  # Ollama takes no key

        await s.call("modelwire/deleteConnection", {"id": openai["id"]})
        assert keyring.get_password("modelwire", openai["id"]) is None
        await s.call("modelwire/deleteConnection", {"id": ollama["id"]})
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


async def test_delete_secret_drops_the_key(tmp_path: Path, real_keyring: None) -> None:
    async with sidecar(tmp_path) as s:
        conn = await s.call(
            "modelwire/createConnection", {"name": "OpenAI", "providerId": "openai"}
        )
        await s.call(
            "modelwire/setSecret", {"connectionId": conn["id"], "secret": "sk-zzzzzzzzzzzz"}
        )
        answer = await s.call("modelwire/deleteSecret", {"connectionId": conn["id"]})
        assert answer["hasSecret"] is False
        import keyring

        assert keyring.get_password("modelwire", conn["id"]) is None


@pytest.mark.parametrize(
    "backend", ["keyring.backends.fail.Keyring", "keyring.backends.null.Keyring"]
)
async def test_insecure_keyring_backend_is_refused(tmp_path: Path, backend: str) -> None:
    async with sidecar(tmp_path, env={"PYTHON_KEYRING_BACKEND": backend}) as s:
        conn = await s.call(
            "modelwire/createConnection", {"name": "OpenAI", "providerId": "openai"}
        )
        err = await s.error(
            "modelwire/setSecret", {"connectionId": conn["id"], "secret": "sk-abcdefghijkl"}
        )
        assert err.data["code"] == "KEYRING_UNAVAILABLE"
        assert "gnome-keyring" in err.data["hint"] or "keyring" in err.data["hint"].lower()
        status = await s.call("modelwire/status")
        assert status["keyringSecure"] is False
        listed = await s.call("modelwire/listConnections")
        assert all(not c["hasSecret"] for c in listed["connections"])
