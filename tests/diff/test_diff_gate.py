"""The release gate: more retries on an overloaded dependency is worse, a retry budget is not.

The scenario: ``front`` calls ``back`` (4 workers, 10 ms: 400 requests/s) with a 200 ms
timeout at 120 requests/s. ``back`` slows down fivefold for 15 s (80 requests/s), its
queue grows, calls time out and are retried while ``back`` still works on the abandoned
ones. With one retry the offered load after the fault, 120 x 2 = 240/s, is below capacity
and the system drains; with four, 120 x 5 = 600/s is not, and it stays down (the retry
storm of theory: it fails when lambda (1 + r) > mu).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from written_schemas import schema_errors, written_again

from chaos.cli import main
from chaos.codec import encode
from chaos.diff import (
    Detection,
    DiffReport,
    Metric,
    Tolerances,
    Verdict,
    compare,
    compare_detection,
    render_markdown,
    run_diff,
    with_topology,
)
from chaos.errors import InputError
from chaos.model.files import load_experiment, load_topology
from chaos.recovery import CountsFrom, judge_recovery
from chaos.sweep import wire
from chaos.sweep.executors import InlineExecutor
from chaos.sweep.summary import ObjectiveSummary, RunSummary
from chaos.sweep.worker import Bases

BASE = """\
name: pair
entrypoints:
  web: {to: front, timeout: 3s}
services:
  front:
    replicas: 2
    workers: 200
    service_time: 1ms
    calls:
      - {to: back, timeout: 200ms, retries: {max: 1, backoff: {base: 10ms}}}
  back:
    replicas: 1
    workers: 4
    queue: {limit: 2000}
    service_time: {dist: exponential, mean: 10ms}
"""

EXPERIMENT = """\
name: slow-back
topology: ../base.yaml
duration: 90s
warmup: 5s
seed: 3
load: {rate: 120}
faults:
  - {kind: slowdown, target: back, factor: 5, at: 20s, duration: 15s}
slos:
  - {entrypoint: web, error_ratio: 0.01, window: 10s}
alerts:
  - {name: web-errors, entrypoint: web, metric: error_ratio, threshold: 0.05, window: 10s, every: 1s}
"""


@pytest.fixture()
def files(tmp_path: Path) -> Path:
    (tmp_path / "exps").mkdir()
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "more-retries.yaml").write_text(BASE.replace("max: 1,", "max: 4,"))
    (tmp_path / "budget.yaml").write_text(BASE.replace("base: 10ms}", "base: 10ms}, budget: 0.1"))
    (tmp_path / "same.yaml").write_text(BASE.replace("name: pair", "name: pair-copy"))
    # four times the workers: slowed fivefold, back still serves 320 requests/s of the 120 it gets
    (tmp_path / "roomy.yaml").write_text(BASE.replace("workers: 4", "workers: 16"))
    (tmp_path / "exps" / "slow-back.yaml").write_text(EXPERIMENT)
    (tmp_path / "exps" / "notes.yaml").write_text(BASE)  # a topology among the experiments: skipped
    return tmp_path


def gate(files: Path, candidate: str, *extra: str) -> int:
    return main(["diff", str(files / "base.yaml"), str(files / candidate), "--experiments", str(files / "exps"),
                 "--seeds", "2", "--executor", "inline", "--out", str(files / "out"), *extra])


def test_more_retries_is_worse(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gate(files, "more-retries.yaml") == 1
    out = capsys.readouterr().out
    assert "**WORSE**" in out and "### slow-back ❌" in out
    doc = json.loads((files / "out" / "diff.json").read_text())
    worse = {(c["scope"], c["metric"]) for c in doc["comparisons"] if c["verdict"] == "worse"}
    assert ("", "entry_failed_ratio") in worse
    assert ("", "time_to_recover_s") in worse       # the storm never drains
    assert ("back", "service_error_ratio") in worse
    ttr = next(c for c in doc["comparisons"] if c["metric"] == "time_to_recover_s")
    assert ttr["base"]["known"] == 2 and ttr["candidate"]["known"] == 0
    assert ttr["note"] == "recovered in 0 of 2 seeds (base: 2 of 2)"
    assert (files / "out" / "diff.md").read_text().startswith("## chaoslab diff")
    text = (files / "out" / "diff.json").read_text()
    assert schema_errors("diff", doc) == [] and written_again("diff", text) == text


def test_a_run_too_short_to_show_recovery_is_left_out_not_counted_as_never(
        files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The slowdown ends at 35 s and the run 5 s later, within the 10 s SLO window: neither version's
    # recovery can be seen, so neither "recovered in 0 of 2 seeds" nor a verdict on it.
    exp = files / "exps" / "slow-back.yaml"
    exp.write_text(exp.read_text().replace("duration: 90s", "duration: 40s"))
    gate(files, "more-retries.yaml")
    capsys.readouterr()
    doc = json.loads((files / "out" / "diff.json").read_text())
    ttr = next(c for c in doc["comparisons"] if c["metric"] == "time_to_recover_s")
    assert ttr["verdict"] == "same" and ttr["base"]["known"] == ttr["candidate"]["known"] == 0
    assert ttr["note"] == ("2 of 2 seeds left out: recovery not measurable (the run ended 5 s after the last fault "
                           "ended, less than the 10 s SLO window recovery is judged over)")
    assert ttr["note"] in (files / "out" / "diff.md").read_text()


def test_a_retry_budget_is_not_worse(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gate(files, "budget.yaml") == 0
    out = capsys.readouterr().out
    assert "**OK**" in out
    doc = json.loads((files / "out" / "diff.json").read_text())
    assert not [c for c in doc["comparisons"] if c["verdict"] == "worse"]
    failed = next(c for c in doc["comparisons"] if c["metric"] == "entry_failed_ratio")
    assert failed["verdict"] == "better"  # it sheds the retries that sustained the overload


def test_identical_topologies_compare_exactly_equal(files: Path) -> None:
    """Common random numbers: the same system with the same seeds gives the same numbers, not similar ones."""
    report = run_diff(load_topology(files / "base.yaml"), load_topology(files / "same.yaml"),
                      [load_experiment(files / "exps" / "slow-back.yaml")], 2, InlineExecutor(), Tolerances())
    assert report.comparisons and not report.worse
    assert all(c.verdict is Verdict.SAME for c in report.comparisons)
    assert all(c.change in (0.0, None) for c in report.comparisons)


def test_tolerances_decide(files: Path) -> None:
    loose = [f"--tolerance={m.value}=1000" for m in Metric]
    # 'not recovered' in more seeds is worse whatever the tolerance on the times
    assert gate(files, "more-retries.yaml", *loose) == 1
    doc = json.loads((files / "out" / "diff.json").read_text())
    assert {c["metric"] for c in doc["comparisons"] if c["verdict"] == "worse"} == {"time_to_recover_s"}


@pytest.mark.parametrize(("text", "message"), [
    ("latency=3", "--tolerance: 'latency=3' is not METRIC=VALUE with a known metric"),
    ("entry_failed_ratio=x", "--tolerance entry_failed_ratio: expected a number, got str 'x'"),
    ("services_hurt=-1", "--tolerance services_hurt: -1 is out of range: must be at least 0"),
    ("time_to_detect_s=-5s", "--tolerance time_to_detect_s: '-5s' is not a duration"),
])
def test_bad_tolerances(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        Tolerances.parse([text])
    assert str(caught.value).splitlines()[0].startswith(message)


def test_a_time_tolerance_reads_as_a_duration() -> None:
    # Read as a file's duration is: '1m' is 60 seconds, a bare number is seconds.
    tolerances = Tolerances.parse(["time_to_detect_s=1m", "time_to_recover_s=15"])
    assert tolerances.of(Metric.TIME_TO_DETECT) == 60.0
    assert tolerances.of(Metric.TIME_TO_RECOVER) == 15.0


def test_overrides_apply_to_both_versions(files: Path) -> None:
    (files / "exps" / "slow-back.yaml").write_text(EXPERIMENT.replace(
        "seed: 3\n", "seed: 3\noverrides:\n  services.back.workers: 8\n"))
    experiment = load_experiment(files / "exps" / "slow-back.yaml")
    for name in ("base.yaml", "more-retries.yaml"):
        swapped = with_topology(experiment, load_topology(files / name))
        assert swapped.topology.service("back").workers == 8
    assert with_topology(experiment, load_topology(files / "more-retries.yaml")).topology.call(
        "front", "back").retries.max == 4


def test_a_candidate_without_a_service_the_experiment_needs(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (files / "renamed.yaml").write_text(BASE.replace("to: back,", "to: backend,").replace("  back:", "  backend:"))
    assert gate(files, "renamed.yaml") == 2
    err = capsys.readouterr().err
    assert "slow-back.yaml:" in err and "unknown service 'back'" in err


def test_never_is_worse_than_any_time() -> None:
    late = compare("e", "", Metric.TIME_TO_RECOVER, [5.0, 6.0], [50.0, None], 10.0, reached="recovered")
    assert late.verdict is Verdict.WORSE and late.change == pytest.approx(45.0)
    earlier = compare("e", "", Metric.TIME_TO_RECOVER, [None, 30.0], [40.0, 20.0], 10.0, reached="recovered")
    assert earlier.verdict is Verdict.BETTER
    both_never = compare("e", "", Metric.TIME_TO_DETECT, [None, None], [None, None], 1.0, reached="detected")
    assert both_never.verdict is Verdict.SAME and both_never.change is None
    within = compare("e", "", Metric.ENTRY_FAILED_RATIO, [0.10, 0.20], [0.104, 0.205], 0.005)
    assert within.verdict is Verdict.SAME and within.change == pytest.approx(0.0045)


def rows_of(*comparisons: object) -> list[str]:
    text = render_markdown(DiffReport("base", "cand", 3, ["e"], list(comparisons)))  # type: ignore[arg-type]
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| metric")]


def test_each_comparison_reads_as_a_sentence_with_direction_and_numbers() -> None:
    recovered = compare("e", "", Metric.TIME_TO_RECOVER, [None, None, None], [20.0, 30.0, 40.0], 10.0,
                        reached="recovered")
    late = compare("e", "", Metric.TIME_TO_DETECT, [5.0, 6.0, 7.0], [5.0, None, None], 10.0, reached="detected")
    failed = compare("e", "", Metric.ENTRY_FAILED_RATIO, [0.10, 0.20, 0.30], [0.15, 0.25, 0.35], 0.005)
    hurt = compare("e", "", Metric.SERVICES_HURT, [1.0, 1.0, 1.0], [1.0, 1.0, 1.0], 0.5)
    budget = compare("e", "entrypoint:web error ratio <= 0%", Metric.BUDGET_BURNED, [0.0, 0.0, 0.0],
                     [0.0, None, 0.0], 0.1, reached="no bad event (the objective allows none)")
    assert rows_of(recovered, late, failed, hurt, budget) == [
        "| time to recover | - (0/3) | 30.0 s | - | 10.0 s | better: recovered in 3 of 3 seeds (base: 0 of 3) |",
        "| time to detect | 6.0 s | 5.0 s (1/3) | +0.0 s | 10.0 s | **worse**: detected in 1 of 3 seeds "
        "(base: 3 of 3) |",
        "| entry requests failed | 20.00% | 25.00% | +5.00% | 0.50% | **worse** |",
        "| services hurt | 1.0 | 1.0 | +0.0 | 0.5 | same |",
        "| entrypoint:web error ratio <= 0% error budget burned | 0.00× | 0.00× (2/3) | +0.00× | 0.10× "
        "| **worse**: no bad event (the objective allows none) in 2 of 3 seeds (base: 3 of 3) |",
    ]
    errors = compare("e", "back", Metric.SERVICE_ERROR_RATIO, [0.01, 0.01, 0.01], [0.05, 0.05, 0.05], 0.01)
    breach = compare("e", "back", Metric.SERVICE_BREACH, [40.0, 50.0, 60.0], [10.0, 10.0, 10.0], 5.0)
    assert rows_of(errors, breach)[-2:] == [
        "| back error ratio | 1.00% | 5.00% | +4.00% | 1.00% | **worse** |",
        "| back seconds in breach | 50.0 s | 10.0 s | -40.0 s | 5.0 s | better |",
    ]


# --------------------------------------------------------------------------- time to detect: something to detect


def test_an_alert_quiet_because_nothing_breached_is_not_worse(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The roomy back end absorbs the slowdown: web's objective holds, web-errors rightly stays quiet.
    assert gate(files, "roomy.yaml") == 0
    assert "**OK**" in capsys.readouterr().out
    doc = json.loads((files / "out" / "diff.json").read_text())
    ttd = next(c for c in doc["comparisons"] if c["metric"] == "time_to_detect_s")
    assert ttd["base"]["known"] == 2 and ttd["candidate"]["known"] == 0  # the base breached and was detected
    assert ttd["verdict"] == "same"
    assert ttd["note"] == "candidate: nothing to detect; base: not detected in 0 of 2 seeds with something to detect"


WATCHED = "entrypoint:web error ratio <= 1%"


def run_summary(seed: int, detected_s: float | None, missed: tuple[str, ...] = ()) -> RunSummary:
    """A run that missed the objectives named in ``missed`` (of web's two), detected at ``detected_s``."""
    objectives = tuple(ObjectiveSummary(name, "entrypoint:web", 10 if name in missed else 0, 1000,
                                        name not in missed, 1.0 if name in missed else 0.0, 30 if name in missed else 0)
                       for name in (WATCHED, "entrypoint:web p99 <= 1 s"))
    return RunSummary(seed, 90.0, 5.0, not missed, 1000, 10, 0.01, (), detected_s, None, 35.0,
                      judge_recovery(0.0, CountsFrom.FAULT_END, 55.0, 10.0), objectives, {}, {})


WATCHING = Detection(frozenset({WATCHED}))


def test_detection_is_judged_only_where_there_was_something_to_detect() -> None:
    quiet = [run_summary(1, None), run_summary(2, None)]
    neither = compare_detection("e", quiet, quiet, 10.0, WATCHING)
    assert neither.verdict is Verdict.NOTHING_TO_DETECT and neither.change is None
    # a latency objective no alert watches: missing it obliges no alert to fire
    unwatched = [run_summary(1, None, ("entrypoint:web p99 <= 1 s",))] * 2
    assert compare_detection("e", quiet, unwatched, 10.0, WATCHING).verdict is Verdict.NOTHING_TO_DETECT
    breached = [run_summary(1, 20.0, (WATCHED,)), run_summary(2, 25.0, (WATCHED,))]
    healed = compare_detection("e", breached, quiet, 10.0, WATCHING)
    assert healed.verdict is Verdict.SAME  # not worse: the candidate had nothing to detect
    missed = compare_detection("e", quiet, [run_summary(1, None, (WATCHED,)), run_summary(2, None)], 10.0, WATCHING)
    assert missed.verdict is Verdict.WORSE
    assert missed.note == ("candidate: not detected in 1 of 1 seed with something to detect; base: nothing to "
                           "detect; 1 of 2 seeds left out: nothing to detect in either version")
    later = compare_detection("e", breached, [run_summary(1, 40.0, (WATCHED,)), run_summary(2, 45.0, (WATCHED,))],
                              10.0, WATCHING)
    assert later.verdict is Verdict.WORSE and later.change == pytest.approx(20.0) and later.note == ""


def test_an_expectation_makes_every_run_one_to_detect() -> None:
    # expect_within says the alert must fire: a candidate that meets every objective and stays quiet is worse
    quiet = [run_summary(1, None), run_summary(2, None)]
    detected = [run_summary(1, 20.0), run_summary(2, 20.0)]
    expected = Detection(frozenset({WATCHED}), expected=True)
    assert compare_detection("e", detected, quiet, 10.0, expected).verdict is Verdict.WORSE
    assert compare_detection("e", detected, quiet, 10.0, WATCHING).verdict is Verdict.NOTHING_TO_DETECT


def test_which_objectives_an_experiments_alerts_watch(files: Path) -> None:
    experiment = load_experiment(files / "exps" / "slow-back.yaml")
    assert Detection.of(experiment) == Detection(frozenset({"entrypoint:web error ratio <= 1%"}), expected=False)
    latency = EXPERIMENT.replace("error_ratio: 0.01, window: 10s}", "error_ratio: 0.01, latency: {p99: 1s}}").replace(
        "metric: error_ratio, threshold: 0.05", "metric: latency_p99, threshold: 2s, expect_within: 30s")
    (files / "exps" / "slow-back.yaml").write_text(latency)
    watched = Detection.of(load_experiment(files / "exps" / "slow-back.yaml"))
    assert watched == Detection(frozenset({"entrypoint:web p99 <= 1 s"}), expected=True)


def test_the_team_rule_files_alerts_watch_what_is_not_known_and_their_deadlines_count() -> None:
    # The bundled team experiment: its alerts are PromQL in rule files and its deadline is stated under the
    # experiment's expect_within. A quiet candidate is judged, not waved through as "nothing to detect".
    root = Path(__file__).resolve().parents[2]
    detection = Detection.of(load_experiment(root / "experiments" / "db-slow-team-alerts.yaml"))
    assert detection == Detection(None, expected=True)
    quiet = [run_summary(1, None), run_summary(2, None)]
    detected = [run_summary(1, 75.0), run_summary(2, 75.0)]
    assert compare_detection("e", detected, quiet, 10.0, detection).verdict is Verdict.WORSE
    assert compare_detection("e", detected, quiet, 10.0, Detection(None)).verdict is Verdict.WORSE


def test_a_change_that_is_no_finite_number_is_written_as_null() -> None:
    """An objective that allows no bad event burns an infinite budget: diff.json says null, as its schema allows."""
    burned = compare("exp", "entrypoint:web", Metric.BUDGET_BURNED, [math.inf], [math.inf], 0.1)
    doc = encode(DiffReport("a.yaml", "b.yaml", 1, ["exp"], [burned]).document())
    (row,) = doc["comparisons"]
    assert row["change"] is None and row["base"]["mean"] is None and row["base"]["known"] == 1
    assert doc["worse"] is False and schema_errors("diff", doc) == []
    assert schema_errors("diff", {**doc, "worse": "no"}) != []


def test_an_experiment_for_another_topology_is_skipped_and_named(files: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    other = EXPERIMENT.replace("name: slow-back", "name: elsewhere").replace(
        "topology: ../base.yaml", "topology: ../roomy-other.yaml")
    (files / "roomy-other.yaml").write_text(BASE.replace("name: pair", "name: other"))
    (files / "exps" / "elsewhere.yaml").write_text(other)
    assert gate(files, "roomy.yaml") == 0
    captured = capsys.readouterr()
    assert "skipped (written for another topology): elsewhere" in captured.err
    assert "### elsewhere" not in captured.out and "### slow-back" in captured.out


def test_a_directory_of_more_experiments_than_a_worker_caches_runs_on_local_processes(
        files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Each experiment gives the diff two base models (the base's and the candidate's), and local
    # worker processes are given them all when they start. Nine experiments are 18 models, past the
    # 16 a Dask worker keeps as a cache: a local worker once dropped the first ones it was given,
    # and the run that needed them failed ("this worker was not given model ...").
    count = Bases.LIMIT // 2 + 1
    for i in range(count):
        (files / "exps" / f"slow-back-{i}.yaml").write_text(
            EXPERIMENT.replace("duration: 90s", "duration: 30s").replace("seed: 3", f"seed: {10 + i}")
            .replace("name: slow-back", f"name: slow-back-{i}"))
    (files / "exps" / "slow-back.yaml").unlink()
    code = main(["diff", str(files / "base.yaml"), str(files / "more-retries.yaml"), "--experiments",
                 str(files / "exps"), "--seeds", "1", "--executor", "local", "--workers", "2", "--no-progress",
                 "--out", str(files / "out")])
    assert code in (0, 1), capsys.readouterr()
    doc = json.loads((files / "out" / "diff.json").read_text())
    assert sorted(doc["experiments"]) == sorted(f"slow-back-{i}" for i in range(count))


def test_a_worker_keeps_every_model_it_was_given_and_caches_the_rest() -> None:
    given = {f"given-{i}": wire.dumps(i) for i in range(Bases.LIMIT + 4)}
    bases = Bases()
    bases.install(given)
    assert [bases.get(key) for key in given] == list(range(Bases.LIMIT + 4))
    for i in range(Bases.LIMIT + 3):  # a Dask worker's tasks each bring their model along
        assert bases.get(f"sent-{i}", wire.dumps(-i)) == -i
    sent = [k for k in bases.models if k.startswith("sent-")]
    assert len(sent) == Bases.LIMIT and "sent-0" not in sent and sent[-1] == f"sent-{Bases.LIMIT + 2}"
    assert all(key in bases.models for key in given)  # none of what it was given did
