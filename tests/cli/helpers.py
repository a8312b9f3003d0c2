"""Drive the real `modelwire` command in a subprocess, with its own MODELWIRE_HOME."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = REPO_ROOT / "samples" / "inventory.py"
_SCRIPT = Path(sys.executable).parent / "modelwire"
# The console script pip installed; `python -m modelwire` runs the same main().
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "modelwire"]

ROUTING_LINE = re.compile(
    r"^\[\d\d:\d\d:\d\d\] (?P<agent>\S+) (?P<file>\S+) → (?P<conn>.+) \((?P<provider>[^)]+)\) "
    r"(?P<model>\S+) · source=(?P<source>\w+)(?: · first token (?P<first>[\d.]+) s)?"
    r" · total (?P<total>[\d.]+) s · (?P<outcome>.+)$",
    re.MULTILINE,
)


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELWIRE_DEFAULT_")}
    env["MODELWIRE_HOME"] = str(home)
    env.update(extra)
    return env


def modelwire(
    home: Path,
    *args: str,
    input: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        cwd=cwd or REPO_ROOT,
        env={**cli_env(home), **(env or {})},
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def spawn(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*COMMAND, *args],
        cwd=REPO_ROOT,
        env={**cli_env(home), **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def add_connection(home: Path, name: str, provider: str, url: str, model: str) -> None:
    done = modelwire(
        home,
        "connections",
        "add",
        "--name",
        name,
        "--provider",
        provider,
        "--base-url",
        url,
        "--default-model",
        model,
    )
    assert done.returncode == 0, done.stderr
