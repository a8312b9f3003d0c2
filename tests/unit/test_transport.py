"""Line framing shared by both adapters: every split of a body gives the same lines."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import httpx
from hypothesis import given
from hypothesis import strategies as st

from modelwire.adapters.framing import line_batches


class Chunks(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


async def lines_of(chunks: list[bytes]) -> list[str]:
    response = httpx.Response(200, stream=Chunks(chunks))
    return [line async for batch in line_batches(response) for line in batch]


# Raw U+2028/U+0085 inside JSON strings are not line ends (httpx's aiter_lines splits
# there); CRLF and blank SSE separators are handled.
LINE = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
    min_size=1,
).filter(lambda s: s.strip("\r") != "")


@given(
    lines=st.lists(LINE, min_size=1, max_size=8),
    crlf=st.booleans(),
    blank=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
async def test_any_chunking_of_a_body_gives_the_same_lines(
    lines: list[str], crlf: bool, blank: bool, cuts: list[int]
) -> None:
    end = "\r\n" if crlf else "\n"
    body = "".join(line + end + (end if blank else "") for line in lines).encode()
    points = sorted({min(c, len(body)) for c in cuts} | {0, len(body)})
    chunks = [body[a:b] for a, b in itertools.pairwise(points) if b > a]
    assert await lines_of(chunks) == lines


async def test_unicode_line_separators_stay_inside_their_line() -> None:
    body = '{"content": "one\u2028two\x85three"}\n'.encode()
    assert await lines_of([body]) == ['{"content": "one\u2028two\x85three"}']


async def test_a_last_line_without_newline_is_kept() -> None:
    assert await lines_of([b"data: [DO", b"NE]"]) == ["data: [DONE]"]
