"""chaoslab's PromQL evaluator against Prometheus's own, over the corpus in corpus/.

Each case directory holds rule files (Prometheus, PrometheusRule, Sloth, OpenSLO) and a
``series.yaml`` describing seeded series and expressions to check. chaoslab evaluates the
rules at every evaluation time of the case's window and writes its answers as a promtool
unit test; ``promtool test rules`` (Prometheus 2.42's rule engine) fails on any difference
in which alerts fire (with their labels and annotations) or in any expression's value.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from promtool_harness import CORPUS, evaluate, load_case, promtool, run_promtool, write_test

CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "series.yaml").is_file())


@pytest.mark.parametrize("name", CASES)
def test_promtool_agrees_with_chaoslab(name: str, tmp_path: Path) -> None:
    binary = promtool()
    case = load_case(CORPUS / name)
    results = evaluate(case)
    assert results.errors == (), results.errors
    expected_silent = set(case.spec.get("never_fires", []))
    for rule in case.rules.alerting_rules:  # an alert that never fires would make its checks trivial
        static = {(k, v) for k, v in rule.labels if "{{" not in v}
        fired = any(a.alert == rule.name and static <= set(a.labels) and a.firings for a in results.alerts)
        assert fired != (rule.name in expected_silent), f"{rule.name} {dict(static)} fired: {fired}"
    test = write_test(case, results, tmp_path)
    done = run_promtool(binary, test)
    assert done.returncode == 0, done.stdout[-200000:] + done.stderr[-5000:]
