"""What reaches a person's screen: text from files and arguments is shown, never obeyed.

An experiment file from a colleague's branch must not be able to recolour the terminal, move
the cursor, ring the bell, rewrite a line chaoslab printed (a carriage return before a forged
"Verdict: SLOs HELD") or reorder what is shown (Unicode bidirectional overrides).
:func:`visible` replaces every such character by a visible escape, ``\\x1b`` or ``\\u202e``:

- C0 controls except newline and tab (so ESC, which starts every ANSI sequence, BEL, CR,
  backspace), DEL and the C1 controls U+0080-U+009F;
- the bidirectional controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) and the
  line and paragraph separators U+2028, U+2029;
- lone surrogates (which a YAML ``"\\ud800"`` can make, and no UTF-8 file or terminal can
  hold) and the non-characters U+FFFE, U+FFFF (which XML 1.0 forbids, as it forbids C0).

It is applied at the two output boundaries: everything the command line writes to stdout and
stderr (:func:`shown_streams`, installed by ``chaos.cli.main``), and every document made for
people to read (the summary, ``summary.md``, ``report.html``, ``junit.xml``, ``sweep.md``,
``diff.md``, ``compare.md``). ``result.json`` escapes them by JSON's own rules. The escapes are
printable, so applying :func:`visible` twice changes nothing.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

_HIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every character a terminal or an XML reader would act on written as an escape."""
    return _HIDDEN.sub(_escape, text)


class Shown:
    """A text stream that passes everything written to it through :func:`visible`."""

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        self.raw.write(visible(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding: the stream's own
        return getattr(self.raw, name)


@contextmanager
def shown_streams() -> Iterator[None]:
    """While it lasts, ``sys.stdout`` and ``sys.stderr`` show control characters as escapes."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = Shown(out), Shown(err)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err


def redraw(line: str) -> None:
    """Rewrite the last line on stderr (a progress bar): the one carriage return chaoslab writes itself."""
    stream = sys.stderr
    raw = stream.raw if isinstance(stream, Shown) else stream
    raw.write("\r" + visible(line))
    raw.flush()
