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

import subprocess

import pytest
from tests.e2e.node_suite import (
    EXTENSION,
    HARNESS,
    REPO,
    editor_peers_missing,
    missing_or_fail,
    node_or_fail,
    node_test_summary,
    run_suite,
    with_keyring,
)

pytestmark = pytest.mark.real_peer("vscode")

ARTIFACTS = REPO / "test-artifacts" / "vscode"
E2E_TIMEOUT_S = 720  # the suite bounds itself at 10 minutes; this is the backstop


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
    missing_or_fail(editor_peers_missing())
    command = [node, "--test-reporter=spec", str(HARNESS / "vscode.e2e.test.js")]
    run_suite(with_keyring(command), "the VS Code e2e suite", ARTIFACTS, E2E_TIMEOUT_S)
