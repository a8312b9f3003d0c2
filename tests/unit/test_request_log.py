"""The request inspector's store: bounded bodies, requests per run, retention, no keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelwire.core import request_log
from modelwire.core.request_log import RequestLog
from modelwire.core.store import Store
from modelwire.errors import secret_in_use


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path)


def add_run(store: Store, run_id: str) -> None:
    store.execute(
        "INSERT INTO runs(run_id, agent_id, uri, status, timings) VALUES (?,?,?,?,?)",
        (run_id, "improve", "file:///a.py", "running", "{}"),
    )


def test_a_body_over_the_cap_is_kept_as_its_first_bytes_marked_truncated(store: Store) -> None:
    add_run(store, "r1")
    log = RequestLog(store)
    log.add("r1", "c1", "ollama", {"messages": [{"role": "user", "content": "é" * 200_000}]})
    (entry,) = log.list("r1")
    assert entry.body is None and entry.truncated_body is not None
    assert len(entry.truncated_body.encode()) <= request_log.MAX_BODY_BYTES
    assert entry.body_bytes > request_log.MAX_BODY_BYTES


def test_a_run_keeps_at_most_its_first_requests(store: Store) -> None:
    add_run(store, "r1")
    log = RequestLog(store)
    for i in range(request_log.MAX_REQUESTS_PER_RUN + 3):
        log.add("r1", "c1", "ollama", {"turn": i})
    entries = log.list("r1")
    assert [e.seq for e in entries] == list(range(1, request_log.MAX_REQUESTS_PER_RUN + 1))
    assert entries[0].body == {"turn": 0}


def test_only_the_newest_runs_keep_their_requests(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(request_log, "KEEP_RUNS", 2)
    log = RequestLog(store)
    for run_id in ("old", "mid", "new"):
        add_run(store, run_id)
        log.add(run_id, "c1", "ollama", {"run": run_id})
    assert log.list("old") == []
    assert [e.body for e in log.list("mid") + log.list("new")] == [{"run": "mid"}, {"run": "new"}]


def test_no_key_is_stored_even_one_pasted_into_a_prompt(store: Store) -> None:
    add_run(store, "r1")
    log = RequestLog(store)
    key = "sk-proj-Zq8Tn4Lw1Xe7Rb2Vc9Ym5Kd3Hg6Jf0Pa"
    with secret_in_use("lm-studio-token-1234567890"):
        log.add(
            "r1",
            "c1",
            "openai",
            {
                "messages": [
                    {"role": "user", "content": f"KEY={key} and lm-studio-token-1234567890"}
                ]
            },
        )
    raw = store.query("SELECT body FROM run_requests")[0]["body"]
    assert key not in raw and "lm-studio-token-1234567890" not in raw
    assert "[REDACTED]" in log.list("r1")[0].body["messages"][0]["content"]  # type: ignore[index]
