"""A variant run from a shared fault-free start is the same run as one from the beginning."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chaos.model.experiment import Experiment
from chaos.model.files import load_experiment
from chaos.run import Run
from chaos.sim.simulation import Simulation, simulate
from chaos.sweep.grid import FaultMode, build, make_plan
from chaos.sweep.shared import SharedStarts, shared_until

ROOT = Path(__file__).resolve().parents[2]


def shorter(experiment: Experiment, seconds: float) -> Experiment:
    return dataclasses.replace(experiment, duration=seconds, warmup=min(experiment.warmup, 10.0))


def assert_same_run(a: Run, b: Run) -> None:
    assert a.series == b.series  # every second of every service: requests, errors by cause, latency, queue
    assert a.totals == b.totals
    assert a.markers == b.markers  # breaker changes, at the same instants
    assert a.faults == b.faults


@pytest.fixture(scope="module")
def retry_storm() -> Experiment:
    # The shop under a load spike with retries and breakers: runs that hinge on exact event order.
    return shorter(load_experiment(ROOT / "experiments" / "retry-storm.yaml"), 90.0)


def spread(items: list, count: int) -> list:
    """``count`` items from across the list (the test stays short; several still share a start)."""
    step = max(1, len(items) // count)
    return items[::step][:count]


@pytest.mark.parametrize("each_service, each_edge", [
    (["crash,at=30s,duration=20s", "hang,at=30s,duration=15s"], []),
    (["slowdown=8,at=25s,duration=30s"], ["latency=300ms,at=25s,duration=30s"]),
    ([], ["partition,at=20s,duration=10s", "packet_loss=0.3,at=20s,duration=20s", "errors=0.5,at=20s,duration=20s"]),
])
def test_every_kind_of_fault_gives_the_same_run_from_a_shared_start(retry_storm: Experiment, each_service: list[str],
                                                                    each_edge: list[str]) -> None:
    experiment = shorter(dataclasses.replace(retry_storm, faults=()), 50.0)
    variants = make_plan(each_service, each_edge, []).variants(experiment)
    chosen = [build(experiment, v) for v in spread(list(variants), 4)]
    starts = SharedStarts()
    for experiment in chosen:
        assert_same_run(starts.simulate(experiment, 7), simulate(experiment, 7))
    assert starts.simulated == len({shared_until(e) for e in chosen})  # one start per start time, not per variant


def test_faults_added_to_the_experiments_own_share_the_start_before_the_earliest(retry_storm: Experiment) -> None:
    short = shorter(dataclasses.replace(retry_storm, faults=()), 50.0)
    (own,) = [v for v in make_plan(["slowdown=4,at=35s,duration=10s"], [], []).variants(short) if v.target == "db"]
    faulted = build(short, own)  # the experiment's own fault: db slow from 35 s
    variants = make_plan(["crash,at=20s,duration=10s"], [], [], FaultMode.ADD).variants(faulted)
    starts = SharedStarts()
    for variant in spread(list(variants), 2):
        experiment = build(faulted, variant)
        assert len(experiment.faults) == 2 and shared_until(experiment) == 20.0
        assert_same_run(starts.simulate(experiment, 3), simulate(experiment, 3))
    assert starts.simulated == 1


def test_settings_change_the_start_so_they_do_not_share_it(retry_storm: Experiment) -> None:
    variants = make_plan(["crash,at=30s,duration=10s"], [], ["load.rate=40,60"]).variants(retry_storm)
    starts = SharedStarts()
    picked = [build(retry_storm, v) for v in variants if v.target == "db"]  # the same fault, two loads
    assert len(picked) == 2
    for experiment in picked:
        assert_same_run(starts.simulate(experiment, 3), simulate(experiment, 3))
    assert starts.simulated == 2


def test_nothing_is_shared_without_a_fault_free_start(retry_storm: Experiment) -> None:
    assert shared_until(dataclasses.replace(retry_storm, faults=())) is None
    (at_zero,) = make_plan(["crash,at=0s,duration=10s"], [], []).variants(retry_storm)[:1]
    assert shared_until(build(retry_storm, at_zero)) is None


def test_a_run_only_carries_on_as_an_experiment_whose_faults_are_still_to_come(retry_storm: Experiment) -> None:
    sim = Simulation(dataclasses.replace(retry_storm, faults=()), 1)
    sim.begin()
    sim.advance(70.0)
    with pytest.raises(ValueError, match="before 70 s"):
        sim.carry_on_as(retry_storm)  # its load spike started at 60 s
