"""Bad data from a backend is validated, never a crash (issue 15, item 8): a millisecond
`created`, a non-string field or a huge integer gave -32603 with a Python traceback."""

from __future__ import annotations

from typing import Any

import pytest
from pygls.exceptions import JsonRpcException
from testkit.doubles.ollama_double import OllamaDouble
from testkit.doubles.openai_double import OpenAIDouble

from modelwire.adapters.base import Endpoint, Timeouts
from modelwire.adapters.ollama import OllamaAdapter
from modelwire.adapters.openai import OpenAIAdapter
from modelwire.errors import ErrorCode
from modelwire.lsp import handlers
from modelwire.protocol import ListProvidersParams

FAST = Timeouts(connect=2.0, first_token=5.0, idle=5.0, total=30.0)
HUGE = 10**400


async def test_openai_model_lists_with_bad_fields_are_read_defensively() -> None:
    data: list[Any] = [
        {"id": "ms-created", "object": "model", "created": 1_715_367_049_000},
        {"id": "huge-created", "created": HUGE},
        {"id": "float-created", "created": 1.5e9},
        {"id": "text-created", "created": "yesterday"},
        {"id": 12345, "created": 1},
        {"id": None},
        {"id": ["list"]},
        "not an object",
    ]
    with OpenAIDouble(models=[]) as double:
        double.fail_next(200, {"object": "list", "data": data}, path="/v1/models")
        adapter = OpenAIAdapter(Endpoint(double.url + "/v1", timeouts=FAST), None)
        try:
            models = await adapter.list_models()
        finally:
            await adapter.aclose()

    by_id = {m.id: m for m in models}
    assert set(by_id) == {"ms-created", "huge-created", "float-created", "text-created"}
    assert by_id["ms-created"].modified_at == "2024-05-10T18:50:49Z"  # ms read as ms
    assert by_id["huge-created"].modified_at is None
    assert by_id["text-created"].modified_at is None


async def test_ollama_tags_with_bad_fields_are_read_defensively() -> None:
    tags: list[Any] = [
        {"name": "good:latest", "size": 123, "modified_at": "2026-01-01T00:00:00Z"},
        {"name": "huge:latest", "size": HUGE, "details": {"family": 7, "parameter_size": []}},
        {"name": "negative:latest", "size": -5, "modified_at": 1234},
        {"name": {"nested": True}},
        {"model": "x" * 10_000},
        "not an object",
    ]
    with OllamaDouble(models=[], version="0.12.3") as double:
        double.fail_next(200, {"models": tags}, path="/api/tags")
        adapter = OllamaAdapter(Endpoint(double.url, timeouts=FAST, local_only=True))
        try:
            models = await adapter.list_models()
            double.fail_next(200, {"version": {"major": 0}}, path="/api/version")
            health = await adapter.health()
        finally:
            await adapter.aclose()

    by_id = {m.id: m for m in models}
    assert "good:latest" in by_id and "huge:latest" in by_id and "negative:latest" in by_id
    assert by_id["huge:latest"].size is None and by_id["huge:latest"].family is None
    assert by_id["negative:latest"].size is None and by_id["negative:latest"].modified_at is None
    assert all(isinstance(m.id, str) and len(m.id) <= 256 for m in models)
    assert health.reachable and health.version is None


async def test_an_unexpected_failure_in_a_handler_is_one_clean_error() -> None:
    @handlers.method("modelwire/test/explode", ListProvidersParams)
    async def explode(ls: Any, params: ListProvidersParams) -> None:
        raise ValueError("/home/me/secret/path.py line 3: value 12345")

    try:
        with pytest.raises(JsonRpcException) as caught:
            await handlers.HANDLERS["modelwire/test/explode"](object(), {})
    finally:
        handlers.HANDLERS.pop("modelwire/test/explode", None)

    error = caught.value
    assert error.code == -32001
    assert error.data["code"] == ErrorCode.INTERNAL.value
    text = repr(error.data) + error.message
    assert "Traceback" not in text and "/home/me" not in text and "12345" not in text
