"""Warming the Embedded model before a new user's first run (docs/performance.md,
"Embedded first token").

On 2 cores a cold first run waits for two things: the model server's start (~1.4 s) and
the reading of the prompt (SmolLM2-135M reads ~300 tokens/s). The warm-up does the first
ahead of time. It also reads the Explain agent's instructions into the server's cache:
llama.cpp's server keeps the tokens of the last prompt and reuses the longest common
prefix, so a first Explain then reads only the file (131 of 631 tokens of Explain on
samples/inventory.py are saved). Explain is the walkthrough's first step and the usual
first run; any other agent shares at least the chat template's opening and loses nothing.

llama-cpp-python's server stops a streaming answer when another request arrives, so the
priming request never runs beside a run: it is skipped when a run of any process is
active or queued on the connection, and it holds a slot of the connection's shared lane
(without queueing) while it is sent. It is best effort: a failure is logged, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from modelwire.adapters.base import ChatMessage, ChatRequest, ProviderAdapter
from modelwire.core.agents import Agent, build_messages
from modelwire.core.shared_lanes import SharedLanes
from modelwire.errors import ErrorCode, ModelWireError

log = logging.getLogger(__name__)

PRIME_AGENT = "explain"
PRIME_TIMEOUT_S = 30.0


def priming_request(agent: Agent, model: str) -> ChatRequest:
    """The agent's own system message (exactly as its runs send it) and an empty question;
    one token out, the cheapest request that leaves the instructions in the cache."""
    system = build_messages(agent, text="", uri="", language_id=None, selection=None)[0]
    return ChatRequest(
        model=model,
        messages=(system, ChatMessage(role="user", content="")),
        max_tokens=1,
        temperature=0.0,
    )


async def prime(
    adapter: ProviderAdapter,
    lanes: SharedLanes,
    connection_id: str,
    limit: int,
    request: ChatRequest,
) -> bool:
    """Send `request` while holding a free slot of the connection; False when a run holds
    or waits for one (it warms the server anyway), or when the request fails."""
    busy = ModelWireError(ErrorCode.MODEL_BUSY, "a run is using the model", "")
    try:
        hold = await lanes.acquire(
            connection_id, f"warm-up-{uuid.uuid4().hex}", limit, 0, lambda _p: None, lambda: busy
        )
    except ModelWireError:
        return False
    try:
        async with asyncio.timeout(PRIME_TIMEOUT_S):
            async with contextlib.aclosing(adapter.stream_chat(request)) as stream:
                async for _item in stream:
                    pass
    except (ModelWireError, TimeoutError) as exc:
        log.info("warm-up: priming the model's cache failed: %s", exc)
        return False
    finally:
        lanes.release(hold)
    return True
