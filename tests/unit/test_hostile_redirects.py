"""Redirects from a hostile server (issue 15, items 4 and 9): the Location's query string
(where a key or token may be echoed) is never shown, and an invalid Location is a clear
INVALID_BASE_URL at once, not a dropped connection that is retried."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from modelwire.adapters.base import ChatMessage, ChatRequest, Endpoint, Timeouts
from modelwire.adapters.openai import OpenAIAdapter
from modelwire.errors import ErrorCode, ModelWireError

FAST = Timeouts(connect=2.0, first_token=5.0, idle=5.0, total=30.0)
HELLO = ChatRequest("gpt-4o-mini", (ChatMessage("user", "hi"),))


@pytest.fixture
async def redirecting() -> AsyncIterator[tuple[str, list[bytes], list[bytes]]]:
    """A server answering every request with 302 and the Location in `location[0]`."""
    location = [b""]
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            seen.append(head.split(b"\r\n", 1)[0])
            length = next(
                (
                    int(h.split(b":")[1])
                    for h in head.split(b"\r\n")
                    if h.lower().startswith(b"content-length")
                ),
                0,
            )
            if length:
                await reader.readexactly(length)
            writer.write(
                b"HTTP/1.1 302 Found\r\nLocation: " + location[0] + b"\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n"
            )
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/v1", location, seen
    server.close()


async def _fails(adapter: OpenAIAdapter) -> ModelWireError:
    with pytest.raises(ModelWireError) as caught:
        async for _ in adapter.stream_chat(HELLO):
            pass
    return caught.value


async def test_a_redirect_never_shows_the_location_query(
    redirecting: tuple[str, list[bytes], list[bytes]],
) -> None:
    url, location, _ = redirecting
    location[0] = b"https://user:pw@evil.example/login?token=sk-proj-SECRETvalue0123456789&x=1#f"
    adapter = OpenAIAdapter(Endpoint(url, timeouts=FAST), None)
    try:
        for error in (await _fails(adapter), await _list_fails(adapter)):
            assert error.code is ErrorCode.INVALID_BASE_URL
            assert "https://evil.example/login" in error.message
            assert "token" not in error.message and "SECRET" not in error.message
            assert "user" not in error.message and "pw@" not in error.message
    finally:
        await adapter.aclose()


async def _list_fails(adapter: OpenAIAdapter) -> ModelWireError:
    with pytest.raises(ModelWireError) as caught:
        await adapter.list_models()
    return caught.value


@pytest.mark.parametrize("bad", [b"http://[::1", b"http://host:99999999/", b"http://a b/"])
async def test_an_invalid_location_is_a_clear_error_and_not_retried(
    redirecting: tuple[str, list[bytes], list[bytes]], bad: bytes
) -> None:
    url, location, seen = redirecting
    location[0] = bad
    adapter = OpenAIAdapter(Endpoint(url, timeouts=FAST), None)
    try:
        error = await _fails(adapter)
        listed = await _list_fails(adapter)
    finally:
        await adapter.aclose()
    assert error.code is ErrorCode.INVALID_BASE_URL, error.message
    assert listed.code is ErrorCode.INVALID_BASE_URL, listed.message
    assert "redirect" in error.message
    assert len([r for r in seen if r.startswith(b"POST")]) == 1  # no retry
