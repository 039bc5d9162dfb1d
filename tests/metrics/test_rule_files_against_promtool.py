"""The simulator's rule evaluation against Prometheus's own, on a simulated run's series.

A run is simulated with a rule file (recording rules, ``for``, ``keep_firing_for``,
``offset``, ``histogram_quantile`` over the histogram's buckets) and a Sloth SLO, under the
OpenTelemetry preset (label sets created on first use) and with a history before the run.
Every series chaoslab's evaluation read (history included) becomes promtool's input
series, and the alerts chaoslab found firing at each evaluation become a ``promtool test
rules`` unit test: Prometheus 2.42's rule engine evaluates the same rules on the same samples
and fails on any difference in which alerts fire when, with their labels and annotations.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from metrickit import run, write

from chaos.analysis.prometheus_rules import RuleAlerts, plan
from chaos.promql.documents import format_duration
from chaos.promql.rulefiles import to_yaml
from chaos.promql.rules import RecordingRule
from chaos.promql.series import NAME, StoredSeries, format_labels, get

RULES = """\
    groups:
      - name: recordings
        rules:
          - record: job:http_server_errors:ratio_rate1m
            expr: |
              sum by (job) (rate(http_server_request_duration_seconds_count{http_response_status_code=~"5.."}[1m]))
                / sum by (job) (rate(http_server_request_duration_seconds_count[1m]))
      - name: alerts
        rules:
          - alert: ErrorRatioHigh
            expr: job:http_server_errors:ratio_rate1m > 0.1
            for: 30s
            labels: {severity: page}
            annotations: {summary: "{{ $labels.job }} fails"}  # ($value: the timelines keep the last one only)
          - alert: LatencyHigh
            expr: |
              histogram_quantile(0.9, sum by (job, le) (rate(http_server_request_duration_seconds_bucket[1m])))
                > 0.012
            for: 15s
            keep_firing_for: 30s
          - alert: TrafficDropped
            expr: |
              sum by (job) (rate(http_server_request_duration_seconds_count{http_response_status_code="200"}[1m]))
                < 0.7 * sum by (job) (
                  rate(http_server_request_duration_seconds_count{http_response_status_code="200"}[1m] offset 2m))
"""
SLO = """\
    version: prometheus/v1
    service: back
    slos:
      - name: availability
        objective: 99
        sli:
          events:
            error_query: |
              sum(rate(http_server_request_duration_seconds_count{job="back",http_response_status_code=~"5.."}[{{.window}}]))
            total_query: sum(rate(http_server_request_duration_seconds_count{job="back"}[{{.window}}]))
        alerting:
          name: BackBudgetBurn
"""
EXTRA = """\
metrics: {preset: opentelemetry, history: 10m}
prometheus_rules: [rules.yaml]
slo_specs: [slo.yaml]
evaluation_interval: 15s
"""
HISTORY = 600


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        reason = "promtool (Debian's prometheus package) is not installed"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return found


def values(series: StoredSeries, end: int) -> str:
    """promtool's notation, one entry per second from the history's start: the sample, or _ for none."""
    by_second = {t // 1000 + HISTORY: v for t, v in zip(series.times, series.values, strict=True)}
    parts = ["_" if (v := by_second.get(i)) is None else (str(int(v)) if v == int(v) else repr(v))
             for i in range(end + 1)]
    while parts and parts[-1] == "_":
        parts.pop()
    return " ".join(parts)


def test_promtool_fires_and_resolves_the_alerts_chaoslab_does(tmp_path: Path) -> None:
    binary = promtool()
    experiment, result = run(write(tmp_path, EXTRA, {"rules.yaml": RULES, "slo.yaml": SLO}, duration="4m",
                                   ratio=0.6, fault_at="60s", fault_for="100s"))
    rule_plan = plan(experiment)
    assert rule_plan is not None
    alerts = RuleAlerts(rule_plan, result.bounds)
    alerts.advance(result.series, result.seconds)
    assert alerts.engine.errors == [] and -HISTORY * 1000 <= alerts.start < 0  # it evaluated in the history too
    end = HISTORY + result.seconds
    recorded = {r.record for g in rule_plan.groups for r in g.rules if isinstance(r, RecordingRule)}
    inputs = [s for s in alerts.store.every() if get(s.labels, NAME) not in recorded | {"ALERTS", "ALERTS_FOR_STATE"}]
    assert any(t < 0 for s in inputs for t in s.times)  # the history is in the input

    timelines = alerts.engine.alert_timelines()
    fired = {(a.alert, e.fired_at, e.resolved_at) for a in timelines for e in a.firings}
    names = sorted({r.name for g in rule_plan.groups for r in g.alerting_rules})
    # the run is not trivial: every alert fires, one of them resolves, one keeps firing after its condition ended
    assert {name for name, _, _ in fired} == set(names), fired
    assert any(resolved is not None for _, _, resolved in fired)
    # Before chaoslab's first evaluation promtool had only the sparse part of the history: states agree
    # from one lead time (the longest for, the reach into recordings, an interval) after it.
    compared_from = (alerts.start // 1000) + rule_plan.lead
    tests: list[dict[str, Any]] = []
    for t in range(-HISTORY, result.seconds + 1, 15):
        if t < compared_from:
            continue
        for name in names:
            firing = [a for a in timelines if a.alert == name and a.firing_at(t)]
            tests.append({"eval_time": format_duration(t + HISTORY), "alertname": name, "exp_alerts": [
                {"exp_labels": {k: v for k, v in a.labels if k != "alertname"},
                 "exp_annotations": dict(a.annotations)} for a in firing]})
    (tmp_path / "all-rules.yaml").write_text(to_yaml(rule_plan.groups, 15.0), encoding="utf-8")
    unit = {"rule_files": ["all-rules.yaml"], "evaluation_interval": "15s",
            "group_eval_order": [g.name for g in rule_plan.groups],
            "tests": [{"interval": "1s", "alert_rule_test": tests,
                       "input_series": [{"series": format_labels(s.labels).replace(", ", ","),
                                         "values": values(s, end)} for s in inputs]}]}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(unit, sort_keys=False, width=1_000_000), encoding="utf-8")
    done = subprocess.run([binary, "test", "rules", "test.yaml"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
