"""The VS Code extension, in pytest: its unit tests (node:test) and its end-to-end suite in a
real VS Code (code-server 4.100.3 + Debian's Chromium + playwright-core), each run as a
subprocess whose verdict becomes this test's.

The e2e suite drives the extension installed from its .vsix through the command palette
against the real sidecar, the Ollama double and llama.cpp's server; see
tests/e2e/vscode/vscode.e2e.test.js for the stories and docs/editors/vscode.md for the
page its screenshots illustrate. A missing peer skips with the fix on a developer
machine and fails in CI (`require_peer`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import IN_CI, require_peer

pytestmark = pytest.mark.real_peer("vscode")

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "editor-extension"
HARNESS = REPO / "tests" / "e2e" / "vscode"
CODE_SERVER = REPO / ".cache" / "code-server" / "node_modules" / ".bin" / "code-server"
CHROMIUM = Path(os.environ.get("MODELWIRE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO / "test-artifacts" / "vscode"
E2E_TIMEOUT_S = 720  # the suite bounds itself at 10 minutes; this is the backstop


def missing_or_fail(missing: list[str]) -> None:
    require_peer(
        not missing,
        "the VS Code tests' peers (" + ", ".join(missing) + ")",
        "run scripts/setup-editor (scripts/setup --all installs everything)",
    )


def node_or_fail() -> str:
    node = shutil.which("node")
    missing_or_fail([] if node else ["Node.js 20 (node)"])
    assert node is not None
    return node


def node_test_summary(output: str) -> dict[str, int]:
    """The `ℹ pass N` / `ℹ fail N` counts of node:test's spec reporter."""
    return {k: int(v) for k, v in re.findall(r"^ℹ (tests|pass|fail|skipped) (\d+)$", output, re.M)}


def test_extension_unit_tests_pass() -> None:
    node = node_or_fail()
    tsc = EXTENSION / "node_modules" / "typescript" / "bin" / "tsc"
    missing_or_fail([] if tsc.exists() else ["editor-extension/node_modules"])
    compiled = subprocess.run(
        [node, str(tsc), "-p", str(EXTENSION)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert compiled.returncode == 0, f"tsc failed:\n{compiled.stdout}{compiled.stderr}"
    # The esbuild bundle, as `npm test` builds it: test/bundle.test.ts loads it.
    bundled = subprocess.run(
        [node, "esbuild.mjs"], cwd=EXTENSION, capture_output=True, text=True, timeout=300
    )
    assert bundled.returncode == 0, f"esbuild failed:\n{bundled.stdout}{bundled.stderr}"
    eslint = EXTENSION / "node_modules" / "eslint" / "bin" / "eslint.js"
    missing_or_fail([] if eslint.exists() else ["eslint in editor-extension/node_modules"])
    linted = subprocess.run(
        [node, str(eslint), "--max-warnings", "0", "src", "test"],
        cwd=EXTENSION,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert linted.returncode == 0, f"eslint failed:\n{linted.stdout}{linted.stderr}"
    tests = sorted(str(p) for p in (EXTENSION / "out" / "test").glob("*.test.js"))
    result = subprocess.run(
        [node, "--test", "--test-reporter=spec", *tests],
        cwd=EXTENSION,
        capture_output=True,
        text=True,
        timeout=300,
    )
    summary = node_test_summary(result.stdout)
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0 and summary.get("fail") == 0, report
    # Every test that node found ran and passed (a file that fails to load counts as a
    # failed test, so nothing can drop out silently).
    assert summary.get("pass") == summary.get("tests", 0) > 0, f"{summary}\n{report}"


def test_extension_works_end_to_end_in_code_server() -> None:
    node = node_or_fail()
    vsix = sorted(EXTENSION.glob("modelwire-*.vsix"))
    playwright = HARNESS / "node_modules" / "playwright-core"
    missing = [
        what
        for what, ok in [
            (f"code-server 4.100.3 at {CODE_SERVER.relative_to(REPO)}", CODE_SERVER.exists()),
            (f"Chromium at {CHROMIUM}", CHROMIUM.exists()),
            ("the packaged extension (editor-extension/modelwire-*.vsix)", bool(vsix)),
            ("playwright-core (tests/e2e/vscode)", playwright.is_dir()),
            ("the .venv (scripts/setup)", (REPO / ".venv" / "bin" / "python").exists()),
        ]
        if not ok
    ]
    missing_or_fail(missing)
    command = [node, "--test-reporter=spec", str(HARNESS / "vscode.e2e.test.js")]
    # The sidecar needs a real keyring for the API key: reuse the one pytest runs in
    # (scripts/test), else bring up a private one.
    if not os.environ.get("MODELWIRE_TEST_KEYRING"):
        command = [str(REPO / "scripts" / "with-keyring"), *command]
    try:
        result = subprocess.run(
            command,
            cwd=REPO,
            env={**os.environ, "CI": "true" if IN_CI else "false"},  # one definition of CI
            capture_output=True,
            text=True,
            timeout=E2E_TIMEOUT_S,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"the VS Code e2e suite ran over {E2E_TIMEOUT_S} s; screenshots in {ARTIFACTS}\n"
            f"{exc.stdout!s:.4000}"
        )
    summary = node_test_summary(result.stdout)
    report = (
        f"{result.stdout[-8000:]}\n--- stderr ---\n{result.stderr[-3000:]}\n"
        f"screenshots and logs: {ARTIFACTS}"
    )
    assert result.returncode == 0, report
    assert summary.get("fail") == 0 and summary.get("skipped") == 0, report
    assert summary.get("pass") == summary.get("tests", 0) > 0, report
