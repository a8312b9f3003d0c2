"""The provider doubles themselves: standalone processes, run-time scripting over
`/__control`, fast emission for benchmarks, and disconnect observation."""

from __future__ import annotations

import json

import httpx
from testkit.doubles.http_double import StandaloneDouble
from testkit.doubles.ollama_double import OllamaDouble
from testkit.doubles.openai_double import OpenAIDouble


def ndjson(response: httpx.Response) -> list[dict[str, object]]:
    return [json.loads(line) for line in response.text.splitlines() if line]


def test_standalone_ollama_double_prints_its_port_and_serves_the_models() -> None:
    with StandaloneDouble("ollama_double", "--models", "llama3.2,qwen2.5:0.5b") as process:
        tags = httpx.get(f"{process.url}/api/tags", trust_env=False).json()
        assert [m["name"] for m in tags["models"]] == ["llama3.2:latest", "qwen2.5:0.5b"]


def test_standalone_double_is_scripted_by_flags_and_the_control_endpoint() -> None:
    args = ("--models", "llama3.2", "--reply", "one two three")
    with StandaloneDouble("ollama_double", *args) as process:
        body = {"model": "llama3.2", "messages": []}
        lines = ndjson(httpx.post(f"{process.url}/api/chat", json=body, trust_env=False))
        assert "".join(str(line["message"]["content"]) for line in lines) == "one two three"  # type: ignore[index]

        process.control(behave={"reply": "changed at run time", "omitDone": True})
        lines = ndjson(httpx.post(f"{process.url}/api/chat", json=body, trust_env=False))
        assert not any(line["done"] for line in lines)

        process.control(failNext=[{"status": 503, "body": {"error": "busy"}}])
        assert httpx.post(f"{process.url}/api/chat", json=body, trust_env=False).status_code == 503
        recorded = process.recorded()
        assert [r["status"] for r in recorded] == [200, 200, 503]


def test_standalone_openai_double_requires_its_key() -> None:
    with StandaloneDouble("openai_double", "--api-key", "sk-standalone-0123456789") as process:
        url = f"{process.url}/v1/models"
        assert httpx.get(url, trust_env=False).status_code == 401
        ok = httpx.get(url, headers={"Authorization": "Bearer sk-standalone-0123456789"})
        assert ok.json()["data"][0]["id"] == "gpt-4o-mini"


def test_fast_mode_emits_the_requested_number_of_chunks() -> None:
    with OpenAIDouble(["m"]) as server:
        server.behave(fast_chunks=2000)
        body = {"model": "m", "messages": [], "stream": True}
        text = httpx.post(f"{server.url}/v1/chat/completions", json=body, trust_env=False).text
        events = [line for line in text.splitlines() if line.startswith("data: ")]
        assert events[-1] == "data: [DONE]"
        assert len(events) == 2000 + 3  # role chunk, tokens, finish chunk, [DONE]
        assert server.requests[0].finished.is_set()


def test_the_double_records_a_client_that_hangs_up_mid_stream() -> None:
    with OllamaDouble(["llama3.2"]) as ollama:
        ollama.behave(stall_after=1)
        body = {"model": "llama3.2", "messages": []}
        with (
            httpx.Client(trust_env=False) as client,
            client.stream("POST", f"{ollama.url}/api/chat", json=body) as response,
        ):
            next(response.iter_lines())
        record = ollama.wait_for_requests(1)
        assert record.wait_disconnected(5)
        assert not record.finished.is_set()
