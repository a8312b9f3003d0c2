"""Line framing of streamed bodies (NDJSON and SSE) and bounded reads of small ones."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable
from typing import Any

import httpx

from modelwire.errors import ErrorCode, ModelWireError

# Error bodies are small JSON documents; never buffer a misbehaving server's megabytes.
MAX_ERROR_BODY = 64 * 1024
# The longest line (NDJSON object / SSE field) a stream may send. A server that sends no
# newline at all grew the sidecar to 3.6 GB; a real chunk is a few hundred bytes, and a
# whole answer is capped by modelwire.limits.outputMaxKiB anyway.
MAX_LINE_CHARS = 16 * 1024 * 1024


def line_too_long(limit: int) -> ModelWireError:
    return ModelWireError(
        ErrorCode.OUTPUT_TOO_LARGE,
        f"The server sent more than {limit // (1024 * 1024)} MiB without a newline, so it "
        "is not streaming lines; the answer was stopped.",
        "Check that the base URL points at the right kind of server (Ollama or OpenAI-compatible).",
    )


async def line_batches(
    response: httpx.Response, on_read: Callable[[], None] | None = None
) -> AsyncGenerator[list[str], None]:
    """The non-empty lines of a body, one batch per network read.

    Not `aiter_lines()`: httpx splits on every `str.splitlines` boundary, so a raw
    U+2028 or U+0085 inside a JSON string (llama.cpp emits raw UTF-8) would cut an NDJSON
    or SSE line in two. Both formats end lines with `\n` (optionally `\r\n`). Batching
    also makes the per-line cost of a fast stream one generator step per read, not per
    line.
    """
    partial: list[str] = []
    partial_size = 0
    limit = MAX_LINE_CHARS
    async for text in response.aiter_text():
        if on_read is not None:
            on_read()  # bytes arrived: the stream is not idle, even mid-line
        if "\n" not in text:
            partial.append(text)
            partial_size += len(text)
            if partial_size > limit:
                raise line_too_long(limit)
            continue
        if partial:
            partial.append(text)
            text = "".join(partial)
            partial.clear()
            partial_size = 0
        *complete, rest = text.split("\n")
        if rest:
            partial.append(rest)
            partial_size = len(rest)
            if partial_size > limit:
                raise line_too_long(limit)
        batch = [line.removesuffix("\r") for line in complete if line and line != "\r"]
        if batch:
            yield batch
    tail = "".join(partial).removesuffix("\r")
    if tail:
        yield [tail]


async def read_limited(response: httpx.Response, limit: int = MAX_ERROR_BODY) -> bytes:
    """Read at most `limit` bytes of a (streamed) response body."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def parse_json_body(body: bytes) -> Any:
    """The JSON document in an error body, or None when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def json_object(text: str) -> dict[str, Any] | None:
    """One streamed line (NDJSON or an SSE payload) as a JSON object, or None.

    Callers raise their own error on None; building it only then keeps this off the
    per-chunk cost (an error's constructor runs the redaction regexes)."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
