"""The LocalLLM protocol rules, without Node: codec, Server IDs, host and client sessions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelwire.p2p import base58, identity, wire
from modelwire.p2p.client import PeerError, PeerLink
from modelwire.p2p.host import FLOOD_STARTS, MAX_STRIKES, HostInfo, HostSession, PromptError

# --- Server IDs and keys -----------------------------------------------------------


@given(st.binary(min_size=0, max_size=40))
def test_base58_round_trips_any_bytes(data: bytes) -> None:
    assert base58.decode(base58.encode(data)) == data


def test_base58_matches_the_bitcoin_alphabet_vectors() -> None:
    assert base58.encode(b"hello world") == "StV1DL6CwTryKyV"
    assert base58.encode(b"\0\0\x01") == "112"
    with pytest.raises(ValueError):
        base58.decode("0OIl")


def test_a_server_id_is_base58_of_a_32_byte_topic() -> None:
    topic = identity.new_topic()
    sid = identity.server_id(topic)
    assert 43 <= len(sid) <= 44
    assert identity.parse_server_id(f"  {sid}\n") == topic


@pytest.mark.parametrize(
    "text", ["", "abc", "0" * 44, "1" * 44, base58.encode(b"\x01" * 31), "x" * 500]
)
def test_a_wrong_server_id_is_rejected(text: str) -> None:
    assert identity.parse_server_id(text) is None


def test_public_key_matches_ed25519_from_the_same_seed() -> None:
    # cryptography comes with the dev tools (secretstorage needs it): no skip.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519 as crypto

    seed = bytes(range(32))
    ref = (
        crypto.Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    assert identity.public_key(seed) == ref


def test_rfc8032_test_vector_1_public_key() -> None:
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    expected = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert identity.public_key(seed).hex() == expected


# --- the codec -----------------------------------------------------------------------


def test_encode_is_one_ascii_line_in_the_spec_shape() -> None:
    line = wire.encode(wire.CHAT_CHUNK, "r1", text="héllo\n")
    assert "\n" not in line and line.isascii()
    assert json.loads(line) == {
        "type": "chat_chunk",
        "request_id": "r1",
        "payload": {"text": "héllo\n"},
    }


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json", "not JSON"),
        ("[1,2]", "JSON object"),
        ('{"type": 3}', "type must be a string"),
        ('{"type": "launch_missiles"}', "unknown message type"),
        ('{"type": "chat_chunk", "payload": {"text": "x"}}', "not sent in this direction"),
        ('{"type": "chat_start", "payload": {"prompt": 5}}', "payload.prompt must be a string"),
        ('{"type": "chat_start", "payload": []}', "payload must be a JSON object"),
        ('{"type": "chat_start", "request_id": 7, "payload": {"prompt": "x"}}', "request_id"),
        ('{"type": "abort"}', "abort needs the request_id"),
        ("[" * 100_000, "longer than"),
    ],
)
def test_decode_rejects_malformed_messages_with_a_reason(line: str, reason: str) -> None:
    result = wire.decode(line, wire.CLIENT_TYPES)
    assert isinstance(result, wire.BadMessage)
    assert reason in result.reason


def test_decode_keeps_a_request_id_for_the_answer_and_ignores_unknown_fields() -> None:
    ok = wire.decode(
        '{"type":"chat_start","request_id":"q","payload":{"prompt":"hi","x":1},"extra":2}',
        wire.CLIENT_TYPES,
    )
    assert ok == wire.Message("chat_start", "q", {"prompt": "hi"})
    bad = wire.decode('{"type":"chat_start","request_id":"q","payload":{}}', wire.CLIENT_TYPES)
    assert isinstance(bad, wire.BadMessage) and bad.request_id == "q"


def test_deeply_nested_json_is_a_bad_message_not_a_crash() -> None:
    line = '{"type":"chat_start","payload":{"prompt":"x","n":' + "[" * 5000 + "]" * 5000 + "}}"
    assert isinstance(wire.decode(line, wire.CLIENT_TYPES), wire.Message | wire.BadMessage)


# --- the host ------------------------------------------------------------------------


class FakeLink:
    def __init__(self) -> None:
        self.sent: list[tuple[int, dict[str, object]]] = []
        self.ended: list[int] = []

    def send(self, peer_id: int, line: str) -> None:
        self.sent.append((peer_id, json.loads(line)))

    def end(self, peer_id: int) -> None:
        self.ended.append(peer_id)

    def to(self, peer_id: int) -> list[dict[str, object]]:
        return [m for p, m in self.sent if p == peer_id]


class FakeServer:
    def __init__(self, chunks: list[str] | None = None, gate: asyncio.Event | None = None) -> None:
        self.chunks = chunks or ["Hel", "lo"]
        self.gate = gate
        self.owner_busy = False
        self.served: list[tuple[str, str]] = []
        self.closed = 0
        self.fail: PromptError | None = None

    def busy(self) -> bool:
        return self.owner_busy

    async def serve(self, prompt: str, peer_key: str, request_id: str) -> AsyncIterator[str]:
        self.served.append((prompt, peer_key))
        try:
            for chunk in self.chunks:
                if self.gate is not None:
                    await self.gate.wait()
                if self.fail is not None:
                    raise self.fail
                yield chunk
        finally:
            self.closed += 1


def host(server: FakeServer, agent: str | None = None) -> tuple[HostSession, FakeLink, list[str]]:
    link = FakeLink()
    reports: list[str] = []
    session = HostSession(link, server, HostInfo("Ana's laptop", "llama3.2", agent), reports.append)
    return session, link, reports


def start(rid: str, prompt: str = "hi") -> str:
    return wire.encode(wire.CHAT_START, rid, prompt=prompt)


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_host_greets_every_client_with_server_info() -> None:
    session, link, _ = host(FakeServer(), agent="review")
    session.opened(1, "ab" * 32)
    info = link.to(1)[0]
    assert info["type"] == "server_info"
    assert info["payload"] == {
        "host_name": "Ana's laptop",
        "model": "llama3.2",
        "status": "ready",
        "protocol_version": 1,
        "agent": "review",
    }
    assert session.clients == 1


async def test_host_streams_chunks_then_chat_end_with_the_request_id() -> None:
    server = FakeServer()
    session, link, _ = host(server)
    session.opened(1, "ab" * 32)
    session.line(1, start("r1", "explain"))
    await settle()
    got = link.to(1)[1:]
    assert [m["type"] for m in got] == ["chat_chunk", "chat_chunk", "chat_end"]
    assert all(m["request_id"] == "r1" for m in got)
    assert "".join(str(m["payload"]["text"]) for m in got[:2]) == "Hello"  # type: ignore[index]
    assert server.served == [("explain", "ab" * 32)]


async def test_second_prompt_while_generating_is_model_busy_at_once() -> None:
    gate = asyncio.Event()
    session, link, _ = host(FakeServer(gate=gate))
    session.opened(1, "a" * 64)
    session.opened(2, "b" * 64)
    session.line(1, start("r1"))
    await settle()
    session.line(2, start("r2"))
    assert link.to(2)[-1]["payload"]["code"] == "MODEL_BUSY"  # type: ignore[index]
    assert link.to(2)[-1]["request_id"] == "r2"
    gate.set()
    await settle()
    assert link.to(1)[-1]["type"] == "chat_end"


async def test_owner_run_on_the_connection_makes_remote_prompts_busy() -> None:
    server = FakeServer()
    server.owner_busy = True
    session, link, _ = host(server)
    session.opened(1, "a" * 64)
    assert link.to(1)[0]["payload"]["status"] == "busy"  # type: ignore[index]
    session.line(1, start("r1"))
    assert link.to(1)[-1]["payload"]["code"] == "MODEL_BUSY"  # type: ignore[index]
    assert server.served == []


async def test_abort_stops_the_generation_and_says_so() -> None:
    gate = asyncio.Event()
    server = FakeServer(gate=gate)
    session, link, _ = host(server)
    session.opened(1, "a" * 64)
    session.line(1, start("r1"))
    await settle()
    session.line(1, wire.encode(wire.ABORT, "r1"))
    await settle()
    assert link.to(1)[-1]["payload"]["code"] == "GENERATION_ABORTED"  # type: ignore[index]
    assert server.closed == 1
    session.line(1, start("r2"))  # the slot is free again
    assert session.state == "Busy"


async def test_a_prompt_over_8_kb_is_refused_before_serving() -> None:
    server = FakeServer()
    session, link, _ = host(server)
    session.opened(1, "a" * 64)
    session.line(1, start("r1", "é" * 4097))  # 8194 bytes
    assert link.to(1)[-1]["payload"]["code"] == "BAD_MESSAGE"  # type: ignore[index]
    assert "8192" in str(link.to(1)[-1]["payload"]["message"])  # type: ignore[index]
    assert server.served == []


async def test_bad_lines_are_answered_then_the_peer_is_dropped_others_served() -> None:
    server = FakeServer()
    session, link, _ = host(server)
    session.opened(1, "a" * 64)
    session.opened(2, "b" * 64)
    for i in range(MAX_STRIKES):
        session.line(1, "garbage" if i % 3 else '{"type":"unknown"}')
    session.oversize(1)
    answers = [m for m in link.to(1) if m["type"] == "error"]
    assert len(answers) == MAX_STRIKES
    assert all(m["payload"]["code"] == "BAD_MESSAGE" for m in answers)  # type: ignore[index]
    assert link.ended == [1]
    session.line(2, start("r"))
    await settle()
    assert link.to(2)[-1]["type"] == "chat_end"


async def test_a_chat_start_flood_drops_that_client() -> None:
    gate = asyncio.Event()
    session, link, reports = host(FakeServer(gate=gate))
    session.opened(1, "a" * 64)
    for i in range(FLOOD_STARTS + 2):  # one served, then refused ones
        session.line(1, start(f"r{i}"))
    assert link.ended == [1]
    assert any("dropped" in r for r in reports)


async def test_a_client_leaving_aborts_its_generation() -> None:
    gate = asyncio.Event()
    server = FakeServer(gate=gate)
    session, _, _ = host(server)
    session.opened(1, "a" * 64)
    session.line(1, start("r1"))
    await settle()
    session.closed(1)
    await settle()
    assert server.closed == 1 and session.state == "Ready" and session.clients == 0


async def test_generation_errors_reach_the_client_with_their_code() -> None:
    server = FakeServer()
    server.fail = PromptError("OLLAMA_MODEL_NOT_AVAILABLE", "llama3.2 is not installed")
    session, link, _ = host(server)
    session.opened(1, "a" * 64)
    session.line(1, start("r1"))
    await settle()
    assert link.to(1)[-1]["payload"] == {
        "code": "OLLAMA_MODEL_NOT_AVAILABLE",
        "message": "llama3.2 is not installed",
    }


async def test_stopping_the_host_ends_every_client() -> None:
    session, link, _ = host(FakeServer())
    session.opened(1, "a" * 64)
    session.opened(2, "b" * 64)
    await session.aclose()
    assert sorted(link.ended) == [1, 2]


# --- the client ----------------------------------------------------------------------


def info_line(status: str = "ready") -> str:
    return wire.encode(wire.SERVER_INFO, host_name="H", model="m", status=status)


async def test_client_connects_streams_and_ends() -> None:
    sent: list[tuple[int, str]] = []
    link = PeerLink(lambda pid, line: sent.append((pid, line)))
    link.opened(7)
    link.line(7, info_line())
    info = await link.wait_info(1.0)
    assert (info.host_name, info.model, info.status) == ("H", "m", "ready")

    async def host_answers() -> None:
        await settle()
        rid = json.loads(sent[0][1])["request_id"]
        link.line(7, wire.encode(wire.CHAT_CHUNK, rid, text="a"))
        link.line(7, wire.encode(wire.CHAT_CHUNK, "someone-else", text="X"))
        link.line(7, wire.encode(wire.CHAT_CHUNK, rid, text="b"))
        link.line(7, wire.encode(wire.CHAT_END, rid, finish_reason="stop"))

    answering = asyncio.ensure_future(host_answers())
    assert [t async for t in link.chat("hi")] == ["a", "b"]
    await answering
    assert json.loads(sent[0][1])["payload"] == {"prompt": "hi"}


async def test_client_reports_host_offline_when_nobody_answers() -> None:
    link = PeerLink(lambda pid, line: None)
    with pytest.raises(PeerError) as err:
        await link.wait_info(0.05)
    assert err.value.code == "HOST_OFFLINE"


async def test_client_sees_server_full_before_server_info() -> None:
    link = PeerLink(lambda pid, line: None)
    link.opened(1)
    link.line(1, wire.error_line(wire.SERVER_FULL, "5 clients already"))
    with pytest.raises(PeerError) as err:
        await link.wait_info(1.0)
    assert err.value.code == "SERVER_FULL"


async def test_client_refuses_a_prompt_over_8_kb_before_sending() -> None:
    sent: list[str] = []
    link = PeerLink(lambda pid, line: sent.append(line))
    link.opened(1)
    link.line(1, info_line())
    with pytest.raises(PeerError) as err:
        async for _ in link.chat("x" * 8193):
            pass
    assert err.value.code == "PROMPT_TOO_LARGE" and sent == []


async def test_host_gone_mid_stream_is_host_disconnected() -> None:
    link = PeerLink(lambda pid, line: None)
    link.opened(1)
    link.line(1, info_line())
    stream = link.chat("hi")
    first = asyncio.ensure_future(stream.__anext__())
    await settle()
    link.closed(1)
    with pytest.raises(PeerError) as err:
        await first
    assert err.value.code == "HOST_DISCONNECTED"


async def test_silence_is_timeout_no_response_and_sends_abort() -> None:
    sent: list[str] = []
    link = PeerLink(lambda pid, line: sent.append(line), silence=0.05)
    link.opened(1)
    link.line(1, info_line())
    with pytest.raises(PeerError) as err:
        async for _ in link.chat("hi"):
            pass
    assert err.value.code == "TIMEOUT_NO_RESPONSE"
    assert json.loads(sent[-1])["type"] == "abort"


async def test_closing_the_stream_early_sends_abort() -> None:
    sent: list[str] = []
    link = PeerLink(lambda pid, line: sent.append(line))
    link.opened(1)
    link.line(1, info_line())
    stream = link.chat("hi")
    pending = asyncio.ensure_future(stream.__anext__())
    await settle()
    rid = json.loads(sent[0])["request_id"]
    link.line(1, wire.encode(wire.CHAT_CHUNK, rid, text="a"))
    assert await pending == "a"
    await stream.aclose()
    assert json.loads(sent[-1]) == {"type": "abort", "request_id": rid}


async def test_host_errors_are_raised_with_their_code() -> None:
    sent: list[str] = []
    link = PeerLink(lambda pid, line: sent.append(line))
    link.opened(1)
    link.line(1, info_line())
    stream = link.chat("hi")
    pending = asyncio.ensure_future(stream.__anext__())
    await settle()
    rid = json.loads(sent[0])["request_id"]
    link.line(1, wire.error_line(wire.MODEL_BUSY, "busy", rid))
    with pytest.raises(PeerError) as err:
        await pending
    assert err.value.code == "MODEL_BUSY"


# --- what users meet ---------------------------------------------------------------


def test_a_server_id_is_redacted_from_any_text() -> None:
    from modelwire.errors import redact

    sid = identity.server_id(identity.new_topic())
    assert sid not in redact(f"joining {sid} failed")
    assert redact("ab" * 32) == "ab" * 32  # a public key (hex) is not a secret


@pytest.mark.parametrize(
    ("code", "expected", "retryable"),
    [
        ("MODEL_BUSY", "MODEL_BUSY", True),
        ("HOST_DISCONNECTED", "HOST_DISCONNECTED", True),
        ("TIMEOUT_NO_RESPONSE", "TIMEOUT_NO_RESPONSE", True),
        ("SERVER_FULL", "SERVER_FULL", True),
        ("OLLAMA_NOT_FOUND", "ENDPOINT_UNREACHABLE", True),
        ("OLLAMA_MODEL_NOT_AVAILABLE", "MODEL_NOT_FOUND", False),
        ("SOMETHING_NEW", "GENERATION_FAILED", False),
    ],
)
def test_every_protocol_error_becomes_a_modelwire_error_with_a_hint(
    code: str, expected: str, retryable: bool
) -> None:
    from modelwire.adapters.peer import to_modelwire

    err = to_modelwire(PeerError(code, "host says \x1b[31mno\x1b[0m\u202e" + "x" * 1000))
    assert err.code.value == expected and err.retryable is retryable
    assert err.hint
    assert "\x1b" not in err.message and "\u202e" not in err.message
    assert len(err.message) <= 300
