"""Resuming: runs already on disk are not simulated again, unless what they were made from changed."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import chaos.sweep.worker as worker
from chaos.model.experiment import Experiment
from chaos.run import Run
from chaos.sweep.executors import InlineExecutor
from chaos.sweep.grid import Plan, make_plan
from chaos.sweep.runner import SweepResult, run_sweep
from chaos.sweep.store import Store


class Interrupted(Exception):
    """Stands for Ctrl-C or a killed machine (pytest reserves KeyboardInterrupt for itself)."""


class Counting:
    """Wraps the simulator to count calls, and to stop the sweep after ``stop_after`` of them."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.calls = 0
        self.stop_after = stop_after

    def __call__(self, experiment: Experiment, seed: int | None = None) -> Run:
        if self.stop_after is not None and self.calls >= self.stop_after:
            raise Interrupted
        self.calls += 1
        return REAL_SIMULATE(experiment, seed)


REAL_SIMULATE = worker.simulate
PLAN = make_plan(["crash"], [], ["load.rate=60,100"])
SEEDS = (5, 6)
TOTAL = 4 * 2 * 2


def sweep(experiment: Experiment, out: Path, monkeypatch: pytest.MonkeyPatch, counter: Counting,
          plan: Plan = PLAN) -> SweepResult:
    monkeypatch.setattr(worker, "simulate", counter)
    return run_sweep(experiment, plan, SEEDS, InlineExecutor(), Store(out))


def test_a_second_sweep_simulates_nothing_and_returns_the_same(fan: Experiment, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = Counting(), Counting()
    one = sweep(fan, tmp_path, monkeypatch, first)
    two = sweep(fan, tmp_path, monkeypatch, second)
    assert (first.calls, second.calls) == (TOTAL, 0)
    assert (two.simulated, two.reused) == (0, TOTAL)
    assert two.results == one.results


def test_an_interrupted_sweep_resumes_where_it_stopped(fan: Experiment, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(Interrupted):
        sweep(fan, tmp_path, monkeypatch, Counting(stop_after=5))
    written = sorted(tmp_path.glob("runs/*/seed-*.json"))
    assert len(written) == 5
    assert not list(tmp_path.rglob("*.tmp"))  # every file whole: written to a temporary name, then renamed
    rest = Counting()
    result = sweep(fan, tmp_path, monkeypatch, rest)
    assert rest.calls == TOTAL - 5
    assert (result.simulated, result.reused) == (TOTAL - 5, 5)
    assert len(list(tmp_path.glob("runs/*/seed-*.json"))) == TOTAL


def test_a_deleted_run_is_the_only_one_redone(fan: Experiment, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    sweep(fan, tmp_path, monkeypatch, Counting())
    victim = sorted(tmp_path.glob("runs/*/seed-6.json"))[3]
    doc = json.loads(victim.read_text())
    victim.unlink()
    again = Counting()
    sweep(fan, tmp_path, monkeypatch, again)
    assert again.calls == 1
    assert json.loads(victim.read_text())["summary"] == doc["summary"]  # same seed, same result


def test_changed_inputs_make_only_the_affected_variants_run_again(fan: Experiment, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    sweep(fan, tmp_path, monkeypatch, Counting())
    slower_leaf = dataclasses.replace(fan, topology=dataclasses.replace(
        fan.topology, services=tuple(dataclasses.replace(s, workers=4) if s.name == "leaf" else s
                                     for s in fan.topology.services)))
    changed = Counting()
    sweep(slower_leaf, tmp_path, monkeypatch, changed)
    assert changed.calls == TOTAL  # the topology is part of every variant
    more_seeds = Counting()
    monkeypatch.setattr(worker, "simulate", more_seeds)
    run_sweep(slower_leaf, PLAN, (5, 6, 7), InlineExecutor(), Store(tmp_path))
    assert more_seeds.calls == TOTAL // 2  # only seed 7 is new


def test_a_file_from_another_experiment_is_not_trusted(fan: Experiment, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    sweep(fan, tmp_path, monkeypatch, Counting())
    path = sorted(tmp_path.glob("runs/*/seed-5.json"))[0]
    doc = json.loads(path.read_text())
    doc["fingerprint"] = "0" * 64
    path.write_text(json.dumps(doc))
    again = Counting()
    sweep(fan, tmp_path, monkeypatch, again)
    assert again.calls == 1
