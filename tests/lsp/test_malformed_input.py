"""Malformed requests always get an answer, and the sidecar stays up."""

from __future__ import annotations

from pathlib import Path

from tests.lsp.session import sidecar


async def test_wrong_types_missing_fields_and_non_objects_get_invalid_params(
    tmp_path: Path,
) -> None:
    cases = [
        ("modelwire/createConnection", {"name": 42, "providerId": "ollama"}, "name"),
        ("modelwire/createConnection", {"providerId": "ollama"}, "name"),
        ("modelwire/startRun", {"agentId": "explain"}, "textDocument"),
        (
            "modelwire/startRun",
            {"agentId": "explain", "textDocument": {"uri": 7}},
            "textDocument.uri",
        ),
        ("modelwire/listRuns", {"limit": "ten"}, "limit"),
        ("modelwire/listRuns", {"limit": 0}, "limit"),
        ("modelwire/setSecret", {"connectionId": "x"}, "secret"),
        ("modelwire/getRun", [1, 2], "object"),
        ("modelwire/getRun", "run-1", "object"),
        ("modelwire/listModels", {"connectionId": "c", "refresh": "yes"}, "refresh"),
    ]
    async with sidecar(tmp_path) as s:
        for method, params, field in cases:
            err = await s.error(method, params)
            assert err.code == -32602, (method, params)
            assert field in err.message, (method, err.message)
            assert err.data["code"] == "INVALID_PARAMS"
            assert err.data["hint"]
        # Unknown methods are answered too, and the server is still serving.
        unknown = await s.error("modelwire/doesNotExist", {})
        assert unknown.code == -32601
        providers = await s.call("modelwire/listProviders")
        assert providers["providers"]


async def test_unknown_ids_are_reported_with_their_code(tmp_path: Path) -> None:
    async with sidecar(tmp_path) as s:
        assert (await s.error("modelwire/getRun", {"runId": "nope"})).data[
            "code"
        ] == "RUN_NOT_FOUND"
        assert (await s.error("modelwire/deleteConnection", {"id": "nope"})).data[
            "code"
        ] == "CONNECTION_NOT_FOUND"
        assert (await s.error("modelwire/cancelRun", {"runId": "nope"})).data[
            "code"
        ] == "RUN_NOT_FOUND"
