"""Shared test policy: a test whose real peer is missing fails in CI and skips elsewhere."""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["testkit.doubles.fixtures"]

IN_CI = os.environ.get("CI") == "true"


def require_peer(available: bool, what: str, how: str) -> None:
    """Call at the start of a test that needs a real peer (keyring, llama.cpp, nvim…)."""
    if available:
        return
    message = f"{what} is not available: {how}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing real peer is a failure)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def real_keyring() -> None:
    """The real OS keyring: gnome-keyring over a private D-Bus (scripts/with-keyring)."""
    require_peer(
        os.environ.get("MODELWIRE_TEST_KEYRING") == "gnome-keyring",
        "gnome-keyring over D-Bus",
        "run the tests through scripts/test (or scripts/with-keyring)",
    )
