"""The terminal sanitiser and the invisible-character set it shares with redaction."""

from __future__ import annotations

import io
import sys
import unicodedata

from modelwire.cli.terminal import TerminalStream, for_terminal, neutralise, write_control
from modelwire.invisible import FORMAT_CHARS


def test_the_format_character_set_matches_unicodedata() -> None:
    computed = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"}
    assert computed == FORMAT_CHARS


def test_controls_c1_and_format_characters_become_visible() -> None:
    text = "a\x1b]52;c;x\x07b\x9b2J\u202ec\u200bd\x7fe\x00"
    assert neutralise(text) == "a␛]52;c;x␇b<U+009B>2J<U+202E>c<U+200B>d␡e␀"


def test_newlines_tabs_and_ordinary_unicode_pass() -> None:
    text = "déjà vu\tλ → ✓ 👨‍👩‍👧\nnext"
    assert neutralise(text) == text.replace("\u200d", "<U+200D>")


def test_crlf_is_a_newline_and_a_bare_cr_is_shown() -> None:
    assert neutralise("one\r\ntwo\rthree") == "one\ntwo␍three"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_crlf_split_across_writes_is_still_a_newline() -> None:
    raw = _Tty()
    stream = TerminalStream(raw)
    stream.write("one\r")
    stream.write("\ntwo\r")
    stream.flush()
    assert raw.getvalue() == "one\ntwo␍"


def test_pipes_get_raw_bytes_and_controls_of_our_own_pass() -> None:
    piped = io.StringIO()
    TerminalStream(piped).write("\x1b]0;x\x07")
    assert piped.getvalue() == "\x1b]0;x\x07"
    assert for_terminal("\x1b", piped) == "\x1b" and for_terminal("\x1b", _Tty()) == "␛"
    tty = _Tty()
    stream = TerminalStream(tty)
    write_control(stream, "\r\x1b[K")
    assert tty.getvalue() == "\r\x1b[K"
