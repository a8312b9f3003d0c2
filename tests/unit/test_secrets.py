"""Secrets: keyring vetting, consent memory and the audit log (docs/security.md).

Keyring backends are swapped in through `keyring.core` (restored by monkeypatch); the
real gnome-keyring is covered by the lsp tests.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.core
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.errors import PasswordDeleteError, PasswordSetError

from modelwire.core.access import access_context, secret_provider_factory
from modelwire.core.secrets import (
    ALLOW_FILE_KEYRING_ENV,
    AUDIT_FILE,
    SERVICE,
    Requester,
    SecretStore,
)
from modelwire.core.store import Store
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import Connection

API_KEY = "sk-proj-unitTEST0123456789abcdefWXYZ"
REQUESTER = Requester(client="Visual Studio Code", workspace="/home/me/project")


class MemoryKeyring(KeyringBackend):
    """Stands in for a secure OS keyring."""

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


class LockedKeyring(MemoryKeyring):
    """A keyring whose collection is locked: every call fails."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError("Failed to unlock the collection!")

    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError("Failed to unlock the collection!")


def lookalike(module: str, name: str) -> Any:
    """An object whose class reads as `module.name` (for backends not installed here)."""
    cls = type(name, (), {"__module__": module, "__qualname__": name})
    return cls()


def chain(*backends: Any) -> Any:
    chainer = lookalike("keyring.backends.chainer", "ChainerBackend")
    chainer.backends = list(backends)
    return chainer


def use_backend(monkeypatch: pytest.MonkeyPatch, backend: Any) -> None:
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path)
    yield s
    s.close()


@pytest.fixture
def secrets(store: Store, tmp_path: Path) -> SecretStore:
    return SecretStore(store, tmp_path)


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> MemoryKeyring:
    backend = MemoryKeyring()
    use_backend(monkeypatch, backend)
    return backend


def refusal(call: Any) -> ModelWireError:
    with pytest.raises(ModelWireError) as info:
        call()
    assert info.value.code is ErrorCode.KEYRING_UNAVAILABLE
    return info.value


# --- Backend vetting ----------------------------------------------------------------


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring()])
def test_a_keyring_that_cannot_keep_secrets_is_refused_with_a_fix(
    secrets: SecretStore, monkeypatch: pytest.MonkeyPatch, backend: KeyringBackend
) -> None:
    use_backend(monkeypatch, backend)

    err = refusal(lambda: secrets.set("c1", API_KEY))

    assert type(backend).__module__ in err.message
    assert "gnome-keyring-daemon" in err.hint and ALLOW_FILE_KEYRING_ENV in err.hint
    assert secrets.backend_description() == (f"{type(backend).__module__}.Keyring", False)


def test_a_plaintext_file_keyring_is_refused(
    secrets: SecretStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(monkeypatch, lookalike("keyrings.alt.file", "PlaintextKeyring"))

    refusal(lambda: secrets.read("c1"))


def test_an_encrypted_file_keyring_needs_an_explicit_opt_in(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(monkeypatch, lookalike("keyrings.alt.file", "EncryptedKeyring"))
    monkeypatch.delenv(ALLOW_FILE_KEYRING_ENV, raising=False)
    assert SecretStore(store, tmp_path).backend_description()[1] is False

    monkeypatch.setenv(ALLOW_FILE_KEYRING_ENV, "1")

    assert SecretStore(store, tmp_path).backend_description() == (
        "keyrings.alt.file.EncryptedKeyring",
        True,
    )


def test_a_chain_of_only_insecure_backends_is_refused(
    secrets: SecretStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(monkeypatch, chain(lookalike("keyrings.alt.file", "PlaintextKeyring")))

    refusal(lambda: secrets.read("c1"))


def test_an_empty_chain_is_refused(secrets: SecretStore, monkeypatch: pytest.MonkeyPatch) -> None:
    use_backend(monkeypatch, chain())

    err = refusal(lambda: secrets.read("c1"))

    assert "no keyring backend" in err.message


def test_a_chain_of_secure_backends_is_accepted(
    secrets: SecretStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(monkeypatch, chain(lookalike("keyring.backends.SecretService", "Keyring")))

    assert secrets.backend_description() == ("keyring.backends.chainer.ChainerBackend", True)


def test_a_secure_keyring_is_used_even_when_keyrings_alt_is_also_installed(
    secrets: SecretStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Debian/Ubuntu with python3-keyrings.alt and GNOME Keyring: keyring chains
    # SecretService (priority 5) before PlaintextKeyring (0.5); ChainerBackend writes
    # to the first backend only, so keys still land in GNOME Keyring.
    use_backend(
        monkeypatch,
        chain(
            lookalike("keyring.backends.SecretService", "Keyring"),
            lookalike("keyrings.alt.file", "PlaintextKeyring"),
        ),
    )

    assert secrets.backend_description()[1] is True


def test_a_keyring_that_fails_to_load_is_unavailable(
    secrets: SecretStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> KeyringBackend:
        raise RuntimeError("no D-Bus session")

    monkeypatch.setattr(keyring, "get_keyring", broken)

    err = refusal(lambda: secrets.read("c1"))

    assert "could not be loaded" in err.message and "D-Bus" in err.message
    assert secrets.backend_description() == ("none", False)


def test_the_backend_is_vetted_once(secrets: SecretStore, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    backend = MemoryKeyring()

    def counting() -> KeyringBackend:
        calls.append(1)
        return backend

    monkeypatch.setattr(keyring, "get_keyring", counting)
    use_backend(monkeypatch, backend)

    secrets.set("c1", API_KEY)
    secrets.read("c1")
    secrets.backend_description()

    assert calls == [1]


# --- Reading and writing keys ----------------------------------------------------------


def test_a_key_is_kept_under_the_connection_id(
    secrets: SecretStore, memory_keyring: MemoryKeyring
) -> None:
    secrets.set("c1", API_KEY)

    assert memory_keyring.passwords == {(SERVICE, "c1"): API_KEY}
    assert secrets.read("c1") == API_KEY
    assert secrets.read("c2") is None


def test_deleting_a_key_says_whether_there_was_one(
    secrets: SecretStore, memory_keyring: MemoryKeyring
) -> None:
    secrets.set("c1", API_KEY)

    assert secrets.delete("c1") is True
    assert secrets.delete("c1") is False
    assert secrets.read("c1") is None


async def test_reading_a_key_from_async_code_stays_off_the_event_loop(
    secrets: SecretStore, memory_keyring: MemoryKeyring
) -> None:
    secrets.set("c1", API_KEY)

    assert await asyncio.wait_for(secrets.read_async("c1"), 5) == API_KEY


def test_a_locked_keyring_is_unavailable_and_names_the_operation(
    secrets: SecretStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(monkeypatch, LockedKeyring())

    stored = refusal(lambda: secrets.set("c1", API_KEY))
    read = refusal(lambda: secrets.read("c1"))

    assert "refused to store the key" in stored.message and "unlock" in stored.message
    assert "refused to read the key" in read.message
    assert API_KEY not in stored.message


# --- Consent memory -----------------------------------------------------------------


def test_consent_is_remembered_per_workspace_and_connection(secrets: SecretStore) -> None:
    secrets.remember("/ws/a", "c1", "always")

    assert secrets.remembered("/ws/a", "c1") == "always"
    assert secrets.remembered("/ws/b", "c1") is None
    assert secrets.remembered("/ws/a", "c2") is None


def test_a_new_decision_replaces_the_old_one(secrets: SecretStore) -> None:
    secrets.remember("/ws/a", "c1", "always")
    secrets.remember("/ws/a", "c1", "deny")

    assert secrets.remembered("/ws/a", "c1") == "deny"


def test_forgetting_a_connection_clears_its_consent_in_every_workspace(
    secrets: SecretStore,
) -> None:
    secrets.remember("/ws/a", "c1", "always")
    secrets.remember("/ws/b", "c1", "always")
    secrets.remember("/ws/a", "c2", "always")

    secrets.forget_connection("c1")

    assert secrets.remembered("/ws/a", "c1") is None
    assert secrets.remembered("/ws/b", "c1") is None
    assert secrets.remembered("/ws/a", "c2") == "always"


def test_consent_survives_a_restart(store: Store, tmp_path: Path) -> None:
    SecretStore(store, tmp_path).remember("/ws/a", "c1", "always")

    assert SecretStore(store, tmp_path).remembered("/ws/a", "c1") == "always"


# --- Audit log ----------------------------------------------------------------------


def test_every_audited_access_is_one_line_with_who_what_and_why(
    secrets: SecretStore, tmp_path: Path
) -> None:
    secrets.audit(
        connection_id="c1", purpose="run", decision="read", requester=REQUESTER, run_id="r1"
    )
    secrets.audit(connection_id="c1", purpose="listModels", decision="missing", requester=None)

    entries = secrets.audit_entries()

    assert len(entries) == 2
    first = entries[0]
    assert first["time"].endswith("Z")
    assert first["runId"] == "r1"
    assert first["requester"] == {"client": "Visual Studio Code", "workspace": "/home/me/project"}
    assert (first["connectionId"], first["purpose"], first["decision"]) == ("c1", "run", "read")
    assert entries[1]["requester"] is None and entries[1]["runId"] is None
    assert len((tmp_path / AUDIT_FILE).read_text(encoding="utf-8").splitlines()) == 2


def test_the_audit_log_is_private_to_the_user(secrets: SecretStore, tmp_path: Path) -> None:
    secrets.audit(connection_id="c1", purpose="run", decision="read", requester=REQUESTER)

    assert stat.S_IMODE(os.stat(tmp_path / AUDIT_FILE).st_mode) == 0o600


def test_the_audit_log_never_holds_a_key(secrets: SecretStore, tmp_path: Path) -> None:
    # A workspace path is user-controlled text; a key pasted into it must not be logged.
    sneaky = Requester(client="vim", workspace=f"/home/me/{API_KEY}")

    secrets.audit(connection_id="c1", purpose="run", decision="read", requester=sneaky)

    assert API_KEY not in (tmp_path / AUDIT_FILE).read_text(encoding="utf-8")


def test_an_unwritable_audit_log_does_not_fail_the_access(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / AUDIT_FILE).mkdir()  # a folder where the log should be
    secrets = SecretStore(store, tmp_path / "home")

    secrets.audit(connection_id="c1", purpose="run", decision="read", requester=REQUESTER)

    assert "cannot append to the audit log" in caplog.text


def test_no_audit_log_yet_means_no_entries(secrets: SecretStore) -> None:
    assert secrets.audit_entries() == []


# --- Request-time access (core/access.py) ----------------------------------------------


def connection(has_secret: bool) -> Connection:
    return Connection(
        id="c1",
        name="Cloud",
        provider_id="openai",
        base_url="https://api.openai.com/v1",
        has_secret=has_secret,
        created_at="2025-01-01T00:00:00.000Z",
        updated_at="2025-01-01T00:00:00.000Z",
    )


async def test_a_run_reading_its_key_is_audited_with_the_run_and_requester(
    secrets: SecretStore, memory_keyring: MemoryKeyring
) -> None:
    secrets.set("c1", API_KEY)
    provide = secret_provider_factory(secrets)(connection(has_secret=True))

    with access_context("run-7", REQUESTER, "run"):
        key = await provide()

    assert key == API_KEY
    [entry] = secrets.audit_entries()
    assert (entry["runId"], entry["purpose"], entry["decision"]) == ("run-7", "run", "read")
    assert entry["requester"]["workspace"] == "/home/me/project"


async def test_a_key_that_went_missing_is_audited_as_missing(
    secrets: SecretStore, memory_keyring: MemoryKeyring
) -> None:
    provide = secret_provider_factory(secrets)(connection(has_secret=True))

    assert await provide() is None
    [entry] = secrets.audit_entries()
    assert (entry["purpose"], entry["decision"]) == ("unspecified", "missing")


async def test_a_connection_without_a_key_never_touches_the_keyring(
    secrets: SecretStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(monkeypatch, fail.Keyring())  # would refuse if it were asked
    provide = secret_provider_factory(secrets)(connection(has_secret=False))

    assert await provide() is None
    assert secrets.audit_entries() == []


async def test_a_keyring_failure_at_request_time_is_audited_as_an_error(
    secrets: SecretStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(monkeypatch, LockedKeyring())
    provide = secret_provider_factory(secrets)(connection(has_secret=True))

    with pytest.raises(ModelWireError), access_context("run-8", REQUESTER, "run"):
        await provide()

    [entry] = secrets.audit_entries()
    assert (entry["runId"], entry["decision"]) == ("run-8", "error")
