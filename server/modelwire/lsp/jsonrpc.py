"""pygls protocol hardened for a sidecar: every request gets an answer.

pygls structures a message inside `json.loads`' object hook; if that fails the request
is dropped and the client hangs. Here a bad message becomes a `-32602` answer, custom
`modelwire/*` params stay plain dicts (validated by pydantic in the handlers, not
turned into namedtuples), batches and non-objects get `-32600`, and unparseable JSON
gets `-32700` (id null), as JSON-RPC 2.0 asks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pygls.protocol import JsonRPCRequestMessage, LanguageServerProtocol

from modelwire.lsp.pygls_hooks import send_error

log = logging.getLogger(__name__)

CUSTOM_PREFIX = "modelwire/"
INVALID_REQUEST = -32600
PARSE_ERROR = -32700


@dataclass
class _Rejected:
    """A message that could not be structured; answered with an error, not dispatched."""

    id: Any
    code: int
    reason: str
    jsonrpc: str = "2.0"


class ModelWireProtocol(LanguageServerProtocol):
    def structure_message(self, data: dict[str, Any]) -> Any:
        if "jsonrpc" not in data:
            return data
        method = data.get("method")
        if (
            isinstance(method, str)
            and "id" in data
            and (method.startswith(CUSTOM_PREFIX) or self.get_message_type(method) is None)
        ):
            # Custom and unknown methods: params stay as sent (or absent), so a custom
            # handler validates a plain dict and an unknown method gets -32601, not a
            # structuring error about a missing `params`.
            return JsonRPCRequestMessage(
                id=data["id"], method=method, jsonrpc=data["jsonrpc"], params=data.get("params")
            )
        try:
            return super().structure_message(data)
        except Exception as exc:
            cause = exc.__cause__ or exc
            reason = _first_line(str(cause)) or type(cause).__name__
            if "id" in data and "method" in data:
                return _Rejected(data["id"], -32602, f"Invalid params for {method}: {reason}")
            log.warning("dropping a malformed message (%s): %s", method, reason)
            return _Rejected(None, -32602, reason) if "id" in data else None

    def handle_message(self, message: Any) -> None:
        if message is None:
            return
        if isinstance(message, _Rejected):
            if message.id is not None:
                send_error(self, message.id, message.code, message.reason)
            return
        if isinstance(message, list):
            # LSP has no batches; answer instead of silently dropping them.
            send_error(self, None, INVALID_REQUEST, "Batch requests are not supported.")
            return
        if not hasattr(message, "jsonrpc"):
            send_error(
                self,
                None,
                INVALID_REQUEST,
                'A JSON-RPC message must be an object with "jsonrpc": "2.0".',
            )
            return
        msg_id = getattr(message, "id", None)
        if msg_id is not None and (isinstance(msg_id, bool) or not isinstance(msg_id, int | str)):
            send_error(self, None, INVALID_REQUEST, "A request id must be a string or a number.")
            return
        if message.jsonrpc != "2.0" and getattr(message, "id", None) is not None:
            send_error(self, message.id, INVALID_REQUEST, 'Only "jsonrpc": "2.0" is spoken.')
            return
        super().handle_message(message)

    def parse_error(self) -> None:
        send_error(self, None, PARSE_ERROR, "The message is not valid JSON.")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
