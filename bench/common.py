"""Shared set-up for the benchmarks: a workspace with bench agents, doubles, statistics."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testkit.sidecar import Sidecar

# Workspace agents: `flood` leaves the length to the server (no num_predict / max_tokens),
# so a fast double's whole stream reaches the sidecar; `short` asks for 8 tokens, so a
# real model answers quickly. Both have tiny prompts: we measure the plumbing.
AGENTS = {
    "flood": "---\nid: flood\ntitle: Flood\n---\nRepeat the input.\n",
    "short": "---\nid: short\ntitle: Short\nmaxTokens: 8\n---\nSay hello in one word.\n",
}
DOC_URI_NAME = "sample.py"
DOC_TEXT = "def add(a, b):\n    return a + b\n"


@dataclass
class Workspace:
    root: Path
    home: Path
    folder: Path
    doc_uri: str


@contextlib.contextmanager
def workspace() -> Iterator[Workspace]:
    with tempfile.TemporaryDirectory(prefix="modelwire-bench-") as tmp:
        root = Path(tmp)
        folder = root / "ws"
        agents = folder / ".modelwire" / "agents"
        agents.mkdir(parents=True)
        for name, text in AGENTS.items():
            (agents / f"{name}.md").write_text(text)
        doc = folder / DOC_URI_NAME
        doc.write_text(DOC_TEXT)
        home = root / "home"
        home.mkdir()
        yield Workspace(root, home, folder, doc.as_uri())


async def start_sidecar(ws: Workspace, settings: dict[str, Any] | None = None) -> Sidecar:
    sidecar = await Sidecar.start(
        ws.home, folders=[ws.folder], settings=settings or {}, stderr_path=ws.root / "sidecar.log"
    )
    sidecar.open_document(ws.doc_uri, DOC_TEXT)
    return sidecar


def run_params(
    ws: Workspace, connection_id: str, agent: str = "flood", **more: Any
) -> dict[str, Any]:
    return {
        "agentId": agent,
        "textDocument": {"uri": ws.doc_uri},
        "connectionId": connection_id,
        **more,
    }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def rounded(value: float, digits: int = 3) -> float:
    return round(value, digits)
