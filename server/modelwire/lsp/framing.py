"""Reading LSP base-protocol frames from stdin, robustly.

pygls' reader trusts the peer: `Content-Length: 10**14` makes it allocate that much at
once (MemoryError kills the sidecar), and after one malformed header it never finds
another frame (the next header follows the leftover body on the same line, where its
start-of-line match fails), so every later request hangs. This reader caps the frame
size and resynchronises on the next `Content-Length` header wherever it appears.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from threading import Event
from typing import Any, Protocol

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024 * 1024
LINE_LIMIT = 64 * 1024  # header lines are short; junk is read in pieces, not all at once
_HEADER = re.compile(rb"Content-Length:[ \t]*(\d{1,20})[ \t]*\r?\n\Z", re.IGNORECASE)


class Reader(Protocol):
    def readline(self, limit: int) -> Awaitable[bytes]: ...

    def readexactly(self, n: int) -> Awaitable[bytes]: ...


class Handler(Protocol):
    def structure_message(self, data: dict[str, Any]) -> Any: ...

    def handle_message(self, message: Any) -> None: ...


async def read_frames(
    stop: Event,
    reader: Reader,
    protocol: Handler,
    on_error: Callable[[Exception, Any], None],
) -> None:
    """Dispatch each well-framed message until EOF; never raise on bad input."""
    length: int | None = None
    carry = b""  # end of an unterminated piece, so a header split across reads is found
    while not stop.is_set():
        line = await reader.readline(LINE_LIMIT)
        if not line:
            return
        if line in (b"\r\n", b"\n") and not carry:
            if length is None:
                continue  # a blank line with no header before it: junk
            body = await reader.readexactly(length)
            if len(body) < length:
                return  # EOF in the middle of a body
            length = None
            try:
                message = json.loads(body, object_hook=protocol.structure_message)
                protocol.handle_message(message)
            except Exception as exc:
                on_error(exc, None)
            continue
        text = carry + line
        carry = text[-64:] if not line.endswith(b"\n") else b""
        match = _HEADER.search(text)
        if match is None:
            continue  # Content-Type, or junk between frames
        size = int(match.group(1))
        if size > MAX_FRAME_BYTES:
            log.error("ignoring a %d-byte frame (limit %d)", size, MAX_FRAME_BYTES)
            length = None  # skip it: its body is read as junk until the next header
        else:
            length = size
