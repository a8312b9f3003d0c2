"""Shared test policy: a test whose real peer is missing fails in CI and skips elsewhere.

This is the one definition of "in CI" (`IN_CI`) and the one way to need a real peer
(`require_peer`), for every tier; docs/testing.md explains the policy. A test that
calls `require_peer` must carry the `real_peer(name)` marker (tests that use a peer
fixture get it automatically), so `-m real_peer` / `-m "not real_peer"` select exactly
the tests that need one.
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["testkit.doubles.fixtures"]

# CI systems set CI=true (GitHub Actions, GitLab, .ci/run). Subprocesses that decide for
# themselves (the VS Code harness) are handed this verdict, not their own reading.
IN_CI = os.environ.get("CI", "").strip().lower() == "true"

# Fixtures that stand for a real peer, and the marker name each implies.
PEER_FIXTURES = {"real_keyring": "keyring", "llamacpp_server": "llamacpp"}

_running: list[pytest.Item] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        for fixture, peer in PEER_FIXTURES.items():
            if fixture in names and item.get_closest_marker("real_peer") is None:
                item.add_marker(pytest.mark.real_peer(peer))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _running[:] = [item]


def require_peer(available: bool, what: str, how: str) -> None:
    """Call at the start of a test (or fixture) that needs a real peer: keyring,
    llama.cpp, the embedded model, nvim, code-server…"""
    item = _running[0] if _running else None
    if item is not None and item.get_closest_marker("real_peer") is None:
        pytest.fail(
            f"{item.nodeid} needs {what} but has no real_peer marker: "
            "add pytest.mark.real_peer(<name>) to it (see docs/testing.md)",
            pytrace=False,
        )
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
