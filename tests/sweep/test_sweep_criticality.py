"""Criticality: the sweep's ranking of crashes matches what reachability in the call graph predicts."""

from __future__ import annotations

import networkx as nx
import pytest

from chaos.model.experiment import Experiment
from chaos.model.topology import Topology
from chaos.sweep.criticality import Criticality, rank
from chaos.sweep.executors import InlineExecutor
from chaos.sweep.grid import make_plan
from chaos.sweep.runner import SweepResult, run_sweep
from chaos.sweep.store import Store


def reachable_share(topology: Topology) -> dict[str, float]:
    """The oracle: the share of entry traffic whose calls reach each service (no fallbacks here)."""
    graph = nx.DiGraph((s.name, c.to) for s in topology.services for c in s.calls)
    graph.add_nodes_from(s.name for s in topology.services)
    total = sum(e.share for e in topology.entrypoints)
    share = {s.name: 0.0 for s in topology.services}
    for e in topology.entrypoints:
        for name in nx.descendants(graph, e.to) | {e.to}:
            share[name] += e.share / total
    return share


@pytest.fixture(scope="module")
def crash_sweep(fan_session: Experiment, tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    plan = make_plan(["crash"], [], [])
    return run_sweep(fan_session, plan, (5, 6), InlineExecutor(), Store(tmp_path_factory.mktemp("crit")))


@pytest.fixture(scope="module")
def ranking(crash_sweep: SweepResult) -> list[Criticality]:
    return rank(crash_sweep.results)


def test_ranking_follows_reachable_traffic(fan_session: Experiment, ranking: list[Criticality]) -> None:
    share = reachable_share(fan_session.topology)
    assert share == pytest.approx({"leaf": 1.0, "a": 0.7, "b": 0.3, "iso": 0.0})
    predicted = sorted(share, key=lambda n: -share[n])
    assert [r.target for r in ranking] == predicted
    assert [r.rank for r in ranking] == [1, 2, 3, 4]


def test_failed_share_is_proportional_to_reachable_traffic(fan_session: Experiment,
                                                           ranking: list[Criticality]) -> None:
    """Each crash fails the traffic that reaches the service for the length of the crash, no more."""
    share = reachable_share(fan_session.topology)
    at = 5 + 55 / 4
    down = (60 - at) / 2
    for row in ranking:
        expected = share[row.target] * down / 55
        assert row.entry_failed_ratio.mean == pytest.approx(expected, abs=0.03), row.target


def test_the_shared_leaf_hurts_both_callers_and_the_isolated_one_nobody(ranking: list[Criticality]) -> None:
    rows = {r.target: r for r in ranking}
    assert set(rows["leaf"].hurt) == {"a", "b"}
    assert rows["leaf"].services_hurt.mean == 2.0
    assert rows["iso"].entry_failed_ratio.mean == 0.0 and rows["iso"].hurt == ()
    assert rows["iso"].time_to_detect_s.mean is None       # nothing to detect
    assert rows["leaf"].time_to_detect_s.known == 2        # the entrypoint alerts fire every time


def test_ranking_leaves_out_variants_without_a_single_target(crash_sweep: SweepResult) -> None:
    experiment_faults = make_plan([], [], ["load.rate=100"]).variants(crash_sweep.experiment)[0]
    results = dict(crash_sweep.results)
    results[experiment_faults] = next(iter(crash_sweep.results.values()))
    assert len(rank(results)) == 4


def test_every_variant_ran_with_the_same_seeds(crash_sweep: SweepResult) -> None:
    assert crash_sweep.simulated == 8 and crash_sweep.reused == 0
    assert all(len(runs) == 2 and [r.seed for r in runs] == [5, 6] for runs in crash_sweep.results.values())
