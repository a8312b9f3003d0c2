"""The bench says when the machine was loaded (bench/README.md: "the report's second line").

Plain unit tests of the verdict and the report line; the sampling itself reads /proc/stat.
"""

from __future__ import annotations

import pytest
from bench import machine, report


def _doc(before: float | None, after: float | None) -> dict[str, object]:
    facts: dict[str, object] = {
        "python": "3.11",
        "cpus": 2,
        "loadAverageAtStart": [0.1, 0.1, 0.1],
        "otherWorkCoresBefore": before,
        "commit": "abc1234",
        "time": "2026-12-01T00:00:00Z",
    }
    return {"machine": facts, "quick": False, "totalSeconds": 1.0, "results": {}}


@pytest.mark.parametrize(
    ("before", "after", "loaded"),
    [(0.02, 0.05, False), (0.02, 1.6, True), (0.9, 0.0, True), (None, None, None)],
)
def test_a_run_is_loaded_when_other_work_used_a_quarter_core_at_either_end(
    monkeypatch: pytest.MonkeyPatch, before: float | None, after: float | None, loaded: bool | None
) -> None:
    monkeypatch.setattr(machine, "busy_cores", lambda seconds=0.0: after)
    doc = _doc(before, after)
    machine.finish(doc["machine"])  # type: ignore[arg-type]
    assert doc["machine"]["loaded"] is loaded  # type: ignore[index]
    line = report.markdown(doc).splitlines()[3]
    if loaded is None:
        assert "not measured" in line
    else:
        assert ("**machine loaded**" in line) is loaded
        assert f"{before} cores before the run, {after} after" in line


def test_busy_cores_reads_the_whole_machine() -> None:
    cores = machine.busy_cores(0.2)
    if not machine.PROC_STAT.exists():  # not Linux: said as "not measured", never guessed
        assert cores is None
        return
    assert cores is not None
    assert 0.0 <= cores <= (machine.os.cpu_count() or 1) + 0.01
