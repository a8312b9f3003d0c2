"""The pygls shapes the LSP front door relies on: fail loudly when pygls changes them.

`modelwire/lsp/pygls_hooks.py` is the only place that calls a private pygls method; the
rest of the front door uses public API, but still depends on how pygls reports errors.
If one of these tests fails after a pygls upgrade, fix the hook module, not the test.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from typing import Any

import pytest
from pygls.exceptions import FeatureRequestError
from pygls.protocol import JsonRPCProtocol, JsonRPCRequestMessage

from modelwire.lsp.pygls_hooks import send_error
from modelwire.lsp.server import build_server


class CapturingWriter:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        pass


def frames(raw: bytes) -> list[dict[str, Any]]:
    """Split written bytes into JSON bodies, checking each Content-Length."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        length = int(next(h for h in head.split(b"\r\n") if h.startswith(b"Content-Length:"))[15:])
        out.append(json.loads(rest[:length]))
        raw = rest[length:]
    return out


def test_pygls_still_has_the_private_send_data_the_hook_calls() -> None:
    send_data = getattr(JsonRPCProtocol, "_send_data", None)
    assert callable(send_data), "pygls removed JsonRPCProtocol._send_data: update pygls_hooks.py"
    params = list(inspect.signature(send_data).parameters)
    assert params == ["self", "data"], f"pygls changed _send_data{params}: update pygls_hooks.py"


def test_an_error_sent_through_the_hook_is_one_framed_json_rpc_answer() -> None:
    server = build_server()
    writer = CapturingWriter()
    server.protocol.set_writer(writer)
    send_error(server.protocol, "req-7", -32602, "Invalid params for x: reason é")
    assert frames(writer.data) == [
        {
            "jsonrpc": "2.0",
            "id": "req-7",
            "error": {"code": -32602, "message": "Invalid params for x: reason é"},
        }
    ]


async def test_pygls_reports_a_failed_request_with_the_feature_request_error_class(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The sidecar stays quiet about request errors (already answered) by comparing the
    `source` pygls passes to `report_server_error` with pygls's own class."""
    server = build_server()
    writer = CapturingWriter()
    server.protocol.set_writer(writer)
    reported: asyncio.Queue[tuple[Exception, Any]] = asyncio.Queue()
    real_report = server.report_server_error

    def record(error: Exception, source: Any) -> None:
        reported.put_nowait((error, source))
        real_report(error, source)

    server.report_server_error = record  # type: ignore[method-assign]

    @server.feature("test/boom")
    async def boom(ls: Any, params: Any) -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="modelwire"):
        server.protocol.handle_message(
            JsonRPCRequestMessage(id=1, method="test/boom", params=None, jsonrpc="2.0")
        )
        error, source = await asyncio.wait_for(reported.get(), timeout=5)
    assert source is FeatureRequestError, f"pygls now reports request errors as {source!r}"
    assert "boom" in str(error)
    assert [r for r in caplog.records if r.name.startswith("modelwire")] == []
    answer = frames(writer.data)
    assert answer[0]["id"] == 1 and answer[0]["error"]["code"] == -32603
