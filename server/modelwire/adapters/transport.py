"""HTTP plumbing shared by the provider adapters.

One long-lived `httpx.AsyncClient` per connection, the layered timeouts of docs/providers.md
(connect / first token / idle gap / total), the single retry before the first byte, and
a line stream that closes its HTTP response promptly when the consumer stops reading.
The adapters supply the provider-specific parts through `FailureTexts`: how to word an
unreachable server and how to read an error status.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ipaddress
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import httpx

from modelwire.adapters.base import Loading, Retrying, Timeouts
from modelwire.errors import ErrorCode, ModelWireError

# A model that has not produced a token after this long is most likely loading; the
# run service shows "loading" instead of a bare spinner.
LOADING_AFTER_S = 1.0
# Retry-After values above this are not worth waiting for inside one run: fail with
# RATE_LIMITED at once and let the user decide.
RETRY_AFTER_CAP_S = 30.0
# Wait before the one retry when the server gave no Retry-After (refused connection,
# timeout, 5xx without the header).
DEFAULT_RETRY_DELAY_S = 0.5
# Error bodies are small JSON documents; never buffer a misbehaving server's megabytes.
MAX_ERROR_BODY = 64 * 1024
# The longest line (NDJSON object / SSE field) a stream may send. A server that sends no
# newline at all grew the sidecar to 3.6 GB; a real chunk is a few hundred bytes, and a
# whole answer is capped by modelwire.limits.outputMaxKiB anyway.
MAX_LINE_CHARS = 16 * 1024 * 1024
# After the final line (done / [DONE]) the chunked terminator normally arrives in the
# same packet; reading it returns the connection to the pool instead of closing it.
DRAIN_BOUND_S = 0.25

TimeoutKind = Literal["connect", "firstToken", "idle", "total", "read"]

_TIMEOUT_WORDS: dict[TimeoutKind, str] = {
    "connect": "could not connect",
    "firstToken": "produced no first token",
    "idle": "stopped sending output",
    "total": "did not finish",
    "read": "did not answer",
}
_TIMEOUT_HINTS: dict[TimeoutKind, str] = {
    "connect": "Check that the server is running and reachable, or raise the connect timeout.",
    "firstToken": (
        "The model may still be loading: try again, pick a smaller model, or raise the "
        "first-token timeout."
    ),
    "idle": "The server stalled mid-answer: try again, or raise the idle timeout.",
    "total": "The answer took too long: ask for less output, or raise the total timeout.",
    "read": "The server is slow to answer: try again, or raise the timeout.",
}


def utc_now_iso() -> str:
    """An ISO-8601 UTC timestamp with a `Z`, as the wire contract's `checkedAt`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and literal loopback addresses (no resolution)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def build_client(
    timeouts: Timeouts, *, trust_env: bool, uds: str | None = None
) -> httpx.AsyncClient:
    """The one client of a connection.

    Redirects are never followed (a redirect could move a loopback request elsewhere and
    would carry the Authorization header along). The read timeout is only a backstop:
    the first-token and idle deadlines are enforced by `stream_lines`, because httpx has
    a single read timeout and a model load needs far longer than an idle gap.
    """
    backstop = max(timeouts.first_token, timeouts.idle) + 5.0
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=8)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=timeouts.connect,
            read=backstop,
            write=max(timeouts.connect, 30.0),
            # A pool wait means every connection is busy; surface it rather than queue
            # forever behind a stuck stream.
            pool=max(timeouts.connect, 10.0),
        ),
        follow_redirects=False,
        trust_env=trust_env and uds is None,
        limits=limits,
        # A custom transport owns the pool, so the limits go to it as well.
        transport=httpx.AsyncHTTPTransport(uds=uds, limits=limits) if uds else None,
    )


def short_timeout(timeouts: Timeouts, read: float = 10.0) -> httpx.Timeout:
    """Timeouts for the small JSON requests (version, model lists)."""
    return httpx.Timeout(
        connect=timeouts.connect,
        read=min(read, timeouts.idle),
        write=timeouts.connect,
        pool=max(timeouts.connect, 10.0),
    )


def timeout_error(label: str, kind: TimeoutKind, seconds: float) -> ModelWireError:
    return ModelWireError(
        ErrorCode.TIMEOUT,
        f"{label} {_TIMEOUT_WORDS[kind]} within {seconds:g} s ({kind} timeout).",
        _TIMEOUT_HINTS[kind],
        extra={"timeout": kind},
    )


def dropped_error(label: str, exc: BaseException) -> ModelWireError:
    return ModelWireError(
        ErrorCode.GENERATION_FAILED,
        f"The connection to {label} dropped before the answer was complete ({_exc_text(exc)}).",
        "The server may have crashed or restarted; try again.",
    )


def _shown_location(raw: str) -> str:
    """A redirect target as safe to show: scheme, host and path only. The query string
    (where a hostile server would echo a key or a token) and userinfo never appear."""
    try:
        parts = urlsplit(raw.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an invalid URL"
    shown = f"{parts.scheme}://{host}{port}{parts.path[:100]}" if parts.scheme else parts.path[:100]
    shown = "".join(c for c in shown if c.isprintable() and not c.isspace())
    return shown or "another URL"


def invalid_redirect_error(label: str) -> ModelWireError:
    return ModelWireError(
        ErrorCode.INVALID_BASE_URL,
        f"{label} answered with a redirect to an invalid URL; ModelWire does not follow redirects.",
        "Check the base URL: it should point straight at the server's API, not at a page "
        "that redirects.",
    )


def _is_bad_location(exc: httpx.RemoteProtocolError) -> bool:
    # httpx builds the redirect target even when it will not follow it, and says so.
    return "location header" in str(exc).lower()


def redirect_error(label: str, response: httpx.Response) -> ModelWireError:
    where = (
        _shown_location(response.headers.get("location", ""))
        if ("location" in response.headers)
        else "another URL"
    )
    return ModelWireError(
        ErrorCode.INVALID_BASE_URL,
        f"{label} redirected the request to {where}; ModelWire does not follow redirects.",
        "Use the final address as the base URL (for example https:// instead of http://).",
        extra={"httpStatus": response.status_code},
    )


def _exc_text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI) or `retry-after` (seconds or an
    HTTP date), whichever is present; None when the server gave no usable hint."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        with contextlib.suppress(ValueError):
            return max(0.0, float(raw_ms) / 1000.0)
    raw = headers.get("retry-after")
    if not raw:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(raw))
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(raw)
        return max(0.0, when.timestamp() - time.time())
    return None


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


class FailureTexts(Protocol):
    """What a provider adapter tells the transport about its own failures."""

    @property
    def label(self) -> str:
        """How messages name the server, e.g. "Ollama at http://localhost:11434"."""
        ...

    def unreachable(self, exc: httpx.TransportError) -> ModelWireError: ...

    async def for_status(self, response: httpx.Response, body: bytes) -> StatusVerdict: ...


@dataclass(frozen=True, slots=True)
class StatusVerdict:
    """An error status read by the adapter: the error, and whether one retry may help."""

    error: ModelWireError
    may_retry: bool
    retry_after_s: float | None = None


class _Reads:
    """Counts network reads of a body, for the idle watchdog: bytes arriving mid-line
    are activity too (a counter, not a clock call, keeps a read's cost at one add)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def add(self) -> None:
        self.count += 1


@dataclass(slots=True)
class _Opened:
    response: httpx.Response
    batches: AsyncGenerator[list[str], None] | None
    first: list[str] | None
    error_body: bytes | None
    reads: _Reads | None = None


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


async def _open(client: httpx.AsyncClient, request: httpx.Request) -> _Opened:
    """Send, check the status, and wait for the first non-empty line of the body."""
    response = await client.send(request, stream=True)
    try:
        if response.status_code >= 300:
            body = await read_limited(response)
            await response.aclose()
            return _Opened(response, None, None, body)
        reads = _Reads()
        batches = line_batches(response, reads.add)
        first: list[str] | None = None
        async for batch in batches:
            first = batch
            break
        return _Opened(response, batches, first, None, reads)
    except BaseException:
        await response.aclose()
        raise


async def _discard(task: asyncio.Task[_Opened]) -> None:
    """Cancel an opening attempt and close whatever it managed to open."""
    task.cancel()
    try:
        opened = await task
    except BaseException:  # cancelled or failed: nothing was left open
        return
    await opened.response.aclose()


async def _wait_done(task: asyncio.Task[_Opened], timeout_s: float) -> bool:
    """Wait up to `timeout_s` for `task` without cancelling it; True when it is done.

    A bare future and one timer: `asyncio.wait` allocates more per call, and this sits
    on every request's path to the first token.
    """
    if task.done():
        return True
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    task.add_done_callback(wake)
    timer = loop.call_later(max(0.0, timeout_s), wake)
    try:
        await waiter
    finally:
        timer.cancel()
        task.remove_done_callback(wake)
    return task.done()


RequestFactory = Callable[[], Awaitable[httpx.Request]]


async def stream_lines(
    client: httpx.AsyncClient,
    make_request: RequestFactory,
    *,
    timeouts: Timeouts,
    texts: FailureTexts,
    total: bool = True,
    retry: bool = True,
) -> AsyncGenerator[list[str] | Loading | Retrying, None]:
    """Yield the non-empty lines of a streamed response, in batches (one per read).

    Before the first line it may yield one `Loading` (no output after ~1 s) and one
    `Retrying` (the single retry). `make_request` runs before every attempt, so request
    time checks (the loopback policy) run again for the retry. Raises `ModelWireError`.
    Closing this generator, or cancelling the task that drives it, closes the response.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    total_deadline = started + timeouts.total if total else float("inf")
    attempt = 0
    while True:
        attempt += 1
        request = await make_request()
        attempt_start = loop.time()
        first_deadline = min(attempt_start + timeouts.first_token, total_deadline)
        first_kind: TimeoutKind = (
            "firstToken" if attempt_start + timeouts.first_token <= total_deadline else "total"
        )
        opener = asyncio.ensure_future(_open(client, request))
        failure: ModelWireError
        retry_after: float | None = None
        may_retry = False
        opened: _Opened | None = None
        try:
            done = await _wait_done(opener, min(LOADING_AFTER_S, first_deadline - loop.time()))
            if not done and loop.time() < first_deadline:
                yield Loading(waited_s=round(loop.time() - attempt_start, 3))
                done = await _wait_done(opener, first_deadline - loop.time())
        except BaseException:
            await _discard(opener)
            raise
        if not done:
            await _discard(opener)
            seconds = timeouts.first_token if first_kind == "firstToken" else timeouts.total
            failure = timeout_error(texts.label, first_kind, seconds)
            may_retry = first_kind == "firstToken"
        else:
            try:
                opened = opener.result()
            except httpx.ConnectTimeout:
                failure = timeout_error(texts.label, "connect", timeouts.connect)
                may_retry = True
            except httpx.TimeoutException:
                failure = timeout_error(texts.label, "firstToken", timeouts.first_token)
                may_retry = True
            except httpx.ConnectError as exc:
                failure = texts.unreachable(exc)
                may_retry = True
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                if isinstance(exc, httpx.RemoteProtocolError) and _is_bad_location(exc):
                    raise invalid_redirect_error(texts.label) from None
                # Closed before any body byte: often a keep-alive connection the server had
                # just dropped, so a retry on a fresh connection is the right move.
                failure = dropped_error(texts.label, exc)
                may_retry = True
            except httpx.TransportError as exc:
                failure = texts.unreachable(exc)
                may_retry = False
            else:
                if opened.error_body is not None and opened.response.status_code < 400:
                    raise redirect_error(texts.label, opened.response)
                if opened.error_body is not None:
                    verdict = await texts.for_status(opened.response, opened.error_body)
                    failure = verdict.error
                    may_retry = verdict.may_retry
                    retry_after = verdict.retry_after_s
                    opened = None
        if opened is not None:
            break
        if not (retry and may_retry and attempt == 1):
            raise failure
        delay = DEFAULT_RETRY_DELAY_S if retry_after is None else retry_after
        if delay > RETRY_AFTER_CAP_S or loop.time() + delay >= total_deadline:
            raise failure
        yield Retrying(reason=failure.code.value, delay_s=delay)
        await asyncio.sleep(delay)

    response, batches = opened.response, opened.batches
    watchdog = _Watchdog(loop, timeouts.idle, total_deadline, opened.reads)
    try:
        if batches is None or opened.first is None:
            return  # an empty body: the adapter decides what a missing end means
        yield opened.first
        task = asyncio.current_task()
        watchdog.reading(task)
        try:
            async for batch in batches:
                watchdog.idle_now()
                yield batch
                if loop.time() >= total_deadline:  # passed while the consumer was busy
                    raise timeout_error(texts.label, "total", timeouts.total)
                task = asyncio.current_task()
                watchdog.reading(task)
        except asyncio.CancelledError:
            kind = watchdog.fired
            if kind is None or watchdog.uncancel() > 0:
                raise  # a real cancellation of the run
            seconds = timeouts.idle if kind == "idle" else timeouts.total
            raise timeout_error(texts.label, kind, seconds) from None
        except httpx.TransportError as exc:
            raise dropped_error(texts.label, exc) from None
        finally:
            watchdog.idle_now()
    finally:
        watchdog.close()
        if batches is not None:
            await batches.aclose()
        await response.aclose()


class _Watchdog:
    """Idle and total deadlines for the reads of one stream.

    `asyncio.timeout` per line costs a timer allocation and a heap push for every chunk;
    this keeps one timer that re-arms itself once per deadline period, so a read costs
    two attribute writes. It cancels the task only while that task waits on a read (never
    while the consumer is busy with a yielded line), and reports which deadline fired.
    """

    __slots__ = (
        "_handle",
        "_idle",
        "_loop",
        "_read_started",
        "_reads",
        "_seen_reads",
        "_task",
        "_total",
        "fired",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        idle: float,
        total_deadline: float,
        reads: _Reads | None = None,
    ):
        self._loop = loop
        self._reads = reads
        self._seen_reads = reads.count if reads is not None else 0
        self._idle = idle
        self._total = total_deadline
        self._read_started: float | None = None
        self._task: asyncio.Task[Any] | None = None
        self.fired: TimeoutKind | None = None
        self._handle = loop.call_at(min(loop.time() + idle, total_deadline), self._check)

    def reading(self, task: asyncio.Task[Any] | None) -> None:
        self._task = task
        self._read_started = self._loop.time()

    def idle_now(self) -> None:
        self._read_started = None

    def uncancel(self) -> int:
        return self._task.uncancel() if self._task is not None else 0

    def _check(self) -> None:
        now = self._loop.time()
        if self._read_started is None:
            # The consumer is busy with a line; look again one idle period from now.
            self._handle = self._loop.call_at(min(now + self._idle, self._total), self._check)
            return
        if self._reads is not None and self._reads.count != self._seen_reads:
            # Bytes came in since the last look (a long line still arriving): not idle.
            self._seen_reads = self._reads.count
            self._read_started = now
        idle_deadline = self._read_started + self._idle
        deadline = min(idle_deadline, self._total)
        if now < deadline:
            self._handle = self._loop.call_at(deadline, self._check)
            return
        self.fired = "idle" if idle_deadline <= self._total else "total"
        if self._task is not None:
            self._task.cancel()

    def close(self) -> None:
        self._handle.cancel()


async def drain(stream: AsyncIterator[object], bound_s: float = DRAIN_BOUND_S) -> None:
    """Read what is left of a finished answer so its connection can be reused."""
    with contextlib.suppress(Exception):  # the answer is already complete
        async with asyncio.timeout(bound_s):
            async for _ in stream:
                pass


async def fetch_json(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    texts: FailureTexts,
    timeouts: Timeouts,
) -> Any:
    """Send a small request and return its JSON body, mapping failures to errors."""
    try:
        response = await client.send(request, stream=True)
    except httpx.ConnectTimeout:
        raise timeout_error(texts.label, "connect", timeouts.connect) from None
    except httpx.TimeoutException:
        raise timeout_error(texts.label, "read", min(10.0, timeouts.idle)) from None
    except httpx.ConnectError as exc:
        raise texts.unreachable(exc) from None
    except httpx.RemoteProtocolError as exc:
        if _is_bad_location(exc):
            raise invalid_redirect_error(texts.label) from None
        raise dropped_error(texts.label, exc) from None
    except httpx.TransportError as exc:
        raise dropped_error(texts.label, exc) from None
    try:
        try:
            body = await read_limited(response, limit=16 * 1024 * 1024)
        except httpx.TimeoutException:
            raise timeout_error(texts.label, "read", min(10.0, timeouts.idle)) from None
        except httpx.TransportError as exc:
            raise dropped_error(texts.label, exc) from None
        if 300 <= response.status_code < 400:
            raise redirect_error(texts.label, response)
        if response.status_code >= 400:
            raise (await texts.for_status(response, body[:MAX_ERROR_BODY])).error
        data = parse_json_body(body)
        if data is None:
            raise ModelWireError(
                ErrorCode.GENERATION_FAILED,
                f"{texts.label} answered {request.url.path} with something that is not JSON.",
                "Check that the base URL points at the right server.",
            )
        return data
    finally:
        await response.aclose()
