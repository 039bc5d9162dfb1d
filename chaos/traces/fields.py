"""Checked conversions of decoded JSON fields, shared by the three readers.

Each raises :class:`~chaos.traces.jsonstream.Malformed` with the field's key, so the error
reads ``traces.jsonl:14:57: resourceSpans[0].scopeSpans[0].spans[3].spanId: ...``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from chaos.errors import Location
from chaos.traces.flaws import Flaw
from chaos.traces.jsonstream import Malformed
from chaos.traces.spans import MAX_TIME_NS, Span

_HEX = {n: re.compile(f"[0-9a-f]{{1,{n}}}") for n in (16, 32)}
_ZERO = {16: "0" * 16, 32: "0" * 32}
_BASE64_LENGTH = {32: 24, 16: 12}  # 16 bytes are 24 base64 characters (with '=='), 8 bytes are 12


@dataclass(frozen=True)
class Batch:
    """Spans read from one record (an OTLP request, a Jaeger trace, a Zipkin span or trace).

    ``whole_traces`` says the format guarantees that these are all the spans of their traces
    (a Jaeger trace object, a Zipkin list of one trace's spans), so they need no window.
    """

    spans: list[Span]
    whole_traces: bool
    dropped: list[tuple[Flaw, Location]] = field(default_factory=list)


def hex_id(value: object, digits: int, key: str, short_ok: bool = False) -> str:
    """A trace (32) or span (16) id as lowercase hex, zero-padded when the format allows shorter ones.

    OTLP/JSON writes ids in hex; protobuf's generic JSON mapping writes bytes in base64, which some
    tools emit, so a base64 id of the right byte length is accepted too.
    """
    if type(value) is not str:
        raise Malformed(f"expected the id as a string of {digits} hex digits, got {_show(value)}", key)
    if len(value) == digits and _HEX[digits].fullmatch(value) and value != _ZERO[digits]:
        return value  # the common case: lowercase hex of full length
    text = value.lower()
    if len(text) == digits or (short_ok and len(text) < digits):
        if _HEX[digits].fullmatch(text):
            text = text.zfill(digits)
            if text == _ZERO[digits]:
                raise Malformed("an all-zero id is invalid", key)
            return text
    elif len(value) == _BASE64_LENGTH[digits]:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == digits // 2 and any(raw):
            return raw.hex()
    shape = f"{digits} hex digits" if not short_ok else f"up to {digits} hex digits"
    raise Malformed(f"expected {shape}, got {_show(value)}", key)


def nanos(value: object, key: str) -> int:
    """An OTLP time: nanoseconds since the epoch, a string of digits (or a plain number)."""
    if type(value) is str and value.isascii() and value.isdigit() and len(value) <= 19:
        number = int(value)
    elif type(value) is int:
        number = value
    elif value is None:
        raise Malformed("missing", key)
    else:
        raise Malformed(f"expected nanoseconds since 1970 as a string of digits, got {_show(value)}", key)
    if not 0 < number <= MAX_TIME_NS:
        raise Malformed(f"{_show(value)} nanoseconds is out of range (1 to {MAX_TIME_NS})", key)
    return number


def micros(value: object, key: str, zero_ok: bool = False) -> int:
    """A Jaeger or Zipkin time or duration in microseconds, returned in nanoseconds."""
    if type(value) is not int:
        if value is None:
            raise Malformed("missing", key)
        raise Malformed(f"expected a whole number of microseconds, got {_show(value)}", key)
    low = 0 if zero_ok else 1
    if not low <= value <= MAX_TIME_NS // 1000:
        raise Malformed(f"{value} microseconds is out of range ({low} to {MAX_TIME_NS // 1000})", key)
    return value * 1000


def string(value: object, key: str, default: str | None = None) -> str:
    if type(value) is str:
        return value
    if value is None and default is not None:
        return default
    raise Malformed("missing" if value is None else f"expected a string, got {_show(value)}", key)


def obj(value: object, key: str | int, what: str) -> dict:
    if type(value) is not dict:
        raise Malformed(f"expected {what} (a JSON object), got {_show(value)}", key)
    return value


def array(value: object, key: str | int, what: str) -> list:
    if type(value) is not list:
        raise Malformed("missing" if value is None else f"expected {what} (a JSON array), got {_show(value)}", key)
    return value


def _show(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return text if len(text) <= 40 else text[:37] + "..."
