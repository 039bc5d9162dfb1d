"""Several independent runs of one experiment (seeds seed, seed+1, ...), analysed into one Result."""

from __future__ import annotations

from collections.abc import Callable

from chaos.analysis import analyze
from chaos.model.experiment import Experiment
from chaos.result import Result
from chaos.sim.simulation import simulate

Progress = Callable[[int, int], None]  # (replication index, simulated second)


def simulate_replications(experiment: Experiment, seed: int | None = None, replications: int | None = None,
                          progress: Progress | None = None) -> Result:
    """The first replication is the representative run (its series are kept); all are summarised."""
    base = experiment.seed if seed is None else seed
    count = experiment.replications if replications is None else replications
    runs = []
    for i in range(count):
        observer = None if progress is None else (lambda second, i=i: progress(i, second))
        run = simulate(experiment, base + i, observer)
        runs.append((run, analyze(run)))
    first, rest = runs[0], runs[1:]
    return Result(first[0], first[1], replications=rest)
