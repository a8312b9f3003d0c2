"""The Docker recipes keep model servers on this machine and their models on disk.

Docker itself is not needed: the compose files are parsed and checked for what matters
to a user's safety and time — loopback-only ports, persistent model storage, health
checks that work in those images, an opt-in GPU block, no privileged containers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"
COMPOSE_FILES = ["compose.ollama.yml", "compose.llamacpp.yml"]


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((DOCKER / name).read_text())
    assert isinstance(data, dict)
    return data


def services(name: str) -> dict[str, dict[str, Any]]:
    found = load(name)["services"]
    assert found, f"{name} defines no service"
    return found


def published_host_ips(port: str | dict[str, Any]) -> str:
    if isinstance(port, dict):  # long syntax
        return str(port.get("host_ip", ""))
    # Resolve "${VAR:-default}" to its default first: it holds colons of its own.
    parts = re.sub(r"\$\{[^}:]*:-([^}]*)\}", r"\1", str(port)).split(":")
    # "HOST_IP:HOST_PORT:CONTAINER_PORT"; anything shorter binds every interface.
    return parts[0] if len(parts) == 3 else ""


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_model_servers_are_published_on_loopback_only(name: str) -> None:
    for service_name, service in services(name).items():
        assert service.get("network_mode") != "host", service_name
        assert service.get("ports"), f"{service_name} publishes no port"
        for port in service["ports"]:
            assert published_host_ips(port) == "127.0.0.1", f"{service_name}: {port}"
        assert "expose" not in service or not service["expose"]


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_models_survive_recreating_the_container(name: str) -> None:
    declared = set((load(name).get("volumes") or {}).keys())
    for service_name, service in services(name).items():
        volumes = service.get("volumes")
        assert volumes, f"{service_name} keeps its models inside the container"
        for volume in volumes:
            if isinstance(volume, dict):
                kind, source = volume.get("type"), str(volume.get("source", ""))
                assert kind in {"volume", "bind"}, volume
            else:
                parts = str(volume).split(":")
                assert len(parts) >= 2, f"anonymous volume {volume!r} is lost on recreate"
                source = parts[0]
                kind = "bind" if source.startswith(("/", ".", "~", "$")) else "volume"
            if kind == "volume":
                assert source in declared, f"{source!r} is not a declared named volume"
            else:
                assert source, volume


def test_ollama_keeps_pulled_models_in_a_named_volume() -> None:
    (ollama,) = services("compose.ollama.yml").values()
    assert any(str(v).endswith(":/root/.ollama") for v in ollama["volumes"])


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_every_server_has_a_healthcheck(name: str) -> None:
    for service_name, service in services(name).items():
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{service_name} has no healthcheck"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}
        assert check.get("interval") and check.get("timeout") and check.get("retries")


def test_ollama_healthcheck_uses_what_the_image_has() -> None:
    # ollama/ollama ships no curl or wget; `ollama list` asks the server for /api/tags.
    (ollama,) = services("compose.ollama.yml").values()
    test = ollama["healthcheck"]["test"]
    assert test == ["CMD", "ollama", "list"]


def test_llamacpp_healthcheck_asks_for_health_and_listens_inside_the_container() -> None:
    (llamacpp,) = services("compose.llamacpp.yml").values()
    test = " ".join(llamacpp["healthcheck"]["test"])
    assert "curl" in test and "/health" in test
    command = llamacpp["command"]
    assert command[command.index("--host") + 1] == "0.0.0.0"


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_gpu_block_is_offered_but_commented_out(name: str) -> None:
    text = (DOCKER / name).read_text()
    commented = [line.strip() for line in text.splitlines() if line.strip().startswith("#")]
    for needle in ("deploy:", "reservations:", "devices:", "driver: nvidia", "[gpu]"):
        assert any(needle in line for line in commented), needle
    for service in services(name).values():
        assert "deploy" not in service


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_no_container_is_privileged(name: str) -> None:
    text = (DOCKER / name).read_text()
    assert "privileged" not in text
    for service in services(name).values():
        assert not service.get("cap_add")
        assert "no-new-privileges:true" in service.get("security_opt", [])
