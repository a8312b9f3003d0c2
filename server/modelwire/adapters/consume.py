"""The loop every adapter runs over a streamed answer: decode lines, stop at the end."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import TypeVar

from modelwire.adapters.base import Loading, Retrying
from modelwire.adapters.transport import drain
from modelwire.errors import ModelWireError

T = TypeVar("T")

# `decode(line, out)` appends what one line means to `out`; True when it ended the answer.
LineDecoder = Callable[[str, list[T]], bool]


async def decode_stream(
    lines: AsyncGenerator[list[str] | Loading | Retrying, None],
    decode: LineDecoder[T],
) -> AsyncGenerator[list[T] | Loading | Retrying, None]:
    """What `decode` makes of the lines of `lines` (from `stream_lines`), one list per
    network read; `Loading` and `Retrying` pass through.

    After the line that ends the answer, the rest of the body is drained so the
    connection goes back to the pool, and the stream ends; if the body ends first, the
    stream just ends (the adapter knows whether it saw its end line). Items decoded
    before a line that raises still reach the consumer, then the error. Closing this
    generator closes the response.
    """
    async with aclosing(lines) as batches:
        async for batch in batches:
            if isinstance(batch, Loading | Retrying):
                yield batch
                continue
            items: list[T] = []
            ended = False
            try:
                for line in batch:
                    if decode(line, items):
                        ended = True
                        break
            except ModelWireError:
                if items:
                    yield items
                raise
            if items:
                yield items
            if ended:
                await drain(batches)
                return


async def decoded_items(
    lines: AsyncGenerator[list[str] | Loading | Retrying, None],
    decode: LineDecoder[T],
) -> AsyncGenerator[T | Loading | Retrying, None]:
    """`decode_stream` one item at a time, as a chat stream hands them to its caller."""
    async with aclosing(decode_stream(lines, decode)) as stream:
        async for items in stream:
            if isinstance(items, Loading | Retrying):
                yield items
            else:
                for item in items:
                    yield item
