"""Reading big JSON files one value at a time, with the line and column of every value kept.

Trace files are large (a collector's file exporter writes gigabytes), so nothing here loads
a whole file: a :class:`JsonReader` holds a window of the text and decodes one value at a
time with the standard library's C decoder (``raw_decode``), growing the window only while a
value is incomplete. Three shapes are walked:

- a stream of values (``{...}\\n{...}``): JSON lines, as the OpenTelemetry Collector writes;
- the items of a top-level array (``[{...}, {...}]``): Zipkin;
- the members of a top-level object, streaming one member's array (``{"data": [...]}``): Jaeger.

Converting a decoded value raises :class:`Malformed` with the JSON path of the bad field
(``spans[3].startTime``); the reader turns that into an :class:`~chaos.errors.InputError` at
the field's own ``file:line:col``, found by walking the value's text again. That walk is on
the error path only, so reading stays at the C decoder's speed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import IO, Any

from chaos.errors import InputError, Location

PathPart = str | int
_WS = re.compile(r"[ \t\n\r]*")
_NEEDS_MORE_MARGIN = 32  # an error this close to the window's end may be a value cut by the window
_CHUNK = 1 << 20
_HUGE_NUMBER = re.compile(r"-?\d{4301,}")  # more digits than Python converts (sys.get_int_max_str_digits)
_CONSTANT = re.compile(r"(?<=[:\[,\s])(?:NaN|-?Infinity)(?=[\s,\]}])")  # JavaScript's, not JSON's


class Malformed(Exception):
    """A decoded value does not have the shape its format requires; ``path`` leads to the bad field."""

    def __init__(self, message: str, *path: PathPart, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path: tuple[PathPart, ...] = path
        self.hint = hint

    def within(self, *outer: PathPart) -> Malformed:
        self.path = outer + self.path
        return self


def show_path(path: tuple[PathPart, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


@dataclass(frozen=True)
class Item:
    """One decoded value and where its text lies in the reader's window (valid until the next read)."""

    value: Any
    start: int
    end: int


class JsonReader:
    """A text stream read in windows; positions are offsets into the current window."""

    def __init__(self, stream: IO[str], shown: str, chunk: int = _CHUNK) -> None:
        self.shown = shown
        self._stream = stream
        self._chunk = chunk
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._decoder = json.JSONDecoder(parse_constant=_refuse_constant)
        # Line bookkeeping: the line and column at the window's first character, and a cursor
        # that counts newlines forward only (positions asked for only grow within a window).
        self._line0 = 1
        self._col0 = 0
        self._cursor = 0
        self._cursor_line = 1

    # ------------------------------------------------------------------ positions

    def location(self, pos: int) -> Location:
        if pos < self._cursor:
            self._cursor, self._cursor_line = 0, self._line0
        self._cursor_line += _newlines(self._buf, self._cursor, pos)
        self._cursor = pos
        last_nl = self._buf.rfind("\n", 0, pos)
        column = pos - last_nl if last_nl >= 0 else self._col0 + pos + 1
        return Location(self.shown, self._cursor_line, column)

    def here(self) -> Location:
        return self.location(self._pos)

    def fail(self, pos: int, message: str, path: str = "", hint: str | None = None) -> InputError:
        return InputError(message, self.location(pos), path, hint)

    def malformed(self, item: Item, exc: Malformed, prefix: tuple[PathPart, ...] = ()) -> InputError:
        """The error for a bad field of ``item``, placed at the field (or at the object that lacks it).

        ``prefix`` is where the item lies in the document (``data[3]``), shown but not walked.
        """
        pos = _locate(self._buf, item.start, exc.path, self._decoder)
        return InputError(exc.message, self.location(pos), show_path(prefix + exc.path), exc.hint)

    # ------------------------------------------------------------------ the window

    def _fill(self) -> bool:
        """Read more text; drop what was consumed. False at the end of the file."""
        if self._eof:
            return False
        if self._pos:
            buf, pos = self._buf, self._pos
            newlines = _newlines(buf, 0, pos)
            if self._cursor >= pos:
                self._cursor -= pos
            else:
                self._cursor_line += _newlines(buf, self._cursor, pos)
                self._cursor = 0
            self._line0 += newlines
            self._col0 = pos - buf.rfind("\n", 0, pos) - 1 if newlines else self._col0 + pos
            self._buf = buf[pos:]
            self._pos = 0
        try:
            more = self._stream.read(max(self._chunk, len(self._buf)))  # doubling: one huge value costs O(n)
            if more and more[-1] != "\n":
                # On to the end of the line (up to another chunk): JSON lines then never leave a value cut at the
                # window's end, whose failed decode costs the part decoded and the error's own count of lines
                # up to it (a few percent of reading).
                more += self._stream.readline(self._chunk)
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text: {exc.reason}", self.location(len(self._buf))) from None
        if not more:
            self._eof = True
            return False
        self._buf += more
        return True

    def skip_ws(self) -> None:
        while True:
            self._pos = _WS.match(self._buf, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._buf) or not self._fill():
                return

    def peek(self) -> str:
        """The next non-blank character, or '' at the end of the file."""
        self.skip_ws()
        return self._buf[self._pos] if self._pos < len(self._buf) else ""

    def head(self, size: int = 1 << 16) -> str:
        """Up to ``size`` characters from the current position, without consuming them (for format detection)."""
        while len(self._buf) - self._pos < size and self._fill():
            pass
        return self._buf[self._pos: self._pos + size]

    def expect(self, char: str, what: str) -> None:
        if self.peek() != char:
            found = repr(self._buf[self._pos]) if self._pos < len(self._buf) else "the end of the file"
            raise self.fail(self._pos, f"expected {what}, found {found}")
        self._pos += 1

    # ------------------------------------------------------------------ values

    def decode(self) -> Item:
        """The next value, decoded whole."""
        self.skip_ws()
        start = self._pos
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, start)
            except json.JSONDecodeError as exc:
                cut = exc.msg.startswith("Unterminated string") or len(self._buf) - exc.pos < _NEEDS_MORE_MARGIN
                if cut and self._more(start):
                    start = self._pos
                    continue
                raise self.fail(exc.pos, f"not valid JSON: {exc.msg}") from None
            except RecursionError:
                raise self.fail(start, "not valid JSON: nested too deeply") from None
            except ValueError as exc:  # a number of more than 4300 digits, NaN, Infinity
                found = (_HUGE_NUMBER if "digits" in str(exc) else _CONSTANT).search(self._buf, start)
                where = found.start() if found else start
                raise self.fail(where, f"not valid JSON: {exc}") from None
            if end == len(self._buf) and not isinstance(value, dict | list | str) and self._more(start):
                start = self._pos  # a number or literal may go on in the next chunk
                continue
            self._pos = end
            return Item(value, start, end)

    def _more(self, start: int) -> bool:
        self._pos = start
        return self._fill()

    def values(self) -> Iterator[Item]:
        """Successive top-level values (JSON lines, or values written one after another)."""
        while self.peek():
            yield self.decode()

    def array_items(self) -> Iterator[Item]:
        """The items of the array that starts here, one at a time."""
        self.expect("[", "'[' (a JSON array)")
        if self.peek() == "]":
            self._pos += 1
            return
        while True:
            yield self.decode()
            if self.peek() == ",":
                self._pos += 1
                continue
            self.expect("]", "',' or ']' after an array item")
            return

    def members(self) -> Iterator[str]:
        """The keys of the object that starts here; after each key the caller must read its value."""
        self.expect("{", "'{' (a JSON object)")
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            key = self.decode()
            if not isinstance(key.value, str):
                raise self.fail(key.start, "expected a member name in double quotes")
            self.expect(":", "':' after a member name")
            yield key.value
            if self.peek() == ",":
                self._pos += 1
                continue
            self.expect("}", "',' or '}' after an object member")
            return

    def at_end(self) -> None:
        """Refuse anything after the document."""
        if self.peek():
            raise self.fail(self._pos, "unexpected text after the end of the JSON document")


def _newlines(text: str, start: int, end: int) -> int:
    """``text.count("\\n", start, end)``, fast where newlines are few: count looks at every character (about
    1 ms a megabyte, twice over every file), find skips to the next newline with a vectorised search. JSON
    lines have one newline in tens of kilobytes; pretty-printed JSON, many, and goes to count after a few."""
    n = 0
    at = text.find("\n", start, end)
    while at >= 0:
        n += 1
        if n == 64:
            return n + text.count("\n", at + 1, end)
        at = text.find("\n", at + 1, end)
    return n


def _locate(text: str, start: int, path: tuple[PathPart, ...], decoder: json.JSONDecoder) -> int:
    """The offset of the value at ``path`` inside the JSON value at ``start``.

    Where the path leads to a key that is absent, the offset of the object that lacks it.
    Only run to place an error, so it may re-decode siblings to skip them.
    """
    pos = _skip(text, start)
    for part in path:
        found = _child(text, pos, part, decoder)
        if found is None:
            return pos
        pos = found
    return pos


def _skip(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()  # type: ignore[union-attr]


def _child(text: str, pos: int, part: PathPart, decoder: json.JSONDecoder) -> int | None:
    try:
        if isinstance(part, int):
            if text[pos] != "[":
                return None
            pos = _skip(text, pos + 1)
            for _ in range(part):
                pos = _skip(text, decoder.raw_decode(text, pos)[1])
                if text[pos] != ",":
                    return None
                pos = _skip(text, pos + 1)
            return pos if text[pos] != "]" else None
        if text[pos] != "{":
            return None
        pos = _skip(text, pos + 1)
        while text[pos] == '"':
            key, pos = scanstring(text, pos + 1)
            pos = _skip(text, _skip(text, pos) + 1)  # past ':'
            if key == part:
                return pos
            pos = _skip(text, decoder.raw_decode(text, pos)[1])
            if text[pos] != ",":
                return None
            pos = _skip(text, pos + 1)
        return None
    except (IndexError, ValueError):
        return None
