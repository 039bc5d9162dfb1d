"""Differential testing against Prometheus's own rule engine, through ``promtool test rules``.

For a corpus case, chaoslab's evaluator runs the case's rules over its generated series;
its answers are written as a promtool unit test (the same series as ``input_series``, the
firing alerts at *every* evaluation time as ``alert_rule_tests``, expression values as
``promql_expr_test``), and promtool, which runs Prometheus's engine over the same input,
fails on any difference.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from seriesgen import Generated, generate, promtool_values, series_name

from chaos.promql.documents import format_duration, prometheus_duration_ms
from chaos.promql.engine import Evaluator, Sample
from chaos.promql.rulefiles import RuleSet, load_rule_file, to_yaml
from chaos.promql.rules import RuleResults, evaluate_rules
from chaos.promql.series import Store, format_labels
from chaos.promql.syntax import AggOp, Aggregate, parse

CORPUS = Path(__file__).parent / "corpus"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        reason = "promtool (Debian's prometheus package) is not installed"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return found


@dataclass(frozen=True)
class Case:
    name: str
    rules: RuleSet
    spec: dict[str, Any]
    generated: Generated
    interval: float

    @property
    def eval_times(self) -> list[float]:
        n = int(self.generated.duration / self.interval + 1e-9)
        return [round(i * self.interval, 3) for i in range(n + 1)]


def load_case(directory: Path) -> Case:
    spec = yaml.safe_load((directory / "series.yaml").read_text())
    files = sorted(p for p in directory.iterdir() if p.name != "series.yaml" and p.suffix in (".yaml", ".yml"))
    rules = RuleSet(tuple(load_rule_file(p) for p in files))
    interval = (prometheus_duration_ms(str(spec["evaluation_interval"])) or 0) / 1000
    for group in rules.groups:  # promtool evaluates every group at the one evaluation_interval
        assert group.interval in (None, interval), f"{directory.name}: group {group.name} has another interval"
    return Case(directory.name, rules, spec, generate(spec), interval)


def evaluate(case: Case) -> RuleResults:
    return evaluate_rules(case.rules.groups, case.generated.series, 0.0, case.eval_times[-1],
                          default_interval=case.interval)


def _alert_tests(case: Case, results: RuleResults) -> list[dict[str, Any]]:
    names = sorted({r.name for r in case.rules.alerting_rules})
    tests = []
    for t in case.eval_times:
        for name in names:
            firing = results.firing_at(t, name)
            tests.append({"eval_time": format_duration(t), "alertname": name, "exp_alerts": [
                {"exp_labels": {k: v for k, v in a.labels if k != "alertname"},
                 "exp_annotations": dict(a.annotations)} for a in firing]})
    return tests


def _samples(vec: list[Sample]) -> list[dict[str, Any]]:
    # yaml writes infinities as .inf, which promtool reads back; NaN never gets here
    return [{"labels": format_labels(s.labels), "value": s.value} for s in vec]


def _expr_tests(case: Case, results: RuleResults) -> list[dict[str, Any]]:
    store = Store((*case.generated.series, *results.recorded))
    evaluator = Evaluator(store)
    tests = []
    for item in case.spec.get("exprs", []):
        text = item["expr"]
        if item.get("round"):  # a sum over several series: Prometheus adds them in storage order
            text = f"round({text}, 1e-6)"
        every = (prometheus_duration_ms(str(item.get("every", "60s"))) or 60000) / 1000
        start = (prometheus_duration_ms(str(item.get("from", "0s"))) or 0) / 1000
        t = start
        while t <= case.generated.duration:
            tests.extend(_expr_checks(evaluator, text, t))
            t = round(t + every, 3)
    return tests


def _no_ties(evaluator: Evaluator, text: str, t: float) -> None:
    """topk/bottomk break ties in Prometheus's storage order, which is random: a check must have none."""
    expr = parse(text)
    if not (isinstance(expr, Aggregate) and expr.op in (AggOp.TOPK, AggOp.BOTTOMK)):
        return
    inner = evaluator.evaluate(expr.expr, t)
    assert isinstance(inner, list)
    groups: dict[tuple[tuple[str, str], ...], list[float]] = {}
    for s in inner:
        key = tuple(p for p in s.labels if (p[0] in expr.grouping) != expr.without and p[0] != "__name__")
        groups.setdefault(key, []).append(s.value)
    for values in groups.values():
        ordered = sorted(values, reverse=expr.op is AggOp.TOPK)
        k = int(evaluator.evaluate(expr.param, t)) if expr.param is not None else 1  # type: ignore[arg-type]
        assert len(ordered) <= k or ordered[k - 1] != ordered[k], f"{text} at {t}: a tie decides the result"


def _expr_checks(evaluator: Evaluator, text: str, t: float) -> list[dict[str, Any]]:
    _no_ties(evaluator, text, t)
    value = evaluator.evaluate(parse(text), t)
    vec = [Sample((), value)] if isinstance(value, float) else value
    if not any(math.isnan(s.value) for s in vec):
        return [{"expr": text, "eval_time": format_duration(t), "exp_samples": _samples(vec)}]
    # NaN never equals NaN in promtool's comparison: check the numbers and where the NaNs are apart
    if isinstance(value, float):
        text = f"vector({text})"
    numbers = evaluator.evaluate(parse(f"({text}) == ({text})"), t)
    where = evaluator.evaluate(parse(f"({text}) != bool ({text})"), t)
    assert isinstance(numbers, list) and isinstance(where, list)
    return [{"expr": f"({text}) == ({text})", "eval_time": format_duration(t), "exp_samples": _samples(numbers)},
            {"expr": f"({text}) != bool ({text})", "eval_time": format_duration(t), "exp_samples": _samples(where)}]


def write_test(case: Case, results: RuleResults, directory: Path) -> Path:
    rules = directory / "rules.yaml"
    rules.write_text(to_yaml(case.rules.groups, case.interval))
    gen = case.generated
    test = {
        "rule_files": [rules.name],
        "evaluation_interval": format_duration(case.interval),
        "group_eval_order": [g.name for g in case.rules.groups],
        "tests": [{
            "interval": format_duration(gen.resolution),
            "input_series": [{"series": series_name(s), "values": promtool_values(s, gen.resolution, gen.duration)}
                             for s in gen.series],
            "alert_rule_test": _alert_tests(case, results),
            "promql_expr_test": _expr_tests(case, results),
        }],
    }
    path = directory / "test.yaml"
    path.write_text(yaml.safe_dump(test, sort_keys=False, width=100000))
    return path


def run_promtool(binary: str, test: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary, "test", "rules", test.name], cwd=test.parent, capture_output=True, text=True,
                          timeout=300, check=False)
