"""The one place the sidecar reaches into pygls internals (pygls 2.1).

pygls has no public way to answer a message that never became a request: when a
request cannot be structured (bad params, a batch, a non-object), pygls logs it and
the client waits forever for an answer. Structuring failures are discussed upstream
in openlawlibrary/pygls#326 ("Be less strict with wrong LSP types?"), still open for
pygls 2.1. Until pygls offers a public hook, the sidecar answers such messages itself
through `JsonRPCProtocol._send_data`, the private method pygls's own `_send_response`
writes with. tests/unit/test_pygls_hooks.py fails loudly if its shape changes.
"""

from __future__ import annotations

from typing import Any

from lsprotocol.types import ResponseError, ResponseErrorMessage
from pygls.protocol import JsonRPCProtocol


def send_error(protocol: JsonRPCProtocol, msg_id: int | str | None, code: int, reason: str) -> None:
    """Write one JSON-RPC error answer (framed like every other pygls message)."""
    message: Any = ResponseErrorMessage(id=msg_id, error=ResponseError(code=code, message=reason))
    protocol._send_data(message)
