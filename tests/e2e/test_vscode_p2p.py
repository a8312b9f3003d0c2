"""P2P sharing in a real VS Code window, over real Hyperswarm, on a loopback-only network.

code-server, Chromium, the extension host, the sidecar, the share hosts and every bridge
run INSIDE a private network namespace whose only interface is `lo` (testkit/p2p.py's
P2PNet: `unshare -n`, lo up), against a local HyperDHT testnet in that namespace; the
bridges refuse to start without that loopback bootstrap (MODELWIRE_P2P_REQUIRE_ISOLATION=1).
The stories are in tests/e2e/vscode/p2p.e2e.test.js (Connect to Shared Model, Explain and
chat over the peer with its 8 KB limit, Share Model from the window, no Server ID in any
log). A missing peer skips with the fix on a developer machine and fails in CI.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit.p2p import P2PNet, missing
from tests.conftest import IN_CI, require_peer
from tests.e2e.node_suite import (
    HARNESS,
    REPO,
    editor_peers_missing,
    missing_or_fail,
    node_or_fail,
    run_suite,
)

pytestmark = [pytest.mark.real_peer("hyperswarm"), pytest.mark.real_peer("vscode")]

ARTIFACTS = REPO / "test-artifacts" / "vscode-p2p"
E2E_TIMEOUT_S = 600  # the suite bounds itself at 8 minutes; this is the backstop


@pytest.fixture
def net(tmp_path: Path) -> Iterator[P2PNet]:
    why = missing()
    require_peer(why is None, "Hyperswarm in a network namespace", why or "")
    p2p = P2PNet(tmp_path).start()
    try:
        yield p2p
    finally:
        p2p.stop()


def test_share_and_use_a_shared_model_from_code_server_in_a_private_network(
    net: P2PNet,
) -> None:
    node = node_or_fail()
    missing_or_fail(
        [
            *editor_peers_missing(),
            *([] if shutil.which("dbus-run-session") else ["dbus-run-session"]),
        ]
    )
    # Everything below runs inside the namespace: a fresh keyring (its D-Bus socket must
    # be reachable from there), and `node` itself for the bridges (no second nsenter).
    command = [
        *net.enter,
        "--",
        str(REPO / "scripts" / "with-keyring"),
        node,
        "--test-reporter=spec",
        str(HARNESS / "p2p.e2e.test.js"),
    ]
    env = {
        **os.environ,
        **net.env,
        "MODELWIRE_P2P_NODE": node,
        "MODELWIRE_E2E_NETNS": "1",
        "CI": "true" if IN_CI else "false",  # one definition of CI
    }
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    run_suite(command, "the VS Code P2P e2e", ARTIFACTS, E2E_TIMEOUT_S, env)
