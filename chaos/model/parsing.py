"""YAML in, frozen typed objects out: the one boundary where raw data becomes the model.

Every model class is a frozen dataclass deriving from :class:`Model`. Its type hints
*are* the file format: this module reads them to convert YAML nodes, and
``chaos.model.schema`` reads the same hints to print a JSON Schema. There is no
second description of the format to drift out of date.

Every object remembers where it came from (:class:`Where`), so a check made long
after parsing (an unknown service named in a fault, say) still reports
``file:line:col: faults[2].target: ...`` like a compiler.

Supported field types: ``bool``, ``int``, ``float``, ``str``, ``Enum`` subclasses,
``Seconds`` (``"250ms"``, ``"1m30s"`` or a number of seconds), nested models,
``tuple[X, ...]`` (a YAML list, or a YAML mapping when the field is ``keyed``),
``X | None``, and tagged unions (``Annotated[A | B, Tagged("kind")]``).
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import re
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar, Union

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from chaos.errors import UNKNOWN, InputError, Location

# --------------------------------------------------------------------------- markers


@dataclass(frozen=True)
class Unit:
    """Marks a float field as a quantity written with a unit in YAML."""

    name: str


DURATION = Unit("duration")
Seconds = Annotated[float, DURATION]
"""A duration: ``250ms``, ``3s``, ``2m``, ``1h``, ``1m30s``, or a bare number of seconds."""


@dataclass(frozen=True)
class Tagged:
    """Marks a union of model classes told apart by the value of ``key``.

    ``default`` is the member used when the key is absent; ``scalar`` is the member
    built when the YAML holds a plain scalar instead of a mapping (its first field
    receives the scalar), so ``service_time: 20ms`` means a constant 20 ms.
    """

    key: str
    default: type | None = None
    scalar: type | None = None


@dataclass(frozen=True)
class RawValue:
    """A YAML value kept unconverted until its type is known (the value of an override)."""

    node: Node
    ctx: Context

    @property
    def text(self) -> str:
        return str(getattr(self.node, "value", ""))


RAW = Unit("raw")
Raw = Annotated[RawValue, RAW]


def fld(
    default: Any = MISSING,
    *,
    doc: str = "",
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    key: str | None = None,
    keyed: str | None = None,
    factory: Callable[[], Any] | None = None,
    internal: bool = False,
) -> Any:
    """A dataclass field with what the parser and the schema need to know about it.

    ``key`` is the YAML key when it differs from the attribute (``for`` -> ``for_``).
    ``keyed`` turns a ``tuple[M, ...]`` field into a YAML mapping whose keys fill
    ``M``'s field of that name. ``internal`` fields are never read from YAML.
    """
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "lt": lt, "key": key,
            "keyed": keyed, "internal": internal}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


# --------------------------------------------------------------------------- locations


@dataclass(frozen=True)
class Where:
    """Where a parsed object came from: its file, its path in the document, the marks of its fields."""

    location: Location = UNKNOWN
    path: str = ""
    fields: types.MappingProxyType[str, Location] = field(
        default_factory=lambda: types.MappingProxyType({}))

    def of(self, name: str | None) -> tuple[Location, str]:
        if name is None:
            return self.location, self.path
        return self.fields.get(name, self.location), join(self.path, name)


def join(path: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


NOWHERE = Where()


class Model:
    """Base of every parsed object. Subclasses are ``@dataclass(frozen=True)``.

    ``TAG`` names the class inside a tagged union. ``validate`` is the hook for checks
    that involve several fields; raise ``self.error(...)`` from it.
    """

    TAG: ClassVar[str] = ""
    VALUE_KEY: ClassVar[str | None] = None  # in a keyed mapping, ``name: value`` fills this field
    _where: Where = NOWHERE

    def error(self, field_name: str | None, message: str, hint: str | None = None) -> InputError:
        location, path = self._where.of(field_name)
        return InputError(message, location, path, hint)

    def validate(self) -> None:
        """Check relations between fields; called right after the object is built."""

    @classmethod
    def prepare(cls, values: dict[str, Any], where: Where) -> dict[str, Any]:
        """Adjust parsed field values before the object is built (e.g. apply overrides)."""
        return values


M = TypeVar("M", bound=Model)


def located(obj: M, where: Where) -> M:
    object.__setattr__(obj, "_where", where)
    return obj


def where_of(obj: Model) -> Where:
    return obj._where


# --------------------------------------------------------------------------- small parsers

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(us|µs|ms|s|m|h|d)")
_UNIT_SECONDS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """``"1m30s"`` -> 90.0. Raises ValueError with a message fit for the user."""
    s = text.strip().replace(" ", "")
    try:
        number = float(s)  # a quoted plain number is seconds too
    except ValueError:
        pass
    else:
        if number >= 0 and number == number and number != float("inf"):
            return number
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"'{text}' is not a duration (write e.g. 250ms, 3s, 2m, 1h, 1m30s or a number of seconds)")
    return total


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def one_of(choices: typing.Iterable[str]) -> str:
    return ", ".join(f"'{c}'" for c in choices)


# --------------------------------------------------------------------------- type introspection


@dataclass(frozen=True)
class FieldInfo:
    name: str
    key: str
    type: Any
    required: bool
    default: Any
    meta: types.MappingProxyType[str, Any]


_FIELDS_CACHE: dict[type, tuple[FieldInfo, ...]] = {}


def model_fields(cls: type) -> tuple[FieldInfo, ...]:
    """The YAML-facing fields of a model class, with resolved type hints."""
    cached = _FIELDS_CACHE.get(cls)
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls, include_extras=True)
    out = []
    for f in dataclasses.fields(cls):
        meta: typing.Mapping[str, Any] = f.metadata or {}
        if meta.get("internal"):
            continue
        required = f.default is MISSING and f.default_factory is MISSING
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else MISSING)
        out.append(FieldInfo(f.name, meta.get("key") or f.name, hints[f.name], required, default,
                             types.MappingProxyType(dict(meta))))
    result = tuple(out)
    _FIELDS_CACHE[cls] = result
    return result


def split_annotated(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    if typing.get_origin(tp) is Annotated:
        return tp.__origin__, tp.__metadata__
    return tp, ()


def union_args(tp: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return typing.get_args(tp)
    return None


def optional_inner(tp: Any) -> Any | None:
    """``X | None`` -> X; anything else -> None."""
    args = union_args(tp)
    if args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0] if len(rest) == 1 else Union[tuple(rest)]  # type: ignore[return-value]  # noqa: UP007
    return None


def is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Model)


def enum_choices(cls: type[enum.Enum]) -> list[str]:
    return [str(m.value) for m in cls]


# --------------------------------------------------------------------------- conversion


@dataclass
class Context:
    """What conversion needs beyond the node: the file, and how to load referenced files."""

    file: str
    base_dir: Path
    load_ref: Callable[[str, Any, Context, Node, str], Any] | None = None
    _constructor: SafeConstructor = field(default_factory=SafeConstructor)

    def loc(self, node: Node) -> Location:
        mark = node.start_mark
        return Location(self.file, mark.line + 1, mark.column + 1)

    def fail(self, node: Node, path: str, message: str, hint: str | None = None) -> InputError:
        return InputError(message, self.loc(node), path, hint)

    def scalar(self, node: ScalarNode) -> Any:
        return self._constructor.construct_object(node, deep=True)


_KIND_NAMES: dict[type, str] = {MappingNode: "a mapping", SequenceNode: "a list"}


def describe(node: Node, ctx: Context) -> str:
    if isinstance(node, ScalarNode):
        value = ctx.scalar(node)
        if value is None:
            return "nothing (null)"
        return f"{type(value).__name__} {value!r}"
    return _KIND_NAMES.get(type(node), "something else")


def convert(node: Node, tp: Any, ctx: Context, path: str, meta: typing.Mapping[str, Any] | None = None) -> Any:
    """Convert one YAML node to the Python value of type ``tp``, or raise InputError."""
    meta = meta or {}
    base, markers = split_annotated(tp)
    inner = optional_inner(base)
    if inner is not None:
        if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return None
        return convert(node, Annotated[(inner, *markers)] if markers else inner, ctx, path, meta)
    for marker in markers:
        if isinstance(marker, Tagged):
            return _convert_tagged(node, base, marker, ctx, path)
        if marker is DURATION:
            return _check_bounds(_convert_duration(node, ctx, path), node, ctx, path, meta, unit="s")
        if marker is RAW:
            return RawValue(node, ctx)
    if meta.get("ref") or (is_model(base) and getattr(base, "REF", False) and isinstance(node, ScalarNode)):
        if ctx.load_ref is None or not isinstance(node, ScalarNode):
            raise ctx.fail(node, path, "file references are not allowed here")
        return ctx.load_ref(ctx.scalar(node), base, ctx, node, path)
    if is_model(base):
        return convert_model(node, base, ctx, path)
    members = union_args(base)
    if members:
        return _convert_union(node, members, ctx, path, meta)
    if typing.get_origin(base) is tuple:
        return _convert_tuple(node, typing.get_args(base)[0], ctx, path, meta)
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return _convert_enum(node, base, ctx, path)
    if base in (bool, int, float, str):
        return _check_bounds(_convert_plain(node, base, ctx, path), node, ctx, path, meta)
    raise TypeError(f"unsupported field type {tp!r} at {path}")  # a bug in a model class


def _convert_union(node: Node, members: tuple[Any, ...], ctx: Context, path: str,
                   meta: typing.Mapping[str, Any]) -> Any:
    """A plain union (e.g. an enum or a mapping): the node's shape picks the member."""
    wants_mapping = isinstance(node, MappingNode)
    for member in members:
        if is_model(member) == wants_mapping:
            return convert(node, member, ctx, path, meta)
    shapes = " or ".join("a mapping" if is_model(m) else describe_type(m) for m in members)
    raise ctx.fail(node, path, f"expected {shapes}, got {describe(node, ctx)}")


def describe_type(tp: Any) -> str:
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return f"one of {one_of(enum_choices(tp))}"
    return getattr(tp, "__name__", str(tp))


def _convert_plain(node: Node, tp: type, ctx: Context, path: str) -> Any:
    if not isinstance(node, ScalarNode):
        raise ctx.fail(node, path, f"expected {_plain_name(tp)}, got {describe(node, ctx)}")
    value = ctx.scalar(node)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(node.value)  # a name like 404 or 1.2 is still a name
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ctx.fail(node, path, f"expected {_plain_name(tp)}, got {describe(node, ctx)}")
    return value


def _plain_name(tp: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[tp]


def _check_bounds(value: Any, node: Node, ctx: Context, path: str, meta: typing.Mapping[str, Any],
                  unit: str = "") -> Any:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return value
    shown = f"{node.value}" if isinstance(node, ScalarNode) else str(value)
    checks = (("ge", lambda b: value >= b, "at least"), ("gt", lambda b: value > b, "greater than"),
              ("le", lambda b: value <= b, "at most"), ("lt", lambda b: value < b, "less than"))
    for name, ok, words in checks:
        bound = meta.get(name)
        if bound is not None and not ok(bound):
            raise ctx.fail(node, path, f"{shown} is out of range: must be {words} {bound:g}{unit}")
    return value


def _convert_duration(node: Node, ctx: Context, path: str) -> float:
    if not isinstance(node, ScalarNode):
        raise ctx.fail(node, path, f"expected a duration such as 250ms or 3s, got {describe(node, ctx)}")
    value = ctx.scalar(node)
    if isinstance(value, bool):
        raise ctx.fail(node, path, f"expected a duration such as 250ms or 3s, got {describe(node, ctx)}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ctx.fail(node, path, f"a duration cannot be negative ({value})")
        return float(value)
    try:
        return parse_duration(str(value))
    except ValueError as exc:
        raise ctx.fail(node, path, str(exc)) from None


def _convert_enum(node: Node, cls: type[enum.Enum], ctx: Context, path: str) -> enum.Enum:
    if not isinstance(node, ScalarNode):
        raise ctx.fail(node, path, f"expected one of {one_of(enum_choices(cls))}, got {describe(node, ctx)}")
    text = str(node.value)
    wanted = text.strip().lower().replace("-", "_")
    for member in cls:
        if str(member.value).lower().replace("-", "_") == wanted:
            return member
    raise ctx.fail(node, path, f"unknown value '{text}'{did_you_mean(text, enum_choices(cls))}",
                   hint=f"valid values: {one_of(enum_choices(cls))}")


def _convert_tuple(node: Node, item: Any, ctx: Context, path: str, meta: typing.Mapping[str, Any]) -> tuple:
    keyed = meta.get("keyed")
    if keyed:
        if not isinstance(node, MappingNode):
            raise ctx.fail(node, path, f"expected a mapping of names to entries, got {describe(node, ctx)}")
        out = []
        for key_node, value_node in _pairs(node, ctx, path):
            name = str(key_node.value)
            if item.VALUE_KEY is not None:
                value_node = MappingNode("tag:yaml.org,2002:map", [(ScalarNode("tag:yaml.org,2002:str", item.VALUE_KEY,
                                         value_node.start_mark, value_node.end_mark), value_node)],
                                         value_node.start_mark, value_node.end_mark)
            out.append(convert_model(value_node, item, ctx, join(path, name),
                                     preset={keyed: (name, ctx.loc(key_node))}))
        return tuple(out)
    if not isinstance(node, SequenceNode):
        raise ctx.fail(node, path, f"expected a list, got {describe(node, ctx)}")
    return tuple(convert(child, item, ctx, join(path, i)) for i, child in enumerate(node.value))


def _pairs(node: MappingNode, ctx: Context, path: str) -> list[tuple[ScalarNode, Node]]:
    """Key/value pairs of a mapping, with merge keys applied and duplicates refused."""
    ctx._constructor.flatten_mapping(node)
    seen: dict[str, Node] = {}
    pairs = []
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode):
            raise ctx.fail(key_node, path, "keys must be plain names")
        key = str(key_node.value)
        if key in seen:
            first = ctx.loc(seen[key])
            raise ctx.fail(key_node, join(path, key), f"duplicate key (first given at line {first.line})")
        seen[key] = key_node
        pairs.append((key_node, value_node))
    return pairs


def convert_model(node: Node, cls: type[M], ctx: Context, path: str,
                  preset: dict[str, tuple[Any, Location]] | None = None) -> M:
    """Build model ``cls`` from a mapping node, refusing unknown keys and missing ones."""
    if not isinstance(node, MappingNode):
        raise ctx.fail(node, path, f"expected a mapping with keys {one_of(f.key for f in model_fields(cls))}, "
                                   f"got {describe(node, ctx)}")
    fields = {f.key: f for f in model_fields(cls)}
    values: dict[str, Any] = {}
    marks: dict[str, Location] = {}
    for name, (value, loc) in (preset or {}).items():
        values[name], marks[name] = value, loc
    for key_node, value_node in _pairs(node, ctx, path):
        key = str(key_node.value)
        info = fields.get(key)
        if info is None or info.name in (preset or {}):
            raise ctx.fail(key_node, join(path, key), f"unknown key{did_you_mean(key, fields)}",
                           hint=f"valid keys here: {one_of(k for k in fields if fields[k].name not in (preset or {}))}")
        values[info.name] = convert(value_node, info.type, ctx, join(path, key), info.meta)
        marks[info.name] = ctx.loc(value_node)
    for info in fields.values():
        if info.required and info.name not in values:
            raise ctx.fail(node, path, f"missing required key '{info.key}'")
    where = Where(ctx.loc(node), path, types.MappingProxyType(marks))
    values = cls.prepare(values, where)
    obj = cls(**values)
    located(obj, where)
    obj.validate()
    return obj


def _convert_tagged(node: Node, union: Any, tag: Tagged, ctx: Context, path: str) -> Model:
    members: dict[str, type] = {m.TAG: m for m in typing.get_args(union)}
    if isinstance(node, ScalarNode) and tag.scalar is not None and ctx.scalar(node) is not None:
        cls = tag.scalar
        first = model_fields(cls)[0]
        value = convert(node, first.type, ctx, path, first.meta)
        obj = cls(**{first.name: value})
        located(obj, Where(ctx.loc(node), path, types.MappingProxyType({first.name: ctx.loc(node)})))
        obj.validate()
        return obj
    if not isinstance(node, MappingNode):
        raise ctx.fail(node, path, f"expected a mapping with '{tag.key}: {'|'.join(members)}', "
                                   f"got {describe(node, ctx)}")
    tag_node = next((v for k, v in node.value if isinstance(k, ScalarNode) and k.value == tag.key), None)
    if tag_node is None:
        if tag.default is None:
            raise ctx.fail(node, path, f"missing required key '{tag.key}'", hint=f"one of {one_of(members)}")
        cls = tag.default
    else:
        name = str(tag_node.value).strip().lower().replace("-", "_") if isinstance(tag_node, ScalarNode) else ""
        cls = members.get(name)  # type: ignore[assignment]
        if cls is None:
            text = str(getattr(tag_node, "value", ""))
            raise ctx.fail(tag_node, join(path, tag.key), f"unknown {tag.key} '{text}'{did_you_mean(text, members)}",
                           hint=f"valid values: {one_of(members)}")
        node = MappingNode(node.tag, [(k, v) for k, v in node.value
                                      if not (isinstance(k, ScalarNode) and k.value == tag.key)],
                           node.start_mark, node.end_mark, node.flow_style)
    return convert_model(node, cls, ctx, path)


# --------------------------------------------------------------------------- files


def compose_file(path: Path, display: str) -> Node:
    """Read and compose a YAML file, turning every read or syntax problem into an InputError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", Location(display)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the file: {exc}", Location(display)) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(display, mark.line + 1, mark.column + 1) if mark else Location(display)
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"YAML syntax error: {problem}", where) from None
    except yaml.YAMLError as exc:
        raise InputError(f"YAML error: {exc}", Location(display)) from None
    if node is None:
        raise InputError("the file is empty", Location(display))
    return node


def display_path(path: Path) -> str:
    """A path as the user would write it: relative to the working directory when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
