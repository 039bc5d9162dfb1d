"""The simulator's series under the metric mapping: what a Prometheus scraping them every second stores.

Every figure is checked against the run's own per-second series, computed here another way:
counters are the running totals of a column, a histogram bucket counts the successes whose
chaoslab bucket lies at or below its bound, and so on.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from metrickit import run, write

from chaos.metrics.buckets import OTEL_BUCKETS, micrometer_buckets
from chaos.metrics.exposition import Collector, Scraper, history_times, scrape_run
from chaos.metrics.mapping import CONVENTIONS, STATUS, resolve
from chaos.model.metrics import MetricsPreset
from chaos.model.scope import Scope
from chaos.promql.engine import Evaluator
from chaos.promql.series import Store
from chaos.promql.syntax import parse
from chaos.run import CAUSES, Cause, Run, as_bound


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run(write(tmp_path_factory.mktemp("small")))[1]


def points(collected: Collector, name: str, **labels: str) -> tuple[list[int], list[float]]:
    """The one collected series with this name whose labels include ``labels``."""
    found = [(k, p) for k, p in collected.points.items()
             if dict(k).get("__name__") == name and all(dict(k).get(a) == v for a, v in labels.items())]
    assert len(found) == 1, [dict(k) for k, _ in found]
    return found[0][1].times, found[0][1].values


def running(column: list[int], t: int) -> int:
    return sum(column[:t])


def test_micrometer_buckets_are_the_ones_spring_boot_publishes() -> None:
    buckets = micrometer_buckets()
    # The first of them as a Spring Boot service exposes them with the percentile histogram on,
    # then every bound Micrometer makes between its default minimum (1 ms) and maximum (30 s).
    assert buckets[:4] == (0.001048576, 0.001398101, 0.001747626, 0.002097151)
    assert buckets[-1] == 28.633115306 and len(buckets) == 66
    assert all(0.001 <= b <= 30 for b in buckets) and list(buckets) == sorted(set(buckets))


def test_every_failure_cause_has_exactly_one_label_set_per_preset() -> None:
    for preset, convention in CONVENTIONS.items():
        sets = convention.outcome_sets()
        counted = [c for o in sets for c in o.causes]
        assert sorted(counted, key=lambda c: c.value) == sorted(CAUSES, key=lambda c: c.value), preset
        assert sum(o.success for o in sets) == 1, preset
        assert len({o.labels for o in sets}) == len(sets), preset


def test_http_presets_label_each_outcome_with_its_status() -> None:
    otel = {o.labels: o.causes for o in CONVENTIONS[MetricsPreset.OPENTELEMETRY].outcome_sets()}
    assert otel[(("http_response_status_code", "200"),)] == ()
    assert otel[(("error_type", "504"), ("http_response_status_code", "504"))] == (Cause.TIMEOUT,)
    micrometer = {dict(o.labels)["status"]: dict(o.labels)["outcome"]
                  for o in CONVENTIONS[MetricsPreset.MICROMETER].outcome_sets()}
    assert micrometer == {"200": "SUCCESS", **{str(STATUS[c]): "SERVER_ERROR" for c in CAUSES}}
    haproxy = [dict(o.labels)["code"] for o in CONVENTIONS[MetricsPreset.HAPROXY].outcome_sets()]
    assert haproxy == ["1xx", "2xx", "3xx", "4xx", "5xx", "other"]  # every class, as HAProxy always exposes them


def test_chaoslab_counters_are_running_totals_of_the_series(small: Run) -> None:
    mapping = resolve(small.experiment.metrics, small.experiment.topology)
    collected = scrape_run(small.series, small.seconds, small.bounds, mapping)
    back = small.series[Scope.service("back")]
    times, values = points(collected, "chaoslab_requests_total", service="back")
    assert times == [t * 1000 for t in range(small.seconds + 1)]  # a scrape every second, from 0 to the end
    assert values == [running(back.requests, t) for t in range(small.seconds + 1)]
    _, injected = points(collected, "chaoslab_responses_total", service="back", outcome="injected")
    assert injected[-1] == sum(back.errors[Cause.INJECTED]) > 0
    assert injected[60] == 0  # nothing failed before the fault at 60 s
    _, entry = points(collected, "chaoslab_responses_total", entrypoint="web", outcome="ok")
    assert entry[-1] == sum(small.series[Scope.entrypoint("web")].ok)


def test_histogram_buckets_count_the_successes_at_or_below_each_bound(small: Run) -> None:
    mapping = resolve(small.experiment.metrics.__class__(preset=MetricsPreset.OPENTELEMETRY),
                      small.experiment.topology)
    collected = scrape_run(small.series, small.seconds, small.bounds, mapping)
    front = small.series[Scope.service("front")]
    ok = {"service_name": "front", "http_response_status_code": "200"}
    _, count = points(collected, "http_server_request_duration_seconds_count", **ok)
    _, inf = points(collected, "http_server_request_duration_seconds_bucket", le="+Inf", **ok)
    assert count == inf and count[-1] == sum(front.ok)
    les = sorted({dict(k)["le"] for k in collected.points if dict(k).get("le") and dict(k).get("job") == "front"},
                 key=lambda v: float(v))
    assert les == ["0", "0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1", "2.5", "5",
                   "7.5", "10", "+Inf"]  # the semantic conventions' bounds, written as Go writes them
    bounds = [as_bound(b) for b in small.bounds]
    assert as_bound(0.01) in bounds and as_bound(0.025) not in bounds  # this run has chaoslab's bounds only
    for le in (0.01, 0.025, 0.1):
        _, bucket = points(collected, "http_server_request_duration_seconds_bucket", le=f"{le:g}", **ok)
        # chaoslab bucket k holds (bounds[k-1], bounds[k]]: it counts toward le when it ends at or below it
        expected = sum(c for h in front.hist for k, c in h.items() if k < len(bounds) and bounds[k] <= as_bound(le))
        assert bucket[-1] == expected


def test_a_simulation_counts_the_presets_bounds_exactly(tmp_path: Path) -> None:
    experiment, result = run(write(tmp_path, "metrics: {preset: micrometer}\n", duration="40s", fault_at="30s"))
    stored = set(result.bounds)
    assert {as_bound(b) for b in micrometer_buckets()} <= stored
    assert {as_bound(b) for b in OTEL_BUCKETS if b > 0} - stored  # only the chosen preset's are added


def test_label_sets_created_on_first_use_appear_with_their_first_failure(small: Run) -> None:
    mapping = resolve(small.experiment.metrics.__class__(preset=MetricsPreset.MICROMETER), small.experiment.topology)
    collected = scrape_run(small.series, small.seconds, small.bounds, mapping)
    back = small.series[Scope.service("back")]
    times, values = points(collected, "http_server_requests_seconds_count", application="back", status="500")
    first_failure = next(i for i, n in enumerate(back.errors[Cause.INJECTED]) if n)
    assert times[0] == (first_failure + 1) * 1000 and values[0] == back.errors[Cause.INJECTED][first_failure]
    # ... and a failure's label set has its count alone: chaoslab times successes only
    assert not [k for k in collected.points if dict(k).get("status") == "500" and "le" in dict(k)]
    eager = resolve(small.experiment.metrics.__class__(preset=MetricsPreset.HAPROXY), small.experiment.topology)
    haproxy = scrape_run(small.series, small.seconds, small.bounds, eager)
    times, values = points(haproxy, "haproxy_backend_http_responses_total", proxy="back", code="4xx")
    assert times[0] == 0 and set(values) == {0}  # HAProxy exposes every class from the start


def test_scrapes_every_scrape_interval(small: Run) -> None:
    spec = small.experiment.metrics.__class__(scrape_interval=15)
    collected = scrape_run(small.series, small.seconds, small.bounds, resolve(spec, small.experiment.topology))
    times, values = points(collected, "chaoslab_requests_total", service="front")
    assert times == list(range(0, small.seconds * 1000 + 1, 15000))
    assert values[-1] == running(small.series[Scope.service("front")].requests, times[-1] // 1000)


def test_scraping_second_by_second_stores_what_scraping_the_whole_run_does(small: Run) -> None:
    mapping = resolve(small.experiment.metrics.__class__(preset=MetricsPreset.MICROMETER), small.experiment.topology)
    whole = scrape_run(small.series, small.seconds, small.bounds, mapping)
    scraper, stepwise = Scraper(mapping, small.bounds), Collector()
    for complete in range(small.seconds + 1):
        partial = {scope: _prefix(s, complete) for scope, s in small.series.items()}
        scraper.scrape(partial, complete, stepwise)
    assert {k: (p.times, p.values) for k, p in stepwise.points.items()} == \
        {k: (p.times, p.values) for k, p in whole.points.items()}


def _prefix(series: object, n: int) -> object:
    from chaos.run import Series
    assert isinstance(series, Series)
    return Series(series.requests[:n], series.ok[:n], {c: v[:n] for c, v in series.errors.items()},
                  series.p50_ms[:n], series.p95_ms[:n], series.p99_ms[:n], series.mean_ms[:n], series.queue[:n],
                  series.busy[:n], series.retries[:n], series.wasted[:n], series.degraded[:n], series.hist[:n])


def test_haproxy_average_slides_over_512_successes(small: Run) -> None:
    mapping = resolve(small.experiment.metrics.__class__(preset=MetricsPreset.HAPROXY), small.experiment.topology)
    collected = scrape_run(small.series, small.seconds, small.bounds, mapping)
    _, average = points(collected, "haproxy_backend_total_time_average_seconds", proxy="back")
    back = small.series[Scope.service("back")]
    # Before 512 successes it is their plain mean; ``back`` answers about 60 per second.
    seen = next(t for t in range(1, small.seconds) if running(back.ok, t) >= 200)
    plain = sum(m * n for m, n in zip(back.mean_ms[:seen], back.ok[:seen], strict=True) if m) / running(back.ok, seen)
    assert average[seen] == pytest.approx(plain / 1000)
    # Later it moves toward each second's mean by the share of 512 its successes make (HAProxy's TIME_STATS_SAMPLES).
    t = small.seconds - 1
    assert running(back.ok, t) > 512
    keep = (1 - 1 / 512) ** back.ok[t]
    assert average[t + 1] == pytest.approx(average[t] * keep + back.mean_ms[t] / 1000 * (1 - keep))


def test_history_is_the_warm_up_steady_state_and_the_run_continues_from_it(small: Run) -> None:
    mapping = resolve(small.experiment.metrics, small.experiment.topology)
    store = Store()
    scraper = Scraper(mapping, small.bounds, history=lambda labels: 3 * 3600.0, warmup=20)
    scraper.scrape(small.series, 10, store)
    assert len(store) == 0  # nothing before the warm-up has completed
    scraper.scrape(small.series, small.seconds, store)
    front = small.series[Scope.service("front")]
    warm_rate = running(front.requests, 20) / 20
    ev = Evaluator(store)

    def value(query: str, t: float) -> float:
        result = ev.evaluate(parse(query), t)
        assert isinstance(result, list) and len(result) == 1, result
        return result[0].value

    sel = 'chaoslab_requests_total{service="front"}'
    assert value(f"rate({sel}[2h])", -600) == pytest.approx(warm_rate)  # a window within the history
    assert value(f"rate({sel}[30m])", -1) == pytest.approx(warm_rate)
    assert value(f"{sel} - {sel} offset 60s", 60) == running(front.requests, 60)  # no reset at the run's start
    assert value(f"increase({sel}[1m])", small.seconds) == pytest.approx(sum(front.requests[-60:]))
    # the history's samples: every minute over its last hour, sparser before
    times = history_times(3 * 3600, 60)
    assert times[0] == -3 * 3600 and times[-60:] == list(range(-3600, 0, 60)) and len(times) <= 60 + 120
