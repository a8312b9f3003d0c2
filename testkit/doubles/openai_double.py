"""A faithful stand-in for OpenAI Chat Completions and compatible servers
(shapes from docs/wire-facts.md: SSE chunks, the usage chunk, [DONE], error bodies).

In a test::

    with OpenAIDouble(models=["gpt-4o-mini"], api_key="sk-test-…") as server:
        server.fail_next(*rate_limited(retry_after_ms=200))
        adapter = OpenAIAdapter(Endpoint(server.url + "/v1"), secret_provider)

Standalone (the port is the first stdout line)::

    python -m testkit.doubles.openai_double --port 0 --models gpt-4o-mini --api-key sk-…
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Iterable
from typing import Any

from testkit.doubles.http_double import (
    Exchange,
    HttpDouble,
    Incoming,
    run_standalone,
    standalone_parser,
)
from testkit.doubles.tool_script import openai_tool_deltas

SSE = "text/event-stream; charset=utf-8"


def openai_error(message: str, type_: str, code: str | int | None, param: Any = None) -> Any:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def rate_limited(
    *,
    retry_after: float | None = None,
    retry_after_ms: float | None = None,
    code: str = "rate_limit_exceeded",
) -> tuple[int, Any, dict[str, str]]:
    """`fail_next(*rate_limited(...))`: a 429 as OpenAI sends it, headers included."""
    headers = {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "120ms",
        "x-ratelimit-limit-tokens": "200000",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "300ms",
    }
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    if retry_after_ms is not None:
        headers["retry-after-ms"] = f"{retry_after_ms:g}"
    if code == "insufficient_quota":
        body = openai_error(
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        )
    else:
        body = openai_error(
            "Rate limit reached for gpt-4o-mini in organization org-double on requests per "
            "min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms.",
            "requests",
            code,
        )
    return 429, body, headers


# llama.cpp's server while the model loads.
LOADING_MODEL = openai_error("Loading model", "unavailable_error", 503)


class OpenAIDouble(HttpDouble):
    """/v1/models and /v1/chat/completions, with optional bearer-key checking."""

    name = "openai"
    default_headers_first = True  # sse-starlette/uvicorn send headers before token 1

    def __init__(
        self,
        models: Iterable[str] = ("gpt-4o-mini",),
        *,
        api_key: str | None = None,
        echo_full_key: bool = False,
        honour_include_usage: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.models = list(models)
        self.api_key = api_key
        # Some compatible servers echo the whole key in a 401; OpenAI masks the middle.
        self.echo_full_key = echo_full_key
        # llama-cpp-python ignores stream_options.include_usage.
        self.honour_include_usage = honour_include_usage
        # A hostile server (issue 15): echo the bearer key it received in every field it
        # controls — answer text split across chunks and encoded, a model id, the
        # finish_reason — to prove none of them reaches the user unredacted.
        self.echo_key_everywhere = False

    async def handle(self, incoming: Incoming, exchange: Exchange) -> None:
        route = (incoming.method, incoming.path)
        if route not in (("GET", "/v1/models"), ("POST", "/v1/chat/completions")):
            await exchange.send(
                404,
                openai_error(
                    f"Unknown request URL: {incoming.method} {incoming.path}. Please check "
                    "the URL for typos.",
                    "invalid_request_error",
                    "unknown_url",
                ),
            )
            return
        if not await self._authorised(incoming, exchange):
            return
        if route == ("GET", "/v1/models"):
            created = 1_715_367_049
            data = [
                {"id": m, "object": "model", "created": created, "owned_by": "system"}
                for m in self.models
            ]
            if self.echo_key_everywhere:
                key = _bearer(incoming)
                data += [{"id": key, "object": "model", "created": created, "owned_by": key}]
            await exchange.send(200, {"object": "list", "data": data})
            return
        await self._chat(incoming, exchange)

    async def _authorised(self, incoming: Incoming, exchange: Exchange) -> bool:
        if self.api_key is None:
            return True
        auth = incoming.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            await exchange.send(
                401,
                openai_error(
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    "invalid_request_error",
                    None,
                ),
            )
            return False
        key = auth.removeprefix("Bearer ")
        if key == self.api_key:
            return True
        shown = key if self.echo_full_key else key[:7] + "*" * 20 + key[-4:]
        await exchange.send(
            401,
            openai_error(
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            ),
        )
        return False

    async def _chat(self, incoming: Incoming, exchange: Exchange) -> None:
        try:
            doc = incoming.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or "messages" not in doc:
            await exchange.send(
                400,
                openai_error(
                    "'messages' is a required property", "invalid_request_error", None, "messages"
                ),
            )
            return
        model = str(doc.get("model", ""))
        if model not in self.models:
            await exchange.send(
                404,
                openai_error(
                    f"The model `{model}` does not exist or you do not have access to it.",
                    "invalid_request_error",
                    "model_not_found",
                ),
            )
            return
        b = self.behaviour
        tokens = b.tokens()
        echo = _bearer(incoming) if self.echo_key_everywhere else ""
        if echo:
            tokens = ["Your key: "] + [echo[i : i + 5] for i in range(0, len(echo), 5)]
            tokens += [" / ", *key_encodings(echo), " done."]
        limit = doc.get("max_completion_tokens", doc.get("max_tokens"))
        finish_reason = "stop"
        if isinstance(limit, int) and 0 <= limit < len(tokens):
            tokens, finish_reason = tokens[:limit], "length"
        usage = {"prompt_tokens": 19, "completion_tokens": len(tokens)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        chunk_id = f"chatcmpl-double{len(self.requests)}"
        created = int(time.time())

        if not doc.get("stream"):
            if not await exchange.pause(b.delay_first_token):
                return
            await exchange.send(
                200,
                {
                    "id": chunk_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(tokens)},
                            "logprobs": None,
                            "finish_reason": finish_reason,
                        }
                    ],
                    "usage": usage,
                },
            )
            return

        with_usage = self.honour_include_usage and bool(
            (doc.get("stream_options") or {}).get("include_usage")
        )

        def event(choices: list[Any], **more: Any) -> bytes:
            body: dict[str, Any] = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_double",
                "choices": choices,
            }
            if with_usage:
                body["usage"] = None
            body.update(more)
            # Raw UTF-8, as llama.cpp's server writes it (U+2028 included).
            return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"

        def delta(content: str | None, finish: str | None = None, role: bool = False) -> bytes:
            d: dict[str, Any] = {}
            if role:
                d["role"] = "assistant"
            if content is not None:
                d["content"] = content
            choice = {"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}
            return event([choice])

        turn = self.tool_script.take() if doc.get("tools") else None
        if self.headers_first and not await exchange.start_stream(200, SSE, {}):
            return
        if not await exchange.pause(b.delay_first_token):
            return
        if not self.headers_first and not await exchange.start_stream(200, SSE, {}):
            return
        if turn is not None:
            for d in openai_tool_deltas(turn):
                choice = {"index": 0, "delta": d, "logprobs": None, "finish_reason": None}
                if not await exchange.chunk(event([choice])):
                    return
                if b.chunk_delay and not await exchange.pause(b.chunk_delay):
                    return
            reason = "tool_calls" if turn.calls else "stop"
            exchange.queue_chunk(delta(None, reason))
            if with_usage:
                exchange.queue_chunk(event([], usage=usage))
            exchange.queue_chunk(b"data: [DONE]\n\n")
            await exchange.end_stream()
            return
        exchange.queue_chunk(delta("", role=True))
        fast = b.fast_chunks is not None
        fast_frame = delta(tokens[0]) if fast and tokens else b""
        for index, token in enumerate(tokens):
            if b.stall_after is not None and index >= b.stall_after:
                await exchange.flush_chunks()
                await exchange.hold()
                return
            if b.error_after is not None and index >= b.error_after:
                error = openai_error(b.error_message, "server_error", None)
                exchange.queue_chunk(b"data: " + json.dumps(error).encode() + b"\n\n")
                await exchange.end_stream()
                return
            if b.drop_after is not None and index >= b.drop_after:
                await exchange.flush_chunks()
                exchange.drop()
                return
            if fast:
                exchange.queue_chunk(fast_frame)
                if exchange.pending_count >= 256 and not await exchange.flush_chunks():
                    return
                continue
            exchange.queue_chunk(delta(token))
            if not await exchange.flush_chunks():
                return
            if b.chunk_delay and not await exchange.pause(b.chunk_delay):
                return
        exchange.queue_chunk(delta(None, echo or finish_reason))
        if with_usage:
            exchange.queue_chunk(event([], usage=usage))
        if not b.omit_done:
            exchange.queue_chunk(b"data: [DONE]\n\n")
        await exchange.end_stream()


def _bearer(incoming: Incoming) -> str:
    return incoming.headers.get("authorization", "").removeprefix("Bearer ")


def key_encodings(key: str) -> list[str]:
    """How a hostile server may disguise an echo: each form as its own chunk."""
    raw = key.encode()
    return [
        " b64:" + base64.b64encode(raw).decode(),
        " hex:" + raw.hex(),
        " rev:" + key[::-1],
        " url:" + "".join(f"%{b:02X}" for b in raw),
        " zw:" + "\u200d".join(key),
        " mid:" + key[10:24],
    ]


def main(argv: list[str] | None = None) -> None:
    parser = standalone_parser("python -m testkit.doubles.openai_double")
    parser.add_argument("--api-key", default=None, help="require this bearer key")
    args = parser.parse_args(argv)
    models = [m.strip() for m in (args.models or "gpt-4o-mini").split(",") if m.strip()]
    run_standalone(OpenAIDouble(models, api_key=args.api_key), args)


if __name__ == "__main__":
    main(sys.argv[1:])
