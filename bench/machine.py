"""What else the machine was doing around a bench run, so a loaded run is never read as
a quiet one.

The load average alone misleads: it is read once at the start (a helper's test suite
that starts a minute later does not show), and during a run it counts the bench's own
processes. So the bench samples how busy the CPUs are while it itself is idle, for a
few seconds before and again after the run (from /proc/stat: every process on the
machine), and says the run was loaded when other work kept more than a quarter of a core
busy at either end. Linux only; elsewhere the figures are None and the report says so.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

PROC_STAT = Path("/proc/stat")
SAMPLE_SECONDS = 3.0
LOADED_CORES = 0.25  # other work above this, at either end, marks the run loaded


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies over all CPUs, or None where /proc/stat is missing."""
    try:
        first = PROC_STAT.read_text().splitlines()[0].split()
    except OSError:
        return None
    # cpu user nice system idle iowait irq softirq steal guest guest_nice
    values = [int(v) for v in first[1:9]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def busy_cores(seconds: float = SAMPLE_SECONDS) -> float | None:
    """How many cores' worth of CPU the machine used over `seconds`, while we sleep."""
    before = _cpu_times()
    time.sleep(seconds)
    after = _cpu_times()
    if before is None or after is None or after[1] == before[1]:
        return None
    cpus = os.cpu_count() or 1
    return round(cpus * (after[0] - before[0]) / (after[1] - before[1]), 2)


def describe() -> dict[str, Any]:
    """The machine before the run: versions, commit, load average, other work."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadAverageAtStart": [round(x, 2) for x in os.getloadavg()],
        "otherWorkCoresBefore": busy_cores(),
        "commit": commit,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def finish(machine: dict[str, Any]) -> None:
    """Add the after-run sample and the verdict to `machine`."""
    machine["loadAverageAtEnd"] = [round(x, 2) for x in os.getloadavg()]
    machine["otherWorkCoresAfter"] = busy_cores()
    samples = [machine.get("otherWorkCoresBefore"), machine["otherWorkCoresAfter"]]
    known = [s for s in samples if s is not None]
    machine["loaded"] = max(known) > LOADED_CORES if known else None
