"""A new user's first run of the VS Code extension, in pytest: tests/e2e/vscode/
first_run.e2e.test.js in a real VS Code (code-server 4.100.3 + Debian's Chromium +
playwright-core) with no ModelWire setting, no connection and a copy of samples/ as the
workspace, run as a subprocess whose verdict becomes this test's.

Two launches: the interpreter from the workspace's `.venv`, then from the Python extension
(a test double, tests/e2e/vscode/python-extension-double/). The first run answers on the
Embedded model, so that is a real peer here too. Screenshots and timings land in
test-artifacts/vscode-first-run/; docs/editors/vscode.md ("First run") shows the best.
"""

from __future__ import annotations

import json
import re

import pytest
from tests.conftest import require_peer
from tests.e2e.node_suite import (
    EXTENSION,
    HARNESS,
    REPO,
    editor_peers_missing,
    missing_or_fail,
    node_or_fail,
    run_suite,
    with_keyring,
)

from modelwire.adapters.embedded import embedded_status

pytestmark = pytest.mark.real_peer("vscode")

ARTIFACTS = REPO / "test-artifacts" / "vscode-first-run"
E2E_TIMEOUT_S = 600  # the suite bounds itself at 9 minutes; this is the backstop


def test_first_run_in_code_server_finds_python_and_answers_on_embedded() -> None:
    node = node_or_fail()
    missing_or_fail(editor_peers_missing())
    available, reason = embedded_status()
    require_peer(available, f"the Embedded model ({reason})", "run scripts/setup --all")
    command = [node, "--test-reporter=spec", str(HARNESS / "first_run.e2e.test.js")]
    run_suite(with_keyring(command), "the first-run e2e", ARTIFACTS, E2E_TIMEOUT_S)
    # The figures of this run (not asserted: the machine is shared) for whoever reads -s.
    timings = ARTIFACTS / "timings.json"
    if timings.exists():
        print(json.dumps(json.loads(timings.read_text()), indent=2))


def test_python_extension_double_matches_the_api_package() -> None:
    """The double exports every `environments` member that @vscode/python-extension
    declares (read from its main.d.ts, so a member added there fails here, not in the
    editor), and the members ModelWire calls are among them."""
    declared = EXTENSION / "node_modules" / "@vscode" / "python-extension" / "out" / "main.d.ts"
    missing_or_fail([] if declared.exists() else ["editor-extension/node_modules (npm ci)"])
    text = declared.read_text()
    start = text.index("readonly environments: {")
    block = re.sub(r"/\*\*.*?\*/", "", text[start : text.index("\n    };", start)], flags=re.S)
    members = re.findall(r"^\s+(?:readonly\s+)?(\w+)\s*[(:]", block, re.M)
    assert {"getActiveEnvironmentPath", "resolveEnvironment"} <= set(members), members
    double = (HARNESS / "python-extension-double" / "extension.js").read_text()
    environments = double[double.index("environments: {") :]
    lacking = [m for m in members if not re.search(rf"\b(get )?{m}\b", environments)]
    assert lacking == [], f"the double lacks environments.{lacking}"
    manifest = json.loads((HARNESS / "python-extension-double" / "package.json").read_text())
    assert f"{manifest['publisher']}.{manifest['name']}" == "ms-python.python"
    assert (HARNESS / "python-extension-double" / manifest["main"]).exists()
