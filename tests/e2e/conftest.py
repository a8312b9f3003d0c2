"""Fixtures for the end-to-end tier (real peers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.e2e.llamacpp import LlamaCppServer, llamacpp_or_skip, start_llamacpp


@pytest.fixture(scope="session")
def llamacpp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppServer]:
    """One real llama.cpp server (SmolLM2-135M) for the session: a plain subprocess, so
    session scope is safe (unlike pytest-lsp clients, which must be per test)."""
    model = llamacpp_or_skip()
    server = start_llamacpp(model, tmp_path_factory.mktemp("llamacpp"))
    try:
        yield server
    finally:
        server.stop()
