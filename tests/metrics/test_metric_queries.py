"""The mapping's PromQL reads back the figures chaoslab measured: one meaning on a simulation and live.

Each preset's queries (the ones the live side will send to a real Prometheus) are evaluated
with Prometheus's semantics on the simulated series exposed under that preset, and must give
chaoslab's own trailing-window figures (:mod:`chaos.analysis.windows`): the same request
rate and error ratio, and a latency quantile inside the histogram bucket chaoslab's lies in.
"""

from __future__ import annotations

import bisect
from pathlib import Path

import pytest
from metrickit import run, write

from chaos.analysis import windows
from chaos.metrics.exposition import scrape_run
from chaos.metrics.mapping import CONVENTIONS, MetricMapping, resolve
from chaos.model.metrics import MetricsPreset, MetricsSpec
from chaos.model.scope import Scope
from chaos.promql.engine import Evaluator
from chaos.promql.series import Series, Store
from chaos.promql.syntax import parse
from chaos.run import Run

TIMES = (90, 120, 150)  # after the fault at 60 s: errors on back and front; every failure's series exists by 89 s


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run(write(tmp_path_factory.mktemp("queries")))[1]


def store_for(result: Run, preset: MetricsPreset) -> tuple[Store, MetricMapping]:
    mapping = resolve(MetricsSpec(preset=preset), result.experiment.topology)
    collected = scrape_run(result.series, result.seconds, result.bounds, mapping)
    series = [Series(labels, tuple(t / 1000 for t in p.times), tuple(p.values))
              for labels, p in collected.points.items()]
    return Store(series), mapping


def single(store: Store, query: str, t: float) -> float:
    value = Evaluator(store).evaluate(parse(query), t)
    assert isinstance(value, list) and len(value) == 1, (query, value)
    return value[0].value


@pytest.mark.parametrize("preset", list(MetricsPreset))
@pytest.mark.parametrize("scope", [Scope.service("back"), Scope.service("front"), Scope.entrypoint("web")],
                         ids=str)
def test_request_rate_and_error_ratio_are_chaoslabs(small: Run, preset: MetricsPreset, scope: Scope) -> None:
    store, mapping = store_for(small, preset)
    queries = mapping.queries(scope)
    s = small.series[scope]
    sent = CONVENTIONS[preset].naming(scope.kind).requests is not None
    for t in TIMES:
        lo, hi = windows.span(t, 60)
        expected_rate = (windows.total(s.requests, lo, hi) if sent else windows.answered(s, lo, hi)) / 60
        assert single(store, queries.request_rate("1m"), t) == pytest.approx(expected_rate, rel=1e-9)
        ratio = windows.error_ratio(s, lo, hi)
        assert ratio is not None and ratio > 0.1
        assert single(store, queries.error_ratio("1m"), t) == pytest.approx(ratio, rel=1e-9)


@pytest.mark.parametrize("preset", [MetricsPreset.CHAOSLAB, MetricsPreset.OPENTELEMETRY, MetricsPreset.MICROMETER])
def test_latency_quantile_falls_in_the_bucket_of_chaoslabs(tmp_path: Path, preset: MetricsPreset) -> None:
    # simulated under the preset, so that its bounds are among the run's and counted exactly
    small = run(write(tmp_path, f"metrics: {{preset: {preset.value}}}\n"))[1]
    store, mapping = store_for(small, preset)
    le = sorted(mapping.le_bounds(small.bounds))
    for scope in (Scope.service("back"), Scope.service("front"), Scope.entrypoint("web")):
        query = mapping.queries(scope).latency_quantile(0.99, "1m")
        for t in TIMES:
            ours = windows.latency_quantile(small.series[scope], small.bounds, *windows.span(t, 60), 0.99)
            theirs = single(store, query, t)
            assert ours is not None
            i = bisect.bisect_left(le, ours)  # the bucket (le[i-1], le[i]] holding chaoslab's p99
            low, high = (le[i - 1] if i else 0.0), le[i]
            assert low <= theirs <= high, (scope, t, low, ours, theirs, high)


def test_the_issues_example_rule_means_chaoslabs_error_ratio(tmp_path: Path) -> None:
    """``sum(rate(..._count{service="cart",status=~"5.."}[5m])) / sum(rate(..._count{service="cart"}[5m]))``."""
    experiment, result = run(write(tmp_path, "metrics: {preset: micrometer}\n", duration="7m", fault_at="90s",
                                   rate=50))
    store, _ = store_for(result, MetricsPreset.MICROMETER)
    query = ('sum(rate(http_server_requests_seconds_count{service="back",status=~"5.."}[5m])) '
             '/ sum(rate(http_server_requests_seconds_count{service="back"}[5m]))')
    s = result.series[Scope.service("back")]
    for t in (400, 420):  # windows that start after the first failure created the 500 series
        assert single(store, query, t) == pytest.approx(windows.error_ratio(s, *windows.span(t, 300)), rel=1e-9)
    assert single(store, f"({query}) > 0.05", 420) > 0.05


def test_haproxy_reads_its_average_not_a_quantile(small: Run) -> None:
    store, mapping = store_for(small, MetricsPreset.HAPROXY)
    queries = mapping.queries(Scope.service("back"))
    assert queries.latency_quantile(0.99, "1m") is None
    assert queries.latency_average() == 'max(haproxy_backend_total_time_average_seconds{proxy="back"})'
    back = store.named("haproxy_backend_total_time_average_seconds")
    assert [dict(s.labels)["proxy"] for s in back] == ["back", "front"]  # entrypoints (frontends) have none
    assert single(store, queries.latency_average(), small.seconds) == back[0].values[-1] > 0


def test_labels_set_in_the_experiment_are_in_every_series_and_select_the_scope(tmp_path: Path) -> None:
    extra = """\
    metrics:
      preset: micrometer
      labels: {namespace: shop}
      services:
        back: {application: back-api, service: ""}
    """
    experiment, result = run(write(tmp_path, extra, duration="40s", fault_at="30s"))
    mapping = resolve(experiment.metrics, experiment.topology)
    back = mapping.by_scope[Scope.service("back")]
    assert dict(back.labels) == {"application": "back-api", "namespace": "shop", "exception": "None",
                                 "method": "GET", "uri": "/"}  # service="" removed the label
    assert back.identity == (("application", "back-api"), ("namespace", "shop"))
    assert mapping.queries(Scope.service("back")).request_rate("1m") == \
        'sum(rate(http_server_requests_seconds_count{application="back-api", namespace="shop"}[1m]))'
    assert mapping.scope_of((("application", "back-api"), ("namespace", "shop"), ("severity", "page"))) == \
        Scope.service("back")
    assert mapping.scope_of((("service", "front"),)) == Scope.service("front")  # a scope label names it
    assert mapping.scope_of((("severity", "page"),)) is None
