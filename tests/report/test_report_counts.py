"""Counts before nouns read as English at 0, 1 and 2: never "all 1 objectives" or "1 services".

Every report builds such phrases with one helper, ``chaos.model.quantities.plural``; these tests
render the reports that print counts (summary, verdict sentences, diff, lint, drill, sweep's
executor) with each count at 0, 1 and 2 and read the phrase back.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from reportkit import Shape, healthy, make_doc, with_drill

from chaos.analysis.stats import stat
from chaos.diff import Comparison, DiffReport, Metric, Verdict, compare, render_markdown
from chaos.document import read
from chaos.lint import Finding, Rule, Severity, render_text
from chaos.model.files import load_topology
from chaos.model.quantities import count, plural
from chaos.report.checks import checks
from chaos.report.summary import render, render_drill
from chaos.report.verdict import sentences
from chaos.sweep.executors import ProcessExecutor


@pytest.mark.parametrize(("n", "text"), [(0, "0 objectives"), (1, "1 objective"), (2, "2 objectives"),
                                         (1021, "1,021 objectives")])
def test_plural(n: int, text: str) -> None:
    assert plural(n, "objective") == text


def test_plural_of_an_irregular_noun_and_of_a_quantity() -> None:
    assert [plural(n, "worker process", "worker processes") for n in (0, 1, 2)] == \
        ["0 worker processes", "1 worker process", "2 worker processes"]
    assert [count(n, "requests") for n in (0, 1, 2, 2.5)] == ["0 requests", "1 request", "2 requests", "2.5 requests"]


def _with_slos(n: int, met: bool) -> dict[str, Any]:
    doc = make_doc(Shape(services=4))
    out = healthy(doc) if met else copy.deepcopy(doc)
    failing = [s for s in out["slos"] if not s["met"]]
    out["slos"] = (out["slos"] if met else failing)[:n]
    out["slo_met"] = met
    return out


def _verdict_and_first_sentence(doc: dict[str, Any]) -> tuple[str, str]:
    verdict = next(line for line in render(doc).splitlines() if line.startswith("Verdict:"))
    r = read(doc)
    return verdict, sentences(r, checks(r))[0].text


@pytest.mark.parametrize(("n", "held", "sentence"), [
    (1, "SLOs HELD (1 objective)", "SLOs held: 1 of 1 objective met."),
    (2, "SLOs HELD (2 objectives)", "SLOs held: 2 of 2 objectives met."),
])
def test_slo_counts_when_held(n: int, held: str, sentence: str) -> None:
    verdict, first = _verdict_and_first_sentence(_with_slos(n, met=True))
    assert f"PASSED: {held};" in verdict
    assert first == sentence


@pytest.mark.parametrize(("n", "violated", "sentence"), [
    (1, "SLOs VIOLATED (1 of 1 objective missed)", "SLOs missed: 1 of 1 objective failed ("),
    (2, "SLOs VIOLATED (2 of 2 objectives missed)", "SLOs missed: 2 of 2 objectives failed ("),
])
def test_slo_counts_when_missed(n: int, violated: str, sentence: str) -> None:
    verdict, first = _verdict_and_first_sentence(_with_slos(n, met=False))
    assert f"FAILED: {violated};" in verdict
    assert first.startswith(sentence)


def test_no_slo_says_so_without_a_count() -> None:
    verdict, first = _verdict_and_first_sentence(_with_slos(0, met=True))
    assert "no SLOs stated" in verdict and first == "No SLOs were stated, so none could be missed."


@pytest.mark.parametrize(("services", "breached", "line", "sentence"), [
    (2, 0, "Blast radius:   no service in breach;", "Blast radius: no service breached its SLO;"),
    (2, 1, "Blast radius:   1 service in breach;", "Blast radius: 1 of 2 services breached their SLOs (svc-001)"),
    (2, 2, "Blast radius:   2 services in breach;", "Blast radius: 2 of 2 services breached their SLOs"),
])
def test_blast_radius_counts(services: int, breached: int, line: str, sentence: str) -> None:
    doc = make_doc(Shape(services=services))
    blast = doc["blast_radius"]
    blast["cascade"] = blast["cascade"][:breached]
    blast["services"] = blast["services"][:breached]
    text = render(doc)
    assert line in text
    r = read(doc)
    assert sentences(r, checks(r))[3].text.startswith(sentence)


def test_a_drill_of_one_run() -> None:
    doc = with_drill(make_doc(Shape(services=4)), runs=1)
    doc["drill"]["entry_failed_ratio"] = {"p50": 0.1, "p90": 0.1}  # as chaos.drill writes it
    doc["drill"]["deadlines"][0]["undecided"] = 1
    text = render_drill(doc)
    assert ": 1 simulated incident (seeds 1..1)" in text
    assert "(1 run ended before the deadline)" in text


def _comparison(verdict: Verdict) -> Comparison:
    return Comparison("exp", "", Metric.ENTRY_FAILED_RATIO, stat([0.0]), stat([0.1]), 0.1, 0.005, verdict)


@pytest.mark.parametrize(("worse", "seeds", "verdict", "seeds_text"), [
    (0, 1, "**OK**: no regression beyond tolerance in 1 experiment", "the same 1 seed (common"),
    (1, 1, "**WORSE**: 1 regression beyond tolerance in 1 of 1 experiment", "the same 1 seed (common"),
    (2, 2, "**WORSE**: 2 regressions beyond tolerance in 1 of 1 experiment", "the same 2 seeds (common"),
])
def test_diff_counts(worse: int, seeds: int, verdict: str, seeds_text: str) -> None:
    comparisons = [_comparison(Verdict.WORSE) for _ in range(worse)] or [_comparison(Verdict.SAME)]
    text = render_markdown(DiffReport("base.yaml", "cand.yaml", seeds, ["exp"], comparisons))
    assert verdict in text.splitlines()
    assert seeds_text in text


def test_diff_note_counts_seeds() -> None:
    one = compare("exp", "", Metric.TIME_TO_RECOVER, [1.0], [None], 10.0, reached="recovered")
    assert one.note == "recovered in 0 of 1 seed (base: 1 of 1)"
    two = compare("exp", "", Metric.TIME_TO_RECOVER, [1.0, 2.0], [None, 2.0], 10.0, reached="recovered")
    assert two.note == "recovered in 1 of 2 seeds (base: 2 of 2)"


@pytest.mark.parametrize(("errors", "warnings", "tail"), [
    (0, 0, "shop: 0 errors, 0 warnings"), (1, 1, "shop: 1 error, 1 warning"), (2, 2, "shop: 2 errors, 2 warnings")])
def test_lint_counts(errors: int, warnings: int, tail: str) -> None:
    topology = load_topology("topologies/shop.yaml")
    findings = [Finding(Rule.CYCLE, Severity.ERROR, "e", ("a",))] * errors + \
               [Finding(Rule.NO_TIMEOUT, Severity.WARNING, "w", ("a",))] * warnings
    assert render_text(topology, findings).splitlines()[-1] == tail


def test_sweep_executor_counts_workers() -> None:
    assert [ProcessExecutor(n).describe() for n in (1, 2)] == ["local, 1 worker process", "local, 2 worker processes"]
