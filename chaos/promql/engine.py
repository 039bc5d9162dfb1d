"""Instant evaluation of PromQL expressions over a :class:`~chaos.promql.series.Store`.

An instant query at time ``t`` is what a rule evaluation runs. The semantics are those of
Prometheus 2.42, whose source this was learned from:

* an instant selector takes each series' newest sample at or before ``t - offset`` and no
  more than the lookback delta (5 minutes) older; a staleness marker there means no value;
* a range selector ``[r]`` takes the samples with ``t - offset - r <= ts <= t - offset``;
* functions, aggregations and operators keep, drop and match labels as Prometheus does,
  and refuse (with :class:`~chaos.errors.QueryError`) what Prometheus refuses at run
  time: many-to-many matches, duplicate label sets in a result.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import NamedTuple

from chaos.errors import QueryError
from chaos.promql import functions as fn
from chaos.promql.series import NAME, Labels, Store, StoredSeries, format_labels, get, keep, to_ms, with_label, without
from chaos.promql.syntax import (
    AggOp,
    Aggregate,
    Binary,
    BinOp,
    Call,
    Card,
    Expr,
    MatchOp,
    MatrixSelector,
    Negation,
    NumberLiteral,
    StringLiteral,
    VectorSelector,
    compile_re2,
)

LOOKBACK_MS = 300_000
"""Prometheus's default lookback delta (``--query.lookback-delta``): 5 minutes."""


class Sample(NamedTuple):
    labels: Labels
    value: float


Vector = list[Sample]
Value = float | Vector | str


def drop_name(labels: Labels) -> Labels:
    if labels and any(k == NAME for k, _ in labels):
        return tuple(p for p in labels if p[0] != NAME)
    return labels


def _unique(vec: Vector) -> Vector:
    if len(vec) > 1 and len({s.labels for s in vec}) != len(vec):
        raise QueryError("vector cannot contain metrics with the same labelset")
    return vec


class Evaluator:
    """Evaluates expressions at instants against one store; keeps per-selector caches."""

    def __init__(self, store: Store, lookback_ms: int = LOOKBACK_MS) -> None:
        self.store = store
        self.lookback = lookback_ms
        self._selected: dict[VectorSelector, tuple[int, list[StoredSeries]]] = {}
        self._dispatch: dict[type, Callable[[Expr, int], Value]] = {
            NumberLiteral: self._number, StringLiteral: self._string, VectorSelector: self._vector,
            Call: self._call, Aggregate: self._aggregate, Binary: self._binary, Negation: self._negation,
        }

    # ------------------------------------------------------------------ entry points

    def evaluate(self, expr: Expr, at: float) -> float | Vector:
        """The value of ``expr`` at ``at`` seconds: a scalar or an instant vector."""
        return self.evaluate_ms(expr, to_ms(at))

    def evaluate_ms(self, expr: Expr, t: int) -> float | Vector:
        value = self._eval(expr, t)
        if isinstance(value, str):
            raise QueryError("a string is not a result a rule can use")
        return value

    def _eval(self, node: Expr, t: int) -> Value:
        handler = self._dispatch.get(type(node))
        if handler is None:  # a MatrixSelector outside a function call: the parser refuses it
            raise QueryError(f"cannot evaluate a {type(node).__name__} on its own")
        return handler(node, t)

    def _number(self, node: Expr, t: int) -> Value:
        assert isinstance(node, NumberLiteral)
        return node.value

    def _string(self, node: Expr, t: int) -> Value:
        assert isinstance(node, StringLiteral)
        return node.value

    def _scalar(self, node: Expr, t: int) -> float:
        value = self._eval(node, t)
        assert isinstance(value, float)
        return value

    def _vec(self, node: Expr, t: int) -> Vector:
        value = self._eval(node, t)
        assert isinstance(value, list)
        return value

    # ------------------------------------------------------------------ selectors

    def select(self, selector: VectorSelector) -> list[StoredSeries]:
        """The stored series a selector's matchers accept, in label order."""
        cached = self._selected.get(selector)
        if cached is not None and cached[0] == self.store.version:
            return cached[1]
        candidates = self.store.named(selector.name) if selector.name else self.store.every()
        matchers = [m for m in selector.matchers if not (m.name == NAME and m.op is MatchOp.EQ
                                                           and selector.name is not None)]
        found = [s for s in candidates if all(m.matches(get(s.labels, m.name)) for m in matchers)]
        self._selected[selector] = (self.store.version, found)
        return found

    def _vector(self, node: Expr, t: int) -> Value:
        assert isinstance(node, VectorSelector)
        return [Sample(s.labels, point[1]) for s, point in self._points(node, t)]

    def _points(self, node: VectorSelector, t: int) -> list[tuple[StoredSeries, tuple[int, float]]]:
        ref = t - node.offset
        out = []
        for s in self.select(node):
            point = s.latest(ref, self.lookback, t)
            if point is not None:
                out.append((s, point))
        return out

    # ------------------------------------------------------------------ functions

    def _call(self, node: Expr, t: int) -> Value:
        assert isinstance(node, Call)
        if node.func in _RANGE_FUNCTIONS or node.func in ("quantile_over_time", "predict_linear"):
            return self._range_call(node, t)
        handler = _INSTANT_FUNCTIONS[node.func]
        return handler(self, node, t)

    def _range_call(self, node: Call, t: int) -> Value:
        index = 1 if node.func == "quantile_over_time" else 0
        matrix = node.args[index]
        assert isinstance(matrix, MatrixSelector)
        sel = matrix.selector
        scalars = [self._scalar(a, t) for i, a in enumerate(node.args) if i != index]
        maxt = t - sel.offset
        mint = maxt - matrix.range
        out: Vector = []
        compute = _RANGE_FUNCTIONS.get(node.func)
        for s in self.select(sel):
            lo, hi = s.window(mint, maxt, t)
            if lo >= hi:
                continue
            times, values = s.points(lo, hi)
            if not values:
                continue
            if compute is not None:
                value = compute(s, lo, hi, times, values, mint, maxt, matrix.range)
            elif node.func == "quantile_over_time":
                value = fn.quantile(scalars[0], list(values))
            else:  # predict_linear
                slope, intercept = fn.linear_regression(times, values, t)
                value = slope * scalars[0] + intercept if len(values) >= 2 else None
            if value is not None:
                labels = s.labels if node.func == "last_over_time" else s.unnamed
                out.append(Sample(labels, value))
        if node.func == "absent_over_time":
            return [] if out else [Sample(_absent_labels(sel), 1.0)]
        return _unique(out)

    # ------------------------------------------------------------------ aggregation

    def _aggregate(self, node: Expr, t: int) -> Value:
        assert isinstance(node, Aggregate)
        param: float | str | None = None
        if node.param is not None:
            value = self._eval(node.param, t)
            assert isinstance(value, (float, str))
            param = value
        vec = self._vec(node.expr, t)
        return _unique(aggregate(node.op, vec, node.grouping, node.without, param))

    # ------------------------------------------------------------------ operators

    def _negation(self, node: Expr, t: int) -> Value:
        assert isinstance(node, Negation)
        value = self._eval(node.expr, t)
        if isinstance(value, float):
            return -value
        assert isinstance(value, list)
        return _unique([Sample(drop_name(s.labels), -s.value) for s in value])

    def _binary(self, node: Expr, t: int) -> Value:
        assert isinstance(node, Binary)
        lhs, rhs = self._eval(node.lhs, t), self._eval(node.rhs, t)
        if isinstance(lhs, float) and isinstance(rhs, float):
            return _scalar_op(node.op, lhs, rhs)
        if isinstance(lhs, list) and isinstance(rhs, list):
            if node.op is BinOp.AND:
                return _unique(_and(node, lhs, rhs))
            if node.op is BinOp.OR:
                return _unique(_or(node, lhs, rhs))
            if node.op is BinOp.UNLESS:
                return _unique(_unless(node, lhs, rhs))
            return _unique(vector_binop(node, lhs, rhs))
        if isinstance(lhs, list) and isinstance(rhs, float):
            return _unique(_vector_scalar(node, lhs, rhs, swap=False))
        assert isinstance(lhs, float) and isinstance(rhs, list)
        return _unique(_vector_scalar(node, rhs, lhs, swap=True))


# --------------------------------------------------------------------------- range functions

RangeFunction = Callable[[StoredSeries, int, int, list[int], list[float], int, int, int], float | None]


def _rate(is_counter: bool, is_rate: bool) -> RangeFunction:
    def compute(s: StoredSeries, lo: int, hi: int, times: list[int], values: list[float], mint: int, maxt: int,
                range_ms: int) -> float | None:
        before_resets = None
        if is_counter and not s.stale_count:  # reset positions are indexed once per series
            before_resets = [s.values[i - 1] for i in s.resets_between(lo, hi)]
        return fn.extrapolated_rate(times, values, before_resets, mint, maxt, range_ms, is_counter, is_rate)
    return compute


def _over_time(compute: Callable[[list[float]], float]) -> RangeFunction:
    def wrapped(s: StoredSeries, lo: int, hi: int, times: list[int], values: list[float], mint: int, maxt: int,
                range_ms: int) -> float | None:
        return compute(values)
    return wrapped


def _with_times(compute: Callable[[list[int], list[float]], float | None]) -> RangeFunction:
    def wrapped(s: StoredSeries, lo: int, hi: int, times: list[int], values: list[float], mint: int, maxt: int,
                range_ms: int) -> float | None:
        return compute(times, values)
    return wrapped


def _deriv(times: list[int], values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    return fn.linear_regression(times, values, times[0])[0]


_RANGE_FUNCTIONS: dict[str, RangeFunction] = {
    "rate": _rate(True, True), "increase": _rate(True, False), "delta": _rate(False, False),
    "irate": _with_times(lambda ts, vs: fn.instant_value(ts, vs, True)),
    "idelta": _with_times(lambda ts, vs: fn.instant_value(ts, vs, False)),
    "deriv": _with_times(_deriv),
    "avg_over_time": _over_time(fn.avg_over_time), "sum_over_time": _over_time(fn.sum_over_time),
    "min_over_time": _over_time(fn.min_over_time), "max_over_time": _over_time(fn.max_over_time),
    "count_over_time": _over_time(lambda vs: float(len(vs))), "last_over_time": _over_time(lambda vs: vs[-1]),
    "stddev_over_time": _over_time(fn.stddev_over_time), "stdvar_over_time": _over_time(fn.stdvar_over_time),
    "present_over_time": _over_time(lambda vs: 1.0), "absent_over_time": _over_time(lambda vs: 1.0),
    "changes": _over_time(fn.changes), "resets": _over_time(fn.resets),
}


# --------------------------------------------------------------------------- instant functions

InstantFunction = Callable[[Evaluator, Call, int], Value]


def _math(name: str) -> InstantFunction:
    f = fn.MATH[name]

    def compute(ev: Evaluator, node: Call, t: int) -> Value:
        return [Sample(drop_name(s.labels), f(s.value)) for s in ev._vec(node.args[0], t)]
    return compute


def _date(name: str) -> InstantFunction:
    def compute(ev: Evaluator, node: Call, t: int) -> Value:
        if not node.args:
            return [Sample((), fn.date_part(name, t // 1000))]
        return [Sample(drop_name(s.labels), fn.date_part(name, s.value)) for s in ev._vec(node.args[0], t)]
    return compute


def _clamp(ev: Evaluator, node: Call, t: int) -> Value:
    vec = ev._vec(node.args[0], t)
    low, high = ev._scalar(node.args[1], t), ev._scalar(node.args[2], t)
    if high < low:
        return []
    return [Sample(drop_name(s.labels), _go_max(low, _go_min(high, s.value))) for s in vec]


def _clamp_min(ev: Evaluator, node: Call, t: int) -> Value:
    low = ev._scalar(node.args[1], t)
    return [Sample(drop_name(s.labels), _go_max(low, s.value)) for s in ev._vec(node.args[0], t)]


def _clamp_max(ev: Evaluator, node: Call, t: int) -> Value:
    high = ev._scalar(node.args[1], t)
    return [Sample(drop_name(s.labels), _go_min(high, s.value)) for s in ev._vec(node.args[0], t)]


def _go_max(a: float, b: float) -> float:
    if a != a or b != b:
        return math.nan
    return max(a, b)


def _go_min(a: float, b: float) -> float:
    if a != a or b != b:
        return math.nan
    return min(a, b)


def _round(ev: Evaluator, node: Call, t: int) -> Value:
    to_nearest = ev._scalar(node.args[1], t) if len(node.args) > 1 else 1.0
    return [Sample(drop_name(s.labels), fn.go_round(s.value, to_nearest)) for s in ev._vec(node.args[0], t)]


def _scalar_of(ev: Evaluator, node: Call, t: int) -> Value:
    vec = ev._vec(node.args[0], t)
    return vec[0].value if len(vec) == 1 else math.nan


def _vector_of(ev: Evaluator, node: Call, t: int) -> Value:
    return [Sample((), ev._scalar(node.args[0], t))]


def _time(ev: Evaluator, node: Call, t: int) -> Value:
    return t / 1000


def _pi(ev: Evaluator, node: Call, t: int) -> Value:
    return math.pi


def _timestamp(ev: Evaluator, node: Call, t: int) -> Value:
    arg = node.args[0]
    if isinstance(arg, VectorSelector):  # the sample's own time, not the evaluation time
        return [Sample(drop_name(s.labels), point[0] / 1000) for s, point in ev._points(arg, t)]
    return [Sample(drop_name(s.labels), t / 1000) for s in ev._vec(arg, t)]


def _absent(ev: Evaluator, node: Call, t: int) -> Value:
    if ev._vec(node.args[0], t):
        return []
    arg = node.args[0]
    return [Sample(_absent_labels(arg) if isinstance(arg, VectorSelector) else (), 1.0)]


def _absent_labels(selector: VectorSelector) -> Labels:
    """The labels ``absent()`` gives: those set by exactly one equality matcher and no other."""
    values: dict[str, str] = {}
    dropped: set[str] = set()
    for m in selector.matchers:
        if m.name == NAME:
            continue
        if m.op is MatchOp.EQ and m.name not in values:
            values[m.name] = m.value
        else:
            dropped.add(m.name)
    return tuple(sorted((k, v) for k, v in values.items() if k not in dropped and v != ""))


def _sort(descending: bool) -> InstantFunction:
    def compute(ev: Evaluator, node: Call, t: int) -> Value:
        vec = ev._vec(node.args[0], t)
        nans = [s for s in vec if s.value != s.value]
        rest = sorted((s for s in vec if s.value == s.value), key=lambda s: s.value, reverse=descending)
        return rest + nans
    return compute


def _histogram_quantile(ev: Evaluator, node: Call, t: int) -> Value:
    q = ev._scalar(node.args[0], t)
    groups: dict[Labels, tuple[Labels, list[tuple[float, float]]]] = {}
    for s in ev._vec(node.args[1], t):
        bound = fn.parse_go_float(get(s.labels, "le"))
        if bound is None:
            continue  # no le label or not a number: Prometheus skips the sample
        signature = without(s.labels, ("le",))
        group = groups.get(signature)
        if group is None:
            group = groups[signature] = (without(s.labels, ("le", NAME)), [])
        group[1].append((bound, s.value))
    return [Sample(labels, fn.bucket_quantile(q, buckets)) for labels, buckets in groups.values()]


def _label_replace(ev: Evaluator, node: Call, t: int) -> Value:
    vec = ev._vec(node.args[0], t)
    dst, replacement, src, pattern = (_string_arg(a) for a in node.args[1:5])
    if not _valid_label_name(dst):
        raise QueryError(f"invalid destination label name in label_replace(): {dst}")
    regex = compile_re2(pattern)
    out = []
    for s in vec:
        match = regex.fullmatch(get(s.labels, src))
        if match is None:
            out.append(s)
            continue
        value = _expand(replacement, match)
        out.append(Sample(with_label(s.labels, dst, value), s.value))
    return _unique(out)


def _label_join(ev: Evaluator, node: Call, t: int) -> Value:
    vec = ev._vec(node.args[0], t)
    dst, separator = _string_arg(node.args[1]), _string_arg(node.args[2])
    sources = [_string_arg(a) for a in node.args[3:]]
    for name in [*sources, dst]:
        if not _valid_label_name(name):
            raise QueryError(f"invalid label name in label_join(): {name}")
    out = [Sample(with_label(s.labels, dst, separator.join(get(s.labels, n) for n in sources)), s.value)
           for s in vec]
    return _unique(out)


def _string_arg(node: Expr) -> str:
    assert isinstance(node, StringLiteral)
    return node.value


def _valid_label_name(name: str) -> bool:
    return bool(name) and (name[0].isascii() and (name[0].isalpha() or name[0] == "_")) and all(
        c.isascii() and (c.isalnum() or c == "_") for c in name)


def _expand(template: str, match: re.Match[str]) -> str:
    """Go's ``Regexp.Expand``: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``; unknown names give ''."""
    out, i, n = [], 0, len(template)
    while i < n:
        c = template[i]
        if c != "$" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = template[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            end = template.find("}", i + 2)
            name = template[i + 2:end] if end > 0 else ""
            if end < 0 or not name or not all(ch.isalnum() or ch == "_" for ch in name):
                out.append(c)
                i += 1
                continue
            i = end + 1
        else:
            j = i + 1
            while j < n and (template[j].isalnum() or template[j] == "_"):
                j += 1
            name = template[i + 1:j]
            if not name:
                out.append(c)
                i += 1
                continue
            i = j
        out.append(_group(match, name))
    return "".join(out)


def _group(match: re.Match[str], name: str) -> str:
    try:
        value = match.group(int(name)) if name.isdigit() else match.group(name)
    except (IndexError, re.error):
        return ""
    return value or ""


_INSTANT_FUNCTIONS: dict[str, InstantFunction] = {
    **{name: _math(name) for name in fn.MATH},
    **{name: _date(name) for name in ("day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour",
                                      "minute", "month", "year")},
    "clamp": _clamp, "clamp_min": _clamp_min, "clamp_max": _clamp_max, "round": _round,
    "scalar": _scalar_of, "vector": _vector_of, "time": _time, "pi": _pi, "timestamp": _timestamp,
    "absent": _absent, "sort": _sort(False), "sort_desc": _sort(True),
    "histogram_quantile": _histogram_quantile, "label_replace": _label_replace, "label_join": _label_join,
}


# --------------------------------------------------------------------------- aggregation


class _Group:
    __slots__ = ("labels", "value", "mean", "count", "samples")

    def __init__(self, labels: Labels, first: Sample) -> None:
        self.labels = labels
        self.value = first.value
        self.mean = first.value
        self.count = 1
        self.samples = [first]


def _group_labels(labels: Labels, grouping: tuple[str, ...], without_: bool) -> Labels:
    if without_:
        return tuple(p for p in labels if p[0] != NAME and p[0] not in grouping)
    return keep(labels, grouping) if grouping else ()


def aggregate(op: AggOp, vec: Vector, grouping: tuple[str, ...], without_: bool,
              param: float | str | None) -> Vector:
    """One aggregation over an instant vector, grouped ``by``/``without`` labels."""
    k = 0
    if op in (AggOp.TOPK, AggOp.BOTTOMK):
        assert isinstance(param, float)
        if not (-9.2e18 < param < 9.2e18) or param != param:
            raise QueryError(f"Scalar value {param} overflows int64")
        k = int(param)
        if k < 1:
            return []
    if op is AggOp.COUNT_VALUES:
        assert isinstance(param, str)
        if not _valid_label_name(param):
            raise QueryError(f"invalid label name {param!r}")
        vec = [Sample(with_label(s.labels, param, fn.format_float(s.value)), s.value) for s in vec]
        if not without_:
            grouping = tuple(sorted({*grouping, param}))
    groups: dict[Labels, _Group] = {}
    for s in vec:
        key = _group_labels(s.labels, grouping, without_)
        group = groups.get(key)
        if group is None:
            groups[key] = _Group(key, s)
            continue
        _accumulate(op, group, s)
    return _finish(op, groups.values(), k, param)


def _accumulate(op: AggOp, group: _Group, s: Sample) -> None:
    v = s.value
    if op is AggOp.SUM:
        group.value += v
    elif op is AggOp.AVG:
        group.count += 1
        mean = group.mean
        if math.isinf(mean):
            if math.isinf(v) and (mean > 0) == (v > 0):
                return
            if not math.isinf(v) and v == v:
                return
        group.mean = mean + (v / group.count - mean / group.count)
    elif op is AggOp.MAX:
        if group.value < v or group.value != group.value:
            group.value = v
    elif op is AggOp.MIN:
        if group.value > v or group.value != group.value:
            group.value = v
    elif op in (AggOp.COUNT, AggOp.COUNT_VALUES, AggOp.GROUP):
        group.count += 1
    else:  # stddev, stdvar, topk, bottomk, quantile work on every sample at the end
        group.samples.append(s)


def _finish(op: AggOp, groups: Iterable[_Group], k: int, param: float | str | None) -> Vector:
    out: Vector = []
    for group in groups:
        if op in (AggOp.TOPK, AggOp.BOTTOMK):
            out.extend(_top(group.samples, k, op is AggOp.TOPK))
            continue
        out.append(Sample(group.labels, _group_value(op, group, param)))
    return out


def _group_value(op: AggOp, group: _Group, param: float | str | None) -> float:
    if op is AggOp.AVG:
        return group.mean
    if op in (AggOp.COUNT, AggOp.COUNT_VALUES):
        return float(group.count)
    if op is AggOp.GROUP:
        return 1.0
    if op in (AggOp.STDDEV, AggOp.STDVAR):
        count, mean, value = 0, 0.0, 0.0
        for s in group.samples:
            count += 1
            delta = s.value - mean
            mean += delta / count
            value += delta * (s.value - mean)
        var = value / count
        return var if op is AggOp.STDVAR else (math.sqrt(var) if var >= 0 else math.nan)
    if op is AggOp.QUANTILE:
        assert isinstance(param, float)
        return fn.quantile(param, [s.value for s in group.samples])
    return group.value


def _top(samples: list[Sample], k: int, largest: bool) -> Vector:
    """``topk``/``bottomk``: the k largest (smallest) samples, largest (smallest) first; NaN last."""
    numbers = [s for s in samples if s.value == s.value]
    nans = [s for s in samples if s.value != s.value]
    ordered = sorted(numbers, key=lambda s: s.value, reverse=largest) + nans
    return ordered[:k]


# --------------------------------------------------------------------------- binary operators


def _scalar_op(op: BinOp, a: float, b: float) -> float:
    value, keep_it = _apply(op, a, b)
    if op.is_comparison:
        return 1.0 if keep_it else 0.0
    return value


def _apply(op: BinOp, a: float, b: float) -> tuple[float, bool]:
    """Prometheus's ``vectorElemBinop``: the value, and for comparisons whether it holds."""
    if op is BinOp.ADD:
        return a + b, True
    if op is BinOp.SUB:
        return a - b, True
    if op is BinOp.MUL:
        return a * b, True
    if op is BinOp.DIV:
        return fn.go_div(a, b), True
    if op is BinOp.MOD:
        return fn.go_mod(a, b), True
    if op is BinOp.POW:
        return fn.go_pow(a, b), True
    if op is BinOp.ATAN2:
        return fn.go_atan2(a, b), True
    holds = {BinOp.EQL: a == b, BinOp.NEQ: a != b, BinOp.GTR: a > b, BinOp.LSS: a < b,
             BinOp.GTE: a >= b, BinOp.LTE: a <= b}[op]
    return a, holds


def _drops_name(op: BinOp) -> bool:
    # Prometheus 2.42 keeps the name through atan2, as through comparisons
    return op in (BinOp.ADD, BinOp.SUB, BinOp.MUL, BinOp.DIV, BinOp.POW, BinOp.MOD)


def _vector_scalar(node: Binary, vec: Vector, scalar: float, swap: bool) -> Vector:
    out = []
    for s in vec:
        a, b = (scalar, s.value) if swap else (s.value, scalar)
        value, holds = _apply(node.op, a, b)
        if node.op.is_comparison and swap:
            value = b  # a comparison keeps the vector's value whichever side it is on
        if node.return_bool:
            value, holds = (1.0 if holds else 0.0), True
        if holds:
            labels = drop_name(s.labels) if _drops_name(node.op) or node.return_bool else s.labels
            out.append(Sample(labels, value))
    return out


def signature(node: Binary) -> Callable[[Labels], Labels]:
    """The labels two samples are matched on: ``on(...)`` ones, or all but ``ignoring(...)`` and the name."""
    names = frozenset(node.matching)
    if node.on:
        return lambda labels: tuple(p for p in labels if p[0] in names)
    return lambda labels: tuple(p for p in labels if p[0] != NAME and p[0] not in names)


def _and(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    if not lhs or not rhs:
        return []
    sig = signature(node)
    right = {sig(s.labels) for s in rhs}
    return [s for s in lhs if sig(s.labels) in right]


def _or(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    if not lhs or not rhs:
        return lhs + rhs
    sig = signature(node)
    left = {sig(s.labels) for s in lhs}
    return lhs + [s for s in rhs if sig(s.labels) not in left]


def _unless(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    if not lhs or not rhs:
        return list(lhs)
    sig = signature(node)
    right = {sig(s.labels) for s in rhs}
    return [s for s in lhs if sig(s.labels) not in right]


def vector_binop(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    """Arithmetic or comparison between two vectors, one-to-one or many-to-one/one-to-many."""
    if not lhs or not rhs:
        return []
    sig = signature(node)
    swapped = node.card is Card.ONE_TO_MANY
    if swapped:
        lhs, rhs = rhs, lhs
    one_side: dict[Labels, Sample] = {}
    for s in rhs:
        key = sig(s.labels)
        if key in one_side:
            side = "left" if swapped else "right"
            raise QueryError(f"found duplicate series for the match group {_braces(key)} on the {side} hand-side "
                             f"of the operation: [{format_labels(s.labels)}, {format_labels(one_side[key].labels)}]"
                             ";many-to-many matching not allowed: matching labels must be unique on one side")
        one_side[key] = s
    matched: dict[Labels, set[Labels] | None] = {}
    out: Vector = []
    for s in lhs:
        key = sig(s.labels)
        other = one_side.get(key)
        if other is None:
            continue
        a, b = (other.value, s.value) if swapped else (s.value, other.value)
        value, holds = _apply(node.op, a, b)
        if node.return_bool:
            value = 1.0 if holds else 0.0
        elif not holds:
            continue
        labels = _result_labels(node, s.labels, other.labels)
        if node.return_bool:
            labels = drop_name(labels)
        _check_match(node, matched, key, labels)
        out.append(Sample(labels, value))
    return out


def _check_match(node: Binary, matched: dict[Labels, set[Labels] | None], key: Labels, labels: Labels) -> None:
    if node.card is Card.ONE_TO_ONE:
        if key in matched:
            raise QueryError("multiple matches for labels: many-to-one matching must be explicit "
                             "(group_left/group_right)")
        matched[key] = None
        return
    seen = matched.setdefault(key, set())
    assert seen is not None
    if labels in seen:
        raise QueryError("multiple matches for labels: grouping labels must ensure unique matches")
    seen.add(labels)


def _result_labels(node: Binary, many: Labels, one: Labels) -> Labels:
    labels = many
    if _drops_name(node.op):
        labels = drop_name(labels)
    if node.card is Card.ONE_TO_ONE:
        labels = keep(labels, node.matching) if node.on else without(labels, node.matching)
    for name in node.include:
        labels = with_label(labels, name, get(one, name))
    return labels


def _braces(labels: Labels) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels) + "}"
