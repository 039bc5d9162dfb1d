"""Frozen dataclasses to JSON and back, driven by their type hints: the journal's one codec.

A field is written under its name, or under ``field(metadata={"json": "name"})``; enums as their
values, tuples as lists, mappings as objects, nested dataclasses as objects. A field marked
``field(default=..., metadata={"added": True})`` (added after its journal version was fixed) is
written only when it is not its default, so older lines read and write back the same. A field whose value
is :data:`KEEP` is left out (and a key left out reads back as :data:`KEEP`): that is how a change
says "this key stays as it is", apart from "this key becomes null".

Reading checks every value against its annotation and raises :class:`CodecError` naming the
path of the bad value (``params.attributes.latency``), so a damaged journal says where.
Supported annotations: ``str``, ``int``, ``float``, ``bool``, enums, ``X | None``, ``X | Keep``,
``tuple[X, ...]``, ``Mapping[str, X]`` and dataclasses of those.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class Keep(enum.Enum):
    """A key a change leaves as it is (written nowhere: the key is left out)."""

    KEEP = "keep"


KEEP = Keep.KEEP


class CodecError(ValueError):
    """A JSON value that does not fit the type it is read as; ``path`` is where, e.g. ``params.api``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or '(top level)'}: {message}")
        self.path = path
        self.message = message


def to_json(value: object) -> Any:
    """The JSON form of a dataclass (or of any value a dataclass field may hold)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {_json_name(f): to_json(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not KEEP and not _left_out(f, getattr(value, f.name))}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    return value


def from_json(cls: type[T], data: object, path: str = "", *, ignore: frozenset[str] = frozenset()) -> T:
    """A ``cls`` (a dataclass) read from ``data``; keys in ``ignore`` may be there and are skipped."""
    if not isinstance(data, dict):
        raise CodecError(path, f"expected an object, got {_kind(data)}")
    known = {_json_name(f) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known - ignore)
    if unknown:
        raise CodecError(_join(path, unknown[0]), f"unknown key (expected one of: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = _json_name(f)
        if name in data:
            values[f.name] = _read(hints[f.name], data[name], _join(path, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise CodecError(_join(path, name), "missing (required)")
    return cls(**values)


def _left_out(f: dataclasses.Field[Any], value: object) -> bool:
    """A field added after a journal version was fixed (``metadata={"added": True}``) is written only when it is
    not its default, so the lines an older version wrote read back and write back the same."""
    return bool(f.metadata.get("added")) and value == f.default


def _json_name(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("json", f.name))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _read(tp: Any, value: object, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return _read_union(typing.get_args(tp), value, path)
    if origin is tuple:
        item = typing.get_args(tp)[0]
        return tuple(_read(item, v, f"{path}[{i}]") for i, v in enumerate(_expect(value, list, "a list", path)))
    if origin in (Mapping, dict):
        item = typing.get_args(tp)[1]
        return {k: _read(item, v, _join(path, k)) for k, v in _expect(value, dict, "an object", path).items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_json(tp, value, path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            valid = ", ".join(repr(m.value) for m in tp)
            raise CodecError(path, f"{value!r} is not one of {valid}") from None
    return _scalar(tp, value, path)


def _read_union(options: tuple[Any, ...], value: object, path: str) -> Any:
    if value is None and type(None) in options:
        return None
    problems: list[CodecError] = []
    for option in options:
        if option in (type(None), Keep):
            continue
        try:
            return _read(option, value, path)
        except CodecError as exc:
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]  # where inside the one type it could be, the bad value is
    raise CodecError(path, " or ".join(p.message for p in problems))


def _scalar(tp: Any, value: object, path: str) -> Any:
    if tp is bool:
        return _expect(value, bool, "true or false", path)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CodecError(path, f"expected a whole number, got {_kind(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CodecError(path, f"expected a number, got {_kind(value)}")
        return float(value)
    if tp is str:
        return _expect(value, str, "a string", path)
    raise TypeError(f"{path}: the codec cannot read a {tp!r}")  # a field type this module does not support


def _expect(value: object, kind: type[T], words: str, path: str) -> T:
    if not isinstance(value, kind):
        raise CodecError(path, f"expected {words}, got {_kind(value)}")
    return value


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__
