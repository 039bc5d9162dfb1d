"""What the executors run: a :class:`Job` on a model sent to each worker once; the sweep's :class:`Task`.

A job names its base model (an experiment, or a drill's experiment and playbook) by digest;
the model itself reaches each worker process once (process-pool initializer, or a Dask
broadcast) and is decoded once there. A sweep's task builds the variant's experiment,
simulates it with a seed and summarises it. Variants that differ only in faults start from
a shared fault-free start (:mod:`chaos.sweep.shared`), kept per process like the models.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol, TypeVar

from chaos.analysis import analyze
from chaos.model.experiment import Experiment
from chaos.run import Run
from chaos.sweep import wire
from chaos.sweep.grid import Variant, build
from chaos.sweep.shared import SharedStarts
from chaos.sweep.summary import RunSummary, summarize

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Job(Protocol[R_co]):
    """Work an executor runs in a worker: ``run`` on the decoded base model named ``base``."""

    @property
    def base(self) -> str: ...

    def describe(self) -> str:
        """What failed, in an error message: e.g. "variant 'x' with seed 3"."""
        ...

    def run(self, model: object) -> R_co: ...


@dataclass(frozen=True)
class Task:
    """One variant of one base experiment, with one seed."""

    base: str
    variant: Variant
    seed: int

    def describe(self) -> str:
        return f"variant '{self.variant.label}' with seed {self.seed}"

    def run(self, model: object) -> TaskResult:
        if not isinstance(model, Experiment):
            raise TypeError(f"a sweep task needs an experiment, got {type(model).__name__}")
        return run_task(model, self)


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
    """The base models a worker process holds, decoded, by digest.

    Those a local worker is given when it starts (``install``) stay: its tasks name them by digest
    alone and nobody sends them again. Those a Dask worker receives with a task (``get`` with the
    blob) are a cache: past ``LIMIT`` the oldest of them is dropped, since each task carries its own.
    """

    LIMIT = 16

    def __init__(self) -> None:
        self.models: dict[str, object] = {}
        self.installed: set[str] = set()

    def install(self, blobs: dict[str, bytes]) -> None:
        for key, blob in blobs.items():
            self.models[key] = wire.loads(blob)
            self.installed.add(key)

    def get(self, key: str, blob: bytes | None = None) -> object:
        found = self.models.get(key)
        if found is not None:
            return found
        if blob is None:
            raise LookupError(f"this worker was not given model {key}")
        cached = [k for k in self.models if k not in self.installed]
        while cached and len(cached) >= self.LIMIT:
            del self.models[cached.pop(0)]
        model = self.models[key] = wire.loads(blob)
        return model


# Worker processes outlive their tasks, and a pool's initializer can only leave what it
# received in the process's globals: this is where the models sent once per worker
# stay. Only worker processes fill it; the parent never reads it.
_BASES = Bases()
# The fault-free starts of runs, for the next tasks of the same seed. The inline
# executor uses this one in the parent too; it holds at most SharedStarts.LIMIT.
_STARTS = SharedStarts()


def simulate(experiment: Experiment, seed: int) -> Run:
    """A variant's run: the same as ``chaos.sim.simulate``, from a shared start when it has one."""
    return _STARTS.simulate(experiment, seed)


def init_process(blobs: dict[str, bytes]) -> None:
    """Process-pool initializer: receive every base model once."""
    _BASES.install(blobs)


def run_in_process(job: Job[R]) -> R:
    return job.run(_BASES.get(job.base))


def run_on_dask(blob: bytes, job: Job[R]) -> R:
    """A Dask task: ``blob`` is the broadcast model, already held in the worker's memory."""
    return job.run(_BASES.get(job.base, blob))
