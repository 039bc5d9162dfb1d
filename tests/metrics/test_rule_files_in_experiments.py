"""An experiment's own rule files and SLO specs: read as they are, evaluated on the run, judged like chaoslab's.

The timing oracle: a window-average error-ratio alert after a step to error fraction ``e``
crosses its threshold ``theta`` after ``w * theta / e``, then fires at the first evaluation
past that plus its ``for``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from metrickit import run, write

from chaos.analysis import analyze, windows
from chaos.analysis.prometheus_rules import RuleAlerts, plan
from chaos.cli import main
from chaos.drill import incident_result
from chaos.errors import InputError
from chaos.model.files import load, load_experiment
from chaos.model.playbook import Playbook, bind
from chaos.model.scope import Scope
from chaos.result import Result

RED = """\
    groups:
      - name: red
        interval: 5s
        rules:
          - alert: BackErrorRatio
            expr: |
              sum(rate(chaoslab_responses_total{service="back",outcome!="ok"}[1m]))
                / sum(rate(chaoslab_responses_total{service="back"}[1m])) > 0.12
            for: 10s
            labels: {severity: page}
          - alert: FrontQueueing
            expr: max(chaoslab_queue_requests{service="front"}) > 1000
"""
RULES = "prometheus_rules: [red.yaml]\n"

SLOTH = """\
    version: prometheus/v1
    service: back
    slos:
      - name: availability
        objective: 99
        sli:
          events:
            error_query: sum(rate(chaoslab_responses_total{service="back",outcome!="ok"}[{{.window}}]))
            total_query: sum(rate(chaoslab_responses_total{service="back"}[{{.window}}]))
        alerting:
          name: BackBudgetBurn
"""


def test_a_rule_file_alert_fires_when_the_window_average_crosses(tmp_path: Path) -> None:
    experiment, result = run(write(tmp_path, RULES, {"red.yaml": RED}))
    an = analyze(result)
    firing = next(f for f in an.firings if f.name == "BackErrorRatio")
    # fault at 60 s, e = 0.4, theta = 0.12, w = 60 s: crossed 18 s later; evaluated every 5 s: true
    # from 80 s (pending), firing 10 s later
    assert (firing.fired_at_s, firing.resolved_at_s) == (90.0, None)
    assert firing.scope == Scope.service("back") and dict(firing.labels) == {"severity": "page"}
    s = result.series[Scope.service("back")]
    assert firing.value == pytest.approx(windows.error_ratio(s, 30, 90))  # the expression's value when it fired
    assert an.time_to_detect_s == 30.0 and an.detections[0].alert == "BackErrorRatio"
    assert not [f for f in an.firings if f.name == "FrontQueueing"]
    doc = Result(result, an).to_dict()
    alert = next(a for a in doc["alerts"] if a["name"] == "BackErrorRatio")
    assert alert["labels"] == {"severity": "page"} and alert["scope"] == "service:back"
    assert alert["metric"] == "promql" and alert["fired_at_s"] == 90.0


def test_expect_within_names_a_rule_file_alert(tmp_path: Path) -> None:
    for within, met in (("45s", True), ("20s", False)):
        directory = tmp_path / within
        directory.mkdir()
        _, result = run(write(directory, RULES + f"expect_within: {{BackErrorRatio: {within}}}\n", {"red.yaml": RED}))
        (expectation,) = analyze(result).expectations
        assert (expectation.alert, expectation.fired_at_s, expectation.met) == ("BackErrorRatio", 90.0, met)


def test_a_playbook_triggers_on_a_rule_file_alert(tmp_path: Path) -> None:
    path = write(tmp_path, RULES, {"red.yaml": RED})
    (tmp_path / "playbook.yaml").write_text(
        "name: back-runbook\ntrigger: {alerts: [BackErrorRatio]}\nroles:\n  oncall: {respond: 10s}\n"
        "steps:\n  - {name: stop the errors, role: oncall, action: {kind: remove_fault, fault: back-errors}, "
        "mitigates: true}\n", encoding="utf-8")
    experiment = load_experiment(path)
    playbook = load(tmp_path / "playbook.yaml", Playbook)
    bind(playbook, experiment)  # the playbook's trigger is one of the rule file's alerts
    result = incident_result(experiment, playbook, experiment.seed)
    assert result.run.incident is not None
    assert (result.run.incident.triggered_s, result.run.incident.trigger) == (90.0, "BackErrorRatio")
    assert result.run.faults[0].end_s == pytest.approx(90.0 + 10.0)  # the on-call ended the fault


def test_second_by_second_evaluation_fires_as_the_whole_run_does(tmp_path: Path) -> None:
    experiment, result = run(write(tmp_path, RULES + "slo_specs: [slo.yaml]\n", {"red.yaml": RED,
                                                                                   "slo.yaml": SLOTH}))
    rule_plan = plan(experiment)
    assert rule_plan is not None
    stepwise = RuleAlerts(rule_plan, result.bounds)
    fired = []
    for complete in range(result.seconds + 1):
        fired += [(f.name, f.labels, f.fired_at_s) for f in stepwise.advance(result.series, complete)]
    whole = [(f.name, f.labels, f.fired_at_s) for f in analyze(result).firings]
    assert sorted(fired) == sorted(whole) and fired


def test_an_slo_spec_is_judged_on_the_run_and_reported(tmp_path: Path) -> None:
    _, result = run(write(tmp_path, "slo_specs: [slo.yaml]\n", {"slo.yaml": SLOTH}))
    an = analyze(result)
    (judged,) = [o for o in an.objectives if o.objective.slo == "back-availability"]
    s = result.series[Scope.service("back")]
    measured = (result.first_measured, result.seconds)
    assert judged.objective.scope == Scope.service("back") and judged.objective.target == pytest.approx(0.01)
    assert judged.observed == pytest.approx(windows.error_ratio(s, *measured))
    assert (judged.bad, judged.total) == (windows.failed(s, *measured), windows.answered(s, *measured))
    assert not judged.met and not an.slo_met
    # in breach at a second when its query over the trailing 30 s exceeds the budget: from just after 60 s
    assert 60 <= judged.breach_seconds[0] <= 61
    doc = Result(result, an).to_dict()
    assert any(o["slo"] == "back-availability" and o["met"] is False for o in doc["slos"])


def test_an_slo_over_every_service_is_the_users_one(tmp_path: Path) -> None:
    aggregate = SLOTH.replace("service: back", "service: shop").replace('service="back",', "").replace(
        '{service="back"}', "")
    experiment = load_experiment(write(tmp_path, "slo_specs: [slo.yaml]\n", {"slo.yaml": aggregate}))
    rule_plan = plan(experiment)
    assert rule_plan is not None and [s.scope for s in rule_plan.slos] == [Scope.entrypoint("web")]


def test_history_makes_long_windows_see_the_steady_state(tmp_path: Path) -> None:
    """Sloth's page alert reads an hour: with the history, four minutes of 5% errors do not page (budget 1%)."""
    base = "slo_specs: [slo.yaml]\n"
    for history, pages in (("", False), ("metrics: {history: 0}\n", True)):
        directory = tmp_path / ("with" if not history else "without")
        directory.mkdir()
        _, result = run(write(directory, base + history, {"slo.yaml": SLOTH}, duration="5m", ratio=0.2,
                              fault_at="60s"))
        paged = [f for f in analyze(result).firings if f.name == "BackBudgetBurn"
                 and dict(f.labels).get("sloth_severity") == "page"]
        assert bool(paged) is pages, (history, paged)


@pytest.mark.parametrize(("extra", "files", "where", "message"), [
    (RULES, {"red.yaml": RED.replace("> 0.12", "> 0.12)")}, "red.yaml:7:", "PromQL syntax error"),
    ("prometheus_rules: [missing.yaml]\n", {}, "experiment.yaml:21:", "file not found: missing.yaml"),
    ("slo_specs: [red.yaml]\n", {"red.yaml": RED}, "experiment.yaml:21:", "red.yaml holds no SLO spec"),
    (RULES + "expect_within: {BackErorRatio: 1m}\n", {"red.yaml": RED}, "experiment.yaml:22:",
     "no rule file defines alert 'BackErorRatio' (did you mean 'BackErrorRatio'?)"),
    (RULES + "alerts: [{name: BackErrorRatio, service: back, metric: error_ratio, threshold: 0.1}]\n",
     {"red.yaml": RED}, "experiment.yaml:", "alert 'BackErrorRatio' is defined both here and in a rule file"),
    ("metrics: {services: {bak: {service: back}}}\n", {}, "experiment.yaml:21:",
     "unknown service 'bak' (did you mean 'back'?)"),
    ("metrics: {labels: {__x: y}}\n", {}, "experiment.yaml:21:20:",
     "'__x' is not allowed here: a label name is 1 to 128 letters, digits and '_', not starting with a digit or '__'"),
    ("metrics: {buckets: [0.1, 0.05]}\n", {}, "experiment.yaml:21:", "bucket bounds must increase"),
    ("slo_specs: [slo.yaml]\n", {"slo.yaml": SLOTH.replace("service: back", "service: shop").replace(
        "chaoslab_responses_total", "http_requests_total")}, "slo.yaml:4:",
     "its service 'shop' is neither a service nor an entrypoint of topology 'small', and its queries select no "
     "series of this experiment"),
])
def test_mistakes_are_reported_at_their_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      extra: str, files: dict[str, str], where: str,
                                                      message: str) -> None:
    path = write(tmp_path, extra, files)
    with pytest.raises(InputError) as caught:
        load_experiment(path)
    assert where in str(caught.value) and message in str(caught.value), str(caught.value)
    assert main(["validate", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_a_rule_reading_names_the_mapping_does_not_expose_is_noted(tmp_path: Path) -> None:
    rules = RED.replace("chaoslab_queue_requests", "http_server_active_requests")
    _, result = run(write(tmp_path, RULES, {"red.yaml": rules}, duration="70s"))
    notes = analyze(result).notes
    assert len(notes) == 1 and "rule 'FrontQueueing' reads http_server_active_requests" in notes[0]
    assert "red.yaml:" in notes[0]


def test_simulate_prints_and_writes_rule_file_alerts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, RULES + "expect_within: {BackErrorRatio: 1m}\n", {"red.yaml": RED})
    out = tmp_path / "out"
    assert main(["simulate", str(path), "--out", str(out), "--no-report", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "Time to detect: 30 s (alert 'BackErrorRatio' fired at 90 s" in printed
    assert "BackErrorRatio severity=page" in printed
    doc = json.loads((out / "result.json").read_text())
    assert doc["alert_expectations"] == [{"alert": "BackErrorRatio", "within_s": 60.0, "fired_at_s": 90.0,
                                          "met": True, "measured": True}]


def test_a_sweep_fingerprints_an_experiment_by_its_rules(tmp_path: Path) -> None:
    from chaos.sweep.store import canonical_text
    texts = []
    for threshold in ("0.12", "0.2"):
        directory = tmp_path / threshold
        directory.mkdir()
        texts.append(canonical_text(load_experiment(write(directory, RULES, {"red.yaml": RED.replace(
            "> 0.12", f"> {threshold}")}))))
    assert texts[0] != texts[1] and "BackErrorRatio" in texts[0]


def test_an_alert_about_no_one_service_is_reported_without_a_scope(tmp_path: Path) -> None:
    rules = """\
        groups:
          - name: shop
            rules:
              - alert: ShopFailing
                expr: sum(rate(chaoslab_responses_total{outcome!="ok"}[1m])) > 5
                labels: {team: shop}
    """
    path = write(tmp_path, RULES.replace("red.yaml", "shop.yaml"), {"shop.yaml": rules})
    out = tmp_path / "out"
    assert main(["simulate", str(path), "--out", str(out), "--quiet", "--no-progress"]) == 0
    doc = json.loads((out / "result.json").read_text())
    (alert,) = doc["alerts"]
    assert (alert["name"], alert["scope"], alert["labels"]) == ("ShopFailing", None, {"team": "shop"})
    assert main(["report", str(out)]) == 0  # the reports read and draw it
    html = (out / "report.html").read_text()
    assert 'ShopFailing{team=&quot;shop&quot;}' in html
