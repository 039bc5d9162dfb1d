"""The evaluator against values computed by hand from Prometheus's documented rules."""

from __future__ import annotations

import math

import pytest

from chaos.errors import InputError, QueryError
from chaos.promql.engine import Evaluator, Sample
from chaos.promql.functions import bucket_quantile, format_float, format_value, go_div, go_mod, go_pow
from chaos.promql.series import STALE, Series, Store, is_stale
from chaos.promql.syntax import compile_re2, parse


def value_at(series: list[Series], query: str, t: float) -> float | list[Sample]:
    return Evaluator(Store(series)).evaluate(parse(query), t)


def one(series: list[Series], query: str, t: float) -> float:
    result = value_at(series, query, t)
    assert isinstance(result, list) and len(result) == 1, result
    return result[0].value


def counter(values: list[float], step: float = 10.0, start: float = 0.0) -> Series:
    return Series.regular("c_total", {"job": "x"}, values, start=start, step=step)


def test_rate_over_a_window_its_samples_span_exactly() -> None:
    s = counter([float(t) for t in range(0, 61, 10)])  # one per second, sampled every 10 s
    assert one([s], "rate(c_total[1m])", 60) == 1.0
    assert one([s], "increase(c_total[1m])", 60) == 60.0


def test_rate_extrapolates_half_an_interval_when_the_series_starts_inside_the_window() -> None:
    # samples at 30..60 s: 30 s of data; the start is 30 s away, beyond 1.1 intervals, so +5 s
    s = counter([30.0, 40.0, 50.0, 60.0], start=30)
    assert one([s], "increase(c_total[1m])", 60) == pytest.approx(35.0, abs=1e-12)
    assert one([s], "rate(c_total[1m])", 60) == pytest.approx(35.0 / 60, abs=1e-12)


def test_rate_never_extrapolates_a_counter_below_zero() -> None:
    # from 2 at 30 s, rising 10 per 10 s, the counter was zero 2 s earlier: extrapolate 2 s, not 5
    s = counter([2.0, 12.0, 22.0, 32.0], start=30)
    assert one([s], "increase(c_total[1m])", 60) == pytest.approx(32.0, abs=1e-12)


def test_a_counter_reset_adds_the_value_before_it() -> None:
    s = counter([10.0, 20.0, 5.0, 15.0])
    assert one([s], "increase(c_total[30s])", 30) == 25.0  # (15 - 10) + 20
    assert one([s], "resets(c_total[30s])", 30) == 1.0
    assert one([s], "delta(c_total[30s])", 30) == 5.0  # delta ignores resets
    assert one([s], "irate(c_total[30s])", 30) == 1.0  # 10 over 10 s since the reset to 5
    s2 = counter([10.0, 20.0, 5.0])
    assert one([s2], "irate(c_total[30s])", 20) == 0.5  # after a reset irate takes the new value: 5 / 10 s


def test_rate_needs_two_samples() -> None:
    assert value_at([counter([1.0])], "rate(c_total[1m])", 0) == []


def test_range_selectors_include_both_ends() -> None:
    s = counter([1.0, 2.0, 3.0])  # at 0, 10, 20
    assert one([s], "count_over_time(c_total[20s])", 20) == 3.0
    assert one([s], "count_over_time(c_total[19999ms])", 20) == 2.0


def test_lookback_is_five_minutes_inclusive_and_a_stale_marker_ends_a_series_at_once() -> None:
    s = Series.of("g", {}, [(0, 7.0)])
    assert one([s], "g", 300) == 7.0
    assert value_at([s], "g", 300.001) == []
    marked = Series.of("g", {}, [(0, 7.0), (10, STALE)])
    assert one([marked], "g", 9) == 7.0
    assert value_at([marked], "g", 10) == []
    assert one([marked], "count_over_time(g[1m])", 30) == 1.0  # range functions skip the marker
    assert is_stale(STALE) and not is_stale(math.nan)


def test_offset_looks_back_and_samples_later_than_the_evaluation_are_invisible() -> None:
    s = Series.regular("g", {}, [1.0, 2.0, 3.0, 4.0])  # at 0..3 s
    assert one([s], "g offset 2s", 3) == 2.0
    assert one([s], "g offset -2s", 1) == 2.0  # no sample after t=1 can be seen at t=1


def test_regex_matchers_are_anchored() -> None:
    series = [Series.of("m", {"code": code}, [(0, 1.0)]) for code in ("500", "5000", "200")]
    matched = value_at(series, 'm{code=~"5.."}', 0)
    assert isinstance(matched, list) and [dict(s.labels)["code"] for s in matched] == ["500"]
    assert compile_re2("(?i)abc").fullmatch("ABC") and not compile_re2("a|b").fullmatch("ab")


def test_aggregations_by_and_without() -> None:
    series = [Series.of("m", {"svc": s, "inst": i}, [(0, v)]) for s, i, v in
              (("a", "1", 1.0), ("a", "2", 3.0), ("b", "1", 10.0))]
    result = value_at(series, "sum by (svc) (m)", 0)
    assert result == [Sample((("svc", "a"),), 4.0), Sample((("svc", "b"),), 10.0)]
    assert value_at(series, "avg without (inst) (m)", 0) == [Sample((("svc", "a"),), 2.0),
                                                            Sample((("svc", "b"),), 10.0)]
    assert one(series, "quantile(0.5, m)", 0) == 3.0
    assert one(series, "stddev(m)", 0) == pytest.approx(math.sqrt(((1 - 14 / 3) ** 2 + (3 - 14 / 3) ** 2
                                                                  + (10 - 14 / 3) ** 2) / 3))
    top = value_at(series, "topk(1, m)", 0)
    assert isinstance(top, list) and [s.value for s in top] == [10.0]


def test_vector_matching() -> None:
    errors = [Series.of("errors", {"svc": s, "code": "500"}, [(0, v)]) for s, v in (("a", 1.0), ("b", 4.0))]
    totals = [Series.of("total", {"svc": s}, [(0, v)]) for s, v in (("a", 10.0), ("b", 8.0))]
    owners = [Series.of("owner", {"svc": s, "team": t}, [(0, 1.0)]) for s, t in (("a", "red"), ("b", "blue"))]
    data = errors + totals + owners
    ratio = value_at(data, "errors / ignoring (code) total", 0)
    assert ratio == [Sample((("svc", "a"),), 0.1), Sample((("svc", "b"),), 0.5)]
    joined = value_at(data, "errors * on (svc) group_left (team) owner", 0)
    assert joined == [Sample((("code", "500"), ("svc", "a"), ("team", "red")), 1.0),
                      Sample((("code", "500"), ("svc", "b"), ("team", "blue")), 4.0)]
    assert value_at(data, "total > bool 9", 0) == [Sample((("svc", "a"),), 1.0), Sample((("svc", "b"),), 0.0)]
    assert value_at(data, 'total unless on (svc) errors{svc="a"}', 0) == [
        Sample((("__name__", "total"), ("svc", "b")), 8.0)]
    with pytest.raises(QueryError, match="many-to-many matching not allowed"):
        value_at(data + [Series.of("total", {"svc": "a", "zone": "z"}, [(0, 1.0)])], "errors / on (svc) total", 0)


def test_histogram_quantile_by_hand() -> None:
    assert bucket_quantile(0.5, [(1.0, 10.0), (2.0, 20.0), (math.inf, 20.0)]) == 1.0
    assert bucket_quantile(0.75, [(1.0, 10.0), (2.0, 20.0), (math.inf, 20.0)]) == 1.5
    assert bucket_quantile(0.9, [(1.0, 10.0), (math.inf, 20.0)]) == 1.0  # in +Inf: the highest finite bound
    assert math.isnan(bucket_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]))  # no observations
    assert math.isnan(bucket_quantile(0.5, [(1.0, 5.0), (2.0, 6.0)]))  # no +Inf bucket
    assert bucket_quantile(1.5, [(1.0, 5.0), (math.inf, 6.0)]) == math.inf


def test_absent_takes_the_labels_of_equality_matchers() -> None:
    result = value_at([], 'absent(up{job="api", instance=~".*", zone="eu", zone="us"})', 0)
    assert result == [Sample((("job", "api"),), 1.0)]


def test_go_arithmetic_at_the_edges() -> None:
    assert go_div(1.0, 0.0) == math.inf and go_div(-1.0, 0.0) == -math.inf and math.isnan(go_div(0.0, 0.0))
    assert math.isnan(go_mod(1.0, 0.0)) and go_mod(-7.0, 3.0) == -1.0
    assert go_pow(0.0, -1.0) == math.inf and math.isnan(go_pow(-8.0, 1 / 3))
    assert format_value(0.05) == "0.05" and format_value(1e6) == "1e+06" and format_value(123456.0) == "123456"
    assert format_float(6000.0) == "6000" and format_float(1e-7) == "0.0000001"


@pytest.mark.parametrize("query, construct", [
    ("rate(x[5m])[30m:1m]", "subqueries"),
    ("x @ 100", "@ modifier"),
    ("histogram_count(x)", "native histograms"),
    ('x{a=~"\\\\pL"}', "Unicode classes"),
])
def test_unsupported_constructs_are_named(query: str, construct: str) -> None:
    with pytest.raises(InputError, match=construct):
        parse(query)
