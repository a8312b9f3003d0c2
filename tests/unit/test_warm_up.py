"""The warm-up's priming request (core/warm_up.py): the Explain instructions exactly as a
run sends them, one token out, and never beside a run of any process on the connection."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from pathlib import Path

import pytest

from modelwire.adapters.base import ChatRequest, Delta, Finish, StreamItem
from modelwire.core import warm_up
from modelwire.core.agents import Agent, AgentCatalog, build_messages
from modelwire.core.app import ModelWire
from modelwire.errors import ErrorCode, ModelWireError

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "inventory.py"


class RecordingAdapter:
    """Just enough of a ProviderAdapter: records chat requests, optionally fails."""

    def __init__(self, fail: bool = False) -> None:
        self.requests: list[ChatRequest] = []
        self.fail = fail

    async def stream_chat(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        self.requests.append(request)
        if self.fail:
            raise ModelWireError(ErrorCode.ENDPOINT_UNREACHABLE, "gone", "")
        yield Delta("x")
        yield Finish(finish_reason="length")


@pytest.fixture
def cores(tmp_path: Path) -> Iterator[list[ModelWire]]:
    made = [ModelWire(tmp_path, load_plugins=False) for _ in range(2)]
    yield made
    for core in made:
        core.processes.close()
        core.store.close()


def test_the_priming_request_starts_exactly_as_an_explain_run_of_a_real_file() -> None:
    agent = _explain()
    request = warm_up.priming_request(agent, "smollm2")
    run = build_messages(
        agent,
        text=SAMPLE.read_text(encoding="utf-8"),
        uri=SAMPLE.as_uri(),
        language_id="python",
        selection=None,
    )
    assert request.messages[0] == run[0], "the cached prefix is the run's own system message"
    assert [m.role for m in request.messages] == ["system", "user"]
    assert request.messages[1].content == ""
    assert request.max_tokens == 1
    assert request.model == "smollm2"


async def test_priming_holds_a_slot_and_gives_it_back(cores: list[ModelWire]) -> None:
    a, b = cores
    adapter = RecordingAdapter()
    request = warm_up.priming_request(_explain(), "m")
    assert await warm_up.prime(adapter, a.runs.lanes, "c1", 1, request) is True
    assert adapter.requests == [request]
    # Released: another process's run takes the slot at once.
    hold = await b.runs.lanes.acquire("c1", "r1", 1, 0, lambda _p: None, _busy)
    b.runs.lanes.release(hold)


async def test_no_priming_while_a_run_of_another_process_holds_the_slot(
    cores: list[ModelWire],
) -> None:
    a, b = cores
    hold = await b.runs.lanes.acquire("c1", "r1", 1, 0, lambda _p: None, _busy)
    adapter = RecordingAdapter()
    try:
        primed = await warm_up.prime(
            adapter, a.runs.lanes, "c1", 1, warm_up.priming_request(_explain(), "m")
        )
    finally:
        b.runs.lanes.release(hold)
    assert primed is False
    assert adapter.requests == [], "nothing was sent: it would have cut the run's stream"


async def test_a_failed_priming_is_quiet_and_frees_the_slot(cores: list[ModelWire]) -> None:
    a, b = cores
    adapter = RecordingAdapter(fail=True)
    request = warm_up.priming_request(_explain(), "m")
    assert await warm_up.prime(adapter, a.runs.lanes, "c1", 1, request) is False
    hold = await b.runs.lanes.acquire("c1", "r1", 1, 0, lambda _p: None, _busy)
    b.runs.lanes.release(hold)


def _busy() -> ModelWireError:
    return ModelWireError(ErrorCode.MODEL_BUSY, "busy", "")


def _explain() -> Agent:
    return AgentCatalog().get(warm_up.PRIME_AGENT, None)
