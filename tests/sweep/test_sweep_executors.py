"""Executors: local processes and a Dask cluster return exactly what this process computes.

The Dask test starts its own LocalCluster on loopback (2 worker processes, no dashboard).
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.errors import InputError, RunError
from chaos.model.experiment import Experiment
from chaos.sweep import wire
from chaos.sweep.executors import DaskExecutor, InlineExecutor, ProcessExecutor, encode, parse_executor
from chaos.sweep.grid import make_plan
from chaos.sweep.runner import SweepResult, run_sweep
from chaos.sweep.store import Store
from chaos.sweep.summary import RunSummary
from chaos.sweep.worker import Task

PLAN = make_plan(["crash"], ["latency=700ms"], [])
SEEDS = (5, 6)


def by_variant(result: SweepResult) -> dict[str, list[RunSummary]]:
    return {v.key: runs for v, runs in result.results.items()}


@pytest.fixture(scope="module")
def inline(fan_session: Experiment, tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    return run_sweep(fan_session, PLAN, SEEDS, InlineExecutor(), Store(tmp_path_factory.mktemp("inline")))


@pytest.fixture(scope="module")
def local(fan_session: Experiment, tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    return run_sweep(fan_session, PLAN, SEEDS, ProcessExecutor(2), Store(tmp_path_factory.mktemp("local")))


@pytest.fixture(scope="module")
def dask_address() -> Iterator[str]:
    from distributed import LocalCluster
    # Without a dashboard the scheduler still serves HTTP (health, metrics), by default on 8787; any other
    # cluster on the machine holding 8787 made it warn, an error here: a free port instead.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, scheduler_port=0, silence_logs=40,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster:
        yield cluster.scheduler_address


def test_local_processes_match_this_process(inline: SweepResult, local: SweepResult) -> None:
    assert local.simulated == inline.simulated == 6 * 2
    assert by_variant(local) == by_variant(inline)


def test_dask_matches_local_processes(fan_session: Experiment, local: SweepResult, dask_address: str,
                                      tmp_path: Path) -> None:
    assert dask_address.startswith("tcp://127.0.0.1:")
    executor = parse_executor(dask_address.replace("tcp://", "dask://"), None)
    assert isinstance(executor, DaskExecutor)
    on_dask = run_sweep(fan_session, PLAN, SEEDS, executor, Store(tmp_path))
    assert on_dask.simulated == 12
    assert by_variant(on_dask) == by_variant(local)
    # and the files it wrote are the local sweep's, byte for byte apart from timings
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.glob("runs/*/*.json")) == sorted(
        (Path("runs") / v.key / f"seed-{s}.json") for v in on_dask.results for s in SEEDS)


def test_dask_runs_several_base_experiments_in_one_go(fan_session: Experiment, dask_address: str) -> None:
    """The release gate sends two versions of each experiment; each reaches its own tasks."""
    busier = dataclasses.replace(fan_session, load=dataclasses.replace(fan_session.load, rate=150.0))
    bases = [encode(fan_session), encode(busier)]
    variant = PLAN.variants(fan_session)[2]
    tasks = [Task(b.key, variant, 5) for b in bases]
    remote = {o.task.base: o.summary for o in DaskExecutor(dask_address).run(bases, tasks)}
    here = {o.task.base: o.summary for o in InlineExecutor().run(bases, tasks)}
    assert remote == here
    assert here[bases[0].key] != here[bases[1].key]


def test_unreachable_scheduler_is_a_run_error(fan_session: Experiment) -> None:
    executor = DaskExecutor("tcp://127.0.0.1:9", connect_timeout_s=1.0)
    base = encode(fan_session)
    with pytest.raises(RunError, match="cannot reach the Dask scheduler"):
        list(executor.run([base], [Task(base.key, PLAN.variants(fan_session)[0], 1)]))


def test_identical_variants_give_identical_results(fan_session: Experiment, tmp_path: Path) -> None:
    """Common random numbers: iso is called by nobody, so its size changes nothing anywhere."""
    plan = make_plan(["crash"], [], ["services.iso.workers=1,2,6"])
    result = run_sweep(fan_session, plan, SEEDS, InlineExecutor(), Store(tmp_path))
    groups: dict[str, list[list[RunSummary]]] = {}
    for variant, runs in result.results.items():
        groups.setdefault(variant.fault_label, []).append(runs)
    assert len(groups) == 4
    for label, runs in groups.items():
        assert runs[0] == runs[1] == runs[2], label
    # ... while seeds do matter, so the equality above is not vacuous
    (leaf,) = groups["crash:leaf"][:1]
    assert leaf[0].entry_failed != leaf[1].entry_failed


def test_the_experiment_crosses_once_and_tasks_are_small(fan_session: Experiment) -> None:
    base = encode(fan_session)
    task = Task(base.key, PLAN.variants(fan_session)[0], 5)
    assert len(pickle.dumps(task)) < 1000 < len(base.blob)


def test_wire_round_trips_a_parsed_experiment_with_its_locations(fan_session: Experiment) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(fan_session)  # why wire exists: source locations are read-only mappings
    again = wire.loads(wire.dumps(fan_session))
    assert isinstance(again, Experiment) and again == fan_session
    assert again.topology.service("leaf").error("replicas", "x").location == \
        fan_session.topology.service("leaf").error("replicas", "x").location
    with pytest.raises(TypeError, match="needs an experiment, got list"):
        Task("key", PLAN.variants(fan_session)[0], 5).run(wire.loads(pickle.dumps([1, 2])))


@pytest.mark.parametrize(("text", "expected"), [
    ("local", ProcessExecutor(3)),
    ("inline", InlineExecutor()),
    ("dask://scheduler:8786", DaskExecutor("tcp://scheduler:8786")),
    ("tls://scheduler:8786", DaskExecutor("tls://scheduler:8786")),
])
def test_parse_executor(text: str, expected: object) -> None:
    assert parse_executor(text, 3) == expected


@pytest.mark.parametrize("text", ["spark://x:1", "dask://", "cluster"])
def test_parse_executor_refuses_unknown(text: str) -> None:
    with pytest.raises(InputError):
        parse_executor(text, None)


def test_workers_must_be_positive() -> None:
    with pytest.raises(InputError, match="at least 1"):
        parse_executor("local", 0)


def test_a_failing_task_names_its_variant(fan_session: Experiment) -> None:
    bad = dataclasses.replace(fan_session, duration=-1.0)  # never checked in this process: the worker trips
    base = encode(bad)
    with pytest.raises(RunError, match="crash:a"):
        list(ProcessExecutor(1).run([base], [Task(base.key, PLAN.variants(fan_session)[0], 5)]))


DRILL_FILES = {
    "topo.yaml": """\
name: duo
services:
  api: {service_time: 5ms, calls: [{to: db, timeout: 200ms}]}
  db: {service_time: 2ms}
entrypoints:
  web: {to: api, timeout: 2s}
""",
    "exp.yaml": """\
name: small
topology: topo.yaml
duration: 30s
seed: 3
load: {profile: constant, rate: 20}
faults:
  - {name: db-slow, kind: slowdown, target: db, factor: 500, at: 5s}
alerts:
  - {name: web-errors, entrypoint: web, metric: error_ratio, threshold: 0.05, window: 5s, every: 1s}
""",
    "pb.yaml": """\
name: fix-db
trigger: {alerts: [web-errors]}
roles: {oncall: {respond: {dist: exponential, mean: 4s}}}
steps:
  - {name: fix, role: oncall, action: {kind: remove_fault, fault: db-slow}, mitigates: true}
""",
}


def test_a_drill_on_dask_matches_one_in_this_process(dask_address: str, tmp_path: Path) -> None:
    from chaos.drill import drill
    from chaos.model.files import load_experiment, load_playbook

    for name, text in DRILL_FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    experiment = load_experiment(tmp_path / "exp.yaml")
    playbook = load_playbook(tmp_path / "pb.yaml", experiment)
    here = drill(experiment, playbook, 5, executor=InlineExecutor()).to_dict()
    on_dask = drill(experiment, playbook, 5, executor=parse_executor(dask_address.replace("tcp://", "dask://"),
                                                                      None)).to_dict()
    mitigated = here["drill"]["phases"]["mitigate"]["values"]
    assert len(set(mitigated)) == 5 and None not in mitigated  # five different incidents, each fixed
    assert on_dask == here
