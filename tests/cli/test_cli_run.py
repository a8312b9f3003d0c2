"""`modelwire run` against the Ollama double: streaming, routing, errors, Ctrl-C."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from testkit.doubles.ollama_double import OllamaDouble

from tests.cli.helpers import ROUTING_LINE, add_connection, modelwire, spawn

REPLY = "Hello from the double. This answer arrives one word at a time."


def test_run_streams_the_answer_and_prints_the_routing_line(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    add_connection(tmp_path, "Local Ollama", "ollama", ollama_double.url, "llama3.2")
    done = modelwire(tmp_path, "run", "explain", "samples/inventory.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout == REPLY + "\n"  # only the answer on stdout
    found = ROUTING_LINE.search(done.stderr)
    assert found, done.stderr
    assert found.group("agent", "file", "conn", "provider", "model", "source", "outcome") == (
        "explain", "inventory.py", "Local Ollama", "ollama", "llama3.2", "fallback", "succeeded"
    )  # fmt: skip
    assert float(found.group("first")) <= float(found.group("total"))

    runs = json.loads(modelwire(tmp_path, "runs", "--json").stdout)
    assert runs[0]["status"] == "succeeded"
    assert runs[0]["routing"]["connectionName"] == "Local Ollama"
    table = modelwire(tmp_path, "runs", "--last", "5").stdout
    assert "Local Ollama (ollama) llama3.2" in table and "succeeded" in table


def test_a_selection_sends_only_those_lines(tmp_path: Path, ollama_double: OllamaDouble) -> None:
    add_connection(tmp_path, "Local Ollama", "ollama", ollama_double.url, "llama3.2")
    done = modelwire(tmp_path, "run", "explain", "samples/inventory.py", "--selection", "39:42")
    assert done.returncode == 0, done.stderr
    prompt = ollama_double.requests_to("/api/chat")[-1].json["messages"][-1]["content"]
    assert "Selected lines 39-42" in prompt
    assert "def remove_discontinued" in prompt and "del self.items[sku]" in prompt
    assert "class Inventory" not in prompt

    bad = modelwire(tmp_path, "run", "explain", "samples/inventory.py", "--selection", "9:3")
    assert bad.returncode == 2 and "--selection" in bad.stderr


def test_model_specifier_and_environment_choose_the_route(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    add_connection(tmp_path, "Local Ollama", "ollama", ollama_double.url, "llama3.2")
    add_connection(tmp_path, "Other", "ollama", ollama_double.url, "llama3.2")
    # Two connections, nothing chosen: the user is told how to choose.
    none = modelwire(tmp_path, "run", "explain", "samples/inventory.py")
    assert none.returncode == 3 and "[NO_DEFAULT_CONNECTION]" in none.stderr

    spec = modelwire(
        tmp_path, "run", "explain", "samples/inventory.py", "--model", "Local Ollama/qwen2.5:0.5b"
    )
    assert spec.returncode == 0, spec.stderr
    found = ROUTING_LINE.search(spec.stderr)
    assert found and found.group("conn", "model", "source") == (
        "Local Ollama", "qwen2.5:0.5b", "explicit"
    )  # fmt: skip
    assert ollama_double.requests_to("/api/chat")[-1].json["model"] == "qwen2.5:0.5b"

    env = {"MODELWIRE_DEFAULT_CONNECTION": "Other"}
    by_env = modelwire(tmp_path, "run", "summarize", "samples/inventory.py", env=env)
    assert by_env.returncode == 0, by_env.stderr
    found = ROUTING_LINE.search(by_env.stderr)
    assert found and found.group("conn", "source") == ("Other", "settings")


def test_missing_connection_and_model_exit_3_with_a_hint(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    add_connection(tmp_path, "Local Ollama", "ollama", ollama_double.url, "llama3.2")
    missing = modelwire(tmp_path, "run", "explain", "samples/inventory.py", "--connection", "Nope")
    assert missing.returncode == 3
    assert missing.stdout == ""
    assert "error: There is no connection 'Nope'." in missing.stderr
    assert "modelwire connections list" in missing.stderr
    assert missing.stderr.rstrip().endswith("[CONNECTION_NOT_FOUND]")

    no_model = modelwire(
        tmp_path, "run", "explain", "samples/inventory.py", "--model", "Local Ollama/mistral"
    )
    assert no_model.returncode == 3
    assert "[MODEL_NOT_FOUND]" in no_model.stderr
    assert "installed models: llama3.2:latest, qwen2.5:0.5b" in no_model.stderr
    found = ROUTING_LINE.search(no_model.stderr)
    assert found and found.group("outcome") == "failed (MODEL_NOT_FOUND)"

    no_file = modelwire(tmp_path, "run", "explain", "samples/missing.py")
    assert no_file.returncode == 3 and "[DOCUMENT_NOT_FOUND]" in no_file.stderr
    no_agent = modelwire(tmp_path, "run", "translate", "samples/inventory.py")
    assert no_agent.returncode == 3 and "Available agents: explain" in no_agent.stderr


def test_unreachable_ollama_exits_5(tmp_path: Path, refused_url: str) -> None:
    add_connection(tmp_path, "Local Ollama", "ollama", refused_url, "llama3.2")
    done = modelwire(tmp_path, "run", "explain", "samples/inventory.py")
    assert done.returncode == 5, done.stderr
    assert "[ENDPOINT_UNREACHABLE]" in done.stderr and "ollama serve" in done.stderr


def test_ctrl_c_cancels_the_run_and_records_it(tmp_path: Path, ollama_double: OllamaDouble) -> None:
    add_connection(tmp_path, "Local Ollama", "ollama", ollama_double.url, "llama3.2")
    ollama_double.behave(chunk_delay=0.5)
    proc = spawn(tmp_path, "run", "explain", "samples/inventory.py")
    try:
        assert proc.stdout is not None
        first = proc.stdout.read(5)  # blocks until the answer has started streaming
        assert first == "Hello"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert REPLY not in first + out  # it stopped mid-answer
    found = ROUTING_LINE.search(err)
    assert found and found.group("outcome") == "cancelled"
    runs = json.loads(modelwire(tmp_path, "runs", "--json").stdout)
    assert runs[0]["status"] == "cancelled"
    assert runs[0]["errorCode"] == "GENERATION_ABORTED"


def test_review_prints_findings_in_compiler_style(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    add_connection(tmp_path, "Local Ollama", "ollama", ollama_double.url, "llama3.2")
    ollama_double.behave(
        reply="LINE 42 | error | Deleting from the dict while iterating over it fails.\n"
        "LINE 37 | warning | Uses < although the docstring says at or below.\n"
    )
    done = modelwire(tmp_path, "run", "review", "samples/inventory.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == [
        "samples/inventory.py:42: error: Deleting from the dict while iterating over it fails.",
        "samples/inventory.py:37: warning: Uses < although the docstring says at or below.",
    ]
    runs = json.loads(modelwire(tmp_path, "runs", "--json", "--last", "1").stdout)
    assert runs[0]["diagnosticsCount"] == 2


def test_a_bare_model_applies_to_the_default_connection(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    add_connection(tmp_path, "Local Ollama", "ollama", ollama_double.url, "llama3.2")
    done = modelwire(tmp_path, "run", "explain", "samples/inventory.py", "--model", "qwen2.5:0.5b")
    assert done.returncode == 0, done.stderr
    assert ollama_double.requests_to("/api/chat")[-1].json["model"] == "qwen2.5:0.5b"
