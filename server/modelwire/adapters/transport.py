"""HTTP plumbing shared by the provider adapters.

One long-lived `httpx.AsyncClient` per connection, the layered timeouts (connect /
first token / idle gap / total, docs/settings.md), the single retry before the first
byte, and a line stream that closes its HTTP response promptly when the consumer stops
reading. Error texts live in `failures`, line framing in `framing`, the read deadlines
in `watchdog`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import httpx

from modelwire.adapters.base import Loading, Retrying, Timeouts
from modelwire.adapters.failures import (
    FailureTexts,
    StatusVerdict,
    dropped_error,
    invalid_redirect_error,
    is_bad_location,
    redirect_error,
    timeout_error,
)
from modelwire.adapters.framing import MAX_ERROR_BODY, line_batches, parse_json_body, read_limited
from modelwire.adapters.watchdog import ReadCounter, ReadWatchdog
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
# After the final line (done / [DONE]) the chunked terminator normally arrives in the
# same packet; reading it returns the connection to the pool instead of closing it.
DRAIN_BOUND_S = 0.25


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


# --- opening a stream: first line, loading, the one retry -----------------------------


@dataclass(slots=True)
class _Opened:
    response: httpx.Response
    batches: AsyncGenerator[list[str], None] | None
    first: list[str] | None
    error_body: bytes | None
    reads: ReadCounter | None = None


async def _open(client: httpx.AsyncClient, request: httpx.Request) -> _Opened:
    """Send, check the status, and wait for the first non-empty line of the body."""
    response = await client.send(request, stream=True)
    try:
        if response.status_code >= 300:
            body = await read_limited(response)
            await response.aclose()
            return _Opened(response, None, None, body)
        reads = ReadCounter()
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


async def _settle(
    opener: asyncio.Task[_Opened], texts: FailureTexts, timeouts: Timeouts
) -> _Opened | StatusVerdict:
    """What a finished opening attempt came to: an open stream, or a failure."""
    try:
        opened = opener.result()
    except httpx.ConnectTimeout:
        error = timeout_error(texts.label, "connect", timeouts.connect)
        return StatusVerdict(error, may_retry=True)
    except httpx.TimeoutException:
        error = timeout_error(texts.label, "firstToken", timeouts.first_token)
        return StatusVerdict(error, may_retry=True)
    except httpx.ConnectError as exc:
        return StatusVerdict(texts.unreachable(exc), may_retry=True)
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        if isinstance(exc, httpx.RemoteProtocolError) and is_bad_location(exc):
            raise invalid_redirect_error(texts.label) from None
        # Closed before any body byte: often a keep-alive connection the server had
        # just dropped, so a retry on a fresh connection is the right move.
        return StatusVerdict(dropped_error(texts.label, exc), may_retry=True)
    except httpx.TransportError as exc:
        return StatusVerdict(texts.unreachable(exc), may_retry=False)
    if opened.error_body is None:
        return opened
    if opened.response.status_code < 400:
        raise redirect_error(texts.label, opened.response)
    return await texts.for_status(opened.response, opened.error_body)


def _no_first_line(
    texts: FailureTexts, timeouts: Timeouts, attempt_start: float, total_deadline: float
) -> StatusVerdict:
    """The attempt's first-line deadline passed: first-token (retryable) or total."""
    if attempt_start + timeouts.first_token <= total_deadline:
        error = timeout_error(texts.label, "firstToken", timeouts.first_token)
        return StatusVerdict(error, may_retry=True)
    return StatusVerdict(timeout_error(texts.label, "total", timeouts.total), may_retry=False)


def _retry_delay(verdict: StatusVerdict, *, allowed: bool, now: float, deadline: float) -> float:
    """Seconds to wait before the one retry; raises the failure when there is none."""
    if not (allowed and verdict.may_retry):
        raise verdict.error
    delay = DEFAULT_RETRY_DELAY_S if verdict.retry_after_s is None else verdict.retry_after_s
    if delay > RETRY_AFTER_CAP_S or now + delay >= deadline:
        raise verdict.error
    return delay


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
    total_deadline = loop.time() + timeouts.total if total else float("inf")
    attempt = 0
    while True:
        attempt += 1
        request = await make_request()
        attempt_start = loop.time()
        first_deadline = min(attempt_start + timeouts.first_token, total_deadline)
        opener = asyncio.ensure_future(_open(client, request))
        try:
            done = await _wait_done(opener, min(LOADING_AFTER_S, first_deadline - loop.time()))
            if not done and loop.time() < first_deadline:
                yield Loading(waited_s=round(loop.time() - attempt_start, 3))
                done = await _wait_done(opener, first_deadline - loop.time())
        except BaseException:
            await _discard(opener)
            raise
        if done:
            outcome = await _settle(opener, texts, timeouts)
        else:
            await _discard(opener)
            outcome = _no_first_line(texts, timeouts, attempt_start, total_deadline)
        if isinstance(outcome, _Opened):
            break
        allowed = retry and attempt == 1
        delay = _retry_delay(outcome, allowed=allowed, now=loop.time(), deadline=total_deadline)
        yield Retrying(reason=outcome.error.code.value, delay_s=delay)
        await asyncio.sleep(delay)

    # aclosing: closing this generator must close the body reader (and the response) now.
    async with aclosing(_read_body(outcome, loop, timeouts, texts, total_deadline)) as body:
        async for batch in body:
            yield batch


async def _read_body(
    opened: _Opened,
    loop: asyncio.AbstractEventLoop,
    timeouts: Timeouts,
    texts: FailureTexts,
    total_deadline: float,
) -> AsyncGenerator[list[str], None]:
    """The opened stream's lines under the idle and total deadlines; closes it at the end."""
    response, batches = opened.response, opened.batches
    watchdog = ReadWatchdog(loop, timeouts.idle, total_deadline, opened.reads)
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
        if is_bad_location(exc):
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
