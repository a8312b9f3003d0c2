"""startRun's `prompt`: the user's own words for a chat turn or a fix, after the code.

The editor's chat sends each turn (the question with the conversation so far) to the
built-in `chat` agent; "Fix with ModelWire" sends a finding to the `fix` agent. Both need
the prompt; any other agent takes it as a request after the code.
"""

from __future__ import annotations

from pathlib import Path

from testkit.doubles.ollama_double import OllamaDouble

from tests.lsp.session import sidecar
from tests.lsp.test_runs import add_ollama, make_folder

QUESTION = (
    "The conversation so far:\n\nUser: What does add do?\nAssistant: It subtracts."
    "\n\nQuestion:\nIs that a bug?"
)


def last_user_message(double: OllamaDouble) -> str:
    body = double.requests_to("/api/chat")[-1].json
    return str([m for m in body["messages"] if m["role"] == "user"][-1]["content"])


async def test_a_chat_turn_carries_the_question_after_the_attached_code(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    folder, uri = make_folder(tmp_path, "ws")
    async with sidecar(tmp_path / "home", folders=[folder]) as s:
        await add_ollama(s, ollama_double)
        agents = (await s.call("modelwire/listAgents", {}))["agents"]
        chat = next(a for a in agents if a["id"] == "chat")
        assert chat["needsPrompt"] is True
        assert next(a for a in agents if a["id"] == "explain")["needsPrompt"] is False
        record = await s.call(
            "modelwire/startRun",
            {"agentId": "chat", "textDocument": {"uri": uri}, "prompt": QUESTION},
        )
        assert record["status"] == "succeeded"
        sent = last_user_message(ollama_double)
        assert "return a - b" in sent
        assert sent.endswith(f"The user's request:\n{QUESTION}")


async def test_a_question_without_code_is_sent_alone(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    folder = tmp_path / "ws"
    folder.mkdir()
    empty = folder / "scratch.txt"
    empty.write_text("")
    async with sidecar(tmp_path / "home", folders=[folder]) as s:
        await add_ollama(s, ollama_double)
        await s.call(
            "modelwire/startRun",
            {"agentId": "chat", "textDocument": {"uri": empty.as_uri()}, "prompt": "Hi?"},
        )
        assert last_user_message(ollama_double) == "The user's request:\nHi?"


async def test_chat_and_fix_without_a_prompt_are_invalid_params(tmp_path: Path) -> None:
    folder, uri = make_folder(tmp_path, "ws")
    async with sidecar(tmp_path / "home", folders=[folder]) as s:
        for agent in ("chat", "fix"):
            err = await s.error(
                "modelwire/startRun", {"agentId": agent, "textDocument": {"uri": uri}}
            )
            assert err.code == -32602
            assert err.data["code"] == "INVALID_PARAMS"
            assert "needs a prompt" in err.data["message"]
