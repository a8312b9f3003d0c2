"""What a connection may be called and where it may point, and the errors that say no.

Kept apart from the registry (which stores and announces connections) so the rules can
be read, and changed, in one place."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from modelwire.adapters.netpolicy import check_loopback, parse_base_url
from modelwire.core.providers import PEER_BASE_URL, ProviderRegistry
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.invisible import has_hidden
from modelwire.protocol import Connection

EMBEDDED_CONNECTION_ID = "embedded"
EMBEDDED_CONNECTION_NAME = "Embedded"


def connection_not_found(ref: str) -> ModelWireError:
    return ModelWireError(
        ErrorCode.CONNECTION_NOT_FOUND,
        f"There is no connection {ref!r}.",
        "List connections (ModelWire: Select Default Connection, or `modelwire connections "
        "list`) and use one of their names or ids; check the modelwire.defaultConnection setting.",
        connection_id=ref,
    )


def fold_name(name: str) -> str:
    """A name as compared for duplicates: compatibility forms (full-width letters,
    ligatures) and case folded, so look-alikes count as the same name."""
    return unicodedata.normalize("NFKC", name).casefold()


def validate_url(providers: ProviderRegistry, provider_id: str, base_url: str) -> str:
    provider = providers.get(provider_id)
    if provider.protocol == "peer":
        # A peer is reached by its Server ID (the secret), never by a URL.
        return PEER_BASE_URL
    base_url = base_url.strip().rstrip("/")
    if provider.local_only:
        check_loopback(base_url)  # static rules + every resolved address loopback
    else:
        parse_base_url(base_url)
    return base_url


def check_name(name: str, existing: Iterable[Connection], except_id: str | None = None) -> str:
    name = name.strip()
    if not name or has_hidden(name):
        # Controls, DEL, C1, bidi and zero-width characters: a name is shown in
        # lists and prompts, and these make look-alike duplicates ("Work\u200b").
        raise ModelWireError(
            ErrorCode.INVALID_PARAMS,
            "A connection name must be visible text (no control, bidi or zero-width characters).",
            "Give a short name such as 'Local Ollama'.",
        )
    if "/" in name:
        # `name/model` is the model specifier syntax; a slash would make it ambiguous.
        raise ModelWireError(
            ErrorCode.INVALID_PARAMS,
            "A connection name cannot contain '/'.",
            "Model specifiers are written 'connection-name/model'.",
        )
    lowered = fold_name(name)
    if lowered == EMBEDDED_CONNECTION_NAME.lower():
        raise name_taken(name)
    for conn in existing:
        if conn.id != except_id and fold_name(conn.name) == lowered:
            raise name_taken(name)
    return name


def check_secret(secret: str, connection_id: str, *, peer: bool) -> None:
    """An API key (or a peer's Server ID) as it may be stored."""
    if not secret.strip() or any(c in secret for c in "\r\n\x00"):
        raise ModelWireError(
            ErrorCode.INVALID_PARAMS,
            "The API key is empty or has line breaks.",
            "Paste the key exactly as your provider shows it.",
            connection_id=connection_id,
        )
    if peer:
        check_server_id(secret, connection_id)


def check_server_id(secret: str, connection_id: str) -> None:
    # Imported here: the p2p package is optional weight for every other connection.
    from modelwire.p2p.identity import parse_server_id

    if parse_server_id(secret) is None:
        raise ModelWireError(
            ErrorCode.INVALID_SERVER_ID,
            "That is not a Server ID: it is 43–44 base58 characters naming 32 bytes.",
            "Copy the Server ID exactly as `modelwire share` prints it.",
            connection_id=connection_id,
        )


def name_taken(name: str) -> ModelWireError:
    return ModelWireError(
        ErrorCode.CONNECTION_NAME_TAKEN,
        f"A connection named {name!r} already exists.",
        "Connection names are unique (ignoring case); pick another name or edit the existing one.",
        retryable=False,
    )
