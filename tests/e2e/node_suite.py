"""Running a node:test e2e suite of the VS Code extension from pytest: the peers it needs,
and its verdict as the pytest test's (docs/testing.md, "VS Code")."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from tests.conftest import IN_CI, require_peer

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "editor-extension"
HARNESS = REPO / "tests" / "e2e" / "vscode"
CODE_SERVER = REPO / ".cache" / "code-server" / "node_modules" / ".bin" / "code-server"
CHROMIUM = Path(os.environ.get("MODELWIRE_CHROMIUM", "/usr/bin/chromium"))


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


def editor_peers_missing() -> list[str]:
    """What a code-server e2e needs that this machine lacks."""
    return [
        what
        for what, ok in [
            (f"code-server 4.100.3 at {CODE_SERVER.relative_to(REPO)}", CODE_SERVER.exists()),
            (f"Chromium at {CHROMIUM}", CHROMIUM.exists()),
            (
                "the packaged extension (editor-extension/modelwire-*.vsix)",
                bool(sorted(EXTENSION.glob("modelwire-*.vsix"))),
            ),
            (
                "playwright-core (tests/e2e/vscode)",
                (HARNESS / "node_modules" / "playwright-core").is_dir(),
            ),
            ("the .venv (scripts/setup)", (REPO / ".venv" / "bin" / "python").exists()),
        ]
        if not ok
    ]


def node_test_summary(output: str) -> dict[str, int]:
    """The `ℹ pass N` / `ℹ fail N` counts of node:test's spec reporter."""
    return {k: int(v) for k, v in re.findall(r"^ℹ (tests|pass|fail|skipped) (\d+)$", output, re.M)}


def with_keyring(command: list[str]) -> list[str]:
    """The sidecar needs a real keyring: reuse the one pytest runs in (scripts/test), else
    bring up a private one."""
    if os.environ.get("MODELWIRE_TEST_KEYRING"):
        return command
    return [str(REPO / "scripts" / "with-keyring"), *command]


def run_suite(
    command: Sequence[str],
    what: str,
    artifacts: Path,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the suite; pass only if it exited 0 and every test node found ran and passed
    (a file that fails to load counts as a failed test, so nothing drops out silently)."""
    try:
        result = subprocess.run(
            list(command),
            cwd=REPO,
            # One definition of CI: the suite fails, never skips, when CI=true.
            env=dict(env)
            if env is not None
            else {**os.environ, "CI": "true" if IN_CI else "false"},
            capture_output=True,
            text=True,
            timeout=timeout_s,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"{what} ran over {timeout_s} s; screenshots in {artifacts}\n{exc.stdout!s:.4000}"
        )
    summary = node_test_summary(result.stdout)
    report = (
        f"{result.stdout[-8000:]}\n--- stderr ---\n{result.stderr[-4000:]}\n"
        f"screenshots and logs: {artifacts}"
    )
    assert result.returncode == 0, report
    assert summary.get("fail") == 0 and summary.get("skipped") == 0, report
    assert summary.get("pass") == summary.get("tests", 0) > 0, report
    return result
