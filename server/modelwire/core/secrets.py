"""Connection secrets: OS keyring only, consent per workspace, and an audit trail.

The keyring entry is (service "modelwire", username = connection id). Nothing here
returns a secret to a front door: `read` is called by the run machinery and handed
straight to an adapter for one request. Every read is audited.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from modelwire.clock import now_iso
from modelwire.core.store import CHANGES_TOPIC, Store
from modelwire.errors import ErrorCode, ModelWireError, redact

log = logging.getLogger(__name__)

SERVICE = "modelwire"
AUDIT_FILE = "audit.log"
ALLOW_FILE_KEYRING_ENV = "MODELWIRE_ALLOW_ENCRYPTED_FILE_KEYRING"

# Backends that would store a key in clear, or not at all.
_INSECURE = {
    "keyring.backends.fail.Keyring",
    "keyring.backends.null.Keyring",
    "keyrings.alt.file.PlaintextKeyring",
    "keyrings.alt.Gnome.Keyring",
}
_OPT_IN = {"keyrings.alt.file.EncryptedKeyring"}

Decision = Literal["once", "always", "deny"]


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks for a secret: the editor (client name) and the workspace."""

    client: str
    workspace: str


# Asks the user; the LSP door uses window/showMessageRequest, the CLI answers "once".
ConsentPrompt = Callable[[Requester, str, str], Awaitable[Decision]]


def _backend_name(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


class SecretStore:
    """Keyring access with the backend safety check, consent memory and audit log."""

    def __init__(self, store: Store, home: Path) -> None:
        self._store = store
        self.audit_path = home / AUDIT_FILE
        self._backend: Any = None
        self._backend_error: ModelWireError | None = None
        self._checked = False
        self._lock = threading.Lock()
        self._audit_lock = threading.Lock()

    # --- backend --------------------------------------------------------------------

    def _check_backend(self) -> Any:
        with self._lock:
            if not self._checked:
                self._checked = True
                try:
                    import keyring  # deferred: slow to import and not needed to start

                    backend = keyring.get_keyring()
                    self._backend = backend
                    self._backend_error = self._judge(backend)
                except Exception as exc:
                    self._backend_error = _unavailable(f"the keyring could not be loaded ({exc})")
            if self._backend_error is not None:
                raise self._backend_error
            return self._backend

    @staticmethod
    def _judge(backend: Any) -> ModelWireError | None:
        name = _backend_name(backend)
        inner = getattr(backend, "backends", None)
        if name.endswith("chainer.ChainerBackend") and inner is not None:
            # A chain writes to its first backend only (the next ones are read
            # fallbacks): GNOME Keyring chained before keyrings.alt's plaintext file,
            # as on Debian with python3-keyrings.alt, still stores keys safely.
            if not inner:
                return _unavailable("no keyring backend is available")
            name = _backend_name(inner[0])
        if name in _OPT_IN and os.environ.get(ALLOW_FILE_KEYRING_ENV) == "1":
            return None
        if name in _INSECURE or name in _OPT_IN:
            return _unavailable(f"the keyring backend in use is {name}, which is not secure")
        return None

    def backend_description(self) -> tuple[str, bool]:
        """(backend name, is it acceptable) for `status` and `doctor`."""
        try:
            backend = self._check_backend()
            return _backend_name(backend), True
        except ModelWireError:
            return (_backend_name(self._backend) if self._backend is not None else "none"), False

    # --- secrets ----------------------------------------------------------------------

    def _call(self, op: str, fn: Callable[[], Any]) -> Any:
        self._check_backend()
        try:
            return fn()
        except ModelWireError:
            raise
        except Exception as exc:
            # Keyring errors never carry the secret, but redact anyway.
            reason = redact(str(exc)) or type(exc).__name__
            raise _unavailable(f"the keyring refused to {op} ({reason})") from None

    def set(self, connection_id: str, secret: str) -> None:
        import keyring

        self._call("store the key", lambda: keyring.set_password(SERVICE, connection_id, secret))

    def delete(self, connection_id: str) -> bool:
        import keyring
        from keyring.errors import PasswordDeleteError

        def _delete() -> bool:
            try:
                keyring.delete_password(SERVICE, connection_id)
                return True
            except PasswordDeleteError:
                return False

        return bool(self._call("delete the key", _delete))

    def read(self, connection_id: str) -> str | None:
        import keyring

        value = self._call("read the key", lambda: keyring.get_password(SERVICE, connection_id))
        return value if isinstance(value, str) and value else None

    async def read_async(self, connection_id: str) -> str | None:
        # Secret Service round trips take 30–50 ms: keep them off the event loop.
        return await asyncio.to_thread(self.read, connection_id)

    # --- consent ---------------------------------------------------------------------

    def remembered(self, workspace: str, connection_id: str) -> str | None:
        rows = self._store.query(
            "SELECT decision FROM consent WHERE workspace = ? AND connection_id = ?",
            (workspace, connection_id),
        )
        return str(rows[0]["decision"]) if rows else None

    def remember(self, workspace: str, connection_id: str, decision: str) -> None:
        # A bump: other processes' editors learn of the new consent at once.
        self._store.bump(
            CHANGES_TOPIC,
            "INSERT INTO consent(workspace, connection_id, decision, decided_at) VALUES (?,?,?,?) "
            "ON CONFLICT(workspace, connection_id) DO UPDATE SET decision = excluded.decision, "
            "decided_at = excluded.decided_at",
            (workspace, connection_id, decision, now_iso()),
        )

    def forget_connection(self, connection_id: str) -> None:
        self._store.bump(
            CHANGES_TOPIC, "DELETE FROM consent WHERE connection_id = ?", (connection_id,)
        )

    # --- audit -----------------------------------------------------------------------

    def audit(
        self,
        *,
        connection_id: str,
        purpose: str,
        decision: str,
        requester: Requester | None,
        run_id: str | None = None,
        use: str | None = None,
    ) -> None:
        """Append one line to the audit log. Never contains a secret (only ids).
        `use`: for a consent decision, what the key was wanted for."""
        entry = {
            "time": now_iso(),
            "runId": run_id,
            "requester": {"client": requester.client, "workspace": requester.workspace}
            if requester
            else None,
            "connectionId": connection_id,
            "purpose": purpose,
            "decision": decision,
        }
        if use is not None:
            entry["use"] = use
        line = redact(json.dumps(entry, separators=(",", ":"))) + "\n"
        with self._audit_lock:
            try:
                fd = os.open(self.audit_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    os.write(fd, line.encode())
                finally:
                    os.close(fd)
            except OSError as exc:
                log.error("cannot append to the audit log %s: %s", self.audit_path, exc)

    def audit_entries(self) -> list[dict[str, Any]]:
        try:
            text = self.audit_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def _unavailable(reason: str) -> ModelWireError:
    return ModelWireError(
        ErrorCode.KEYRING_UNAVAILABLE,
        f"ModelWire cannot keep API keys safely: {reason}.",
        "Use a desktop session with a running, unlocked OS keyring (GNOME Keyring, KWallet, "
        "macOS Keychain, Windows Credential Manager). On a headless Linux machine: "
        "`dbus-run-session` with `gnome-keyring-daemon --unlock`. To accept an encrypted "
        f"file keyring (keyrings.alt) instead, set {ALLOW_FILE_KEYRING_ENV}=1.",
    )
