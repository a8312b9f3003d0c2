"""Untrusted text on a terminal (issue 15, item 3).

Answers, model ids, error bodies, file names and connection names are chosen by model
servers, repositories, peers and other local users. Printed raw, their control
sequences write the clipboard (OSC 52), spoof links (OSC 8), retitle the window, clear
the screen or forge the routing line and rows of `modelwire runs`. On a terminal, every
character that is not plain text is shown as a visible stand-in instead:

- C0 controls except newline and tab → control pictures (`ESC` → `␛`), DEL → `␡`;
- a CR that ends a line (`\\r\\n`) is dropped; any other CR → `␍` (it would let text
  overwrite what came before it on the line);
- C1 controls (U+0080–U+009F: an 8-bit CSI/OSC on some terminals) and Unicode format
  characters (bidi overrides and isolates, zero-width characters, the BOM) → `<U+XXXX>`.

When the stream is not a terminal (a pipe, a file), bytes pass unchanged: `> out.md`
keeps the model's exact answer. The CLI wraps `sys.stdout` and `sys.stderr` in
`TerminalStream` once, so every print is covered; its own cursor controls (the
progress line) go through `write_control`, the one way to emit an escape sequence.
"""

from __future__ import annotations

import io
import re
import sys
from typing import IO, Any

from modelwire.invisible import FORMAT_CLASS

# Resets colours and attributes: written before the routing line, so nothing an answer
# managed to set (on a terminal that honours an unknown sequence) colours it.
RESET = "\x1b[0m"
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{FORMAT_CLASS}]")


def _stand_in(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: ␛ ␇ ␍ …
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>"


def neutralise(text: str) -> str:
    """`text` with every control, C1 and format character made visible and inert."""
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    return _UNSAFE.sub(_stand_in, text)


def for_terminal(text: str, stream: IO[str] | None) -> str:
    """`text` as it should be written to `stream`: neutralised on a terminal."""
    return neutralise(text) if _is_tty(stream) else text


def _is_tty(stream: IO[str] | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (ValueError, OSError):  # a closed stream
        return False


def write_control(stream: IO[str], sequence: str) -> None:
    """Write a control sequence of ModelWire's own (cursor moves, RESET) unchanged."""
    control = getattr(stream, "control", None)
    if control is not None:
        control(sequence)
    else:
        stream.write(sequence)


def guard_terminal() -> None:
    """Route every print of the process through the sanitiser (a no-op for pipes and
    files): called once by the CLI's `main`, so no command can forget it."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, TerminalStream):
            setattr(sys, name, TerminalStream(stream))


class TerminalStream(io.TextIOBase):
    """A text stream that neutralises what it writes when `raw` is a terminal.

    A CR at the end of one write may be the first half of a CRLF finished by the next
    write, so it is held until then (or until `flush`)."""

    def __init__(self, raw: IO[str], *, sanitise: bool | None = None) -> None:
        super().__init__()
        self._raw = raw
        self.sanitise = _is_tty(raw) if sanitise is None else sanitise
        self._cr_held = False

    def write(self, text: str) -> int:
        if not self.sanitise:
            return self._raw.write(text)
        n = len(text)
        if self._cr_held:
            self._cr_held = False
            text = "\r" + text
        if text.endswith("\r"):
            self._cr_held = True
            text = text[:-1]
        if text:
            self._raw.write(neutralise(text))
        return n

    def control(self, sequence: str) -> None:
        self._release_cr()
        self._raw.write(sequence)

    def flush(self) -> None:
        self._release_cr()
        self._raw.flush()

    def _release_cr(self) -> None:
        if self._cr_held:
            self._cr_held = False
            self._raw.write(neutralise("\r"))

    def isatty(self) -> bool:
        return _is_tty(self._raw)

    def fileno(self) -> int:
        return self._raw.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self._raw, "encoding", "utf-8"))

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._raw, "errors", None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)
