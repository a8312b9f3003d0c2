"""Connections: the names, URLs and secrets a user manages (docs/architecture.md, docs/security.md).

A real store in tmp_path and an in-memory keyring backend (the real OS keyring is
covered by the lsp tests).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.core
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from modelwire.adapters import netpolicy
from modelwire.core.connections import EMBEDDED_CONNECTION_ID, ConnectionRegistry
from modelwire.core.providers import ProviderRegistry
from modelwire.core.secrets import SERVICE, SecretStore
from modelwire.core.store import DB_FILE, Store
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import (
    Connection,
    CreateConnectionParams,
    TimeoutSettings,
    UpdateConnectionParams,
)

OLLAMA_URL = "http://127.0.0.1:11434"
API_KEY = "sk-proj-unitTEST0123456789abcdefWXYZ"


class MemoryKeyring(KeyringBackend):
    """A keyring that keeps passwords in a dict (stands in for the OS keyring)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.passwords.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> MemoryKeyring:
    backend = MemoryKeyring()
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)
    return backend


class Sidecar:
    def __init__(self, home: Path, embedded: bool = False) -> None:
        self.home = home
        self.store = Store(home)
        self.providers = ProviderRegistry(load_plugins=False)
        self.secrets = SecretStore(self.store, home)
        self.connections = ConnectionRegistry(
            self.store, self.providers, self.secrets, embedded_available=lambda: embedded
        )
        self.changed: list[str] = []
        self.connections.on_change(self.changed.append)

    def add(self, name: str, provider_id: str = "openai", **fields: object) -> Connection:
        return self.connections.create(
            CreateConnectionParams(name=name, provider_id=provider_id, **fields)  # type: ignore[arg-type]
        )

    def add_ollama(self, name: str = "Local Ollama", url: str = OLLAMA_URL) -> Connection:
        return self.add(name, "ollama", base_url=url)


@pytest.fixture
def sidecar(tmp_path: Path, memory_keyring: MemoryKeyring) -> Iterator[Sidecar]:
    s = Sidecar(tmp_path)
    yield s
    s.store.close()


def code_of(call: object) -> ErrorCode:
    assert callable(call)
    with pytest.raises(ModelWireError) as info:
        call()
    return info.value.code


# --- Names ---------------------------------------------------------------------------


def test_a_new_connection_gets_an_id_timestamps_and_the_providers_defaults(
    sidecar: Sidecar,
) -> None:
    conn = sidecar.add("Cloud")

    assert len(conn.id) == 36 and conn.provider_id == "openai"
    assert conn.base_url == "https://api.openai.com/v1"
    assert conn.has_secret is False
    assert conn.created_at == conn.updated_at and conn.created_at.endswith("Z")


def test_connection_names_are_trimmed(sidecar: Sidecar) -> None:
    assert sidecar.add("  Cloud  ").name == "Cloud"


@pytest.mark.parametrize("name", ["   ", "Tab\there", "bell\x07"])
def test_a_name_must_be_visible_text(sidecar: Sidecar, name: str) -> None:
    assert code_of(lambda: sidecar.add(name)) is ErrorCode.INVALID_PARAMS


def test_a_name_cannot_contain_a_slash_because_specifiers_use_it(sidecar: Sidecar) -> None:
    with pytest.raises(ModelWireError) as info:
        sidecar.add("team/cloud")

    assert info.value.code is ErrorCode.INVALID_PARAMS
    assert "'/'" in info.value.message


@pytest.mark.parametrize("name", ["Embedded", "embedded", " EMBEDDED "])
def test_the_name_embedded_is_reserved_for_the_built_in_connection(
    sidecar: Sidecar, name: str
) -> None:
    assert code_of(lambda: sidecar.add(name)) is ErrorCode.CONNECTION_NAME_TAKEN


def test_names_are_unique_ignoring_case(sidecar: Sidecar) -> None:
    sidecar.add("Cloud")

    assert code_of(lambda: sidecar.add("CLOUD")) is ErrorCode.CONNECTION_NAME_TAKEN
    assert [c.name for c in sidecar.connections.list()] == ["Cloud"]


def test_the_embedded_connection_cannot_be_created_changed_or_deleted(tmp_path: Path) -> None:
    sidecar = Sidecar(tmp_path, embedded=True)
    update = UpdateConnectionParams(id=EMBEDDED_CONNECTION_ID, name="Mine")

    assert code_of(lambda: sidecar.add("Tiny", "embedded")) is ErrorCode.INVALID_PARAMS
    assert code_of(lambda: sidecar.connections.update(update)) is ErrorCode.INVALID_PARAMS
    assert (
        code_of(lambda: sidecar.connections.delete(EMBEDDED_CONNECTION_ID))
        is ErrorCode.INVALID_PARAMS
    )


def test_an_unknown_provider_is_provider_not_found(sidecar: Sidecar) -> None:
    assert code_of(lambda: sidecar.add("X", "anthropic")) is ErrorCode.PROVIDER_NOT_FOUND


# --- URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://api.example.com/v1",
        "api.example.com/v1",
        "https://api.example.com/v1?key=abc",
        "https://api.example.com/v1#frag",
        "https:///v1",
        "https://api.example.com:99999/v1",
        "https://api.example .com/v1",
    ],
)
def test_openai_urls_must_be_plain_http_or_https(sidecar: Sidecar, url: str) -> None:
    assert code_of(lambda: sidecar.add("Cloud", base_url=url)) is ErrorCode.INVALID_BASE_URL


def test_openai_compatible_servers_may_live_anywhere(sidecar: Sidecar) -> None:
    conn = sidecar.add("LAN vLLM", base_url="http://10.0.0.7:8000/v1/")

    assert conn.base_url == "http://10.0.0.7:8000/v1"  # the trailing slash is dropped


@pytest.mark.parametrize("url", [OLLAMA_URL, "http://[::1]:11434", "http://127.0.0.1:11434/"])
def test_ollama_on_a_loopback_address_is_accepted(sidecar: Sidecar, url: str) -> None:
    assert sidecar.add_ollama(url=url).base_url == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://192.168.1.20:11434",
        "http://ollama.example.com:11434",
        "http://localhost.:11434",
        "http://user:pw@localhost:11434",
        "http://localhost@evil.example:11434",
        "http://127.0.0.2:11434",
    ],
)
def test_ollama_outside_loopback_is_refused(sidecar: Sidecar, url: str) -> None:
    with pytest.raises(ModelWireError) as info:
        sidecar.add_ollama(url=url)

    assert info.value.code is ErrorCode.NON_LOOPBACK_REJECTED
    assert "pw" not in info.value.message  # a typed password is never echoed
    assert "ssh" in info.value.hint


def test_ollama_at_localhost_is_refused_when_localhost_resolves_elsewhere(
    sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(netpolicy, "_resolve", lambda host, port: ["127.0.0.1", "10.1.2.3"])

    with pytest.raises(ModelWireError) as info:
        sidecar.add_ollama(url="http://localhost:11434")

    assert info.value.code is ErrorCode.NON_LOOPBACK_REJECTED
    assert "10.1.2.3" in info.value.message


def test_ollama_at_localhost_is_accepted_when_it_resolves_to_loopback_only(
    sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(netpolicy, "_resolve", lambda host, port: ["127.0.0.1", "::1"])

    assert sidecar.add_ollama(url="http://localhost:11434").base_url == "http://localhost:11434"


def test_ollama_defaults_to_localhost_11434(
    sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(netpolicy, "_resolve", lambda host, port: ["127.0.0.1"])

    assert sidecar.add("Local", "ollama").base_url == "http://localhost:11434"


# --- Update and delete ---------------------------------------------------------------


def test_update_changes_only_what_it_names(sidecar: Sidecar) -> None:
    conn = sidecar.add(
        "Cloud",
        default_model="gpt-4o-mini",
        max_concurrent=2,
        timeouts=TimeoutSettings(first_token_seconds=30),
    )

    updated = sidecar.connections.update(UpdateConnectionParams(id=conn.id, name="Work"))

    assert updated.name == "Work"
    assert (updated.base_url, updated.default_model, updated.max_concurrent) == (
        conn.base_url,
        "gpt-4o-mini",
        2,
    )
    assert updated.timeouts == TimeoutSettings(first_token_seconds=30)
    assert updated.created_at == conn.created_at
    assert sidecar.changed == [conn.id]


def test_update_can_clear_the_default_model(sidecar: Sidecar) -> None:
    conn = sidecar.add("Cloud", default_model="gpt-4o-mini")

    updated = sidecar.connections.update(UpdateConnectionParams(id=conn.id, default_model=""))

    assert updated.default_model is None


def test_updates_survive_a_restart(sidecar: Sidecar, tmp_path: Path) -> None:
    conn = sidecar.add("Cloud")
    sidecar.connections.update(
        UpdateConnectionParams(
            id=conn.id,
            base_url="http://127.0.0.1:8080/v1",
            timeouts=TimeoutSettings(idle_seconds=5),
        )
    )
    sidecar.store.close()

    again = Sidecar(tmp_path)
    reloaded = again.connections.get(conn.id)

    assert reloaded.base_url == "http://127.0.0.1:8080/v1"
    assert reloaded.timeouts == TimeoutSettings(idle_seconds=5)
    again.store.close()


def test_a_timeout_saved_under_the_old_wider_range_is_dropped_not_fatal(
    sidecar: Sidecar, tmp_path: Path
) -> None:
    conn = sidecar.add("Cloud")
    sidecar.store.execute(
        "UPDATE connections SET timeouts = ? WHERE id = ?",
        ('{"connectSeconds": 3000, "idleSeconds": 5}', conn.id),
    )
    sidecar.store.close()

    again = Sidecar(tmp_path)
    reloaded = again.connections.get(conn.id)

    assert reloaded.timeouts == TimeoutSettings(idle_seconds=5)
    again.store.close()


def test_update_cannot_move_ollama_off_loopback(sidecar: Sidecar) -> None:
    conn = sidecar.add_ollama()
    move = UpdateConnectionParams(id=conn.id, base_url="http://192.168.1.20:11434")

    assert code_of(lambda: sidecar.connections.update(move)) is ErrorCode.NON_LOOPBACK_REJECTED
    assert sidecar.connections.get(conn.id).base_url == OLLAMA_URL


def test_renaming_may_change_case_but_not_take_another_name(sidecar: Sidecar) -> None:
    cloud = sidecar.add("Cloud")
    sidecar.add("Work")

    assert (
        sidecar.connections.update(UpdateConnectionParams(id=cloud.id, name="CLOUD")).name
        == "CLOUD"
    )
    taken = UpdateConnectionParams(id=cloud.id, name="work")
    assert code_of(lambda: sidecar.connections.update(taken)) is ErrorCode.CONNECTION_NAME_TAKEN


def test_updating_or_deleting_an_unknown_id_is_connection_not_found(sidecar: Sidecar) -> None:
    update = UpdateConnectionParams(id="nope", name="X")

    assert code_of(lambda: sidecar.connections.update(update)) is ErrorCode.CONNECTION_NOT_FOUND
    assert code_of(lambda: sidecar.connections.delete("nope")) is ErrorCode.CONNECTION_NOT_FOUND


def test_deleting_a_connection_forgets_its_consent_and_its_key(
    sidecar: Sidecar, memory_keyring: MemoryKeyring
) -> None:
    cloud, other = sidecar.add("Cloud"), sidecar.add("Other")
    sidecar.connections.set_secret(cloud.id, API_KEY)
    sidecar.secrets.remember("/ws", cloud.id, "always")
    sidecar.secrets.remember("/ws", other.id, "always")

    assert sidecar.connections.delete(cloud.id) is True

    assert sidecar.secrets.remembered("/ws", cloud.id) is None
    assert sidecar.secrets.remembered("/ws", other.id) == "always"
    assert (SERVICE, cloud.id) not in memory_keyring.passwords
    assert [c.name for c in sidecar.connections.list()] == ["Other"]
    assert sidecar.changed[-1] == cloud.id


def test_listing_is_sorted_by_name_with_embedded_last(tmp_path: Path) -> None:
    sidecar = Sidecar(tmp_path, embedded=True)
    sidecar.add("zeta")
    sidecar.add("Alpha")

    assert [c.name for c in sidecar.connections.list()] == ["Alpha", "zeta", "Embedded"]
    assert sidecar.connections.find("embedded") is not None
    sidecar.store.close()


# --- Secrets -------------------------------------------------------------------------


def test_setting_a_key_stores_it_in_the_keyring_and_flips_has_secret(
    sidecar: Sidecar, memory_keyring: MemoryKeyring
) -> None:
    conn = sidecar.add("Cloud")

    with_key = sidecar.connections.set_secret(conn.id, f"  {API_KEY}\t")

    assert with_key.has_secret is True
    assert memory_keyring.passwords[(SERVICE, conn.id)] == API_KEY
    assert sidecar.connections.get(conn.id).has_secret is True

    without = sidecar.connections.delete_secret(conn.id)

    assert without.has_secret is False
    assert (SERVICE, conn.id) not in memory_keyring.passwords


def test_the_key_never_reaches_the_database(sidecar: Sidecar, tmp_path: Path) -> None:
    conn = sidecar.add("Cloud")
    sidecar.connections.set_secret(conn.id, API_KEY)
    sidecar.store.close()

    for path in tmp_path.glob(f"{DB_FILE}*"):
        assert API_KEY.encode() not in path.read_bytes()
    db = sqlite3.connect(tmp_path / DB_FILE)
    assert db.execute("SELECT has_secret FROM connections").fetchone()[0] == 1
    db.close()


def test_has_secret_survives_a_restart(sidecar: Sidecar, tmp_path: Path) -> None:
    conn = sidecar.add("Cloud")
    sidecar.connections.set_secret(conn.id, API_KEY)

    assert Sidecar(tmp_path).connections.get(conn.id).has_secret is True


def test_an_ollama_connection_takes_no_key(sidecar: Sidecar) -> None:
    conn = sidecar.add_ollama()

    assert code_of(lambda: sidecar.connections.set_secret(conn.id, API_KEY)) is (
        ErrorCode.INVALID_PARAMS
    )


@pytest.mark.parametrize("secret", ["   ", "sk-abc\ndef", "sk-abc\x00"])
def test_an_empty_or_multi_line_key_is_refused(sidecar: Sidecar, secret: str) -> None:
    conn = sidecar.add("Cloud")

    assert code_of(lambda: sidecar.connections.set_secret(conn.id, secret)) is (
        ErrorCode.INVALID_PARAMS
    )
    assert sidecar.connections.get(conn.id).has_secret is False


def test_an_insecure_keyring_refuses_the_key_and_has_secret_stays_false(
    sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keyring.backends import fail

    monkeypatch.setattr(keyring.core, "_keyring_backend", fail.Keyring())
    conn = sidecar.add("Cloud")

    assert code_of(lambda: sidecar.connections.set_secret(conn.id, API_KEY)) is (
        ErrorCode.KEYRING_UNAVAILABLE
    )
    assert sidecar.connections.get(conn.id).has_secret is False
