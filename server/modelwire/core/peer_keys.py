"""A peer connection's own key pair, kept in the OS keyring next to its Server ID.

The pair is what a host's allow-list names, so it must stay the same across runs,
restarts and a changed Server ID: it is made once per connection and kept as its
32-byte seed (keyring user `<connection id>:peer-identity`); the public key is derived.
"""

from __future__ import annotations

import contextlib

from modelwire.core.secrets import SecretStore
from modelwire.errors import ModelWireError
from modelwire.p2p import identity

SUFFIX = ":peer-identity"


def _user(connection_id: str) -> str:
    return connection_id + SUFFIX


def ensure_seed(secrets: SecretStore, connection_id: str) -> bytes:
    """The connection's seed, made and stored on first use."""
    stored = secrets.read(_user(connection_id))
    if stored is not None:
        try:
            seed = bytes.fromhex(stored)
            if len(seed) == 32:
                return seed
        except ValueError:
            pass  # damaged: replace it
    seed = identity.new_seed()
    secrets.set(_user(connection_id), seed.hex())
    return seed


def public_key_hex(secrets: SecretStore, connection_id: str) -> str | None:
    """The public key a host allow-lists, or None before the pair exists."""
    stored = secrets.read(_user(connection_id))
    if stored is None:
        return None
    try:
        seed = bytes.fromhex(stored)
    except ValueError:
        return None
    return identity.public_key(seed).hex() if len(seed) == 32 else None


def forget(secrets: SecretStore, connection_id: str) -> None:
    with contextlib.suppress(ModelWireError):
        secrets.delete(_user(connection_id))
