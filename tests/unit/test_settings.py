"""Settings: the `modelwire` section, parsed leniently (a bad value warns, never breaks)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from modelwire.adapters.base import Timeouts
from modelwire.core.settings import (
    OLLAMA_DEFAULT_BASE_URL,
    Limits,
    Settings,
    parse_settings,
    timeouts_for,
)
from modelwire.protocol import TimeoutSettings


def effective(settings: Settings, protocol: str = "openai") -> Timeouts:
    """The timeouts a request on `protocol` would use under these settings alone."""
    return timeouts_for(protocol, None, settings.timeouts)


def test_no_settings_at_all_means_the_documented_defaults() -> None:
    settings, warnings = parse_settings(None)

    assert settings == Settings()
    assert warnings == []
    assert settings.ollama_base_url == OLLAMA_DEFAULT_BASE_URL == "http://localhost:11434"
    assert settings.limits == Limits(
        max_concurrent_ollama=1, max_concurrent_other=4, queue_size=8, prompt_max_kib=256
    )
    assert settings.limits.prompt_max_bytes == 256 * 1024
    t = effective(settings)
    assert (t.connect, t.idle, t.total) == (5.0, 60.0, 900.0)


def test_an_empty_object_also_means_the_defaults() -> None:
    assert parse_settings({}) == (Settings(), [])


def test_settings_that_are_not_an_object_fall_back_with_a_warning() -> None:
    settings, warnings = parse_settings(["not", "an", "object"])

    assert settings == Settings()
    assert len(warnings) == 1 and "not an object" in warnings[0]


def test_nested_settings_as_vscode_sends_them_are_read() -> None:
    raw = {
        "defaultConnection": "Local Ollama",
        "defaultModel": "Local Ollama/llama3.2",
        "ollama": {"baseUrl": "http://127.0.0.1:11500"},
        "timeouts": {"connectSeconds": 2, "idleSeconds": 30, "totalSeconds": 120},
        "limits": {"maxConcurrentOllama": 2, "queueSize": 3, "promptMaxKiB": 64},
    }

    settings, warnings = parse_settings(raw)

    assert warnings == []
    assert settings.default_connection == "Local Ollama"
    assert settings.default_model == "Local Ollama/llama3.2"
    assert settings.ollama_base_url == "http://127.0.0.1:11500"
    assert (effective(settings).connect, effective(settings).idle, effective(settings).total) == (
        2.0,
        30.0,
        120.0,
    )
    assert (settings.limits.max_concurrent_ollama, settings.limits.queue_size) == (2, 3)
    assert settings.limits.prompt_max_bytes == 64 * 1024


def test_flat_dotted_keys_as_other_clients_send_them_are_read() -> None:
    raw = {
        "ollama.baseUrl": "http://[::1]:11434",
        "timeouts.connectSeconds": 1.5,
        "limits.maxConcurrentOther": 7,
    }

    settings, warnings = parse_settings(raw)

    assert warnings == []
    assert settings.ollama_base_url == "http://[::1]:11434"
    assert effective(settings).connect == 1.5
    assert settings.limits.max_concurrent_other == 7


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"timeouts": {"connectSeconds": "fast"}}, "timeouts.connectSeconds"),
        ({"timeouts": {"idleSeconds": True}}, "timeouts.idleSeconds"),
        ({"limits": {"queueSize": 2.5}}, "limits.queueSize"),
        ({"limits": {"maxConcurrentOllama": "1"}}, "limits.maxConcurrentOllama"),
        ({"defaultConnection": 42}, "defaultConnection"),
        ({"defaultModel": ["llama3.2"]}, "defaultModel"),
    ],
)
def test_a_value_of_the_wrong_type_falls_back_with_a_warning(raw: dict[str, Any], key: str) -> None:
    settings, warnings = parse_settings(raw)

    assert len(warnings) == 1
    assert f"modelwire.{key}" in warnings[0]
    defaults = Settings()
    assert settings.timeouts == defaults.timeouts
    assert settings.limits == defaults.limits
    assert settings.default_connection is None and settings.default_model is None


@pytest.mark.parametrize(
    ("raw", "key", "bounds"),
    [
        ({"timeouts": {"connectSeconds": 0}}, "timeouts.connectSeconds", "0.1 to 600"),
        ({"timeouts": {"totalSeconds": 10**9}}, "timeouts.totalSeconds", "1 to 86400"),
        ({"limits": {"maxConcurrentOther": 0}}, "limits.maxConcurrentOther", "1 to 64"),
        ({"limits": {"queueSize": -1}}, "limits.queueSize", "0 to 1000"),
        ({"limits": {"promptMaxKiB": 70000}}, "limits.promptMaxKiB", "1 to 65536"),
    ],
)
def test_a_value_out_of_range_falls_back_and_names_the_range(
    raw: dict[str, Any], key: str, bounds: str
) -> None:
    settings, warnings = parse_settings(raw)

    assert len(warnings) == 1
    assert f"modelwire.{key}" in warnings[0] and bounds in warnings[0]
    assert settings == Settings()


def test_range_ends_are_accepted() -> None:
    settings, warnings = parse_settings(
        {"limits": {"queueSize": 0, "maxConcurrentOllama": 64}, "timeouts": {"connectSeconds": 600}}
    )

    assert warnings == []
    assert (settings.limits.queue_size, settings.limits.max_concurrent_ollama) == (0, 64)
    assert effective(settings).connect == 600.0


def test_one_bad_value_does_not_spoil_the_good_ones_next_to_it() -> None:
    settings, warnings = parse_settings(
        {"defaultConnection": "Cloud", "limits": {"queueSize": "lots", "promptMaxKiB": 32}}
    )

    assert len(warnings) == 1
    assert settings.default_connection == "Cloud"
    assert settings.limits.queue_size == 8
    assert settings.limits.prompt_max_kib == 32


def test_blank_or_overlong_names_are_ignored() -> None:
    settings, warnings = parse_settings(
        {"defaultConnection": "   ", "defaultModel": "x" * 301, "ollama": {"baseUrl": ""}}
    )

    assert settings.default_connection is None
    assert settings.default_model is None
    assert settings.ollama_base_url == OLLAMA_DEFAULT_BASE_URL
    assert len(warnings) == 1 and "modelwire.defaultModel" in warnings[0]


def test_names_are_trimmed() -> None:
    settings, _ = parse_settings({"defaultConnection": "  Local Ollama  "})

    assert settings.default_connection == "Local Ollama"


def test_first_token_waits_300_s_for_ollama_model_loads_and_60_s_elsewhere() -> None:
    settings, _ = parse_settings({})

    assert effective(settings, "ollama").first_token == 300.0
    assert effective(settings, "openai").first_token == 60.0


def test_first_token_setting_overrides_both_protocol_defaults() -> None:
    settings, warnings = parse_settings({"timeouts": {"firstTokenSeconds": 20}})

    assert warnings == []
    assert effective(settings, "ollama").first_token == 20.0
    assert effective(settings, "openai").first_token == 20.0


def test_a_bad_first_token_setting_keeps_the_protocol_defaults() -> None:
    settings, warnings = parse_settings({"timeouts": {"firstTokenSeconds": -5}})

    assert len(warnings) == 1 and "modelwire.timeouts.firstTokenSeconds" in warnings[0]
    assert effective(settings, "ollama").first_token == 300.0
    assert effective(settings, "openai").first_token == 60.0


def test_the_warning_for_a_bad_first_token_setting_says_what_is_really_used() -> None:
    _, warnings = parse_settings({"timeouts": {"firstTokenSeconds": "soon"}})

    assert "using 0" not in warnings[0]


def test_timeouts_for_a_protocol_carry_every_layer() -> None:
    settings = TimeoutSettings(connect_seconds=3, idle_seconds=40, total_seconds=500)
    timeouts = timeouts_for("openai", None, settings)

    assert (timeouts.connect, timeouts.first_token, timeouts.idle, timeouts.total) == (
        3,
        60.0,
        40,
        500,
    )


def test_settings_layered_on_a_base_keep_the_base_timeouts_and_limits() -> None:
    base, _ = parse_settings({"timeouts": {"idleSeconds": 10}, "limits": {"queueSize": 2}})

    settings, warnings = parse_settings({"timeouts": {"connectSeconds": 9}}, base=base)

    assert warnings == []
    assert (effective(settings).connect, effective(settings).idle) == (9.0, 10.0)
    assert settings.limits.queue_size == 2


def test_a_connections_timeouts_win_over_the_settings_value_by_value() -> None:
    connection = TimeoutSettings(first_token_seconds=30)
    settings = TimeoutSettings(first_token_seconds=90, idle_seconds=15)

    timeouts = timeouts_for("ollama", connection, settings)

    assert (timeouts.connect, timeouts.first_token, timeouts.idle) == (5.0, 30.0, 15.0)


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [
        ("connectSeconds", 0.1, 600),
        ("firstTokenSeconds", 1, 7200),
        ("idleSeconds", 1, 3600),
        ("totalSeconds", 1, 86400),
    ],
)
def test_settings_and_connection_overrides_share_one_range_per_timeout(
    field: str, low: float, high: float
) -> None:
    for value in (low, high):
        assert parse_settings({"timeouts": {field: value}})[1] == []
        TimeoutSettings.model_validate({field: value})
    for value in (low / 2, high * 2):
        _, warnings = parse_settings({"timeouts": {field: value}})
        assert len(warnings) == 1 and f"from {low:g} to {high:g}" in warnings[0]
        with pytest.raises(ValidationError):
            TimeoutSettings.model_validate({field: value})


def test_a_peer_connection_waits_at_least_20_s_to_connect_unless_it_says_otherwise() -> None:
    settings = TimeoutSettings(connect_seconds=5)

    assert timeouts_for("peer", None, settings).connect == 20.0
    assert timeouts_for("peer", TimeoutSettings(connect_seconds=8), settings).connect == 8.0
