"""A second real LSP client: headless Neovim runs `explain` through the documented config.

The config under test is the lua block of docs/editors/neovim.md, extracted verbatim, so
the page a Neovim user copies is the one that is proven to work. Neovim talks to the
real sidecar (`python -m modelwire serve`), which talks to the Ollama test double.
A missing `nvim` skips on a developer machine and fails in CI (`require_peer`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import require_peer

pytestmark = pytest.mark.real_peer("nvim")

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "editors" / "neovim.md"
DRIVER = Path(__file__).parent / "nvim" / "run_explain.lua"
REPLY = "This function adds two numbers.\nIt returns their sum, so add(2, 3) is 5."
SOURCE = "def add(a, b):\n    return a + b\n"


def nvim_or_fail() -> str:
    nvim = shutil.which("nvim")
    require_peer(nvim is not None, "Neovim (nvim)", "apt-get install neovim (scripts/setup --all)")
    assert nvim is not None
    return nvim


def documented_config() -> str:
    """The lua block that follows the `modelwire.lua` marker in the Neovim page."""
    text = DOC.read_text()
    marker = text.index("<!-- modelwire.lua")
    match = re.search(r"```lua\n(.*?)```", text[marker:], re.S)
    assert match, "docs/editors/neovim.md lost its config block"
    return match.group(1)


@pytest.fixture
def ollama() -> Iterator[str]:
    """The Ollama double in its own process, serving llama3.2 with a known reply."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "testkit.doubles.ollama_double",
            "--port",
            "0",
            "--models",
            "llama3.2",
            "--reply",
            REPLY,
            "--chunk-delay",
            "0.02",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        assert port.isdigit(), f"the Ollama double did not print its port: {port!r}"
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_neovim(nvim: str, tmp_path: Path, ollama_url: str) -> dict[str, Any]:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    source = workspace / "calc.py"
    source.write_text(SOURCE)
    config = tmp_path / "modelwire.lua"
    config.write_text(documented_config())
    out = tmp_path / "report.json"
    xdg = {name: tmp_path / "xdg" / name.lower() for name in ("CONFIG", "DATA", "STATE", "CACHE")}
    for folder in xdg.values():
        folder.mkdir(parents=True)
    env = {
        **os.environ,
        **{f"XDG_{name}_HOME": str(folder) for name, folder in xdg.items()},
        "MODELWIRE_HOME": str(tmp_path / "modelwire-home"),
        # No secret is needed here; make sure none could be read from the real keyring.
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "PYTHONPATH": os.pathsep.join([str(REPO / "server"), str(REPO)]),
        "MW_NVIM_CONFIG": str(config),
        "MW_NVIM_PYTHON": sys.executable,
        "MW_NVIM_ROOT": str(workspace),
        "MW_NVIM_FILE": str(source),
        "MW_NVIM_OLLAMA": ollama_url,
        "MW_NVIM_OUT": str(out),
        "MW_NVIM_TIMEOUT_MS": "30000",
    }
    done = subprocess.run(
        [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-c", f"luafile {DRIVER}"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lsp_log = xdg["CACHE"] / "nvim" / "lsp.log"
    context = (
        f"nvim exit {done.returncode}\nstderr:\n{done.stderr[-3000:]}\n"
        f"lsp.log:\n{lsp_log.read_text()[-3000:] if lsp_log.exists() else '(none)'}"
    )
    assert out.exists(), f"the Neovim session wrote no report\n{context}"
    report: dict[str, Any] = json.loads(out.read_text())
    assert report["ok"], f"{report['error']}\n{context}"
    return report


def test_neovim_user_runs_explain_and_sees_progress_and_the_answer(
    tmp_path: Path, ollama: str
) -> None:
    nvim = nvim_or_fail()

    report = run_neovim(nvim, tmp_path, ollama)

    # The connection the user added is the one that served the run.
    connection = report["connection"]
    assert connection["providerId"] == "ollama"
    assert connection["baseUrl"].startswith("http://127.0.0.1:")
    record = report["record"]
    assert record["status"] == "succeeded"
    assert record["agentId"] == "explain"
    assert record["uri"].endswith("/calc.py")
    assert record["routing"]["connectionId"] == connection["id"]
    assert record["routing"]["providerId"] == "ollama"
    assert record["routing"]["modelRef"].startswith("llama3.2")
    assert record["output"] == REPLY

    # The answer streamed into the scratch buffer beside the file, word for word.
    shown = report["output_buffer"]
    assert shown["text"] == REPLY
    assert shown["shown_in_window"] and not shown["modifiable"]
    assert "explain" in shown["header"] and "calc.py" in shown["header"]
    assert "ollama" in shown["status"] and "succeeded" in shown["status"]
    assert report["source_buffer_unchanged"]

    # Run events in order: announced, routed, streamed, ended.
    kinds = [event["kind"] for event in report["events"]]
    assert kinds[0] in {"queued", "started"}
    assert "started" in kinds and "delta" in kinds
    assert kinds[-1] == "end"
    seqs = [event["seq"] for event in report["events"]]
    assert seqs == sorted(seqs)

    # Standard $/progress: begin → report(s) → end on the token the client chose,
    # and Neovim's own progress state (what statusline plugins read) saw it finish.
    values = [message["value"] for message in report["progress"]]
    assert {message["token"] for message in report["progress"]} == {report["progress"][0]["token"]}
    assert values[0]["kind"] == "begin" and "explain" in values[0]["title"]
    assert any(value["kind"] == "report" for value in values[1:-1])
    assert values[-1]["kind"] == "end"
    assert report["neovim_progress_state"]["done"] is True

    # :ModelWireConnections lists it — as the default, being the user's only connection
    # (the built-in embedded one may be listed beside it).
    listing = report["connections"]
    user_connections = [c["id"] for c in listing["connections"] if c["providerId"] != "embedded"]
    assert user_connections == [connection["id"]]
    assert listing.get("defaultConnectionId") == connection["id"]
    assert not [n for n in report["notifications"] if n["level"] >= 4]  # no errors shown
