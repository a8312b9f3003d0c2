"""A faithful stand-in for Ollama's native API (shapes from docs/wire-facts.md).

In a test::

    with OllamaDouble(models=["llama3.2"]) as ollama:
        ollama.behave(delay_first_token=2.0)      # model load: nothing until token 1
        ollama.fail_next(503, OLLAMA_BUSY)         # one-shot canned answer
        adapter = OllamaAdapter(Endpoint(ollama.url))

Standalone (the port is the first stdout line)::

    python -m testkit.doubles.ollama_double --port 0 --models llama3.2,qwen2.5:0.5b
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from testkit.doubles.http_double import (
    Exchange,
    HttpDouble,
    Incoming,
    run_standalone,
    standalone_parser,
)
from testkit.doubles.tool_script import ToolTurn, ollama_tool_lines

OLLAMA_BUSY = {"error": "server busy, please try again.  maximum pending requests exceeded"}
PULL_UNKNOWN_ERROR = "pull model manifest: file does not exist"
NDJSON = "application/x-ndjson"
DEFAULT_LIBRARY = ("llama3.2", "qwen2.5:0.5b", "smollm2:135m", "gemma3:270m", "phi3:mini")


def full_name(name: str) -> str:
    """Ollama's canonical name: a missing tag means `:latest`."""
    return name if ":" in name else f"{name}:latest"


def _go_json(text: str) -> str:
    """JSON as Go's encoder writes it: raw UTF-8, but U+2028/U+2029 escaped."""
    return (
        json.dumps(text, ensure_ascii=False)
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _tag_entry(name: str) -> dict[str, Any]:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return {
        "name": name,
        "model": name,
        "modified_at": "2025-05-01T10:00:00.000000+02:00",
        "size": 1_321_098_329,
        "digest": digest,
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "1.2B",
            "quantization_level": "Q4_K_M",
        },
    }


class OllamaDouble(HttpDouble):
    """Ollama 0.12-style server: /, /api/version, /api/tags, /api/show, /api/ps,
    /api/chat (NDJSON), /api/pull (progress lines)."""

    name = "ollama"
    default_headers_first = False  # Ollama writes nothing until the first token

    def __init__(
        self,
        models: Iterable[str] = ("llama3.2",),
        *,
        library: Iterable[str] = DEFAULT_LIBRARY,
        legacy_not_found: bool = False,
        no_tools: Iterable[str] = (),
        version: str = "0.12.3",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.models = [full_name(m) for m in models]
        self.library = {full_name(m) for m in library}
        self.legacy_not_found = legacy_not_found
        # Models without the tools capability (gemma3, older phi): 400 before streaming.
        self.no_tools = {full_name(m) for m in no_tools}
        self.version = version
        self.chats_in_flight = 0
        self.peak_chats_in_flight = 0

    def not_found_error(self, model: str) -> dict[str, str]:
        if self.legacy_not_found:  # Ollama before 0.12
            return {"error": f'model "{model}" not found, try pulling it first'}
        return {"error": f"model '{model}' not found"}

    async def handle(self, incoming: Incoming, exchange: Exchange) -> None:
        route = (incoming.method, incoming.path)
        if incoming.path == "/" and incoming.method in ("GET", "HEAD"):
            await exchange.send(200, "Ollama is running")
        elif route == ("GET", "/api/version"):
            await exchange.send(200, {"version": self.version})
        elif route == ("GET", "/api/tags"):
            await exchange.send(200, {"models": [_tag_entry(m) for m in self.models]})
        elif route == ("GET", "/api/ps"):
            await exchange.send(200, {"models": []})
        elif route == ("POST", "/api/show"):
            await self._show(incoming, exchange)
        elif route == ("POST", "/api/chat"):
            # Generations in flight at once: what a concurrency limit must bound.
            self.chats_in_flight += 1
            self.peak_chats_in_flight = max(self.peak_chats_in_flight, self.chats_in_flight)
            try:
                await self._chat(incoming, exchange)
            finally:
                self.chats_in_flight -= 1
        elif route == ("POST", "/api/pull"):
            await self._pull(incoming, exchange)
        else:
            await exchange.send(404, "404 page not found")

    def _model_of(self, doc: Any) -> str | None:
        if isinstance(doc, dict):
            model = doc.get("model") or doc.get("name")
            return str(model) if model else None
        return None

    async def _show(self, incoming: Incoming, exchange: Exchange) -> None:
        model = self._model_of(incoming.json())
        if model is None or full_name(model) not in self.models:
            await exchange.send(404, {"error": f"model '{model}' not found"})
            return
        await exchange.send(
            200,
            {
                "details": _tag_entry(full_name(model))["details"],
                "model_info": {"llama.context_length": 131072},
            },
        )

    async def _chat(self, incoming: Incoming, exchange: Exchange) -> None:
        if not incoming.body:
            await exchange.send(400, {"error": "missing request body"})
            return
        doc = incoming.json()
        model = self._model_of(doc)
        if model is None:
            await exchange.send(400, {"error": "model is required"})
            return
        if full_name(model) not in self.models:
            await exchange.send(404, self.not_found_error(model))
            return
        if doc.get("tools"):
            if full_name(model) in self.no_tools:
                tag = full_name(model)
                error = f"registry.ollama.ai/library/{tag} does not support tools"
                await exchange.send(400, {"error": error})
                return
            turn = self.tool_script.take()
            if turn is not None:
                await self._tool_turn(model, turn, exchange)
                return
        b = self.behaviour
        tokens = b.tokens()
        limit = (doc.get("options") or {}).get("num_predict")
        done_reason = "stop"
        if isinstance(limit, int) and 0 <= limit < len(tokens):
            tokens, done_reason = tokens[:limit], "length"
        streaming = doc.get("stream", True) is not False
        started = time.perf_counter_ns()

        if not streaming:
            if not await exchange.pause(b.delay_first_token):
                return
            await exchange.send(
                200, self._final(model, "".join(tokens), done_reason, len(tokens), started)
            )
            return

        if self.headers_first and not await exchange.start_stream(200, NDJSON, {}):
            return
        if not await exchange.pause(b.delay_first_token):
            return
        if not self.headers_first and not await exchange.start_stream(200, NDJSON, {}):
            return
        created = _now()
        prefix = f'{{"model":{json.dumps(model)},"created_at":"{created}","message":'
        fast = b.fast_chunks is not None
        for index, token in enumerate(tokens):
            if b.stall_after is not None and index >= b.stall_after:
                await exchange.flush_chunks()
                await exchange.hold()
                return
            if b.error_after is not None and index >= b.error_after:
                await exchange.chunk(json.dumps({"error": b.error_message}).encode() + b"\n")
                await exchange.end_stream()
                return
            if b.drop_after is not None and index >= b.drop_after:
                await exchange.flush_chunks()
                exchange.drop()
                return
            line = (
                prefix + '{"role":"assistant","content":' + json.dumps(token) + '},"done":false}\n'
            )
            exchange.queue_chunk(line.encode())
            if fast:
                if exchange.pending_count >= 256 and not await exchange.flush_chunks():
                    return
                continue
            if not await exchange.flush_chunks():
                return
            if b.chunk_delay and not await exchange.pause(b.chunk_delay):
                return
        if b.omit_done:
            await exchange.end_stream()
            return
        final = self._final(model, "", done_reason, len(tokens), started)
        exchange.queue_chunk(json.dumps(final).encode() + b"\n")
        await exchange.end_stream()

    async def _tool_turn(self, model: str, turn: ToolTurn, exchange: Exchange) -> None:
        b = self.behaviour
        if not await exchange.pause(b.delay_first_token):
            return
        if not await exchange.start_stream(200, NDJSON, {}):
            return
        prefix = f'{{"model":{json.dumps(model)},"created_at":"{_now()}","message":'
        final = self._final(model, "", "stop", len(turn.calls) + 1, time.perf_counter_ns())
        for line in ollama_tool_lines(turn, prefix, final):
            if not await exchange.chunk(line):
                return
            if b.chunk_delay and not await exchange.pause(b.chunk_delay):
                return
        await exchange.end_stream()

    def _final(
        self, model: str, content: str, done_reason: str, count: int, started: int
    ) -> dict[str, Any]:
        total = time.perf_counter_ns() - started
        return {
            "model": model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": content},
            "done_reason": done_reason,
            "done": True,
            "total_duration": total,
            "load_duration": 1_000_000,
            "prompt_eval_count": 26,
            "prompt_eval_duration": 2_000_000,
            "eval_count": count,
            "eval_duration": max(total - 3_000_000, 1),
        }

    async def _pull(self, incoming: Incoming, exchange: Exchange) -> None:
        model = self._model_of(incoming.json())
        if model is None:
            await exchange.send(400, {"error": "model is required"})
            return
        if not await exchange.start_stream(200, NDJSON, {}):
            return

        async def line(doc: dict[str, Any]) -> bool:
            ok = await exchange.chunk(json.dumps(doc).encode() + b"\n")
            return ok and await exchange.pause(self.behaviour.chunk_delay)

        if not await line({"status": "pulling manifest"}):
            return
        name = full_name(model)
        if name not in self.library:
            await line({"error": PULL_UNKNOWN_ERROR})
            await exchange.end_stream()
            return
        digest = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
        total = 4_000_000
        for completed in (0, 1_000_000, 2_500_000, total):
            status = f"pulling {digest[7:19]}"
            doc = {"status": status, "digest": digest, "total": total, "completed": completed}
            if not await line(doc):
                return
        for status in ("verifying sha256 digest", "writing manifest", "success"):
            if not await line({"status": status}):
                return
        if name not in self.models:
            self.models.append(name)
        await exchange.end_stream()


def main(argv: list[str] | None = None) -> None:
    parser = standalone_parser("python -m testkit.doubles.ollama_double")
    parser.add_argument("--legacy-not-found", action="store_true")
    args = parser.parse_args(argv)
    models = (args.models or "llama3.2").split(",")
    double = OllamaDouble(
        [m.strip() for m in models if m.strip()], legacy_not_found=args.legacy_not_found
    )
    run_standalone(double, args)


if __name__ == "__main__":
    main(sys.argv[1:])
