"""Decode and encode JSON the way the official (Go) Toxiproxy server does.

Clients written against the official server rely on its quirks, so we keep them:

- only the first JSON value of a body is read; trailing bytes are ignored;
- object keys match struct fields case-insensitively (``"Name"`` sets ``name``);
- ``null`` leaves a field at its default;
- an integer field rejects ``1.5`` and ``1e3`` (Go's decoder does not convert);
- responses are compact, and ``<``, ``>``, ``&`` are escaped as Go's encoder does.

Errors carry Go's wording (``json: cannot unmarshal string into Go struct field
Proxy.name of type string``) because clients show them to users verbatim.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class GoJSONError(ValueError):
    """A body the Go decoder would reject; the message is Go's wording."""


@dataclass(frozen=True)
class FloatToken:
    """A JSON number written with a fraction or an exponent, kept as written."""

    text: str

    @property
    def value(self) -> float:
        return float(self.text)


class Kind(StrEnum):
    """Go field types that the API's request bodies use."""

    STRING = "string"
    BOOL = "bool"
    INT64 = "int64"
    INT = "int"
    FLOAT32 = "float32"


def decode(body: bytes) -> object:
    """The first JSON value of ``body``, numbers with a fraction as ``FloatToken``."""
    text = body.decode("utf-8", errors="replace")
    start = len(text) - len(text.lstrip(" \t\r\n"))
    if start == len(text):
        raise GoJSONError("EOF")
    decoder = json.JSONDecoder(parse_float=FloatToken, parse_constant=_reject_constant)
    try:
        value, _end = decoder.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise GoJSONError(_syntax_message(text, exc.pos)) from None
    return value


def _reject_constant(name: str) -> object:
    # Python accepts NaN/Infinity; Go's decoder does not.
    raise json.JSONDecodeError("constant", name, 0)


def _syntax_message(text: str, pos: int) -> str:
    if pos >= len(text.rstrip(" \t\r\n")):
        return "unexpected EOF"
    return f"invalid character {_go_quote_char(text[pos])} looking for beginning of value"


def _go_quote_char(char: str) -> str:
    if char == "'":
        return "'\\''"
    if char == '"':
        return "'\"'"
    return f"'{char}'" if char.isprintable() else repr(char)


def json_kind(value: object) -> str:
    """How Go names a JSON value in an unmarshal error."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, FloatToken)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def type_error(value: object, where: str, go_type: str) -> GoJSONError:
    """Go's message for a value that does not fit a field."""
    described = json_kind(value)
    if isinstance(value, FloatToken):
        described = f"number {value.text}"
    elif isinstance(value, int) and not isinstance(value, bool):
        described = f"number {value}"
    return GoJSONError(f"json: cannot unmarshal {described} into {where} of type {go_type}")


def expect_object(value: object, go_type: str) -> Mapping[str, object]:
    """``value`` as a JSON object, or Go's error for decoding it into ``go_type``."""
    if isinstance(value, dict):
        return value
    raise GoJSONError(f"json: cannot unmarshal {json_kind(value)} into Go value of type {go_type}")


def bind(
    obj: Mapping[str, object], fields: Mapping[str, Kind], struct_name: str, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """Decode the known ``fields`` of ``obj`` over ``defaults``, as Go fills a struct.

    Keys match field names case-insensitively; a later duplicate key wins; ``null``
    and unknown keys are ignored.
    """
    result = dict(defaults)
    by_folded = {name.casefold(): name for name in fields}
    for key, value in obj.items():
        field = key if key in fields else by_folded.get(key.casefold())
        if field is None or value is None:
            continue
        where = f"Go struct field {struct_name}.{field}"
        result[field] = convert(value, fields[field], where)
    return result


def convert(value: object, kind: Kind, where: str) -> Any:
    """``value`` checked and converted to the Python form of the Go ``kind``."""
    if kind is Kind.STRING and isinstance(value, str):
        return value
    if kind is Kind.BOOL and isinstance(value, bool):
        return value
    if kind in (Kind.INT64, Kind.INT) and _is_int64(value):
        return value
    if kind is Kind.FLOAT32 and _is_number(value):
        return float32(_number(value))
    raise type_error(value, where, kind.value)


def _is_int64(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and _INT64_MIN <= value <= _INT64_MAX


def _is_number(value: object) -> bool:
    return isinstance(value, FloatToken) or (isinstance(value, int) and not isinstance(value, bool))


def _number(value: object) -> float:
    return value.value if isinstance(value, FloatToken) else float(value)  # type: ignore[arg-type]


def float32(value: float) -> float:
    """``value`` rounded to the nearest float32, as the Go server stores toxicity."""
    try:
        return float(struct.unpack("f", struct.pack("f", value))[0])
    except OverflowError:
        return value


def float32_json(value: float) -> int | float:
    """The number Go's encoder writes for a float32: shortest digits, no ``.0``."""
    if value == int(value) and abs(value) < 1e21:
        return int(value)
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if float32(candidate) == value:
            return candidate
    return value


def encode(value: object) -> bytes:
    """Compact JSON escaped as Go's ``json.Marshal`` escapes it."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in _GO_ESCAPES:
        text = text.replace(raw, escaped)
    return text.encode("utf-8")


# Go escapes these inside strings so that JSON can be embedded in HTML; they can
# only occur inside strings in our output, so replacing them everywhere is safe.
_GO_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)
