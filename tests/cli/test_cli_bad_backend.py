"""The CLI meets a backend sending bad data: one readable line, never a traceback and
never a usage error (issue 15, item 8)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testkit.doubles.ollama_double import OllamaDouble

from tests.cli.helpers import add_connection, modelwire

BAD_TAGS: dict[str, Any] = {
    "models": [
        {"name": "ok:latest", "size": 10**400, "details": {"family": 7, "parameter_size": []}},
        {"name": {"nested": True}, "size": "big"},
        {"name": "neg:latest", "size": -1, "modified_at": 1_715_367_049_000},
    ]
}


def test_models_doctor_and_test_survive_bad_backend_data(tmp_path: Path) -> None:
    with OllamaDouble(models=["llama3.2"]) as double:
        add_connection(tmp_path, "Local", "ollama", double.url, "llama3.2")
        results = {}
        for args in (("models",), ("connections", "test"), ("doctor",)):
            double.fail_next(200, BAD_TAGS, path="/api/tags", times=3)
            double.fail_next(200, {"version": 10**400}, path="/api/version")
            results[args] = modelwire(tmp_path, *args)

    for args, done in results.items():
        assert "Traceback" not in done.stderr + done.stdout, (args, done.stderr)
        assert "usage:" not in done.stderr, (args, done.stderr)
    models = results[("models",)]
    assert models.returncode == 0, models.stderr
    assert "ok:latest" in models.stdout and "neg:latest" in models.stdout
