"""No stored key leaves without the workspace's consent — for health checks and model
lists too, not only runs — and a non-interactive check never prompts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from testkit.doubles.fixtures import TEST_API_KEY
from testkit.doubles.openai_double import OpenAIDouble

from tests.lsp.session import Session, sidecar


async def keyed_connection(s: Session, double: OpenAIDouble) -> str:
    conn = await s.call(
        "modelwire/createConnection",
        {"name": "Keyed", "providerId": "openai", "baseUrl": double.url + "/v1"},
    )
    await s.call("modelwire/setSecret", {"connectionId": conn["id"], "secret": TEST_API_KEY})
    return str(conn["id"])


def audit(home: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (home / "audit.log").read_text().splitlines()]


def keys_sent(double: OpenAIDouble) -> list[str]:
    return [r.headers["authorization"] for r in double.requests if "authorization" in r.headers]


async def test_a_denied_health_check_sends_no_key_and_is_audited(
    tmp_path: Path, openai_double: OpenAIDouble, real_keyring: None
) -> None:
    folder = tmp_path / "never-granted"
    folder.mkdir()
    home = tmp_path / "home"
    async with sidecar(home, folders=[folder]) as s:
        conn = await keyed_connection(s, openai_double)
        s.consent_answers = ["Deny"]

        err = await s.error("modelwire/testConnection", {"connectionId": conn})
        assert err.data["code"] == "CONSENT_DENIED"
        err = await s.error("modelwire/listModels", {"connectionId": conn, "refresh": True})
        assert err.data["code"] == "CONSENT_DENIED"

        assert keys_sent(openai_double) == []
        assert len(s.consent_prompts) == 2
    denials = [e for e in audit(home) if e["purpose"] == "consent" and e["decision"] == "deny"]
    assert [e["use"] for e in denials] == ["testConnection", "listModels"]
    assert all(e["requester"]["workspace"] == folder.as_uri() for e in denials)
    assert all(e["requester"]["client"] == "pytest-editor" for e in denials)


async def test_a_status_bar_check_never_prompts_and_sends_nothing_until_allowed(
    tmp_path: Path, openai_double: OpenAIDouble, real_keyring: None
) -> None:
    folder = tmp_path / "ws"
    folder.mkdir()
    async with sidecar(tmp_path / "home", folders=[folder]) as s:
        conn = await keyed_connection(s, openai_double)

        err = await s.error(
            "modelwire/testConnection", {"connectionId": conn, "interactive": False}
        )
        assert err.data["code"] == "CONSENT_REQUIRED"
        assert s.consent_prompts == [] and keys_sent(openai_double) == []

        s.consent_answers = ["Always for this workspace"]
        health = await s.call("modelwire/testConnection", {"connectionId": conn})
        assert health["reachable"] is True
        quiet = await s.call(
            "modelwire/testConnection", {"connectionId": conn, "interactive": False}
        )
        assert quiet["reachable"] is True
        assert len(s.consent_prompts) == 1
        assert keys_sent(openai_double) == [f"Bearer {TEST_API_KEY}"] * 2


async def test_a_peer_connections_prompt_names_its_server_id_not_an_api_key(
    tmp_path: Path, openai_double: OpenAIDouble, real_keyring: None
) -> None:
    """The user pasted a Server ID, not a key: the question says what it is about."""
    folder = tmp_path / "ws"
    folder.mkdir()
    async with sidecar(tmp_path / "home", folders=[folder]) as s:
        peer = await s.call(
            "modelwire/createConnection", {"name": "Ana's model", "providerId": "peer"}
        )
        server_id = "4wBqpZM9xaSheZzJSMawUKKwhdpChKbZ5eu5ky4Vigw"
        await s.call("modelwire/setSecret", {"connectionId": peer["id"], "secret": server_id})
        keyed = await keyed_connection(s, openai_double)
        s.consent_answers = ["Deny", "Deny"]  # nothing is sent, no bridge starts

        for conn in (peer["id"], keyed):
            err = await s.error("modelwire/testConnection", {"connectionId": conn})
            assert err.data["code"] == "CONSENT_DENIED"
        assert s.consent_prompts[0].endswith("to use the Server ID of shared model 'Ana's model'?")
        assert s.consent_prompts[1].endswith("to use the API key of connection 'Keyed'?")
        assert server_id not in "".join(s.consent_prompts)
