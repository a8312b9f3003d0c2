"""`modelwire run improve` against both doubles, then `runs` and `runs show` as a tree."""

from __future__ import annotations

import json
import re
from pathlib import Path

from testkit.doubles.ollama_double import OllamaDouble
from testkit.doubles.openai_double import OpenAIDouble
from testkit.doubles.tool_script import ToolTurn

from tests.cli.helpers import add_connection, modelwire

REPLY = "Hello from the double. This answer arrives one word at a time."


def test_improve_from_the_terminal_shows_steps_and_the_run_tree(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    home, ws = tmp_path / "home", tmp_path / "ws"
    ws.mkdir()
    (ws / "main.py").write_text("from util import parse\n\nprint(parse('4'))\n")
    (ws / "util.py").write_text("def parse(text):\n    return int(text)\n")
    with OpenAIDouble(models=["gpt-4o-mini"]) as work:  # a keyless local server
        add_connection(home, "Local Ollama", "ollama", ollama_double.url, "llama3.2")
        add_connection(home, "Work OpenAI", "openai", work.url + "/v1", "gpt-4o-mini")
        ollama_double.script_tools(
            ToolTurn([{"name": "read_file", "arguments": {"path": "util.py"}}], layout="done_line"),
            ToolTurn([{"name": "run_agent", "arguments": {"agent": "review"}}]),
        )
        env = {
            "MODELWIRE_DEFAULT_CONNECTION": "Local Ollama",
            "MODELWIRE_AGENT_CONNECTIONS": json.dumps({"review": "Work OpenAI"}),
        }
        done = modelwire(home, "run", "improve", "main.py", env=env, cwd=ws)
        assert len(work.requests_to("/v1/chat/completions")) == 1

    assert done.returncode == 0, done.stderr
    assert done.stdout == REPLY + "\n"  # the answer only: the child's text is not mixed in
    assert "1. read_file util.py · ok" in done.stderr
    assert "2. run_agent review · ok" in done.stderr
    # The run's tree: the orchestrator's routing, its steps, the child under its step.
    tree = done.stderr[done.stderr.index("] improve main.py") - 9 :]
    lines = tree.splitlines()
    assert "Local Ollama (ollama) llama3.2 · source=settings" in lines[0]
    assert lines[1].startswith("  1. read_file util.py · ok")
    assert lines[2].startswith("  2. run_agent review · ok")
    assert re.match(
        r"^     └ \[..:..:..\] review main.py → Work OpenAI \(openai\) gpt-4o-mini", lines[3]
    )
    assert "source=settings" in lines[3] and "child of" in lines[3]

    table = modelwire(home, "runs").stdout.splitlines()
    assert table[0].split() == [
        "ID", "TIME", "AGENT", "FILE", "ROUTED", "TO", "SOURCE", "FIRST", "TOTAL", "STATUS"
    ]  # fmt: skip
    assert " improve " in table[1] and "└ review" in table[2] and "Work OpenAI" in table[2]

    parent_id = table[1].split()[0]
    show = modelwire(home, "runs", "show", parent_id, "--requests")
    assert show.returncode == 0, show.stderr
    assert "  1. read_file util.py · ok" in show.stdout
    assert "└ [" in show.stdout and "review main.py → Work OpenAI" in show.stdout
    assert show.stdout.count("--- request ") == 3
    assert '"name": "read_file"' in show.stdout and '"role": "tool"' in show.stdout
    as_json = json.loads(modelwire(home, "runs", "show", parent_id, "--json", "--requests").stdout)
    assert [s["tool"] for s in as_json["steps"]] == ["read_file", "run_agent"]
    assert len(as_json["requests"]) == 3
