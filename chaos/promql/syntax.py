"""PromQL text in, typed expression trees out, for the subset alerting rules use.

Parsing is done by ``promql_parser`` (a Rust port of Prometheus's own parser, published
on PyPI as wheels). Its tree is converted here, once, into frozen nodes the evaluator
walks; anything outside the supported subset is refused at this boundary with the
construct named, so an unsupported rule never evaluates to a silently wrong answer.

Supported: number and string literals; instant and range selectors with ``=``, ``!=``,
``=~``, ``!~`` matchers and ``offset``; unary minus; the arithmetic, comparison (with
``bool``) and set operators with ``on``/``ignoring`` and ``group_left``/``group_right``;
the aggregations ``sum avg min max count group stddev stdvar topk bottomk quantile
count_values`` with ``by``/``without``; and the functions in :data:`FUNCTIONS`.

Refused: subqueries, the ``@`` modifier, ``or`` inside a selector's braces, native
histogram functions (``histogram_count``, ``histogram_sum``, ``histogram_fraction``),
``holt_winters`` and any function or aggregation not listed.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from chaos.errors import InputError, Location


class ValueType(enum.Enum):
    SCALAR = "scalar"
    VECTOR = "instant vector"
    MATRIX = "range vector"
    STRING = "string"


class MatchOp(enum.Enum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


class AggOp(enum.Enum):
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    COUNT = "count"
    GROUP = "group"
    STDDEV = "stddev"
    STDVAR = "stdvar"
    TOPK = "topk"
    BOTTOMK = "bottomk"
    QUANTILE = "quantile"
    COUNT_VALUES = "count_values"


class BinOp(enum.Enum):
    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"
    MOD = "%"
    POW = "^"
    ATAN2 = "atan2"
    EQL = "=="
    NEQ = "!="
    GTR = ">"
    LSS = "<"
    GTE = ">="
    LTE = "<="
    AND = "and"
    OR = "or"
    UNLESS = "unless"

    @property
    def is_comparison(self) -> bool:
        return self in _COMPARISONS

    @property
    def is_set(self) -> bool:
        return self in (BinOp.AND, BinOp.OR, BinOp.UNLESS)


_COMPARISONS = frozenset({BinOp.EQL, BinOp.NEQ, BinOp.GTR, BinOp.LSS, BinOp.GTE, BinOp.LTE})


class Card(enum.Enum):
    """Vector matching cardinality."""

    ONE_TO_ONE = "one-to-one"
    MANY_TO_ONE = "group_left"
    ONE_TO_MANY = "group_right"
    MANY_TO_MANY = "many-to-many"


# --------------------------------------------------------------------------- regular expressions

_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7F", "blank": "\\t ",
    "cntrl": "\\x00-\\x1F\\x7F", "digit": "0-9", "graph": "!-~", "lower": "a-z",
    "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z",
    "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}


class RegexError(ValueError):
    """A regular expression uses RE2 syntax that has no Python equivalent here."""


def compile_re2(pattern: str) -> re.Pattern[str]:
    """Compile a Prometheus (RE2) regular expression for ``fullmatch`` (Prometheus anchors both ends).

    RE2 syntax Python lacks is translated: POSIX classes (``[[:alpha:]]``), ``\\z``, and flag
    groups such as ``(?i)`` at the start of the pattern or of a group. Character classes
    ``\\d \\w \\s \\b`` are ASCII, as in RE2. Unicode classes (``\\pL``) are refused.
    """
    return re.compile(f"(?:{_translate(pattern)})", re.ASCII)


def _translate(pattern: str) -> str:
    out: list[str] = []
    closers: list[str] = []  # per open group: what to emit when it closes
    tail = ""  # what the end of the pattern closes (a leading flag group)
    i, n, in_class, at_group_start = 0, len(pattern), False, True
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt in "pP":
                raise RegexError(f"Unicode classes (\\{nxt}) are not supported")
            out.append("\\Z" if nxt == "z" and not in_class else pattern[i:i + 2])
            i += 2
        elif in_class:
            i = _class_char(pattern, i, out)
            in_class = c != "]"
            continue
        elif c == "[":
            in_class = True
            opening = _CLASS_OPENING.match(pattern, i)
            assert opening is not None
            out.append(opening.group(0))
            i = opening.end()
        elif c == "(":
            flags = _FLAG_GROUP.match(pattern, i)
            named = _NAMED_GROUP.match(pattern, i)
            if flags and flags.group(2) == ")":
                if not at_group_start:
                    raise RegexError("a flag group such as (?i) is only supported at the start of a group")
                _check_flags(flags.group(1))
                out.append(f"(?{flags.group(1)}:")
                if closers:
                    closers[-1] = ")" + closers[-1]
                else:
                    tail += ")"
                i = flags.end()
                continue  # still at the start of the group
            closers.append(")")
            if flags:
                _check_flags(flags.group(1))
                out.append(flags.group(0))
                i = flags.end()
            elif named:
                out.append(f"(?P<{named.group(1)}>")
                i = named.end()
            elif pattern.startswith("(?", i):
                raise RegexError("this group syntax is not supported")
            else:
                out.append("(")
                i += 1
            at_group_start = True
            continue
        elif c == ")":
            out.append(closers.pop() if closers else ")")
            i += 1
        else:
            out.append(c)
            i += 1
        at_group_start = False
    out.append(tail)
    return "".join(out)


_FLAG_GROUP = re.compile(r"\(\?([a-zA-Z]*)([:)])")
_NAMED_GROUP = re.compile(r"\(\?P?<(\w+)>")
_CLASS_OPENING = re.compile(r"\[\^?\]?")


def _check_flags(flags: str) -> None:
    if "U" in flags:
        raise RegexError("the ungreedy flag U is not supported")
    unknown = set(flags) - set("ims")
    if unknown:
        raise RegexError(f"unknown flag {''.join(sorted(unknown))}")


def _class_char(pattern: str, i: int, out: list[str]) -> int:
    """Copy one item of a bracket class, translating POSIX classes such as [:alpha:]."""
    if pattern.startswith("[:", i):
        end = pattern.find(":]", i + 2)
        name = pattern[i + 2:end] if end > 0 else ""
        cls = _POSIX_CLASSES.get(name)
        if cls is None:
            raise RegexError(f"character class [:{name}:] is not supported")
        out.append(cls)
        return end + 2
    if pattern[i] == "\\" and i + 1 < len(pattern):
        if pattern[i + 1] in "pP":
            raise RegexError(f"Unicode classes (\\{pattern[i + 1]}) are not supported")
        out.append(pattern[i:i + 2])
        return i + 2
    out.append(pattern[i])
    return i + 1


# --------------------------------------------------------------------------- nodes


@dataclass(frozen=True)
class Matcher:
    name: str
    op: MatchOp
    value: str
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, value: str) -> bool:
        if self.op is MatchOp.EQ:
            return value == self.value
        if self.op is MatchOp.NE:
            return value != self.value
        assert self.regex is not None
        found = self.regex.fullmatch(value) is not None
        return found if self.op is MatchOp.RE else not found


class Expr:
    """Base of the expression nodes; ``type`` is the PromQL value type the node gives."""

    @property
    def type(self) -> ValueType:
        raise NotImplementedError


@dataclass(frozen=True)
class NumberLiteral(Expr):
    value: float

    @property
    def type(self) -> ValueType:
        return ValueType.SCALAR


@dataclass(frozen=True)
class StringLiteral(Expr):
    value: str

    @property
    def type(self) -> ValueType:
        return ValueType.STRING


@dataclass(frozen=True)
class VectorSelector(Expr):
    """``name{matchers} offset D``; ``matchers`` includes the ``__name__`` matcher of ``name``."""

    name: str | None
    matchers: tuple[Matcher, ...]
    offset: int = 0  # milliseconds; negative looks later

    @property
    def type(self) -> ValueType:
        return ValueType.VECTOR


@dataclass(frozen=True)
class MatrixSelector(Expr):
    selector: VectorSelector
    range: int  # milliseconds

    @property
    def type(self) -> ValueType:
        return ValueType.MATRIX


@dataclass(frozen=True)
class Call(Expr):
    func: str
    args: tuple[Expr, ...]

    @property
    def type(self) -> ValueType:
        return FUNCTIONS[self.func].returns


@dataclass(frozen=True)
class Aggregate(Expr):
    op: AggOp
    expr: Expr
    param: Expr | None
    grouping: tuple[str, ...]  # sorted
    without: bool

    @property
    def type(self) -> ValueType:
        return ValueType.VECTOR


@dataclass(frozen=True)
class Binary(Expr):
    op: BinOp
    lhs: Expr
    rhs: Expr
    return_bool: bool = False
    card: Card = Card.ONE_TO_ONE
    on: bool = False
    matching: tuple[str, ...] = ()
    include: tuple[str, ...] = ()

    @property
    def type(self) -> ValueType:
        if self.lhs.type is ValueType.SCALAR and self.rhs.type is ValueType.SCALAR:
            return ValueType.SCALAR
        return ValueType.VECTOR


@dataclass(frozen=True)
class Negation(Expr):
    expr: Expr

    @property
    def type(self) -> ValueType:
        return self.expr.type


def children(expr: Expr) -> tuple[Expr, ...]:
    """The sub-expressions of a node (a range selector's child is its instant selector)."""
    if isinstance(expr, MatrixSelector):
        return (expr.selector,)
    if isinstance(expr, Call):
        return expr.args
    if isinstance(expr, Aggregate):
        return (expr.expr,) if expr.param is None else (expr.param, expr.expr)
    if isinstance(expr, Binary):
        return (expr.lhs, expr.rhs)
    if isinstance(expr, Negation):
        return (expr.expr,)
    return ()


def selectors(expr: Expr) -> list[VectorSelector]:
    """Every series selector in an expression, instant and range alike, in reading order."""
    if isinstance(expr, VectorSelector):
        return [expr]
    return [s for child in children(expr) for s in selectors(child)]


# --------------------------------------------------------------------------- functions


@dataclass(frozen=True)
class FunctionInfo:
    returns: ValueType
    matrix_arg: int | None = None  # index of the range-vector argument, if any


_V, _S, _M = ValueType.VECTOR, ValueType.SCALAR, ValueType.MATRIX
_RANGE = ("rate irate increase delta idelta deriv changes resets avg_over_time min_over_time max_over_time "
          "sum_over_time count_over_time last_over_time stddev_over_time stdvar_over_time present_over_time "
          "absent_over_time").split()
_MATH = ("abs ceil floor exp sqrt ln log2 log10 sgn sin cos tan asin acos atan sinh cosh tanh asinh acosh "
         "atanh deg rad").split()
_DATES = "day_of_month day_of_week day_of_year days_in_month hour minute month year".split()

FUNCTIONS: dict[str, FunctionInfo] = {
    **{name: FunctionInfo(_V, 0) for name in _RANGE},
    "quantile_over_time": FunctionInfo(_V, 1),
    "predict_linear": FunctionInfo(_V, 0),
    **{name: FunctionInfo(_V) for name in _MATH + _DATES},
    "round": FunctionInfo(_V), "clamp": FunctionInfo(_V), "clamp_min": FunctionInfo(_V),
    "clamp_max": FunctionInfo(_V), "absent": FunctionInfo(_V), "histogram_quantile": FunctionInfo(_V),
    "label_replace": FunctionInfo(_V), "label_join": FunctionInfo(_V), "sort": FunctionInfo(_V),
    "sort_desc": FunctionInfo(_V), "timestamp": FunctionInfo(_V), "vector": FunctionInfo(_V),
    "scalar": FunctionInfo(_S), "time": FunctionInfo(_S), "pi": FunctionInfo(_S),
}
"""Every function the evaluator implements, with Prometheus 2.42's behaviour."""

_REFUSED_FUNCTIONS = {
    "histogram_count": "native histograms are not supported",
    "histogram_sum": "native histograms are not supported",
    "histogram_fraction": "native histograms are not supported",
}


# --------------------------------------------------------------------------- conversion


class Unsupported(Exception):
    """An expression uses PromQL outside the evaluated subset."""


def parse(text: str, location: Location | None = None, path: str = "") -> Expr:
    """Parse PromQL ``text``; syntax errors and unsupported constructs are InputErrors at ``location``."""
    import promql_parser  # a compiled wheel: imported only when PromQL is actually read

    try:
        tree = promql_parser.parse(text)
    except ValueError as exc:
        raise InputError(f"PromQL syntax error: {exc}", location, path) from None
    try:
        return _convert(tree)
    except Unsupported as exc:
        raise InputError(f"{exc}; chaoslab evaluates the PromQL subset alerting rules use",
                         location, path, hint="see docs/alerts.md for the supported subset") from None


def _ms(delta: timedelta | None) -> int:
    if delta is None:
        return 0
    return (delta.days * 86_400_000) + (delta.seconds * 1000) + delta.microseconds // 1000


def _convert(node: Any) -> Expr:
    kind = type(node).__name__
    convert = _CONVERTERS.get(kind)
    if convert is None:
        raise Unsupported(_UNSUPPORTED_NODES.get(kind, f"'{kind}' expressions are not supported"))
    return convert(node)


_UNSUPPORTED_NODES = {"SubqueryExpr": "subqueries (expr[range:step]) are not supported"}


def _number(node: Any) -> Expr:
    return NumberLiteral(float(node.val))


def _string(node: Any) -> Expr:
    return StringLiteral(str(node.val))


def _paren(node: Any) -> Expr:
    return _convert(node.expr)


def _negation(node: Any) -> Expr:
    inner = _convert(node.expr)
    if isinstance(inner, NumberLiteral):
        return NumberLiteral(-inner.value)
    return Negation(inner)


def _vector_selector(node: Any) -> VectorSelector:
    if node.at is not None:
        raise Unsupported("the @ modifier is not supported")
    if node.matchers.or_matchers:
        raise Unsupported("'or' between label matchers is not supported")
    matchers = [_matcher(m) for m in node.matchers.matchers]
    if node.name is not None:
        matchers.append(Matcher("__name__", MatchOp.EQ, str(node.name)))
    return VectorSelector(node.name, tuple(matchers), _ms(node.offset))


_MATCH_OPS = {"Equal": MatchOp.EQ, "NotEqual": MatchOp.NE, "Re": MatchOp.RE, "NotRe": MatchOp.NRE}


def _matcher(node: Any) -> Matcher:
    op = _MATCH_OPS[str(node.op).split(".")[-1].split("(")[0]]
    value = str(node.value)
    regex = None
    if op in (MatchOp.RE, MatchOp.NRE):
        try:
            regex = compile_re2(value)
        except (RegexError, re.error) as exc:
            raise Unsupported(f"regular expression '{value}': {exc}") from None
    return Matcher(str(node.name), op, value, regex)


def _matrix_selector(node: Any) -> Expr:
    return MatrixSelector(_vector_selector(node.vector_selector), _ms(node.range))


def _call(node: Any) -> Expr:
    name = str(node.func.name)
    if name in _REFUSED_FUNCTIONS:
        raise Unsupported(f"function '{name}': {_REFUSED_FUNCTIONS[name]}")
    if name not in FUNCTIONS:
        raise Unsupported(f"function '{name}' is not supported")
    args = tuple(_convert(a) for a in node.args)
    if name in ("label_replace", "label_join"):
        _check_label_function(name, args)
    return Call(name, args)


def _check_label_function(name: str, args: tuple[Expr, ...]) -> None:
    if name == "label_replace":
        regex = args[4]
        assert isinstance(regex, StringLiteral)
        try:
            compile_re2(regex.value)
        except (RegexError, re.error) as exc:
            raise Unsupported(f"label_replace regular expression '{regex.value}': {exc}") from None


def _aggregate(node: Any) -> Expr:
    text = str(node.op)
    try:
        op = AggOp(text)
    except ValueError:
        raise Unsupported(f"aggregation '{text}' is not supported") from None
    grouping: tuple[str, ...] = ()
    without = False
    if node.modifier is not None:
        grouping = tuple(sorted(str(x) for x in node.modifier.labels))
        without = str(node.modifier.type).endswith("Without")
    param = _convert(node.param) if node.param is not None else None
    return Aggregate(op, _convert(node.expr), param, grouping, without)


_CARDS = {"OneToOne": Card.ONE_TO_ONE, "ManyToOne": Card.MANY_TO_ONE, "OneToMany": Card.ONE_TO_MANY,
          "ManyToMany": Card.MANY_TO_MANY}


def _binary(node: Any) -> Expr:
    op = BinOp(str(node.op))
    lhs, rhs = _convert(node.lhs), _convert(node.rhs)
    mod = node.modifier
    if mod is None:
        card = Card.MANY_TO_MANY if op.is_set else Card.ONE_TO_ONE
        return Binary(op, lhs, rhs, False, card)
    card = _CARDS[str(mod.card).split(".")[-1]]
    if op.is_set:
        card = Card.MANY_TO_MANY
    on = False
    matching: tuple[str, ...] = ()
    if mod.matching is not None:
        on = str(mod.matching.type).endswith("Include")
        matching = tuple(str(x) for x in mod.matching.labels)
    include = tuple(str(x) for x in (mod.group_labels or ()))
    if lhs.type is not ValueType.VECTOR or rhs.type is not ValueType.VECTOR:
        card = Card.ONE_TO_ONE  # matching only means something between two vectors
    return Binary(op, lhs, rhs, bool(mod.return_bool), card, on, matching, include)


_CONVERTERS = {
    "NumberLiteral": _number, "StringLiteral": _string, "ParenExpr": _paren, "UnaryExpr": _negation,
    "VectorSelector": _vector_selector, "MatrixSelector": _matrix_selector, "Call": _call,
    "AggregateExpr": _aggregate, "BinaryExpr": _binary,
}
