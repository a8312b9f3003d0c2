"""`modelwire models` and `modelwire pull` against the Ollama double."""

from __future__ import annotations

import json
from pathlib import Path

from testkit.doubles.ollama_double import OllamaDouble

from tests.cli.helpers import add_connection, modelwire


def test_pull_shows_progress_and_the_model_appears(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    add_connection(tmp_path, "Local Ollama", "ollama", ollama_double.url, "llama3.2")
    before = modelwire(tmp_path, "models")
    assert before.returncode == 0, before.stderr
    assert "llama3.2:latest" in before.stdout and "gemma3" not in before.stdout

    pulled = modelwire(tmp_path, "pull", "gemma3:270m", "--connection", "Local Ollama")
    assert pulled.returncode == 0, pulled.stderr
    progress = pulled.stderr.splitlines()
    assert "pulling manifest" in progress
    bars = [line for line in progress if line.startswith("pulling ") and "%" in line]
    assert bars[-1].endswith("100%  4.0 MB / 4.0 MB")
    assert progress.index("success") > progress.index(bars[-1])
    assert "Pulled gemma3:270m on Local Ollama: success." in pulled.stdout

    after = json.loads(modelwire(tmp_path, "models", "--json").stdout)
    assert "gemma3:270m" in [m["id"] for m in after["models"]]


def test_models_come_from_the_cache_until_refresh_asks_the_server_again(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    add_connection(tmp_path, "Local Ollama", "ollama", ollama_double.url, "llama3.2")

    def tags_requests() -> int:
        return len(ollama_double.requests_to("/api/tags"))

    first = modelwire(tmp_path, "models")
    after_first = tags_requests()
    second = modelwire(tmp_path, "models")
    after_second = tags_requests()
    third = modelwire(tmp_path, "models", "--refresh")

    assert first.returncode == second.returncode == third.returncode == 0, third.stderr
    assert after_second == after_first, "the second call asked the server again"
    assert "(cached; --refresh to re-query)" in second.stderr
    assert tags_requests() == after_second + 1
    assert "cached" not in third.stderr
    assert first.stdout == second.stdout == third.stdout


def test_pull_of_an_unknown_model_fails_with_its_code(
    tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    add_connection(tmp_path, "Local Ollama", "ollama", ollama_double.url, "llama3.2")
    done = modelwire(tmp_path, "pull", "no-such-model")
    assert done.returncode == 6
    assert "file does not exist" in done.stderr
    assert done.stderr.rstrip().endswith("[PULL_FAILED]")
    assert "ollama.com/library" in done.stderr


def test_pull_is_refused_for_providers_that_cannot(tmp_path: Path) -> None:
    add_connection(tmp_path, "LM Studio", "openai", "http://127.0.0.1:1/v1", "qwen")
    done = modelwire(tmp_path, "pull", "qwen")
    assert done.returncode == 2 and "[UNSUPPORTED]" in done.stderr
