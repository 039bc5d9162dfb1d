"""A run whose rule-file alerts the stack's Prometheus evaluated: the analysis takes its answer, not chaoslab's.

The run is simulated (any Run will do: what matters is that it carries ``evaluated_alerts``, as a live
run measured through a Prometheus does); the samples are what Prometheus would have written. Firings,
time to detect, ``expect_within`` and result.json then follow Prometheus's samples, marked
``evaluated_by: prometheus``; without them, chaoslab's own evaluation stands and no marker is written.
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

from chaos.analysis import analyze
from chaos.codec import encode
from chaos.measurement import AlertSource
from chaos.model.files import load_experiment
from chaos.result import Result
from chaos.run import AlertSamples, EvaluatedAlerts
from chaos.sim.simulation import simulate

TOPOLOGY = """\
name: pair
entrypoints:
  web: {to: a}
services:
  a:
    service_time: {dist: constant, value: 2ms}
    calls: [{to: b, timeout: 1s}]
  b:
    service_time: {dist: exponential, mean: 10ms}
"""
RULES = """\
groups:
  - name: pair
    rules:
      - alert: BFailing
        expr: sum(rate(chaoslab_responses_total{service="b", outcome!="ok"}[3s])) > 1
        for: 2s
"""


def experiment(tmp_path: Path):  # noqa: ANN201 - an Experiment
    (tmp_path / "pair.yaml").write_text(TOPOLOGY)
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "exp.yaml").write_text(textwrap.dedent("""\
        name: own
        topology: pair.yaml
        duration: 16s
        seed: 3
        load: {profile: constant, rate: 20}
        faults: [{name: b-errors, kind: errors, target: b, ratio: 1.0, at: 3s, duration: 6s}]
        prometheus_rules: [rules.yaml]
        evaluation_interval: 1s
        expect_within: {BFailing: 4s}
        """))
    return load_experiment(tmp_path / "exp.yaml")


def test_the_firing_prometheus_wrote_is_the_one_the_analysis_and_the_result_use(tmp_path: Path) -> None:
    run = simulate(experiment(tmp_path))
    own = analyze(run)
    assert [f.name for f in own.firings] == ["BFailing"] and own.firings[0].evaluated_by is None
    # Prometheus fired it at 8 s (later than chaoslab's evaluation: its scrapes and evaluations are its own),
    # resolved it at the evaluation after 11 s; and an instance of it was firing before the run.
    read = EvaluatedAlerts(url="http://127.0.0.1:9090", alerts=("BFailing",), end_s=16.0, samples=(
        AlertSamples("BFailing", (("instance", "b-1"),), (8.0, 9.0, 10.0, 11.0), 1.0),
        AlertSamples("BFailing", (("instance", "b-2"),), (-5.0, -4.0), 1.0)))
    theirs = analyze(dataclasses.replace(run, evaluated_alerts=read))
    assert [(f.fired_at_s, f.resolved_at_s, dict(f.labels), f.evaluated_by) for f in theirs.firings] == [
        (-5.0, -3.0, {"instance": "b-2"}, AlertSource.PROMETHEUS),
        (8.0, 12.0, {"instance": "b-1"}, AlertSource.PROMETHEUS)]
    (detection,) = theirs.detections
    assert detection.alert == "BFailing" and detection.time_to_detect_s == 5.0  # 8 s - the fault's 3 s
    assert theirs.time_to_detect_s == 5.0
    (expectation,) = theirs.expectations
    assert expectation.fired_at_s == 8.0 and not expectation.met  # 5 s > expect_within 4 s
    assert any("evaluated by the stack's Prometheus at http://127.0.0.1:9090" in n for n in theirs.notes)
    alerts = encode(Result(dataclasses.replace(run, evaluated_alerts=read), theirs).document())["alerts"]
    assert [a["evaluated_by"] for a in alerts] == ["prometheus", "prometheus"]
    assert all("evaluated_by" not in a for a in encode(Result(run, own).document())["alerts"])


def test_a_prometheus_that_fired_nothing_detects_nothing(tmp_path: Path) -> None:
    run = simulate(experiment(tmp_path))
    silent = EvaluatedAlerts(url="http://127.0.0.1:9090", alerts=("BFailing",), end_s=16.0, samples=())
    analysis = analyze(dataclasses.replace(run, evaluated_alerts=silent))
    assert analysis.firings == [] and analysis.time_to_detect_s is None
    assert analysis.detections[0].alert is None
