"""A terminal user manages connections and keys with `modelwire connections …`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from testkit.doubles.fixtures import TEST_API_KEY
from testkit.doubles.openai_double import OpenAIDouble

from tests.cli.helpers import REPO_ROOT, add_connection, modelwire


def test_add_list_edit_and_remove_a_connection(tmp_path: Path) -> None:
    add_connection(tmp_path, "Local Ollama", "ollama", "http://127.0.0.1:11434", "llama3.2")
    listed = modelwire(tmp_path, "connections", "list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["NAME", "PROVIDER", "BASE", "URL", "DEFAULT", "MODEL", "KEY"]
    row = next(r for r in rows if "Local Ollama" in r)
    assert row.startswith("* ")  # the only user connection is the default for runs
    assert row.split()[-4:] == ["ollama", "http://127.0.0.1:11434", "llama3.2", "no"]

    edited = modelwire(tmp_path, "connections", "edit", "local ollama", "--default-model", "qwen")
    assert edited.returncode == 0, edited.stderr
    data = json.loads(modelwire(tmp_path, "connections", "list", "--json").stdout)
    mine = [c for c in data["connections"] if c["providerId"] == "ollama"]
    assert [(c["name"], c["defaultModel"]) for c in mine] == [("Local Ollama", "qwen")]
    assert data["defaultConnectionId"] == mine[0]["id"]

    removed = modelwire(tmp_path, "connections", "remove", "Local Ollama")
    assert removed.returncode == 0, removed.stderr
    data = json.loads(modelwire(tmp_path, "connections", "list", "--json").stdout)
    assert [c for c in data["connections"] if c["providerId"] == "ollama"] == []


def test_bad_input_exits_with_the_documented_codes(tmp_path: Path) -> None:
    remote = modelwire(
        tmp_path, "connections", "add", "--name", "o", "--provider", "ollama",
        "--base-url", "http://192.168.1.5:11434",
    )  # fmt: skip
    assert remote.returncode == 2
    assert "[NON_LOOPBACK_REJECTED]" in remote.stderr and "hint: " in remote.stderr

    unknown = modelwire(tmp_path, "connections", "add", "--name", "x", "--provider", "nope")
    assert unknown.returncode == 3
    assert "[PROVIDER_NOT_FOUND]" in unknown.stderr

    add_connection(tmp_path, "Work", "openai", "http://127.0.0.1:1/v1", "gpt-4o-mini")
    taken = modelwire(tmp_path, "connections", "add", "--name", "work", "--provider", "openai")
    assert taken.returncode == 2 and "[CONNECTION_NAME_TAKEN]" in taken.stderr

    missing = modelwire(tmp_path, "connections", "remove", "Nope")
    assert missing.returncode == 3 and "[CONNECTION_NOT_FOUND]" in missing.stderr

    too_long = modelwire(tmp_path, "connections", "add", "--name", "n" * 101, "--provider", "x")
    assert too_long.returncode == 2 and "name" in too_long.stderr


def test_a_key_given_as_an_argument_is_refused_without_echoing_it(tmp_path: Path) -> None:
    add_connection(tmp_path, "Cloud", "openai", "http://127.0.0.1:1/v1", "gpt-4o-mini")
    done = modelwire(tmp_path, "connections", "set-secret", "Cloud", TEST_API_KEY)
    assert done.returncode == 2
    assert TEST_API_KEY not in done.stderr + done.stdout
    assert TEST_API_KEY[:8] not in done.stderr


def _files_under(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


@pytest.mark.usefixtures("real_keyring")
def test_set_secret_from_stdin_is_stored_but_never_echoed(
    tmp_path: Path, openai_double: OpenAIDouble
) -> None:
    add_connection(tmp_path, "Cloud", "openai", openai_double.url + "/v1", "gpt-4o-mini")
    stored = modelwire(tmp_path, "connections", "set-secret", "Cloud", input=TEST_API_KEY + "\n")
    assert stored.returncode == 0, stored.stderr
    assert "SecretService" in stored.stdout

    data = json.loads(modelwire(tmp_path, "connections", "list", "--json").stdout)
    assert [c["hasSecret"] for c in data["connections"] if c["name"] == "Cloud"] == [True]

    # The key reaches the provider: a run authenticates and streams.
    ran = modelwire(tmp_path, "run", "explain", "samples/inventory.py", "--connection", "Cloud")
    assert ran.returncode == 0, ran.stderr
    assert "Hello from the double" in ran.stdout
    assert openai_double.requests_to("/v1/chat/completions")[-1].headers["authorization"] == (
        f"Bearer {TEST_API_KEY}"
    )

    # …and nowhere else: not in any output, the database files or the audit log.
    for text in (stored.stdout, stored.stderr, ran.stdout, ran.stderr):
        assert TEST_API_KEY not in text and TEST_API_KEY[-6:] not in text
    on_disk = _files_under(tmp_path)
    assert TEST_API_KEY.encode() not in on_disk and TEST_API_KEY[-6:].encode() not in on_disk
    audit = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    consent = [e for e in audit if e["purpose"] == "consent"]
    assert consent and consent[-1]["decision"] == "once"
    # The person at the terminal is the requester; the workspace is the directory.
    assert consent[-1]["requester"] == {"client": "modelwire-cli", "workspace": REPO_ROOT.as_uri()}

    dropped = modelwire(tmp_path, "connections", "delete-secret", "Cloud")
    assert dropped.returncode == 0, dropped.stderr
    ran = modelwire(tmp_path, "run", "explain", "samples/inventory.py", "--connection", "Cloud")
    assert ran.returncode == 4 and "[AUTH_FAILED]" in ran.stderr


@pytest.mark.usefixtures("real_keyring")
def test_status_and_doctor_report_the_keyring_and_each_connection(
    tmp_path: Path, refused_url: str
) -> None:
    add_connection(tmp_path, "Gone", "ollama", refused_url, "llama3.2")
    status = json.loads(modelwire(tmp_path, "status", "--json").stdout)
    assert status["keyringBackend"].endswith("SecretService.Keyring")
    assert status["keyringSecure"] is True
    assert status["storagePath"] == str(tmp_path / "modelwire.db")

    doctor = modelwire(tmp_path, "doctor")
    assert doctor.returncode == 1  # one connection is down
    lines = doctor.stdout.splitlines()
    assert any(line.startswith("ok   keyring backend") for line in lines)
    assert any(line.startswith("FAIL connection Gone") for line in lines)
    assert any("embedded model" in line for line in lines)
    assert "ollama serve" in doctor.stdout  # the fix for an Ollama that is not running
