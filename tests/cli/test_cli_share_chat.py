"""`modelwire chat`, and what `share` and peer connections refuse without any network."""

from __future__ import annotations

import json
from pathlib import Path

from testkit.doubles.fixtures import TEST_API_KEY
from testkit.doubles.ollama_double import OllamaDouble
from testkit.doubles.openai_double import OpenAIDouble

from modelwire.p2p import identity
from tests.cli.helpers import modelwire


def add_ollama(home: Path, url: str) -> None:
    done = modelwire(
        home, "connections", "add", "--name", "Local", "--provider", "ollama",
        "--base-url", url, "--default-model", "llama3.2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_chat_streams_each_prompt_and_quits(tmp_path: Path, ollama_double: OllamaDouble) -> None:
    add_ollama(tmp_path, ollama_double.url)
    ollama_double.behave(reply="Hi \x1b]52;c;aGk=\x07there")

    done = modelwire(tmp_path, "chat", "Local", input="hello\n\n/clear\nagain\n/quit\nnever\n")

    assert done.returncode == 0, done.stderr
    assert "Local (ollama) · model llama3.2" in done.stderr
    assert done.stdout.count("Hi") == 2  # two prompts, `never` came after /quit
    chats = ollama_double.requests_to("/api/chat")
    assert len(chats) == 2
    assert chats[0].json["messages"] == [{"role": "user", "content": "hello"}]


def test_a_keyed_connection_cannot_be_shared(
    tmp_path: Path, openai_double: OpenAIDouble, real_keyring: None
) -> None:
    done = modelwire(
        tmp_path, "connections", "add", "--name", "Paid", "--provider", "openai",
        "--base-url", openai_double.url, "--default-model", "gpt-4o-mini",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    stored = modelwire(tmp_path, "connections", "set-secret", "Paid", input=TEST_API_KEY + "\n")
    assert stored.returncode == 0, stored.stderr

    shared = modelwire(tmp_path, "share", "Paid", "--no-qr")

    assert shared.returncode == 2
    assert "SHARE_NOT_ALLOWED" in shared.stderr and "has a key" in shared.stderr
    assert openai_double.requests == []


def test_a_remote_openai_compatible_server_cannot_be_shared(tmp_path: Path) -> None:
    done = modelwire(
        tmp_path, "connections", "add", "--name", "Remote", "--provider", "openai",
        "--base-url", "https://models.example.com/v1", "--default-model", "m",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    shared = modelwire(tmp_path, "share", "Remote", "--no-qr")

    assert shared.returncode == 2
    assert "SHARE_NOT_ALLOWED" in shared.stderr and "not on this machine" in shared.stderr


def test_share_rejects_an_allow_list_entry_that_is_not_a_key(tmp_path: Path) -> None:
    shared = modelwire(tmp_path, "share", "--allow", "not-a-key", "--no-qr")

    assert shared.returncode == 2
    assert "64-character hex public keys" in shared.stderr


def test_a_peer_connection_refuses_what_is_not_a_server_id_and_shows_its_key(
    tmp_path: Path, real_keyring: None
) -> None:
    added = modelwire(tmp_path, "connections", "add", "--name", "Ana", "--provider", "peer")
    assert added.returncode == 0, added.stderr
    bad = modelwire(tmp_path, "connections", "set-secret", "Ana", input="0OIl-not-base58\n")
    assert bad.returncode == 2
    assert "INVALID_SERVER_ID" in bad.stderr

    server_id = identity.server_id(identity.new_topic())
    good = modelwire(tmp_path, "connections", "set-secret", "Ana", input=server_id + "\n")
    assert good.returncode == 0, good.stderr
    shown = modelwire(tmp_path, "connections", "show", "Ana", "--json")
    again = modelwire(tmp_path, "connections", "show", "Ana", "--json")

    assert shown.returncode == 0, shown.stderr
    assert server_id not in shown.stdout + shown.stderr
    key = json.loads(shown.stdout)["publicKey"]
    assert identity.is_public_key_hex(key)
    assert json.loads(again.stdout)["publicKey"] == key  # stable
    assert server_id not in (tmp_path / "audit.log").read_text()
