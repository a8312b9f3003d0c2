"""Review parsing: a model's answer read leniently into findings.

Small local models rarely follow a format exactly; when nothing can be read as a
finding the caller shows the answer as text.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal

from modelwire.core.agents.prompts import LINE_BREAK

log = logging.getLogger(__name__)


Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    """One review finding, located by 0-based document lines (end_line inclusive)."""

    line: int
    end_line: int
    severity: Severity
    message: str


MAX_FINDINGS = 200
MAX_MESSAGE_CHARS = 500
UNREADABLE_REVIEW = "The model's review could not be read as findings; its answer is shown as text."
EMPTY_REVIEW = "The model returned an empty review; try again or pick a larger model."
# Bounds the work on a runaway answer; real reviews are far smaller.
_MAX_PARSE_CHARS = 512 * 1024
_MAX_LINE_CHARS = 4096

_SEVERITY_WORDS: dict[str, Severity] = {
    "error": "error",
    "err": "error",
    "critical": "error",
    "bug": "error",
    "high": "error",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "risk": "warning",
    "info": "info",
    "information": "info",
    "note": "info",
    "hint": "info",
    "low": "info",
    "suggestion": "info",
}
_SEV = "|".join(sorted(_SEVERITY_WORDS, key=len, reverse=True))
_DASH = r"(?:-|\u2013|\u2014|to|\.\.)"

# "- **Line 12:**", "1. L12 -", "[Lines 3-5]": a `line`/`L` prefix makes the severity
# optional. Patterns are anchored and no two adjacent repeats can match the same text
# (`\s*(?:#\s*)?`, not `\s*#?\s*`), so a long line of spaces cannot make them backtrack.
_LINE_PREFIX = re.compile(
    rf"^[\[(]?\s*(?:lines?|ln|l)\s*(?:#\s*)?([0-9]+)(?:\s*{_DASH}\s*(?:(?:line|l)\s*)?([0-9]+))?\b"
    r"[\])]?\s*[:|,.\-\u2013\u2014]*\s*",
    re.IGNORECASE | re.ASCII,
)
# "12: warning: …", "12-14 | error | …": a bare number needs a severity right after it,
# otherwise an echoed numbered code line ("12 | x = 1") would become a finding.
_BARE_PREFIX = re.compile(
    rf"^([0-9]+)(?:\s*{_DASH}\s*([0-9]+))?\s*[:|]\s*(?=[\[(]?\s*(?:{_SEV})\b)",
    re.IGNORECASE | re.ASCII,
)
# After the location: "| error |", "[warning]", "Info:", "ERROR division…". Words that
# also start ordinary sentences ("high memory use…", "note that…") count as a severity
# only when brackets or punctuation set them apart.
_SEVERITY = re.compile(
    rf"^(?:severity\s*[:=]\s*)?(?:"
    rf"[\[(]\s*({_SEV})\s*[\])]\s*[:|\-\u2013\u2014]*\s*"
    rf"|({_SEV})\s*[:|\-\u2013\u2014]+\s*"
    rf"|(error|warning|info)\s+"
    rf"|({_SEV})\s*$)",
    re.IGNORECASE | re.ASCII,
)
_BULLET = re.compile(r"^(?:[-*+•>]\s*|[0-9]{1,3}[.)]\s+)")
_NO_FINDINGS = re.compile(r"\bno\s+(?:findings|issues|problems)\b", re.IGNORECASE)


def _to_int(digits: str) -> int:
    # int() refuses strings beyond ~4300 digits; any line number that long is past the end.
    return int(digits) if len(digits) <= 9 else 10**9


def _clean_line(raw: str) -> str:
    line = raw.strip()[:_MAX_LINE_CHARS]
    line = _BULLET.sub("", line, count=1)
    # Markdown emphasis around the location ("**Line 3** | …") hides the prefix.
    line = line.replace("**", "").strip()
    # A whole finding wrapped in backticks; a backtick inside the message stays.
    if len(line) > 1 and line[0] == "`" and line[-1] == "`":
        line = line.strip("`").strip()
    return line


def _parse_line(raw: str, line_offset: int, line_count: int) -> Finding | None:
    line = _clean_line(raw)
    match = _LINE_PREFIX.match(line) or _BARE_PREFIX.match(line)
    if match is None:
        return None
    start = _to_int(match.group(1))
    end = _to_int(match.group(2)) if match.group(2) else start
    rest = line[match.end() :]
    severity: Severity = "warning"
    sev_match = _SEVERITY.match(rest)
    if sev_match:
        word = next(group for group in sev_match.groups() if group)
        severity = _SEVERITY_WORDS[word.lower()]
        rest = rest[sev_match.end() :]
    message = rest.strip().strip("|").strip()
    if not message:
        return None
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "…"
    if end < start:
        start, end = end, start
    last = max(line_count, 1) - 1
    # The model counts from 1; a "line 0" means the first line, not a crash.
    first0 = min(max(start - 1, 0), last)
    end0 = min(max(end - 1, first0), last)
    return Finding(first0 + line_offset, end0 + line_offset, severity, message)


def parse_findings(
    output: str, *, line_offset: int, line_count: int
) -> tuple[list[Finding], str | None]:
    """Read a review answer into findings; never raises.

    Lines are 1-based in the answer, 0-based in the findings, clamped into the
    `line_count` lines that were shown and shifted by `line_offset` (the selection's
    first line). The second item is None when the answer was read (findings, or "NO
    FINDINGS"), else a message saying the answer will be shown as text instead.
    """
    try:
        if not isinstance(output, str) or not output.strip():
            return [], EMPTY_REVIEW
        offset = max(int(line_offset), 0)
        count = max(int(line_count), 1)
        findings: list[Finding] = []
        seen: set[Finding] = set()
        for raw in LINE_BREAK.split(output[:_MAX_PARSE_CHARS]):
            finding = _parse_line(raw, offset, count)
            # Small models loop; the same finding repeated is one finding.
            if finding is None or finding in seen:
                continue
            seen.add(finding)
            findings.append(finding)
            if len(findings) >= MAX_FINDINGS:
                break
        if findings:
            return findings, None
        if _NO_FINDINGS.search(output[:_MAX_PARSE_CHARS]):
            return [], None
        return [], UNREADABLE_REVIEW
    except Exception:  # a parser bug must not fail the run; the text is still shown
        log.exception("could not parse review output")
        return [], UNREADABLE_REVIEW
