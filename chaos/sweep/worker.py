"""One task of a sweep: build the variant's experiment, simulate it with a seed, summarise it.

A task names its base experiment by digest; the experiment itself reaches each worker
process once (process-pool initializer, or a Dask broadcast) and is decoded once there.
Variants that differ only in faults start from a shared fault-free start
(:mod:`chaos.sweep.shared`), kept per process like the experiments.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from chaos.analysis import analyze
from chaos.model.experiment import Experiment
from chaos.run import Run
from chaos.sweep import wire
from chaos.sweep.grid import Variant, build
from chaos.sweep.shared import SharedStarts
from chaos.sweep.summary import RunSummary, summarize


@dataclass(frozen=True)
class Task:
    """One variant of one base experiment, with one seed."""

    base: str
    variant: Variant
    seed: int


@dataclass(frozen=True)
class TaskResult:
    """A task run: its summary, and what running it cost."""

    task: Task
    summary: RunSummary
    wall_s: float  # simulation and analysis in the worker, for throughput figures
    cpu_s: float   # the CPU time of the same: less than wall_s when other processes took the core


def run_task(experiment: Experiment, task: Task) -> TaskResult:
    variant = build(experiment, task.variant)
    started, cpu = time.perf_counter(), time.process_time()
    run = simulate(variant, task.seed)
    summary = summarize(run, analyze(run))
    return TaskResult(task, summary, time.perf_counter() - started, time.process_time() - cpu)


class Bases:
    """The base experiments a worker process holds, decoded, by digest (the oldest dropped past a few)."""

    LIMIT = 16

    def __init__(self) -> None:
        self.experiments: dict[str, Experiment] = {}

    def install(self, blobs: dict[str, bytes]) -> None:
        for key, blob in blobs.items():
            self.get(key, blob)

    def get(self, key: str, blob: bytes | None = None) -> Experiment:
        found = self.experiments.get(key)
        if found is not None:
            return found
        if blob is None:
            raise LookupError(f"this worker was not given experiment {key}")
        while len(self.experiments) >= self.LIMIT:
            del self.experiments[next(iter(self.experiments))]
        experiment = self.experiments[key] = wire.load_experiment(blob)
        return experiment


# Worker processes outlive their tasks, and a pool's initializer can only leave what it
# received in the process's globals: this is where the experiments sent once per worker
# stay. Only worker processes fill it; the parent never reads it.
_BASES = Bases()
# The fault-free starts of runs, for the next tasks of the same seed. The inline
# executor uses this one in the parent too; it holds at most SharedStarts.LIMIT.
_STARTS = SharedStarts()


def simulate(experiment: Experiment, seed: int) -> Run:
    """A variant's run: the same as ``chaos.sim.simulate``, from a shared start when it has one."""
    return _STARTS.simulate(experiment, seed)


def init_process(blobs: dict[str, bytes]) -> None:
    """Process-pool initializer: receive every base experiment once."""
    _BASES.install(blobs)


def run_in_process(task: Task) -> TaskResult:
    return run_task(_BASES.get(task.base), task)


def run_on_dask(blob: bytes, task: Task) -> TaskResult:
    """A Dask task: ``blob`` is the broadcast experiment, already held in the worker's memory."""
    return run_task(_BASES.get(task.base, blob), task)
