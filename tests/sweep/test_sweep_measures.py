"""Time to recover, error budget burned, services hurt, and the statistics over seeds."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import pytest
from scipy import stats as scipy_stats

from chaos.analysis import analyze
from chaos.analysis.blast_radius import Breach
from chaos.analysis.slos import ObjectiveResult
from chaos.analysis.stats import stat, t975, wilson95
from chaos.model.experiment import Experiment
from chaos.model.faults import Crash, Latency, LoadSpike
from chaos.model.scope import Scope
from chaos.model.slos import Objective, ObjectiveKind
from chaos.recovery import NotMeasurable, RecoveryState
from chaos.run import Engine, FaultWindow, Run, Series
from chaos.sim.simulation import simulate
from chaos.sweep.criticality import usually_hurt
from chaos.sweep.measures import budget_burned, faults_end, hurt, landed_on, services_hurt, time_to_recover
from chaos.sweep.summary import RunSummary, summarize

WEB = Scope.entrypoint("big")


def fake_run(experiment: Experiment, faults: list[tuple[float, float | None]], seconds: int = 60) -> Run:
    windows = [FaultWindow(f"f{i}", "leaf", start, end, Crash(target="leaf").params())
               for i, (start, end) in enumerate(faults)]
    return Run(Engine.SIM, experiment, 1, float(seconds), 5.0, (), {WEB: Series(requests=[10] * seconds)}, {}, windows)


def result(breaches: list[int], implied: bool = False, target: float = 0.01, bad: int = 0,
           total: int = 100, window: float = 10.0) -> ObjectiveResult:
    objective = Objective("x", WEB, ObjectiveKind.ERROR_RATIO, target, window)
    return ObjectiveResult(objective, None, bad, total, not breaches, breaches, implied)


def test_recovery_is_the_first_second_after_the_last_fault_with_no_breach_to_the_end(fan: Experiment) -> None:
    run = fake_run(fan, [(10.0, 20.0), (15.0, 30.0)])
    rec = time_to_recover(run, [result([12, 13, 25, 26, 33]), result([31])])
    assert faults_end(run) == 30.0
    assert rec.recovered and rec.time_s == 4.0  # 34 is the first second clear for good


def test_recovery_counts_from_a_fault_ending_within_a_second(fan: Experiment) -> None:
    rec = time_to_recover(fake_run(fan, [(10.0, 20.5)]), [result([20, 21])])
    assert rec.time_s == pytest.approx(1.5)  # clear from 22


def test_no_breach_after_the_faults_is_zero(fan: Experiment) -> None:
    rec = time_to_recover(fake_run(fan, [(10.0, 20.0)]), [result([12, 19])])
    assert rec.recovered and rec.time_s == 0.0


def test_breach_in_the_last_second_is_not_recovered(fan: Experiment) -> None:
    rec = time_to_recover(fake_run(fan, [(10.0, 20.0)], seconds=60), [result([30, 59])])
    assert not rec.recovered and rec.time_s is None
    assert rec.state is RecoveryState.NOT_RECOVERED and (rec.after_s, rec.window_s) == (40.0, 10.0)


@pytest.mark.parametrize(("fault_end", "state"), [(50.0, RecoveryState.NOT_RECOVERED),   # one whole window after
                                                   (50.5, RecoveryState.NOT_MEASURABLE),
                                                   (55.0, RecoveryState.NOT_MEASURABLE)])
def test_a_run_that_ends_within_one_window_of_the_fault_has_no_measurable_recovery(
        fan: Experiment, fault_end: float, state: RecoveryState) -> None:
    # Second 59's trailing 10 s window still holds fault time unless the fault ended by second 50.
    rec = time_to_recover(fake_run(fan, [(10.0, fault_end)], seconds=60), [result([52, 59])])
    assert rec.state is state and rec.time_s is None and rec.after_s == 60 - fault_end
    assert (rec.why is NotMeasurable.RUN_ENDED) == (state is RecoveryState.NOT_MEASURABLE)


def test_an_objective_missed_for_a_whole_window_decides_among_several(fan: Experiment) -> None:
    # 25 s after the fault: the 30 s objective could not have recovered, the 20 s one had time and did not.
    run = fake_run(fan, [(10.0, 35.0)], seconds=60)
    both = time_to_recover(run, [result([59], window=30.0), result([59], window=20.0)])
    assert both.state is RecoveryState.NOT_RECOVERED and both.window_s == 20.0
    slow_only = time_to_recover(run, [result([59], window=30.0), result([36], window=20.0)])
    assert slow_only.state is RecoveryState.NOT_MEASURABLE and slow_only.window_s == 30.0


def test_unknown_without_an_ending_fault_or_stated_slo(fan: Experiment) -> None:
    assert time_to_recover(fake_run(fan, [(10.0, None)]), [result([12])]).time_s is None
    assert time_to_recover(fake_run(fan, []), [result([12])]).time_s is None
    # implied objectives (the blast radius's defaults) do not count
    only_implied = time_to_recover(fake_run(fan, [(10.0, 20.0)]), [result([40], implied=True)])
    assert only_implied.time_s is None and not only_implied.recovered
    assert [time_to_recover(fake_run(fan, f), [result([12], implied=i)]).why
            for f, i in (([(10.0, None)], False), ([], False), ([(10.0, 20.0)], True))] == [
        NotMeasurable.FAULT_NOT_OVER, NotMeasurable.NO_FAULT, NotMeasurable.NO_SLO]


def test_budget_burned_is_bad_over_allowed() -> None:
    assert budget_burned(result([], target=0.01, bad=3, total=600)) == pytest.approx(0.5)
    assert budget_burned(result([], target=0.05, bad=10, total=100)) == pytest.approx(2.0)
    assert budget_burned(result([], target=0.0, bad=0, total=100)) == 0.0
    assert budget_burned(result([], target=0.0, bad=1, total=100)) is None


def test_faults_land_on_service_targets_and_edge_callees(fan: Experiment) -> None:
    run = fake_run(fan, [])
    run.faults = [FaultWindow("x", "leaf", 1.0, 2.0, Crash(target="leaf").params()),
                  FaultWindow("y", "a->leaf", 1.0, 2.0, Latency(target="a->leaf", delay=0.1).params()),
                  FaultWindow("z", "big", 1.0, 2.0, LoadSpike(target="big", factor=2.0).params())]
    assert landed_on(run) == {"leaf"}


def test_a_simulated_leaf_crash_hurts_its_callers_and_recovers(fan: Experiment) -> None:
    crashed = dataclasses.replace(fan, faults=(Crash(target="leaf", at=20.0, duration=10.0),))
    run = simulate(crashed, 5)
    analysis = analyze(run)
    assert set(services_hurt(run, analysis)) == {"a", "b"}
    summary = summarize(run, analysis)
    assert summary.recovered
    # the entrypoint SLO's 10 s window holds bad seconds for up to 10 s after the crash ends
    assert summary.time_to_recover_s is not None and 0 < summary.time_to_recover_s <= 11
    assert summary.time_to_detect_s is not None and summary.time_to_detect_s <= 3
    measured = fan.duration - fan.warmup
    assert summary.entry_failed_ratio == pytest.approx(10 / measured, rel=0.2)


def test_summary_round_trips_through_json_exactly(fan: Experiment) -> None:
    slow = dataclasses.replace(fan, faults=(Latency(target="a->leaf", at=20.0, duration=10.0, delay=0.6),))
    run = simulate(slow, 9)
    summary = summarize(run, analyze(run))
    import json
    again = RunSummary.from_dict(json.loads(json.dumps(summary.to_dict())))
    assert again == summary
    assert summary.services["a"].errors > 0  # the delay outlasts a's 500 ms timeout: not a vacuous round trip


def test_t_quantiles_match_scipy() -> None:
    for df in range(1, 40):
        assert t975(df) == pytest.approx(scipy_stats.t.ppf(0.975, df), abs=0.002 if df <= 30 else 0.1)


def test_stat_mean_and_half_width() -> None:
    s = stat([1.0, None, 3.0, 5.0])
    assert s.mean == 3.0 and s.known == 3 and s.count == 4
    assert s.ci95 == pytest.approx(4.303 * 2.0 / math.sqrt(3))
    assert stat([None, None]).mean is None
    assert stat([2.0]).ci95 is None


def service_result(name: str, breach_s: int, bad: int, total: int, target: float = 0.05,
                   implied: bool = True) -> ObjectiveResult:
    objective = Objective("default", Scope.service(name), ObjectiveKind.ERROR_RATIO, target, 30.0)
    return ObjectiveResult(objective, bad / total, bad, total, bad <= target * total, list(range(60, 60 + breach_s)),
                           implied)


def test_hurt_needs_a_breach_of_10_s_and_a_quarter_of_the_budget() -> None:
    assert not hurt(service_result("x", 1, 31, 18_021))            # the one-second breach from a sweep: noise
    assert not hurt(service_result("x", 1, 5_000, 18_021))         # a lot of errors, but for one second
    assert not hurt(service_result("x", 40, 200, 18_021))          # long, but 22% of a 5% budget
    assert hurt(service_result("x", 10, 226, 18_021))              # 10 s and 25% of the budget
    assert hurt(service_result("x", 12, 1, 100, target=0.0))       # no budget at all: any bad event spends it


def test_a_noise_breach_does_not_count_as_hurt(fan: Experiment) -> None:
    """A leaf crash hurts a and b; a service with a one-second breach (31 bad of 18,021) is in the
    blast radius's breach list, but not hurt."""
    crashed = dataclasses.replace(fan, faults=(Crash(target="leaf", at=20.0, duration=10.0),))
    run = simulate(crashed, 5)
    analysis = analyze(run)
    noise = service_result("iso", 1, 31, 18_021)
    analysis.objectives = [r for r in analysis.objectives if r.objective.scope.name != "iso"] + [noise]
    analysis.blast.cascade.append(Breach("iso", 60.0, None, 1, "error_ratio"))
    assert "iso" in analysis.blast.services
    assert set(services_hurt(run, analysis)) == {"a", "b"}
    summaries = [summarize(run, analysis)] * 3
    assert set(usually_hurt(summaries)) == {"a", "b"}


@pytest.mark.parametrize(("hits", "n"), [(20, 20), (0, 20), (5, 10), (1, 3), (97, 100)])
def test_wilson_interval_matches_scipy(hits: int, n: int) -> None:
    expected = scipy_stats.binomtest(hits, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson95(hits, n)
    assert (low, high) == (pytest.approx(expected.low, abs=1e-9), pytest.approx(expected.high, abs=1e-9))


def test_wilson_interval_covers_the_true_share_where_the_normal_one_does_not() -> None:
    # Exact coverage over the binomial distribution of outcomes, at a share near the edge where drills
    # live (deadlines met in most runs): the normal interval is empty when every run met the deadline.
    n, p = 20, 0.97

    def coverage(interval: Callable[[int], tuple[float, float]]) -> float:
        return sum(scipy_stats.binom.pmf(k, n, p) for k in range(n + 1) if interval(k)[0] <= p <= interval(k)[1])

    def normal(k: int) -> tuple[float, float]:
        half = 1.96 * math.sqrt(k / n * (1 - k / n) / n)
        return k / n - half, k / n + half

    assert coverage(normal) < 0.5  # 20 of 20 happens 54% of the time and then reads "100% ± 0%"
    assert coverage(lambda k: wilson95(k, n)) > 0.9
