"""The README's hardening story, checked by the release gate itself on shortened bundled experiments.

``topologies/shop-hardened.yaml`` claims (README, docs/sweeps.md) that it recovers from the
retry storm, keeps a slow database away from users and lessens the damage of a catalog
replica crash, without hurting the game day's slow database, and at a small cost to
purchases when the database refuses queries. Each claim is a comparison ``chaoslab diff``
makes; here the gate's own ``compare_runs`` judges them, with its default tolerances, on
the bundled experiments shortened (faults earlier and shorter) and one seed each. Over
seeds 0-3 (offsets from each experiment's seed) the gaps in entry requests failed are
44-52 points (retry storm), 53-54 (slow database) and 24-37 (replica crash): the margins
asserted below are far from noise.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.analysis import analyze
from chaos.diff import Comparison, Metric, Tolerances, Verdict, compare_runs, with_topology
from chaos.model.files import load_experiment, load_topology
from chaos.sim.simulation import simulate
from chaos.sweep.grid import Setting, Variant, build
from chaos.sweep.summary import RunSummary, summarize

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # about 25 s of simulation

SHORTER = {
    "retry-storm": {"duration": "150s"},
    "db-slow-retry-cascade": {"duration": "3m", "faults.0.at": "60s", "faults.0.duration": "90s"},
    "replica-crash": {"duration": "150s", "faults.0.at": "45s", "faults.0.duration": "60s"},
    "gameday-db-latency": {},
}


def run(name: str, topology: str) -> RunSummary:
    experiment = load_experiment(ROOT / "experiments" / f"{name}.yaml")
    settings = tuple(Setting(tuple(path.split(".")), value) for path, value in SHORTER[name].items())
    experiment = build(experiment, Variant(settings=settings))
    swapped = with_topology(experiment, load_topology(ROOT / "topologies" / f"{topology}.yaml"))
    result = simulate(swapped, experiment.seed)
    return summarize(result, analyze(result))


def gate(name: str) -> tuple[RunSummary, RunSummary, dict[tuple[str, Metric], Comparison]]:
    base, hardened = run(name, "shop"), run(name, "shop-hardened")
    verdicts = {(c.scope, c.metric): c for c in compare_runs(name, [base], [hardened], Tolerances())}
    return base, hardened, verdicts


def test_the_retry_storm_recovers() -> None:
    base, hardened, verdicts = gate("retry-storm")
    assert verdicts["", Metric.ENTRY_FAILED_RATIO].verdict is Verdict.BETTER
    assert hardened.entry_failed_ratio < base.entry_failed_ratio - 0.3
    assert not base.recovered and hardened.recovered  # metastable without budgets, drains with them
    assert verdicts["", Metric.TIME_TO_RECOVER].verdict is Verdict.BETTER


def test_a_slow_database_stays_away_from_users_at_a_small_cost_to_purchases() -> None:
    base, hardened, verdicts = gate("db-slow-retry-cascade")
    assert verdicts["", Metric.ENTRY_FAILED_RATIO].verdict is Verdict.BETTER
    assert base.entry_failed_ratio > 0.3 and hardened.entry_failed_ratio < 0.01
    # the price: the database refuses what it cannot serve within 50 ms, and a few purchases fail,
    # fewer than their objective (1%) allows
    assert hardened.services["db"].error_ratio > base.services["db"].error_ratio + 0.1
    assert hardened.entrypoints["buy"].error_ratio < 0.01


def test_a_replica_crash_hurts_less() -> None:
    base, hardened, verdicts = gate("replica-crash")
    assert verdicts["", Metric.ENTRY_FAILED_RATIO].verdict is Verdict.BETTER
    assert hardened.entry_failed_ratio < base.entry_failed_ratio - 0.1


def test_the_game_day_is_not_worse() -> None:
    # the 250 ms database latency the 120 ms timeout of an earlier hardening turned into errors
    base, hardened, verdicts = gate("gameday-db-latency")
    assert verdicts["", Metric.ENTRY_FAILED_RATIO].verdict is Verdict.SAME
    assert hardened.entry_failed_ratio <= base.entry_failed_ratio + 0.005
    assert hardened.entrypoints["browse"].error_ratio < 0.01
