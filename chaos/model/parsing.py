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

What a file may hold is bounded here, once for every field (the JSON Schema states the
same bounds): numbers are finite and within their field's bounds, a duration is at most
:data:`MAX_SECONDS` unless its field says less, a list or mapping has at most
:data:`MAX_ITEMS` entries unless its field says otherwise, names follow :data:`NAME`,
and no string holds a control character. Nesting depth, the number of values and the
YAML features accepted are bounded when the text is composed (``chaos.model.yamlnodes``).
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import math
import re
import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar, Union

from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from chaos.errors import UNKNOWN, InputError, Location
from chaos.model.inputs import MODEL_FILE_LIMIT, read_input
from chaos.model.yamlnodes import BOOL, FLOAT, INT, MAP, NULL, STR, YAML_TAG, alias_origin, compose_text, short_tag

# --------------------------------------------------------------------------- markers


@dataclass(frozen=True)
class Unit:
    """Marks a float field as a quantity written with a unit in YAML."""

    name: str


DURATION = Unit("duration")
Seconds = Annotated[float, DURATION]
"""A duration: ``250ms``, ``3s``, ``2m``, ``1h``, ``1m30s``, or a bare number of seconds."""

MAX_SECONDS = 30 * 86400.0
"""Longest duration any field takes unless it says less: 30 days, the longest SLO period in
common use (burn-rate windows and objectives are stated against it)."""

MAX_ITEMS = 1000
"""Most entries in a list or mapping unless its field says otherwise."""


@dataclass(frozen=True)
class TextRule:
    """What a string field may hold: a regular expression (``pattern``), and the rule in words."""

    pattern: str
    words: str

    def check(self, text: str) -> bool:
        return re.fullmatch(self.pattern, text) is not None


NAME = TextRule(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}",
                "a name is 1 to 63 letters, digits, '-' and '_', starting with a letter or digit")
"""Names of services, entrypoints, experiments, alerts, SLOs, faults, roles, topologies and
playbooks. Fault targets (``caller->callee``, ``*``), override paths (``services.NAME.calls.NAME``,
split on dots) and output directories (``runs/NAME``) must be able to name them unambiguously,
so no dots, arrows, slashes, stars, spaces or empty names."""

LABEL = TextRule(r"[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,98}[^\s\x00-\x1f\x7f-\x9f])?",
                 "a label is 1 to 100 characters of text, without control characters or spaces at either end")
"""Free-text names that nothing addresses by syntax (playbook steps): ``restart payment (last week's fix)``."""


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
    text: TextRule | None = None,
    max_items: int | None = None,
    omit_none: bool = False,
) -> Any:
    """A dataclass field with what the parser and the schema need to know about it.

    ``key`` is the YAML key when it differs from the attribute (``for`` -> ``for_``).
    ``keyed`` turns a ``tuple[M, ...]`` field into a YAML mapping whose keys fill
    ``M``'s field of that name. ``internal`` fields are never read from YAML.
    ``text`` is the rule a string must follow (:data:`NAME`, :data:`LABEL`);
    ``max_items`` the most entries of a list or mapping (default :data:`MAX_ITEMS`);
    ``omit_none``: where a document holds the model (:mod:`chaos.codec`), the key is left out while None.
    """
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "lt": lt, "key": key,
            "keyed": keyed, "internal": internal, "text": text, "max_items": max_items, "omit_none": omit_none}
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


# A key that reads as one step of a dotted path; any other (an empty name, one with a dot, a bracket,
# a quote or a space) is written quoted in brackets, so `services['']` and `services['e.mail']` say
# which key was meant where `services.` and `services.e.mail` could not.
_PLAIN_KEY = re.compile(r"[^\s.\[\]'\"]+")


def join(path: str, name: str | int) -> str:
    """The path of ``name`` (a key, or an index of a list) within ``path``: ``services.api.calls[0]``."""
    if isinstance(name, int):
        return f"{path}[{name}]"
    if not _PLAIN_KEY.fullmatch(name):
        return f"{path}[{name!r}]"
    return f"{path}.{name}" if path else name


NOWHERE = Where()


class Model:
    """Base of every parsed object. Subclasses are ``@dataclass(frozen=True)``.

    ``TAG`` names the class inside a tagged union. ``validate`` is the hook for checks
    that involve several fields; raise ``self.error(...)`` from it.
    """

    TAG: ClassVar[str] = ""
    VALUE_KEY: ClassVar[str | None] = None  # in a keyed mapping, ``name: value`` fills this field
    # ... and, if set, ``name: {field: ...}`` is the whole object, when the value is a mapping
    MAPPING_TOO: ClassVar[bool] = False
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

    def __getstate__(self) -> dict[str, Any]:
        """What pickling keeps: the fields and the location, not what a ``cached_property`` computed from
        them. A model's encoding says what it is, not what was asked of it so far: shared sweep starts are
        keyed by that encoding, and a simulation fills some caches."""
        cached = _cached_names(type(self))
        return {k: v for k, v in self.__dict__.items() if k not in cached}


_CACHED: dict[type, frozenset[str]] = {}


def _cached_names(cls: type) -> frozenset[str]:
    found = _CACHED.get(cls)
    if found is None:
        found = _CACHED[cls] = frozenset(name for klass in cls.__mro__ for name, value in vars(klass).items()
                                         if isinstance(value, functools.cached_property))
    return found


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
        if number >= 0 and math.isfinite(number):
            return number
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s or not math.isfinite(total):
        raise ValueError(f"'{shorten(text)}' is not a duration "
                         "(write e.g. 250ms, 3s, 2m, 1h, 1m30s or a number of seconds)")
    return total


def shorten(text: str, most: int = 40) -> str:
    """``text`` fit to quote in a message: control characters escaped, at most about ``most`` characters."""
    shown = printable(text)
    return shown if len(shown) <= most else f"{shown[:most - 12]}...({len(text)} characters)"


def printable(text: str) -> str:
    """Control characters written as escapes, so that quoting a value can never drive the terminal."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


_YAML12_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # text may hold tabs and line breaks


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
        return rest[0] if len(rest) == 1 else Union[tuple(rest)]  # noqa: UP007
    return None


def is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Model)


def enum_choices(cls: type[enum.Enum]) -> list[str]:
    return [str(m.value) for m in cls]


# --------------------------------------------------------------------------- conversion

MERGE, TIMESTAMP, VALUE = YAML_TAG + "merge", YAML_TAG + "timestamp", YAML_TAG + "value"
_AS_TEXT = frozenset({STR, TIMESTAMP, VALUE, MERGE})
"""Tags whose value a field only ever wants as text: no field takes a date, so ``2024-13-45``
(resolved as a timestamp by YAML 1.1, and an invalid one) is simply the string it looks like."""

_CONSTRUCTOR = SafeConstructor()
_TAG_NAMES = {BOOL: "true or false", INT: "integer", FLOAT: "number"}


@dataclass
class Context:
    """What conversion needs beyond the node: the file, and how to load referenced files.

    While a value written through an alias (``cart: *defaults``, ``<<: *defaults``) is
    converted, ``site`` is where the alias is used: every location inside it is reported
    there, since the anchor's own line is shared by every use and names none of them.
    """

    file: str
    base_dir: Path
    load_ref: Callable[[str, Any, Context, Node, str], Any] | None = None
    site: Location | None = None

    def loc(self, node: Node) -> Location:
        if self.site is not None:
            return self.site
        mark = node.start_mark
        return Location(self.file, mark.line + 1, mark.column + 1)

    def fail(self, node: Node, path: str, message: str, hint: str | None = None) -> InputError:
        location = self.loc(node)
        mark = (alias_origin(node) or node).start_mark
        if self.site is not None and hint is None and mark is not None and mark.line + 1 != location.line:
            hint = f"written at line {mark.line + 1}, column {mark.column + 1}, in the anchor this alias uses"
        return InputError(message, location, path, hint)

    @contextmanager
    def through(self, node: Node | None) -> Iterator[None]:
        """Report locations at ``node`` while converting what it stands for, if it is an alias's use."""
        if node is None or self.site is not None or alias_origin(node) is None:
            yield
            return
        self.site = self.loc(node)
        try:
            yield
        finally:
            self.site = None

    def scalar(self, node: ScalarNode, path: str = "") -> Any:
        """The Python value of a scalar: None, a bool, an int, a float or a str, or an InputError at the node."""
        tag = node.tag
        if tag in _AS_TEXT:
            return str(node.value)
        if tag == NULL:
            return None
        kind = _TAG_NAMES.get(tag)
        if kind is None:
            raise self.fail(node, path, f"tag '{short_tag(tag)}' is not supported",
                            hint="chaoslab files hold plain values: strings, numbers, true/false, null, lists "
                                 "and mappings; remove the tag")
        try:
            return getattr(_CONSTRUCTOR, f"construct_yaml_{tag[len(YAML_TAG):]}")(node)
        except ValueError as exc:
            if "digits" in str(exc):  # Python refuses int() of more than 4,300 digits
                raise self.fail(node, path, f"a number of {len(node.value):,} digits is out of range") from None
            raise self.fail(node, path, f"'{shorten(node.value)}' is not a valid {kind}") from None
        except (KeyError, TypeError, OverflowError, ArithmeticError):
            raise self.fail(node, path, f"'{shorten(node.value)}' is not a valid {kind}") from None


_KIND_NAMES: dict[type, str] = {MappingNode: "a mapping", SequenceNode: "a list"}


def describe(node: Node, ctx: Context) -> str:
    if isinstance(node, ScalarNode):
        try:
            value = ctx.scalar(node)
        except InputError:
            return f"'{shorten(str(node.value))}'"
        if value is None:
            return "nothing (null)"
        if isinstance(value, str):
            return f"str '{shorten(value)}'"
        if isinstance(value, int) and not isinstance(value, bool) and len(node.value) > 40:
            return f"an integer of {len(node.value):,} digits"
        return f"{type(value).__name__} {value!r}"
    for cls, name in _KIND_NAMES.items():
        if isinstance(node, cls):
            return name
    return "something else"


def convert(node: Node, tp: Any, ctx: Context, path: str, meta: typing.Mapping[str, Any] | None = None) -> Any:
    """Convert one YAML node to the Python value of type ``tp``, or raise InputError."""
    with ctx.through(node):
        return _convert(node, tp, ctx, path, meta or {})


def _convert(node: Node, tp: Any, ctx: Context, path: str, meta: typing.Mapping[str, Any]) -> Any:
    base, markers = split_annotated(tp)
    inner = optional_inner(base)
    if inner is not None:
        if isinstance(node, ScalarNode) and node.tag == NULL:
            return None
        return convert(node, Annotated[(inner, *markers)] if markers else inner, ctx, path, meta)
    for marker in markers:
        if isinstance(marker, Tagged):
            return _convert_tagged(node, base, marker, ctx, path)
        if marker is DURATION:
            bounds = meta if meta.get("le") is not None or meta.get("lt") is not None else {**meta, "le": MAX_SECONDS}
            return _check_bounds(_convert_duration(node, ctx, path), node, ctx, path, bounds, unit="s")
        if marker is RAW:
            return RawValue(node, ctx)
    if meta.get("ref") or (is_model(base) and getattr(base, "REF", False) and isinstance(node, ScalarNode)):
        if ctx.load_ref is None or not isinstance(node, ScalarNode):
            raise ctx.fail(node, path, "file references are not allowed here")
        return ctx.load_ref(ctx.scalar(node, path), base, ctx, node, path)
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
        value = _check_bounds(_convert_plain(node, base, ctx, path), node, ctx, path, meta)
        if isinstance(value, str):
            check_text(value, meta.get("text"), node, ctx, path)
        return value
    raise TypeError(f"unsupported field type {tp!r} at {path}")  # a bug in a model class


def check_text(text: str, rule: TextRule | None, node: Node, ctx: Context, path: str) -> None:
    """Refuse control characters in any string, and a string that breaks its field's rule."""
    if rule is not None and not rule.check(text):
        raise ctx.fail(node, path, f"'{shorten(text)}' is not allowed here: {rule.words}")
    if _CONTROL_IN_TEXT.search(text):
        raise ctx.fail(node, path, f"'{shorten(text)}' holds a control character; write plain text")


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
    value = ctx.scalar(node, path)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:
            raise ctx.fail(node, path, f"{_shown(node)} is out of range") from None
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(node.value)  # a name like 404 or 1.2 is still a name
    if tp is float and isinstance(value, str) and node.style is None and _YAML12_FLOAT.fullmatch(value):
        value = float(value)  # 1e5: a number in YAML 1.2 and to every reader, a string to YAML 1.1
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ctx.fail(node, path, f"expected {_plain_name(tp)}, got {describe(node, ctx)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ctx.fail(node, path, f"{_shown(node)} is not a finite number", hint="give a number such as 0.5 or 100")
    return value


def _plain_name(tp: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[tp]


def _shown(node: Node) -> str:
    return shorten(str(node.value)) if isinstance(node, ScalarNode) else "the value"


def _check_bounds(value: Any, node: Node, ctx: Context, path: str, meta: typing.Mapping[str, Any],
                  unit: str = "") -> Any:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return value
    shown = _shown(node) if isinstance(node, ScalarNode) else str(value)
    checks: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
        ("ge", lambda b: bool(value >= b), "at least"), ("gt", lambda b: bool(value > b), "greater than"),
        ("le", lambda b: bool(value <= b), "at most"), ("lt", lambda b: bool(value < b), "less than"))
    for name, ok, words in checks:
        bound = meta.get(name)
        if bound is not None and not ok(bound):
            raise ctx.fail(node, path, f"{shown} is out of range: must be {words} {bound_words(bound, unit)}")
    return value


def bound_words(bound: float, unit: str = "") -> str:
    """A bound as a message states it: ``100000``, ``86400s (24h)``."""
    text = f"{bound:g}" if abs(bound) < 1e6 or bound != int(bound) else f"{int(bound):,}"
    if unit == "s" and bound >= 3600:
        return f"{text}s ({duration_words(bound)})"
    return f"{text}{unit}"


def duration_words(seconds: float) -> str:
    """``86400`` -> ``24h``, ``2592000`` -> ``30d``, ``90`` -> ``1m30s``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0 and (unit != "d" or seconds % 86400 == 0):
            if unit == "d" and seconds < 2 * 86400:
                continue
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _convert_duration(node: Node, ctx: Context, path: str) -> float:
    if not isinstance(node, ScalarNode):
        raise ctx.fail(node, path, f"expected a duration such as 250ms or 3s, got {describe(node, ctx)}")
    value = ctx.scalar(node, path)
    if isinstance(value, bool):
        raise ctx.fail(node, path, f"expected a duration such as 250ms or 3s, got {describe(node, ctx)}")
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:
            raise ctx.fail(node, path, f"{_shown(node)} is out of range") from None
        if not math.isfinite(seconds):
            raise ctx.fail(node, path, f"{_shown(node)} is not a duration: give a finite number of seconds or e.g. 3s")
        if seconds < 0:
            raise ctx.fail(node, path, f"a duration cannot be negative ({value})")
        return seconds
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
    raise ctx.fail(node, path, f"unknown value '{shorten(text)}'{did_you_mean(text, enum_choices(cls))}",
                   hint=f"valid values: {one_of(enum_choices(cls))}")


def _check_count(node: Node, count: int, ctx: Context, path: str, meta: typing.Mapping[str, Any]) -> None:
    most = meta.get("max_items") or MAX_ITEMS
    if count > most:
        raise ctx.fail(node, path, f"{count:,} entries is too many: at most {most:,}")


def _convert_tuple(node: Node, item: Any, ctx: Context, path: str, meta: typing.Mapping[str, Any]) -> tuple[Any, ...]:
    keyed = meta.get("keyed")
    if keyed:
        if not isinstance(node, MappingNode):
            raise ctx.fail(node, path, f"expected a mapping of names to entries, got {describe(node, ctx)}")
        key_meta = next(f.meta for f in model_fields(item) if f.name == keyed)
        pairs = _pairs(node, ctx, path)
        _check_count(node, len(pairs), ctx, path, meta)
        out = []
        for key_node, value_node, via in pairs:
            with ctx.through(via):
                name = str(key_node.value)
                check_text(name, key_meta.get("text"), key_node, ctx, join(path, shorten(name)))
                name_at = ctx.loc(key_node)
                short = item.VALUE_KEY is not None and not (item.MAPPING_TOO and isinstance(value_node, MappingNode))
                if short:
                    value_node = MappingNode(MAP, [(ScalarNode(STR, item.VALUE_KEY, value_node.start_mark,
                                                               value_node.end_mark), value_node)],
                                             value_node.start_mark, value_node.end_mark)
                with ctx.through(None if short else value_node):
                    out.append(convert_model(value_node, item, ctx, join(path, name), preset={keyed: (name, name_at)}))
        return tuple(out)
    if not isinstance(node, SequenceNode):
        raise ctx.fail(node, path, f"expected a list, got {describe(node, ctx)}")
    _check_count(node, len(node.value), ctx, path, meta)
    # A list of numbers: the field's bounds bound each of them.
    bounds = {k: meta.get(k) for k in ("ge", "gt", "le", "lt")} if item in (int, float) else {}
    return tuple(convert(child, item, ctx, join(path, i), bounds) for i, child in enumerate(node.value))


Pair = tuple[ScalarNode, Node, Node | None]
"""A key, its value, and the alias use it came through (a merge of ``<<: *anchor``), if any."""


def _pairs(node: MappingNode, ctx: Context, path: str) -> list[Pair]:
    """Key/value pairs of a mapping, with merge keys applied and duplicates refused.

    Merge keys follow the YAML merge-key rules: a key written in the mapping overrides a
    merged one, and of several merged mappings the first that has a key wins. Keys
    written twice in one mapping are a mistake and are refused.
    """
    written: dict[str, Pair] = {}
    merged: dict[str, Pair] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode):
            raise ctx.fail(key_node, path, "keys must be plain names")
        if key_node.tag == MERGE:
            for source in _merge_sources(value_node, ctx, path):
                with ctx.through(source):
                    inner = _pairs(source, ctx, path)  # type: ignore[arg-type]
                via = source if alias_origin(source) is not None else None
                for k, v, v_via in inner:
                    merged.setdefault(str(k.value), (k, v, via or v_via))
            continue
        key = str(key_node.value)
        if key in written:
            first = ctx.loc(written[key][0])
            raise ctx.fail(key_node, join(path, shorten(key)), f"duplicate key (first given at line {first.line})")
        written[key] = (key_node, value_node, None)
    return [p for k, p in merged.items() if k not in written] + list(written.values())


def _merge_sources(node: Node, ctx: Context, path: str) -> list[Node]:
    """The mappings a merge key (``<<``) names: one mapping, or a list of them."""
    items = node.value if isinstance(node, SequenceNode) else [node]
    for item in items:
        if not isinstance(item, MappingNode):
            raise ctx.fail(item, join(path, "<<"), f"a merge key ('<<') takes a mapping or a list of mappings, "
                                                   f"got {describe(item, ctx)}")
    return list(items)


def convert_model(node: Node, cls: type[M], ctx: Context, path: str,
                  preset: dict[str, tuple[Any, Location]] | None = None,
                  pairs: list[Pair] | None = None) -> M:
    """Build model ``cls`` from a mapping node, refusing unknown keys and missing ones."""
    if not isinstance(node, MappingNode):
        raise ctx.fail(node, path, f"expected a mapping with keys {one_of(f.key for f in model_fields(cls))}, "
                                   f"got {describe(node, ctx)}")
    fields = {f.key: f for f in model_fields(cls)}
    values: dict[str, Any] = {}
    marks: dict[str, Location] = {}
    for name, (value, loc) in (preset or {}).items():
        values[name], marks[name] = value, loc
    for key_node, value_node, via in (_pairs(node, ctx, path) if pairs is None else pairs):
        with ctx.through(via):
            key = str(key_node.value)
            info = fields.get(key)
            if info is None or info.name in (preset or {}):
                raise ctx.fail(key_node, join(path, shorten(key)), f"unknown key{did_you_mean(key, fields)}",
                               hint=f"valid keys here: "
                                    f"{one_of(k for k in fields if fields[k].name not in (preset or {}))}")
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
    if isinstance(node, ScalarNode) and tag.scalar is not None and ctx.scalar(node, path) is not None:
        cls = tag.scalar
        first = model_fields(cls)[0]
        value = convert(node, first.type, ctx, path, first.meta)
        obj: Model = cls(**{first.name: value})
        located(obj, Where(ctx.loc(node), path, types.MappingProxyType({first.name: ctx.loc(node)})))
        obj.validate()
        return obj
    if not isinstance(node, MappingNode):
        raise ctx.fail(node, path, f"expected a mapping with '{tag.key}: {'|'.join(members)}', "
                                   f"got {describe(node, ctx)}")
    pairs = _pairs(node, ctx, path)
    found = next((p for p in pairs if p[0].value == tag.key), None)
    if found is None:
        if tag.default is None:
            raise ctx.fail(node, path, f"missing required key '{tag.key}'", hint=f"one of {one_of(members)}")
        cls = tag.default
    else:
        _, tag_node, via = found
        with ctx.through(via):
            name = str(tag_node.value).strip().lower().replace("-", "_") if isinstance(tag_node, ScalarNode) else ""
            cls = members.get(name)  # type: ignore[assignment]
            if cls is None:
                text = shorten(str(getattr(tag_node, "value", "")))
                raise ctx.fail(tag_node, join(path, tag.key), f"unknown {tag.key} '{text}'"
                                                              f"{did_you_mean(text, members)}",
                               hint=f"valid values: {one_of(members)}")
        pairs = [p for p in pairs if p is not found]
    return convert_model(node, cls, ctx, path, pairs=pairs)


# --------------------------------------------------------------------------- files


def compose_file(path: Path, display: str) -> Node:
    """Read and compose a YAML file, turning every read or syntax problem into an InputError."""
    node = compose_text(read_input(path, display, MODEL_FILE_LIMIT), display)
    if node is None:
        raise InputError("the file is empty", Location(display))
    return node


def display_path(path: Path) -> str:
    """A path as the user would write it: relative to the working directory when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # elsewhere, or a symlink loop (reported when it is read)
        return str(path)
