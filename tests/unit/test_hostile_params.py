"""Hostile ids and URIs are refused at the parameter (issue 15, item 9): an agentId or
URI with ESC, NUL or a newline was stored and later forged rows of `modelwire runs`."""

from __future__ import annotations

import pytest

from modelwire.errors import ErrorCode, ModelWireError
from modelwire.lsp.handlers import decode
from modelwire.protocol import ListRunsParams, StartRunParams

GOOD = {"agentId": "explain", "textDocument": {"uri": "file:///ws/a.py"}}
HOSTILE = ["\x1b[2J", "a\x00b", "x\nfake row", "a\rb", "\x9b31m", "a\u202eb", "a\u200bb"]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("field", ["agentId", "uri", "clientRunId", "modelRef", "connectionId"])
def test_hostile_characters_in_run_params_are_invalid_params(field: str, value: str) -> None:
    params = {**GOOD, "textDocument": dict(GOOD["textDocument"])}
    if field == "uri":
        params["textDocument"]["uri"] = "file:///ws/" + value + ".py"
    else:
        params[field] = "x" + value
    with pytest.raises(ModelWireError) as caught:
        decode(StartRunParams, params)
    assert caught.value.code is ErrorCode.INVALID_PARAMS
    assert caught.value.rpc_code == -32602
    assert "control, bidi or zero-width" in caught.value.message


def test_ordinary_values_still_pass() -> None:
    decoded = decode(StartRunParams, {**GOOD, "modelRef": "Local Ollama/llama3.2:latest"})
    assert decoded.agent_id == "explain"
    assert decode(ListRunsParams, {"uri": "file:///ws/caf%C3%A9.py"}).uri


def test_list_runs_refuses_a_hostile_uri_filter() -> None:
    with pytest.raises(ModelWireError):
        decode(ListRunsParams, {"uri": "file:///ws/\x1b]0;x\x07"})
