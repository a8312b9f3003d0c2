"""The editor's chat budget for a peer matches what the sidecar really sends (docs/p2p.md).

A peer takes one stateless prompt of at most 8 KB: the sidecar joins the chat agent's
instructions, the attached text and the user's request. The extension keeps
PEER_OVERHEAD_BYTES (editor-extension/src/chat/conversation.ts) for everything but the
attached text and the conversation; if the instructions grow past it, a chat turn that
the extension thinks fits would fail on PROMPT_TOO_LARGE instead of dropping old turns.
"""

from __future__ import annotations

import re
from pathlib import Path

from modelwire.core.agents.builtin import builtin_agents
from modelwire.core.agents.prompts import build_messages
from modelwire.p2p import wire

CONVERSATION_TS = (
    Path(__file__).resolve().parents[2] / "editor-extension" / "src" / "chat" / "conversation.ts"
)


def ts_constant(name: str) -> int:
    match = re.search(rf"export const {name} = ([\d\s*]+);", CONVERSATION_TS.read_text())
    assert match, f"{name} not found in {CONVERSATION_TS}"
    value = 1
    for factor in match.group(1).split("*"):
        value *= int(factor)
    return value


def test_the_chat_overhead_of_a_peer_prompt_fits_the_extensions_allowance() -> None:
    assert ts_constant("PEER_PROMPT_BYTES") == wire.PROMPT_MAX_BYTES
    allowance = ts_constant("PEER_OVERHEAD_BYTES")
    chat = next(a for a in builtin_agents() if a.id == "chat")
    text, request = "x = 1\n" * 50, "The conversation so far:\n\nQuestion:\nwhy?"
    # A long file name and language: the worst the header carries.
    uri = "file:///w/" + "a" * 120 + ".tsx"
    messages = build_messages(
        chat, text=text, uri=uri, language_id="typescriptreact", selection=(0, 49),
        request=request,
    )  # fmt: skip
    # The peer adapter's join (adapters/peer.py): the messages, blank-line separated.
    prompt = "\n\n".join(m.content for m in messages if m.content)
    overhead = wire.prompt_bytes(prompt) - len(text.encode()) - len(request.encode())
    assert 0 < overhead < allowance, overhead
