"""The provider registry: core providers, editor-registered ones, Python plugins."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from modelwire.core import providers as providers_module
from modelwire.core.app import ModelWire
from modelwire.core.providers import ENTRY_POINT_GROUP, ProviderRegistry
from modelwire.core.settings import Settings
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import (
    Capabilities,
    CreateConnectionParams,
    ProviderDescriptor,
    RegisterProviderParams,
)


def params(**fields: Any) -> RegisterProviderParams:
    wire = {
        "id": "lmstudio",
        "displayName": "LM Studio",
        "protocol": "openai",
        "defaultBaseUrl": "http://127.0.0.1:1234/v1",
        **fields,
    }
    return RegisterProviderParams.model_validate(wire)


def register_error(registry: ProviderRegistry, p: RegisterProviderParams) -> ModelWireError:
    with pytest.raises(ModelWireError) as info:
        registry.register(p)
    return info.value


class FakeEntryPoint:
    """What importlib.metadata hands back for one installed plugin."""

    def __init__(self, name: str, load: Callable[[], Any]) -> None:
        self.name = name
        self._load = load

    def load(self) -> Any:
        return self._load()


def install_plugins(monkeypatch: pytest.MonkeyPatch, *eps: FakeEntryPoint) -> list[str]:
    """Pretend these entry points are installed; returns the groups that were asked for."""
    asked: list[str] = []

    def entry_points(*, group: str) -> list[FakeEntryPoint]:
        asked.append(group)
        return list(eps)

    monkeypatch.setattr(providers_module, "entry_points", entry_points)
    return asked


def plugin_dict(provider_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": provider_id,
        "displayName": provider_id.title(),
        "protocol": "openai",
        "defaultBaseUrl": f"https://{provider_id}.example.com/v1",
        **fields,
    }


# --- Core providers ------------------------------------------------------------------


def test_the_editor_sees_ollama_openai_embedded_and_peer_out_of_the_box() -> None:
    registry = ProviderRegistry(load_plugins=False)

    listed = {p.id: p for p in registry.list()}

    assert list(listed) == ["ollama", "openai", "embedded", "peer"]
    # A shared model: the secret is the Server ID, kept and consented like a key.
    assert listed["peer"].protocol == "peer" and listed["peer"].auth == "apiKey"
    assert all(p.origin == "core" for p in listed.values())
    assert listed["ollama"].local_only and listed["ollama"].capabilities.pull_model
    assert listed["openai"].auth == "apiKey" and not listed["openai"].local_only
    assert listed["embedded"].protocol == "openai"


def test_an_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(ModelWireError) as info:
        ProviderRegistry(load_plugins=False).get("anthropic")

    assert info.value.code is ErrorCode.PROVIDER_NOT_FOUND
    assert info.value.provider_id == "anthropic"
    assert "ollama, openai, embedded, peer" in info.value.hint


# --- Providers the editor registers ---------------------------------------------------


def test_the_editor_can_add_an_openai_compatible_provider() -> None:
    registry = ProviderRegistry(load_plugins=False)

    added = registry.register(params(defaultModel="qwen2.5-7b-instruct"))

    assert added.origin == "extension"
    assert added.local_only is False
    assert added.capabilities == Capabilities(pull_model=False)
    assert registry.get("lmstudio") == added
    assert [p.id for p in registry.list()][-1] == "lmstudio"


def test_a_provider_that_cannot_stream_is_refused_with_the_reason() -> None:
    registry = ProviderRegistry(load_plugins=False)

    err = register_error(registry, params(capabilities={"streaming": False}))

    assert err.code is ErrorCode.INVALID_PARAMS
    assert "stream" in err.message
    assert "lmstudio" not in [p.id for p in registry.list()]


async def test_listing_models_of_a_provider_that_cannot_list_asks_nothing_of_the_server(
    tmp_path: Path, refused_url: str
) -> None:
    app = ModelWire(tmp_path / "home", load_plugins=False)
    try:
        app.providers.register(
            params(id="nolist", capabilities={"listModels": False}, defaultBaseUrl=refused_url)
        )
        conn = app.connections.create(
            CreateConnectionParams.model_validate({"name": "No list", "providerId": "nolist"})
        )
        with pytest.raises(ModelWireError) as info:
            await app.list_models(conn.id, Settings(), refresh=True)
    finally:
        await app.aclose()
    # Nothing listens at refused_url: had a request been sent, this would be
    # ENDPOINT_UNREACHABLE.
    assert info.value.code is ErrorCode.UNSUPPORTED
    assert info.value.provider_id == "nolist"


@pytest.mark.parametrize("taken", ["ollama", "openai", "embedded", "peer"])
def test_a_core_provider_cannot_be_replaced(taken: str) -> None:
    registry = ProviderRegistry(load_plugins=False)

    err = register_error(registry, params(id=taken))

    assert err.code is ErrorCode.PROVIDER_EXISTS
    assert registry.get(taken).origin == "core"


def test_registering_the_same_id_twice_is_provider_exists() -> None:
    registry = ProviderRegistry(load_plugins=False)
    registry.register(params())

    assert register_error(registry, params(displayName="Again")).code is ErrorCode.PROVIDER_EXISTS
    assert registry.get("lmstudio").display_name == "LM Studio"


def test_an_ollama_protocol_provider_is_local_only_even_if_it_says_otherwise() -> None:
    registry = ProviderRegistry(load_plugins=False)

    added = registry.register(
        params(id="my-ollama", protocol="ollama", defaultBaseUrl="http://127.0.0.1:11435")
    )

    assert added.local_only is True
    assert added.capabilities.pull_model is True


@pytest.mark.parametrize(
    "fields",
    [
        {"protocol": "ollama", "defaultBaseUrl": "http://gpu-box.lan:11434"},
        {"protocol": "ollama", "defaultBaseUrl": "http://user:pw@127.0.0.1:11434"},
        {"protocol": "openai", "localOnly": True, "defaultBaseUrl": "https://api.example.com"},
    ],
)
def test_a_local_only_provider_must_default_to_a_loopback_url(fields: dict[str, Any]) -> None:
    registry = ProviderRegistry(load_plugins=False)

    err = register_error(registry, params(**fields))

    assert err.code is ErrorCode.NON_LOOPBACK_REJECTED
    assert [p.id for p in registry.list()] == ["ollama", "openai", "embedded", "peer"]


def test_a_provider_with_a_malformed_default_url_is_refused() -> None:
    registry = ProviderRegistry(load_plugins=False)

    err = register_error(registry, params(defaultBaseUrl="ftp://files.example.com"))

    assert err.code is ErrorCode.INVALID_BASE_URL


@pytest.mark.parametrize(
    "fields", [{"protocol": "grpc"}, {"id": "Has Spaces"}, {"auth": "oauth"}, {"displayName": ""}]
)
def test_registration_params_outside_the_contract_do_not_validate(
    fields: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError):
        params(**fields)


# --- Python plugins -----------------------------------------------------------------


def test_plugins_are_discovered_from_the_entry_point_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    descriptor = ProviderDescriptor(
        id="groq",
        display_name="Groq",
        protocol="openai",
        auth="apiKey",
        default_base_url="https://api.groq.com/openai/v1",
        default_model="llama-3.1-8b-instant",
        origin="core",  # a plugin cannot pass itself off as core
    )
    asked = install_plugins(
        monkeypatch,
        FakeEntryPoint("groq", lambda: descriptor),
        FakeEntryPoint("together", lambda: plugin_dict("together")),
        FakeEntryPoint("factory", lambda: lambda: plugin_dict("made-by-factory")),
    )
    registry = ProviderRegistry()

    listed = {p.id: p for p in registry.list()}

    assert asked == [ENTRY_POINT_GROUP]
    assert {"groq", "together", "made-by-factory"} <= set(listed)
    assert all(listed[i].origin == "plugin" for i in ("groq", "together", "made-by-factory"))
    assert listed["groq"].default_model == "llama-3.1-8b-instant"
    assert listed["groq"].auth == "apiKey"


def test_a_broken_plugin_is_ignored_and_the_others_still_load(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def import_fails() -> Any:
        raise ImportError("No module named 'missing_dependency'")

    install_plugins(
        monkeypatch,
        FakeEntryPoint("broken-import", import_fails),
        FakeEntryPoint("new-protocol", lambda: plugin_dict("grpcish", protocol="grpc")),
        FakeEntryPoint("not-a-provider", lambda: 42),
        FakeEntryPoint("takes-ollama", lambda: plugin_dict("ollama")),
        FakeEntryPoint(
            "remote-ollama",
            lambda: plugin_dict("far", protocol="ollama", defaultBaseUrl="http://far.example"),
        ),
        FakeEntryPoint("good", lambda: plugin_dict("good")),
    )
    registry = ProviderRegistry()

    with caplog.at_level(logging.WARNING, logger="modelwire.core.providers"):
        ids = [p.id for p in registry.list()]

    assert ids == ["ollama", "openai", "embedded", "peer", "good"]
    assert registry.get("ollama").origin == "core"
    ignored = " ".join(r.getMessage() for r in caplog.records)
    for name in ("broken-import", "new-protocol", "not-a-provider", "takes-ollama"):
        assert f"ignoring provider plugin {name}" in ignored
    assert "remote-ollama" in ignored


def test_plugins_are_discovered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = install_plugins(monkeypatch, FakeEntryPoint("good", lambda: plugin_dict("good")))
    registry = ProviderRegistry()

    registry.list()
    registry.get("good")
    registry.register(params())

    assert asked == [ENTRY_POINT_GROUP]


def test_a_registry_without_plugins_never_looks_for_them(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = install_plugins(monkeypatch, FakeEntryPoint("good", lambda: plugin_dict("good")))

    ids = [p.id for p in ProviderRegistry(load_plugins=False).list()]

    assert asked == []
    assert "good" not in ids


def test_an_editor_provider_cannot_take_a_plugins_id(monkeypatch: pytest.MonkeyPatch) -> None:
    install_plugins(monkeypatch, FakeEntryPoint("lm", lambda: plugin_dict("lmstudio")))
    registry = ProviderRegistry()

    assert register_error(registry, params()).code is ErrorCode.PROVIDER_EXISTS
    assert registry.get("lmstudio").origin == "plugin"
