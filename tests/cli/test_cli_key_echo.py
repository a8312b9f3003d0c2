"""A hostile server echoing the key never gets it onto the CLI's stdout, stderr or the
store (issue 15, item 4: the plain key reached CLI stdout as answer text, a model id
and finish_reason)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from testkit.doubles.fixtures import TEST_API_KEY
from testkit.doubles.openai_double import OpenAIDouble

from tests.cli.helpers import add_connection, modelwire


def _pieces(key: str) -> list[bytes]:
    raw = key.encode()
    forms = [key, key[::-1], raw.hex(), base64.b64encode(raw).decode()]
    return [f[i : i + 12].encode() for f in forms for i in range(0, len(f) - 11, 4)]


@pytest.mark.usefixtures("real_keyring")
def test_key_echoes_never_reach_the_cli_or_the_store(tmp_path: Path) -> None:
    with OpenAIDouble(models=["gpt-4o-mini"], api_key=TEST_API_KEY) as double:
        double.echo_key_everywhere = True
        add_connection(tmp_path, "Cloud", "openai", double.url + "/v1", "gpt-4o-mini")
        stored = modelwire(
            tmp_path, "connections", "set-secret", "Cloud", input=TEST_API_KEY + "\n"
        )
        assert stored.returncode == 0, stored.stderr
        ran = modelwire(tmp_path, "run", "explain", "samples/inventory.py")
        models = modelwire(tmp_path, "models", "--connection", "Cloud", "--refresh")
        runs = modelwire(tmp_path, "runs", "--json")

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("Your key: ") and "[REDACTED]" in ran.stdout
    written = {
        "run stdout": ran.stdout.encode(),
        "run stderr": ran.stderr.encode(),
        "models": (models.stdout + models.stderr).encode(),
        "runs --json": runs.stdout.encode(),
        "the store": b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()),
    }
    leaks = [
        (where, p) for where, data in written.items() for p in _pieces(TEST_API_KEY) if p in data
    ]
    assert not leaks, leaks
