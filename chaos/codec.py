"""One generic codec for chaoslab's documents: frozen dataclasses to JSON and back, and their JSON Schema.

The type hints of a document class are its format. :func:`encode` writes an instance as a JSON value,
its fields in their declared order; :func:`build` reads one back, checking every value against the
field's declared type (a string where a number belongs, NaN, null for a required number, a list for an
object, a state that is none of its enum's values): a damaged document is an :class:`InputError` naming
the file and the JSON path of the bad value, e.g. ``runs/x/result.json: playbook.steps[1].start_s:
expected a number, found the string '12'``. :func:`json_schema` describes the same types for editors and
validators. :func:`shown` makes every string of a checked value safe to draw (:mod:`chaos.terminal`).

What a field's ``metadata`` may say, read by all three:

- ``key``: the JSON key, when it is not the field's name;
- ``gt``, ``ge``: bounds of a number;
- ``omit``: a predicate of the instance; when it holds, :func:`encode` leaves the key out (an optional
  section absent from the document, rather than null). ``OMIT_NONE`` leaves it out when it is None, as does
  ``omit_none: True`` (what the model's ``fld(omit_none=True)`` says, for a model class in a document);
- ``tag``: the field is a *tagged union*: its type is a union of dataclasses, each with a class attribute
  ``TAG``, and the value of the sibling key named by ``tag`` (its JSON value) chooses the member, e.g. a
  fault's ``params``, whose shape its ``kind`` gives. The sibling must be declared before the field.

Supported field types: int, float (finite; an int is read as a float), str, bool, an Enum (its value),
``X | None``, a nested dataclass, a union of dataclasses told apart by a sibling's value (``tag``),
``tuple[X, ...]`` and ``tuple[X, Y]`` (JSON lists), ``Mapping[str, X]`` (a JSON object) and Any (any JSON
value without NaN or infinity, written as it is).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from chaos.errors import InputError, Location
from chaos.terminal import visible

T = TypeVar("T")
REBUILD = "re-create result.json with this version of chaoslab"


def omit_none(name: str) -> Callable[[Any], bool]:
    return lambda obj: getattr(obj, name) is None


def OMIT_NONE(name: str) -> dict[str, Any]:  # noqa: N802 - reads as a constant in a field's metadata
    """``field(metadata=OMIT_NONE("x"))``: field ``x`` is left out of the JSON while it is None."""
    return {"omit": omit_none(name)}


# --------------------------------------------------------------------------- a reader checked by the types


def build(cls: type[T], raw: Any, where: str, source: str) -> T:
    """An instance of the dataclass ``cls`` from the mapping ``raw``, each field's value checked against its
    declared type (:func:`typed`). Keys ``cls`` does not declare are ignored; a field without a default is
    required. ``field(metadata={"key": ...})`` reads a field from a key of another name. A ``__post_init__``
    that finds its fields inconsistent raises ValueError, reported at ``where``.
    """
    if not isinstance(raw, Mapping):
        raise _wrong("an object", raw, where, source)
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = _key(f)
        if key in raw:
            tp = hints[f.name] if "tag" not in f.metadata else _tagged_member(cls, f, raw, where, source)
            kwargs[f.name] = _bounded(typed(tp, raw[key], _join(where, key), source), f.metadata,
                                      _join(where, key), source)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise InputError(f"missing '{key}'", Location(source), where, hint=REBUILD)
    try:
        return cls(**kwargs)
    except Inconsistent as exc:
        raise InputError(exc.message, Location(source), _join(where, exc.where), hint=REBUILD) from None


def _key(f: dataclasses.Field[Any]) -> str:
    """A field's JSON key: ``metadata["key"]`` when set (the model's ``fld`` writes None for none)."""
    key: str | None = f.metadata.get("key")
    return key or f.name


def _omitted(f: dataclasses.Field[Any], obj: Any) -> bool:
    """Whether :func:`encode` leaves the field out of the JSON of ``obj``."""
    omit = f.metadata.get("omit")
    if omit is not None and omit(obj):
        return True
    return bool(f.metadata.get("omit_none")) and getattr(obj, f.name) is None


def _optional(f: dataclasses.Field[Any]) -> bool:
    return "omit" in f.metadata or bool(f.metadata.get("omit_none"))


def tagged_members(cls: type, f: dataclasses.Field[Any]) -> dict[Any, type]:
    """The members of a tagged-union field (``metadata["tag"]``) by the JSON value of their ``TAG``."""
    members = _union(_hints(cls)[f.name]) or (_hints(cls)[f.name],)
    out = {encode(m.TAG): m for m in members if m is not type(None)}
    if len(out) != len([m for m in members if m is not type(None)]):
        raise TypeError(f"{cls.__name__}.{f.name}: two members share a TAG")  # a bug in a document class
    return out


def _tagged_member(cls: type, f: dataclasses.Field[Any], raw: Mapping[str, Any], where: str, source: str) -> Any:
    """The member of the tagged union ``f`` that the sibling key's value names (already checked by its own
    field, declared before ``f``), or None's type if the field may be None and is."""
    sibling = f.metadata["tag"]
    member = tagged_members(cls, f).get(raw.get(sibling))
    if member is None:  # the sibling's own field refuses a value no member has; this is a class's bug
        raise TypeError(f"{cls.__name__}.{f.name}: no member for {sibling} {raw.get(sibling)!r}")
    return member | None if type(None) in (_union(_hints(cls)[f.name]) or ()) else member


class Inconsistent(ValueError):
    """Raised by a document class's ``__post_init__`` when its fields disagree; ``where`` is relative to it."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def _bounded(value: Any, meta: Mapping[str, Any], where: str, source: str) -> Any:
    """A number checked against the bounds a field declares: ``field(metadata={"gt": 0})``."""
    checks: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
        ("ge", lambda b: bool(value >= b), "at least"), ("gt", lambda b: bool(value > b), "greater than"))
    for name, ok, words in checks:
        bound = meta.get(name)
        if bound is not None and value is not None and not ok(bound):
            raise InputError(f"{value:g} is out of range: must be {words} {bound:g}", Location(source), where,
                             hint=REBUILD)
    return value


def typed(tp: Any, value: Any, where: str, source: str) -> Any:
    """``value`` as read from JSON, checked to be a ``tp``: int, float (finite; an int is widened), str,
    bool, an Enum (one of its values: a state), ``X | None``, a nested dataclass, ``tuple[X, ...]`` or
    ``tuple[X, Y]`` (a JSON list), ``Mapping[str, X]`` (a JSON object), or Any (any JSON value without
    NaN or infinity)."""
    if tp is Any:
        return _finite_json(value, where, source)
    members = _union(tp)
    if members is not None:
        if value is None and type(None) in members:
            return None
        rest = [m for m in members if m is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"unsupported union {tp!r} at {where}")  # a bug in a document class
        return typed(rest[0], value, where, source)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where, source)  # type: ignore[arg-type]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum(tp, value, where, source)
    origin = typing.get_origin(tp)
    if origin is tuple:
        return _tuple(typing.get_args(tp), value, where, source)
    if origin is Mapping:
        if not isinstance(value, Mapping):
            raise _wrong("an object", value, where, source)
        item = typing.get_args(tp)[1]
        return {key: typed(item, v, _join(where, key), source) for key, v in value.items()}
    if tp in _PLAIN:
        return _plain(tp, value, where, source)
    raise TypeError(f"unsupported field type {tp!r} at {where}")  # a bug in a document class


def _enum(kind: type[enum.Enum], value: Any, where: str, source: str) -> enum.Enum:
    for member in kind:
        if member.value == value and type(member.value) is type(value):
            return member
    known = ", ".join(repr(m.value) for m in kind)
    raise InputError(f"{value!r} is not one of {known}", Location(source), where, hint=REBUILD)


_PLAIN: dict[Any, str] = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _plain(tp: type, value: Any, where: str, source: str) -> Any:
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise _wrong("a finite number", value, where, source)
        return float(value)
    if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise _wrong(_PLAIN[tp], value, where, source)


def _tuple(args: tuple[Any, ...], value: Any, where: str, source: str) -> tuple[Any, ...]:
    if not isinstance(value, list):
        raise _wrong("a list", value, where, source)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(typed(args[0], v, f"{where}[{i}]", source) for i, v in enumerate(value))
    if len(value) != len(args):
        raise _wrong(f"a list of {len(args)}", value, where, source)
    return tuple(typed(a, v, f"{where}[{i}]", source) for i, (a, v) in enumerate(zip(args, value, strict=True)))


def _finite_json(value: Any, where: str, source: str) -> Any:
    """Any JSON value, as read, once no number in it is NaN or infinite (walked without recursion)."""
    todo: list[tuple[Any, str]] = [(value, where)]
    while todo:
        item, at = todo.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise _wrong("a finite number", item, at, source)
        if isinstance(item, Mapping):
            todo += [(v, _join(at, k)) for k, v in item.items()]
        elif isinstance(item, list):
            todo += [(v, f"{at}[{i}]") for i, v in enumerate(item)]
    return value


def _wrong(expected: str, value: Any, where: str, source: str) -> InputError:
    return InputError(f"expected {expected}, found {_describe(value)}", Location(source), where, hint=REBUILD)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {value[:40]!r}" + ("..." if len(value) > 40 else "")
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("-Infinity" if value < 0 else "Infinity")
    if isinstance(value, (int, float)):
        return f"the number {value:g}" if isinstance(value, float) else f"the integer {value}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return "an object"


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _union(tp: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(tp)
    return typing.get_args(tp) if origin is typing.Union or origin is types.UnionType else None


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def required_keys(cls: type) -> tuple[str, ...]:
    return tuple(_key(f) for f in dataclasses.fields(cls)
                 if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


# --------------------------------------------------------------------------- strings as shown


def shown(tp: Any, value: Any) -> Any:
    """``value``, already checked to be a ``tp`` (:func:`typed`), with every string in it, mapping keys too,
    as :func:`chaos.terminal.visible` shows it. The same walk as :func:`typed`, after it: checking sees the
    document as written (its error messages quote values with ``repr``), and a state (an Enum) is never a
    string. Parts whose type holds no string, such as the series' columns of numbers, are returned as they are.
    """
    if value is None or not _has_text(tp):
        return value
    if tp is str:
        return visible(value)
    if tp is Any:
        return _shown_json(value)
    members = _union(tp)
    if members is not None:  # the member the value is (a tagged union), else the one that is not None
        own = type(value) if type(value) in members else next(m for m in members if m is not type(None))
        return shown(own, value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        return dataclasses.replace(value, **{f.name: shown(hints[f.name], getattr(value, f.name))
                                             for f in dataclasses.fields(tp)})
    args = typing.get_args(tp)
    if typing.get_origin(tp) is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(shown(args[0], v) for v in value)
        return tuple(shown(a, v) for a, v in zip(args, value, strict=True))
    return {visible(key): shown(args[1], v) for key, v in value.items()}  # Mapping[str, X]


@functools.cache
def _has_text(tp: Any) -> bool:
    """Whether a value of type ``tp`` can hold a string that is not an enum's value."""
    if tp is str or tp is Any:
        return True
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return any(_has_text(h) for h in _hints(tp).values())
    return any(_has_text(a) for a in typing.get_args(tp) if a is not Ellipsis)


def _shown_json(value: Any) -> Any:
    """A JSON value (an ``Any`` field: the audit, a fault's parameters) with its strings, keys too, shown;
    walked without recursion, as :func:`_finite_json` walks it, since a document may nest it deeply."""
    holder: list[Any] = [None]
    todo: list[tuple[Any, Any, Any]] = [(holder, 0, value)]
    while todo:
        parent, slot, item = todo.pop()
        if isinstance(item, str):
            parent[slot] = visible(item)
        elif isinstance(item, Mapping):
            copy: dict[str, Any] = {}
            parent[slot] = copy
            for key, v in item.items():
                key = visible(key)
                copy[key] = None  # its place in the document's order of keys, filled when v is walked
                todo.append((copy, key, v))
        elif isinstance(item, list):
            parent[slot] = items = [None] * len(item)
            todo += [(items, i, v) for i, v in enumerate(item)]
        else:
            parent[slot] = item
    return holder[0]




# --------------------------------------------------------------------------- writing


def encode(value: Any) -> Any:
    """``value`` as a JSON value: a dataclass as an object of its fields in declared order (a field whose
    ``omit`` predicate holds left out), an Enum as its value, a tuple or list as a list, a mapping as an
    object; numbers, strings, booleans and None as they are. Floats are written as they are: whoever
    builds a document rounds its figures."""
    if value is None or isinstance(value, (str, int, float)):  # bool is an int
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        return {(k.value if isinstance(k, enum.Enum) else k): encode(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            if not _omitted(f, value):
                out[_key(f)] = encode(getattr(value, f.name))
        return out
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")  # a bug in a document class


# --------------------------------------------------------------------------- the schema


def json_schema(cls: type, title: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of what :func:`encode` writes for the dataclass ``cls``: each nested
    class once, under ``$defs``. A key is required unless its field may be omitted (``omit``); a key no
    field declares is not allowed. A tagged union (``tag``) is one ``if``/``then`` per member: the sibling's
    value chooses the member's schema."""
    defs: dict[str, Any] = {}
    root = _schema_of(cls, defs)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, **root, "$defs": defs}


def _schema_of(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if tp is Any:
        return {}
    members = _union(tp)
    if members is not None:
        parts = [_schema_of(m, defs) for m in members]
        if all(set(p) == {"type"} for p in parts):  # number or null: one list of types, quick to check
            return {"type": [p["type"] for p in parts]}
        return {"anyOf": parts}
    if tp is type(None):
        return {"type": "null"}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # a placeholder, so that a class that holds itself stops here
            defs[name] = _object_schema(tp, defs)
        return {"$ref": f"#/$defs/{name}"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _schema_of(args[0], defs)}
        return {"type": "array", "prefixItems": [_schema_of(a, defs) for a in args], "items": False,
                "minItems": len(args)}
    if origin is Mapping:
        return {"type": "object", "additionalProperties": _schema_of(args[1], defs)}
    plain = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if tp in plain:
        return {"type": plain[tp]}
    raise TypeError(f"unsupported field type {tp!r}")  # a bug in a document class


def _object_schema(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = _hints(cls)
    props: dict[str, Any] = {}
    required = []
    choices: list[dict[str, Any]] = []
    for f in dataclasses.fields(cls):
        key = _key(f)
        if "tag" in f.metadata:
            prop = {"type": "object"}
            choices += _tag_choices(cls, f, key, defs)
        else:
            prop = _schema_of(hints[f.name], defs)
        for name, word in (("gt", "exclusiveMinimum"), ("ge", "minimum")):
            if f.metadata.get(name) is not None:  # a model's fld writes None for no bound
                prop = {**prop, word: f.metadata[name]}
        props[key] = prop
        if not _optional(f):
            required.append(key)
    out: dict[str, Any] = {"type": "object"}
    doc = cls.__doc__ or ""
    if doc and not doc.startswith(f"{cls.__name__}("):  # not the signature dataclass writes in
        out["description"] = " ".join(doc.split("\n\n")[0].split())
    out = {**out, "properties": props, "required": required, "additionalProperties": False}
    return {**out, "allOf": choices} if choices else out


def _tag_choices(cls: type, f: dataclasses.Field[Any], key: str, defs: dict[str, Any]) -> list[dict[str, Any]]:
    """One ``if`` (the sibling holds this member's tag) ``then`` (the field has the member's shape) per member."""
    sibling = f.metadata["tag"]
    return [{"if": {"properties": {sibling: {"const": tag}}, "required": [sibling]},
             "then": {"properties": {key: _schema_of(member, defs)}}}
            for tag, member in tagged_members(cls, f).items()]
