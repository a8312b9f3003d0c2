"""The consent gate: one prompt per (workspace, connection) however many requests wait,
"Always" honoured by those waiting, and no prompt at all for non-interactive requests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from modelwire.core.app import ModelWire
from modelwire.core.secrets import Decision, Requester
from modelwire.errors import ErrorCode, ModelWireError
from modelwire.protocol import Connection, CreateConnectionParams

WS = Requester(client="unit-test", workspace="file:///ws")
OTHER_WS = Requester(client="unit-test", workspace="file:///other")


class Prompt:
    """A consent prompt the test answers when it likes."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.answer: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self.shown = asyncio.Event()

    async def __call__(self, requester: Requester, connection_id: str, name: str) -> Decision:
        self.asked.append(requester.workspace)
        self.shown.set()
        return await asyncio.shield(self.answer)  # a cancelled asker leaves it be


@pytest.fixture
def core(tmp_path: Path) -> ModelWire:
    return ModelWire(tmp_path, load_plugins=False)


def keyed(core: ModelWire) -> Connection:
    conn = core.connections.create(
        CreateConnectionParams(name="Keyed", provider_id="openai", base_url="http://127.0.0.1:9/v1")
    )
    # Only the flag matters to the gate; no keyring is touched here.
    return core.connections._mark_secret(conn, True)


async def test_a_hundred_concurrent_requests_raise_one_prompt_and_always_covers_them(
    core: ModelWire,
) -> None:
    conn, prompt = keyed(core), Prompt()
    gate = core.runs.consent_gate
    waiting = [asyncio.ensure_future(gate.require(conn, WS, prompt, None)) for _ in range(100)]
    await asyncio.wait_for(prompt.shown.wait(), 5)

    prompt.answer.set_result("always")
    await asyncio.wait_for(asyncio.gather(*waiting), 5)

    assert prompt.asked == [WS.workspace]
    assert core.secrets.remembered(WS.workspace, conn.id) == "always"
    await gate.require(conn, WS, prompt, None)  # later requests: no prompt either
    assert len(prompt.asked) == 1


async def test_a_deny_is_shared_by_the_requests_that_waited_for_it(core: ModelWire) -> None:
    conn, prompt = keyed(core), Prompt()
    gate = core.runs.consent_gate
    waiting = [
        asyncio.ensure_future(gate.require(conn, WS, prompt, None, use="testConnection"))
        for _ in range(5)
    ]
    await asyncio.wait_for(prompt.shown.wait(), 5)
    prompt.answer.set_result("deny")
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)

    assert all(isinstance(o, ModelWireError) for o in outcomes)
    assert {o.code for o in outcomes if isinstance(o, ModelWireError)} == {ErrorCode.CONSENT_DENIED}
    denials = [e for e in core.secrets.audit_entries() if e["decision"] == "deny"]
    assert len(denials) == 5 and {e["use"] for e in denials} == {"testConnection"}
    assert prompt.asked == [WS.workspace]


async def test_another_workspace_is_asked_separately(core: ModelWire) -> None:
    conn, prompt = keyed(core), Prompt()
    prompt.answer.set_result("always")
    await core.runs.consent_gate.require(conn, WS, prompt, None)
    await core.runs.consent_gate.require(conn, OTHER_WS, prompt, None)
    assert prompt.asked == [WS.workspace, OTHER_WS.workspace]


async def test_a_non_interactive_request_never_prompts(core: ModelWire) -> None:
    conn, prompt = keyed(core), Prompt()
    with pytest.raises(ModelWireError) as caught:
        await core.runs.consent_gate.require(conn, WS, prompt, None, interactive=False)
    assert caught.value.code is ErrorCode.CONSENT_REQUIRED
    assert prompt.asked == []

    core.secrets.remember(WS.workspace, conn.id, "always")
    await core.runs.consent_gate.require(conn, WS, prompt, None, interactive=False)


async def test_when_the_asking_request_is_cancelled_a_waiting_one_asks_again(
    core: ModelWire,
) -> None:
    conn, prompt = keyed(core), Prompt()
    gate = core.runs.consent_gate
    asking = asyncio.ensure_future(gate.require(conn, WS, prompt, None))
    await asyncio.wait_for(prompt.shown.wait(), 5)
    waiting = asyncio.ensure_future(gate.require(conn, WS, prompt, None))
    await asyncio.sleep(0)
    prompt.shown.clear()
    asking.cancel()
    await asyncio.wait_for(prompt.shown.wait(), 5)  # asked again, for the waiting one
    prompt.answer.set_result("once")
    await asyncio.wait_for(waiting, 5)
    assert len(prompt.asked) == 2
