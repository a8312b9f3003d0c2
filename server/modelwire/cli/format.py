"""Text the CLI shows: tables, the routing line, durations, sizes, the pull bar.

Pure functions from core records to strings; the command modules decide where they go.
The routing line carries the same facts as the VS Code output channel's line, in the
CLI's own layout; docs/cli.md lists exactly how the two differ.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote as percent_encode
from urllib.parse import unquote, urlsplit

from modelwire.errors import ModelWireError
from modelwire.invisible import FORMAT_CLASS
from modelwire.protocol import HealthResult, RunRecord

if TYPE_CHECKING:
    from modelwire.core.agents import Finding

ARROW = "→"
DOT = "·"


# Controls, DEL, C1 and format characters (bidi, zero-width) in a decoded file name.
_UNSAFE_IN_NAME = re.compile(f"[\x00-\x1f\x7f-\x9f{FORMAT_CLASS}]")


def seconds(ms: float | None) -> str:
    """`0.21 s`, `1.9 s`, `42.0 s`, `315 s`: two significant digits where it matters."""
    if ms is None:
        return "–"
    s = ms / 1000
    if s < 1:
        return f"{s:.2f} s"
    if s < 100:
        return f"{s:.1f} s"
    return f"{s:.0f} s"


def size(n: int | None) -> str:
    """Bytes in decimal units, as Ollama shows them (`1.3 GB`)."""
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover - the loop always returns


def local_clock(iso: str | None) -> str:
    """`HH:MM:SS` in local time for a stored UTC timestamp."""
    if not iso:
        return "--:--:--"
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return "--:--:--"


def local_datetime(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return iso


def file_label(uri: str) -> str:
    """The file name a user recognises (`inventory.py`) for a document URI.

    Percent-escapes are decoded except those of control and format characters: `%1B`
    and `%0A` stay as they are, so a repository's file name cannot become an escape
    sequence or a forged line."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        name = Path(unquote(parts.path)).name
        return _UNSAFE_IN_NAME.sub(lambda m: percent_encode(m.group(0), safe=""), name) or uri
    return uri


def outcome(record: RunRecord) -> str:
    if record.status == "failed" and record.error_code:
        return f"failed ({record.error_code})"
    return record.status


def routing_target(record: RunRecord) -> str:
    r = record.routing
    if r is None:
        return "(not routed)"
    return f"{r.connection_name} ({r.provider_id}) {r.model_ref}"


def routing_line(record: RunRecord) -> str:
    """One line per run, e.g. `[14:02:11] explain inventory.py → Embedded (embedded)
    SmolLM2-135M-Instruct · source=fallback · first token 0.21 s · total 1.9 s · succeeded`."""
    parts = [
        f"[{local_clock(record.timings.queued_at)}] {record.agent_id} "
        f"{file_label(record.uri)} {ARROW} {routing_target(record)}"
    ]
    if record.routing is not None:
        parts.append(f"source={record.routing.source}")
    if record.timings.first_token_ms is not None:
        parts.append(f"first token {seconds(record.timings.first_token_ms)}")
    if record.timings.total_ms is not None:
        parts.append(f"total {seconds(record.timings.total_ms)}")
    parts.append(outcome(record))
    return f" {DOT} ".join(parts)


def error_text(exc: ModelWireError) -> str:
    """`error: <message>` / `hint: <hint>  [CODE]`, plus choices the error carries."""
    lines = [f"error: {exc.message}"]
    installed = exc.extra.get("installedModels")
    if isinstance(installed, list) and installed:
        lines.append("installed models: " + ", ".join(str(m) for m in installed))
    lines.append(f"hint: {exc.hint or '-'}  [{exc.code.value}]")
    return "\n".join(lines)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain left-aligned table with a header row; no borders, easy to grep."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def progress_bar(completed: int | None, total: int | None, width: int = 30) -> str:
    """`[###########-------------------]  37%  1.5/4.0 MB` (or empty without a total)."""
    if not total or completed is None:
        return ""
    fraction = max(0.0, min(1.0, completed / total))
    filled = round(fraction * width)
    return (
        f"[{'#' * filled}{'-' * (width - filled)}] {fraction * 100:3.0f}%  "
        f"{size(completed)} / {size(total)}"
    )


def health_line(name: str, health: HealthResult) -> str:
    """`ok   Local · version 0.12.3 · 4 model(s) · 3 ms`, or `FAIL Local · <why>`."""
    if health.reachable and not health.error:
        parts = [f"ok   {name}"]
        if health.version:
            parts.append(f"version {health.version}")
        if health.model_count is not None:
            parts.append(f"{health.model_count} model(s)")
        if health.latency_ms is not None:
            parts.append(f"{health.latency_ms:.0f} ms")
        return f" {DOT} ".join(parts)
    message = (health.error or {}).get("message") or "unreachable"
    return f"FAIL {name} {DOT} {message}"


def finding_lines(path: str, findings: list[Finding]) -> list[str]:
    """Compiler-style `file:line: severity: message` (problem matchers read these)."""
    return [f"{path}:{f.line + 1}: {f.severity}: {f.message}" for f in findings]


def quote(name: str) -> str:
    """A connection name as a shell argument in a suggested command."""
    return f"'{name}'" if any(c.isspace() for c in name) else name
