"""A sweep from plan to results: build and check every variant, skip what is on disk, run the rest.

Every variant runs with the same seeds (the experiment's seed, seed+1, ...). The
simulator draws each purpose's random numbers from its own stream (arrivals per
entrypoint, service times per service, jitter per edge), so two variants that differ
in one setting see the same arrivals and the same draws everywhere else: their
difference is the setting's effect, not noise (common random numbers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chaos.errors import InputError
from chaos.model.experiment import Experiment
from chaos.sweep.executors import Executor, encode
from chaos.sweep.grid import Axis, Plan, Variant, build
from chaos.sweep.store import Store, canonical_text, code_version, fingerprint
from chaos.sweep.summary import RunSummary
from chaos.sweep.worker import Task

Progress = Callable[[int, int, int], None]  # (done, reused, total)


@dataclass
class SweepResult:
    """Every variant's run summaries, in seed order, and how the sweep went."""

    experiment: Experiment
    seeds: tuple[int, ...]
    axes: tuple[Axis, ...]
    results: dict[Variant, list[RunSummary]]
    executor: str
    simulated: int = 0
    reused: int = 0
    worker_s: float = 0.0      # simulation time summed over the workers
    worker_cpu_s: float = 0.0  # the CPU time of the same
    wall_s: float | None = None               # the whole sweep's wall time, as the command timed it
    variants_per_minute: float | None = None  # simulated runs per seed per minute of wall time


def seeds_of(experiment: Experiment, count: int) -> tuple[int, ...]:
    if count < 1:
        raise InputError("--seeds must be at least 1", path="--seeds")
    return tuple(experiment.seed + i for i in range(count))


def run_sweep(experiment: Experiment, plan: Plan, seeds: Sequence[int], executor: Executor, store: Store,
              progress: Progress | None = None) -> SweepResult:
    variants = plan.variants(experiment)
    for variant in variants:
        build(experiment, variant)  # every variant checked before anything runs
    base = encode(experiment)
    # Seed by seed: the variants of one seed share the start of their runs (chaos.sweep.shared).
    tasks = [Task(base.key, v, s) for s in seeds for v in variants]
    code, text = code_version(), canonical_text(experiment)
    prints = {t: fingerprint(text, t.variant, t.seed, code) for t in tasks}
    done: dict[Task, RunSummary] = {}
    for task in tasks:
        earlier = store.load(task, prints[task])
        if earlier is not None:
            done[task] = earlier
    result = SweepResult(experiment, tuple(seeds), plan.axes(experiment), {}, executor.describe(),
                         reused=len(done))
    if progress is not None:
        progress(len(done), result.reused, len(tasks))
    for outcome in executor.run([base], [t for t in tasks if t not in done]):
        store.save(outcome, prints[outcome.task])
        done[outcome.task] = outcome.summary
        result.simulated += 1
        result.worker_s += outcome.wall_s
        result.worker_cpu_s += outcome.cpu_s
        if progress is not None:
            progress(len(done), result.reused, len(tasks))
    result.results = {v: [done[Task(base.key, v, s)] for s in seeds] for v in variants}
    return result
