"""Latency figures of a simulated run are exact order statistics of the latencies it measured.

The histogram's buckets are 12% wide: interpolated in them, a p99 of answers that all took
302 ms read 313 ms. The simulator keeps every latency, so alert values, SLO observations and
whole-run percentiles are the quantiles of the latencies themselves (linear interpolation
between order statistics, as each second's percentiles). Live metrics are histograms only:
there the same figures are estimates, and the result says so.
"""

from __future__ import annotations

import dataclasses

import pytest
from simkit import ENTRY, entry_series, entry_totals, experiment, exponential, fixed, run, svc, topology

from chaos.analysis import analyze
from chaos.analysis.alerts import metric_value
from chaos.model.alerts import AlertMetric, ThresholdRule
from chaos.model.slos import LatencyObjective, Slo
from chaos.report.summary import render
from chaos.result import Result
from chaos.run import Run, merge_hists, percentile_from_hist, quantile


def test_answers_that_all_take_302_ms_read_302_ms_everywhere() -> None:
    # Constant 302 ms, a worker for every request: no queueing, every answer takes exactly 302 ms.
    topo = topology(svc("s", fixed(0.302), workers=100))
    slo = Slo(entrypoint=ENTRY, latency=LatencyObjective(p99=0.25))
    alert = ThresholdRule(name="slow", entrypoint=ENTRY, metric=AlertMetric.LATENCY_P99, threshold=0.25,
                          window=30.0, every=10.0)
    r = run(experiment(topo, rate=20, duration=60, slos=[slo], alerts=[alert]))
    an = analyze(r)
    (objective,) = [o for o in an.objectives if not o.implied]
    assert objective.observed == pytest.approx(0.302, abs=1e-9)
    assert an.firings and an.firings[0].value == pytest.approx(0.302, abs=1e-9)
    assert an.entrypoints[ENTRY].p99_ms == pytest.approx(302.0, abs=1e-6)
    doc = Result(r, an).to_dict()
    assert doc["latency_estimated"] is False
    assert doc["slos"][0]["observed"] == 302.0
    assert doc["alerts"][0]["value"] == 0.302
    assert doc["entrypoints"][ENTRY]["p99_ms"] == 302.0
    assert "estimates" not in render(doc)


def spread_run() -> Run:
    """M/M/1-like latencies at 70% load, spread over many buckets, with a 1-second p99 alert that fires."""
    topo = topology(svc("s", exponential(0.01)))
    alert = ThresholdRule(name="p99", entrypoint=ENTRY, metric=AlertMetric.LATENCY_P99, threshold=0.001,
                          window=1.0, every=1.0)
    slo = Slo(entrypoint=ENTRY, latency=LatencyObjective(p95=0.05))
    return run(experiment(topo, rate=70, duration=40, warmup=5, slos=[slo], alerts=[alert]))


def test_whole_run_percentiles_are_the_order_statistics_of_every_measured_latency() -> None:
    r = spread_run()
    an = analyze(r)
    totals = entry_totals(r)  # sorted all measured latencies in one piece, in the recorder
    fig = an.entrypoints[ENTRY]
    assert (fig.p50_ms, fig.p95_ms, fig.p99_ms) == pytest.approx((totals.p50_ms, totals.p95_ms, totals.p99_ms),
                                                                 rel=1e-12)
    (objective,) = [o for o in an.objectives if not o.implied]
    assert objective.observed is not None and objective.observed * 1000 == pytest.approx(totals.p95_ms, rel=1e-12)
    # Not what the histogram says: its interpolation is off by up to a bucket's width.
    series = entry_series(r)
    from_hist = percentile_from_hist(merge_hists(series.hist[r.first_measured:]), r.bounds, 0.99)
    assert from_hist is not None and from_hist * 1000 != pytest.approx(fig.p99_ms, rel=1e-6)


def test_an_alert_value_is_the_exact_percentile_of_its_window() -> None:
    # Over a 1-second window an alert's p99 is that second's p99, which the recorder computes from
    # the second's latencies on its own; over 10 seconds, the quantile of all their latencies sorted.
    r = spread_run()
    (first,) = analyze(r).firings[:1]
    series = entry_series(r)
    assert first.value is not None and first.value * 1000 == pytest.approx(series.p99_ms[0], rel=1e-12)
    assert series.samples is not None
    checked = 0
    for end in range(1, len(series) + 1):
        if series.p99_ms[end - 1] is not None:
            got = metric_value(AlertMetric.LATENCY_P99, 1.0, series, r.bounds, end)
            assert got is not None and got * 1000 == pytest.approx(series.p99_ms[end - 1], rel=1e-12)
            checked += 1
        lo = max(0, end - 10)
        window = sorted(series.samples.values[series.samples.starts[lo]:series.samples.starts[end]])
        for metric, q in ((AlertMetric.LATENCY_P50, 0.5), (AlertMetric.LATENCY_P90, 0.9)):
            assert metric_value(metric, 10.0, series, r.bounds, end) == quantile(window, q)
    assert checked == len(series)


def test_without_samples_the_figures_are_estimates_and_say_so() -> None:
    # A live run's series carry histograms only.
    r = spread_run()
    live = dataclasses.replace(r, series={s: dataclasses.replace(ser, samples=None) for s, ser in r.series.items()})
    an = analyze(live)
    assert an.latency_estimated
    series = live.series[next(s for s in live.series if s.name == ENTRY)]
    estimate = percentile_from_hist(merge_hists(series.hist[live.first_measured:]), live.bounds, 0.99)
    assert estimate is not None and an.entrypoints[ENTRY].p99_ms == pytest.approx(estimate * 1000)
    doc = Result(live, an).to_dict()
    assert doc["latency_estimated"] is True
    assert "Latency:        percentiles and alert values are estimates" in render(doc)
