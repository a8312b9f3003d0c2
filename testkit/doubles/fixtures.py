"""pytest fixtures for the provider doubles: a fresh double per test.

Import them into a test module (`from testkit.doubles.fixtures import ollama_double`) or
register the module once with `pytest_plugins = ["testkit.doubles.fixtures"]`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.doubles.http_double import closed_port
from testkit.doubles.ollama_double import OllamaDouble
from testkit.doubles.openai_double import OpenAIDouble

# Shaped like a real key so the redaction pattern and the masked echo both apply.
TEST_API_KEY = "sk-proj-double0123456789abcdefWXYZ"


@pytest.fixture
def ollama_double() -> Iterator[OllamaDouble]:
    """Ollama with llama3.2 and qwen2.5:0.5b installed."""
    with OllamaDouble(models=["llama3.2", "qwen2.5:0.5b"]) as double:
        yield double


@pytest.fixture
def openai_double() -> Iterator[OpenAIDouble]:
    """An OpenAI-compatible server that wants `TEST_API_KEY`."""
    with OpenAIDouble(models=["gpt-4o-mini", "gpt-4.1"], api_key=TEST_API_KEY) as double:
        yield double


@pytest.fixture
def refused_url() -> str:
    """A loopback URL where nothing listens."""
    return f"http://127.0.0.1:{closed_port()}"
