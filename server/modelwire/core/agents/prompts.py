"""Prompt building: the system and user messages of one run, and the findings format."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from modelwire.adapters.base import ChatMessage
from modelwire.core.agents.agent import Agent, display_name

# One shared format so workspace agents with `output: diagnostics` produce what
# `parse_findings` reads. No worked example on purpose: small models copy examples
# verbatim, and a copied example becomes a confident, wrong diagnostic.
FINDINGS_FORMAT = """\
Output format (follow it exactly):
- One finding per line: LINE <n> | <severity> | <message>
- A problem spanning several lines: LINE <n>-<m> | <severity> | <message>
- <n> and <m> are the line numbers shown at the left of the code.
- <severity> is one of: error (a bug or crash), warning (a risk or likely mistake), \
info (a minor improvement).
- <message> is one sentence: what is wrong and why.
- If there is nothing to report, output exactly: NO FINDINGS
Output nothing else: no introduction, no summary, no code, no Markdown."""

# LSP counts lines on \n, \r\n and \r only; str.splitlines() also splits on \v, \f,
# \u2028 and more, which would shift every finding after such a character.
LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    lines = LINE_BREAK.split(text)
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()  # a final newline ends the last line; it does not start a new one
    return lines


def count_lines(text: str) -> int:
    """How many lines `build_messages` shows for `text`: pass it to `parse_findings`."""
    return len(split_lines(text))


def _file_name(uri: str) -> str:
    try:
        path = unquote(urlsplit(uri).path)
    except ValueError:
        path = uri
    name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return display_name(name or uri or "untitled")


def _fence_for(text: str) -> str:
    """A backtick fence longer than any run inside the text, so the code cannot end it."""
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=0)
    return "`" * max(3, longest + 1)


def build_messages(
    agent: Agent,
    *,
    text: str,
    uri: str,
    language_id: str | None,
    selection: tuple[int, int] | None,
    focus: tuple[int, int] | None = None,
    request: str | None = None,
) -> tuple[ChatMessage, ...]:
    """The system and user messages for one run of `agent` on `text`.

    `text` is the whole file, or the selected lines when `selection` (0-based first and
    last line) is given. `focus` (with the whole file as `text`) names the lines the
    user selected for an agent that reads the whole file. Diagnostics agents see
    numbered lines, counted from 1 within `text`; parse their answer with
    `line_offset=selection[0]` (or 0) and `line_count=count_lines(text)`.
    """
    system = agent.system_prompt
    if agent.output == "diagnostics" and agent.origin == "workspace":
        # The workspace chose the task; the format is ours, or findings cannot be read.
        system = f"{system}\n\n{FINDINGS_FORMAT}"

    name = _file_name(uri)
    language = re.sub(r"[^A-Za-z0-9_+#.-]", "", language_id or "")[:40]
    header = f"File: {name}" + (f" (language: {language})" if language else "")
    if focus is not None and selection is None:
        header += (
            f"\nThe whole file is shown; the user selected lines {focus[0] + 1}-{focus[1] + 1}:"
            " look at those first."
        )
    if agent.output == "diagnostics":
        if selection is not None:
            # Numbers restart at 1 for a selection; naming its real lines here would
            # invite the model to mix the two counts.
            header += "\nOnly a selection from the file is shown."
        lines = split_lines(text)
        width = len(str(len(lines)))
        shown = "\n".join(f"{n:>{width}} | {line}" for n, line in enumerate(lines, start=1))
        header += (
            "\nEach line starts with its line number and ' | '; they are not part of the code."
        )
        closing = (
            "\n\nReport your findings now, one per line as 'LINE <n> | <severity> | "
            "<message>', or NO FINDINGS."
        )
    else:
        if selection is not None:
            first, last = selection
            header += f"\nSelected lines {first + 1}-{last + 1} of the file; only they are shown."
        shown = text
        closing = ""

    fence = _fence_for(shown)
    user = f"{header}\n\n{fence}{language}\n{shown}\n{fence}{closing}"
    if request is not None:
        # The user's own words come after the code: what they ask, about that data.
        asked = f"The user's request:\n{request}"
        user = asked if not shown.strip() else f"{user}\n\n{asked}"
    return (ChatMessage("system", system), ChatMessage("user", user))
