"""One model turn of a run: send the request, stream the answer into the run's events.

A plain run is one turn; an orchestrator run is one turn per loop iteration. Each turn
stores its exact request body for the request inspector, adds its usage to the run's,
and checkpoints the output while it streams.
"""

from __future__ import annotations

import logging
import time
from contextlib import aclosing
from typing import Any

from modelwire.adapters.base import (
    ChatRequest,
    Delta,
    Finish,
    Loading,
    ProviderAdapter,
    Retrying,
)
from modelwire.core.access import access_context
from modelwire.core.backends import BackendPool
from modelwire.core.request_log import RequestLog
from modelwire.core.run_progress import RunProgress
from modelwire.core.run_records import RunRecords
from modelwire.core.secrets import Requester
from modelwire.core.settings import Settings
from modelwire.errors import ModelWireError
from modelwire.protocol import Connection, Routing, RunRecord, RunUsage
from modelwire.run_events import LoadingEvent, RetryEvent

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 1.0


def add_usage(total: RunUsage | None, finish: Finish) -> RunUsage:
    """The run's usage after one more turn (None counts stay None until reported)."""
    before = total or RunUsage()

    def plus(a: int | None, b: int | None) -> int | None:
        return b if a is None else a + (b or 0)

    return RunUsage(
        prompt_tokens=plus(before.prompt_tokens, finish.usage.prompt_tokens),
        completion_tokens=plus(before.completion_tokens, finish.usage.completion_tokens),
    )


def request_summary(request: ChatRequest) -> dict[str, Any]:
    """A provider-neutral body, for adapters that cannot say what they send."""
    return {
        "model": request.model,
        "messages": [
            {"role": m.role, "content": m.content, "toolCalls": [c.name for c in m.tool_calls]}
            for m in request.messages
        ],
        "tools": [t.name for t in request.tools],
        "toolChoice": request.tool_choice,
        "maxTokens": request.max_tokens,
        "temperature": request.temperature,
    }


class TurnRunner:
    """Streams single model turns for the run service."""

    def __init__(self, backends: BackendPool, records: RunRecords, requests: RequestLog) -> None:
        self._backends = backends
        self._records = records
        self._requests = requests

    async def run(
        self,
        conn: Connection,
        routing: Routing,
        settings: Settings,
        requester: Requester,
        record: RunRecord,
        progress: RunProgress,
        request: ChatRequest,
    ) -> tuple[str, Finish]:
        if self._backends.needs_start(conn):
            # The managed model server takes a second or two to come up.
            progress.send(LoadingEvent(waited_ms=0, reason="starting the embedded model"))
        t_start = last_checkpoint = time.perf_counter()
        text: list[str] = []
        finish = Finish("stop")
        logged = False
        async with (
            self._backends.lease(conn, settings) as adapter,
            aclosing(adapter.stream_chat(request)) as stream,
        ):
            try:
                with access_context(record.run_id, requester, "run"):
                    async for item in stream:
                        if not logged:
                            # Stored once the model answers (its think time, not the
                            # sidecar's), or below if it never does.
                            logged = True
                            self._log(record, conn, routing, adapter, request)
                        self._item(item, record, progress, text, t_start)
                        if isinstance(item, Finish):
                            finish = item
                        if isinstance(item, Delta):
                            now = time.perf_counter()
                            if now - last_checkpoint >= CHECKPOINT_SECONDS:
                                last_checkpoint = now
                                self._records.checkpoint(record.run_id, progress.unsaved())
            finally:
                if not logged:
                    self._log(record, conn, routing, adapter, request)
        progress.flush()
        return "".join(text), finish

    @staticmethod
    def _item(
        item: object, record: RunRecord, progress: RunProgress, text: list[str], t_start: float
    ) -> None:
        if isinstance(item, Delta):
            if record.timings.first_token_ms is None:
                record.timings.first_token_ms = round((time.perf_counter() - t_start) * 1000, 2)
            text.append(item.text)
            progress.delta(item.text)
        elif isinstance(item, Finish):
            record.usage = add_usage(record.usage, item)
        elif isinstance(item, Loading):
            progress.send(LoadingEvent(waited_ms=round(item.waited_s * 1000)))
        elif isinstance(item, Retrying):
            progress.send(RetryEvent(reason=item.reason, delay_ms=round(item.delay_s * 1000)))

    def _log(
        self,
        record: RunRecord,
        conn: Connection,
        routing: Routing,
        adapter: ProviderAdapter,
        request: ChatRequest,
    ) -> None:
        """Keep the exact body for the request inspector (bounded; never a key)."""
        chat_body = getattr(adapter, "chat_body", None)
        body = chat_body(request) if callable(chat_body) else request_summary(request)
        try:
            self._requests.add(record.run_id, conn.id, routing.provider_id, body)
        except ModelWireError as exc:  # the inspector is an aid: never fail the run for it
            log.warning("run %s: request not stored: %s", record.run_id, exc.message)
