"""Rule files and SLO specs: what they define, and every mistake reported at file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.errors import InputError
from chaos.promql.rulefiles import load_rule_file, to_yaml
from chaos.promql.rules import AlertingRule, RecordingRule
from chaos.promql.slo import burn_windows

CORPUS = Path(__file__).parent / "corpus"


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(InputError) as info:
        load_rule_file(write(tmp_path, text))
    return str(info.value)


GOOD = """\
groups:
  - name: red
    interval: 30s
    rules:
      - record: job:errors:ratio
        expr: sum(rate(errors_total[1m])) / sum(rate(requests_total[1m]))
      - alert: Errors
        expr: |
          job:errors:ratio
            > 0.05
        for: 2m
        keep_firing_for: 1m
        labels: {severity: page}
        annotations: {summary: "errors {{ $value }}"}
"""


def test_a_rule_file_as_prometheus_reads_it(tmp_path: Path) -> None:
    rules = load_rule_file(write(tmp_path, GOOD))
    (group,) = rules.groups
    assert (group.name, group.interval) == ("red", 30.0)
    record, alert = group.rules
    assert isinstance(record, RecordingRule) and record.record == "job:errors:ratio"
    assert isinstance(alert, AlertingRule)
    assert (alert.for_, alert.keep_firing_for, alert.labels) == (120.0, 60.0, (("severity", "page"),))
    again = load_rule_file(write(tmp_path, to_yaml(rules.groups), "again.yaml"))
    assert again.groups[0].rules[1].query == alert.query  # the dump reads back the same


@pytest.mark.parametrize("text, where, message", [
    (GOOD.replace("sum(rate(errors_total[1m]))", "sum(rate(errors_total[1m])"), "rules.yaml:6:15:",
     "groups[0].rules[0].expr: PromQL syntax error"),
    (GOOD.replace("> 0.05", "> > 0.05"), "rules.yaml:9:11:", "groups[0].rules[1].expr: PromQL syntax error"),
    (GOOD.replace("for: 2m", "fro: 2m"), "rules.yaml:11:9:", "unknown key (did you mean 'for'?)"),
    (GOOD.replace("for: 2m", "for: 2.5m"), "rules.yaml:11:14:", "'2.5m' is not a Prometheus duration"),
    (GOOD.replace("interval: 30s", "interval: 30"), "rules.yaml:3:15:", "'30' is not a Prometheus duration"),
    (GOOD.replace("      - alert: Errors", "      - alert: Errors\n        record: x"), "rules.yaml:7:9:",
     "only one of 'record' and 'alert' must be set"),
    (GOOD.replace("job:errors:ratio\n        expr", "job:errors:ratio\n        for: 1m\n        expr"),
     "rules.yaml:6:14:", "invalid field 'for' in recording rule"),
    (GOOD.replace("record: job:errors:ratio", "record: job errors"), "rules.yaml:5:17:",
     "invalid recording rule name: job errors"),
    (GOOD.replace("{severity: page}", "{severity: '{{ humanize 3 }}'}"), "rules.yaml:13:18:",
     "the template {{ humanize 3 }} in a label is not supported"),
    (GOOD.replace("sum(rate(errors_total[1m]))", "max_over_time(rate(errors_total[1m])[5m:])"),
     "rules.yaml:6:15:", "subqueries (expr[range:step]) are not supported"),
    (GOOD + GOOD.replace("groups:\n", ""), "rules.yaml:15:5:", 'groupname: "red" is repeated in the same file'),
    ("groups: [{name: x, rules: [{alert: A, expr: 'up[5m]'}]}]", "rules.yaml:1:45:",
     "must give an instant vector or a scalar, not a range vector"),
    ("kind: Deployment\n", "rules.yaml:1:1:", "cannot tell what this document is"),
])
def test_mistakes_are_reported_where_they_are(tmp_path: Path, text: str, where: str, message: str) -> None:
    shown = error_of(tmp_path, text)
    assert where in shown and message in shown, shown


def test_a_prometheus_rule_document_and_several_documents(tmp_path: Path) -> None:
    rules = load_rule_file(CORPUS / "openslo" / "operator.yaml")
    assert [g.name for g in rules.groups] == ["checkout-red"]
    mixed = load_rule_file(CORPUS / "openslo" / "checkout-slo.yaml")
    assert [s.name for s in mixed.slos] == ["checkout-availability-0", "payments-availability-0"]


def test_sloth_windows_and_factors() -> None:
    assert [(w.severity.value, w.long, w.short, w.factor) for w in burn_windows(30 * 86400)] == [
        ("page", 3600, 300, 14.4), ("page", 21600, 1800, 6.0), ("ticket", 86400, 7200, 3.0),
        ("ticket", 259200, 21600, 1.0)]
    assert [round(w.factor, 4) for w in burn_windows(28 * 86400)] == [13.44, 5.6, 2.8, 0.9333]


def test_a_sloth_spec_becomes_an_slo_and_sloths_rules() -> None:
    rules = load_rule_file(CORPUS / "sloth" / "cart-slo.yaml")
    (slo,) = rules.slos
    assert (slo.id, slo.objective, slo.period) == ("cart-requests-availability", 0.99, 30 * 86400)
    names = [r.name for g in slo.groups for r in g.rules]
    assert names[:8] == [f"slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")]
    page, ticket = slo.groups[2].rules
    assert isinstance(page, AlertingRule) and dict(page.labels) == {
        "category": "availability", "severity": "page", "sloth_severity": "page"}
    assert "(14.4 * 0.01)" in page.query and "(6 * 0.01)" in page.query
    assert "slo:sli_error:ratio_rate2h" in ticket.query and "(1 * 0.01)" in ticket.query


@pytest.mark.parametrize("text, where, message", [
    ("version: prometheus/v1\nservice: cart\nslos:\n  - name: ab\n    objective: 101\n    sli: {raw: "
     "{error_ratio_query: 'x[{{.window}}]'}}\n    alerting: {name: A}\n", "rules.yaml:5:16:", "is out of range"),
    ("version: prometheus/v1\nservice: cart\nslos:\n  - name: ab\n    objective: 99\n    sli:\n      events:\n"
     "        error_query: sum(rate(e[5m]))\n        total_query: sum(rate(t[{{.window}}]))\n    alerting: {name: A}\n",
     "rules.yaml:8:22:", "must contain the {{ .window }} variable"),
    ("version: prometheus/v1\nservice: cart\nslos:\n  - name: ab\n    objective: 99\n    sli:\n      events:\n"
     "        error_query: sum(rate(e[{{.window}}])\n        total_query: sum(rate(t[{{.window}}]))\n"
     "    alerting: {name: A}\n", "rules.yaml:8:22:", "PromQL syntax error"),
    ("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: s}\nspec:\n  service: xy\n  budgetingMethod: Timeslices\n"
     "  objectives: [{target: 0.9}]\n", "rules.yaml:6:20:", "budgeting method 'Timeslices' is not supported"),
    ("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: s}\nspec:\n  service: xy\n  budgetingMethod: Occurrences\n"
     "  indicatorRef: nope\n  objectives: [{target: 0.9}]\n", "rules.yaml:7:17:", "no SLI named 'nope'"),
])
def test_slo_spec_mistakes(tmp_path: Path, text: str, where: str, message: str) -> None:
    shown = error_of(tmp_path, text)
    assert where in shown and message in shown, shown
