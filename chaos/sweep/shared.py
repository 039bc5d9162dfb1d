"""Variants share the start of their runs: simulate it once per seed, then carry on from a copy.

Most variants of a sweep differ only in their faults, and with common random numbers
every such variant is the same run, event for event, until its first fault starts (by
default about a third of the way in). A worker therefore simulates that fault-free start once
for each (experiment, seed, start time), keeps it pickled, and runs each variant from a
fresh copy of it with the variant's faults scheduled
(:meth:`chaos.sim.simulation.Simulation.carry_on_as`). The result is identical to
running the variant from the start; ``tests/sweep/test_shared.py`` checks that on runs
with crashes, hangs, latency, partitions, breakers and retries.

Each worker process keeps a few starts (the tasks of one seed arrive together), so a
sweep simulates each start once per worker, not once per variant.
"""

from __future__ import annotations

import dataclasses
import pickle
import threading
from collections import OrderedDict

from chaos.model.experiment import Experiment
from chaos.run import Run
from chaos.sim.simulation import Simulation, simulate
from chaos.sweep import wire


def shared_until(experiment: Experiment) -> float | None:
    """How long ``experiment`` runs exactly like its fault-free version (None: nothing to share)."""
    faults = experiment.fault_list
    if not faults:
        return None  # a fault-free variant is a whole run: nothing before it to share
    first = min(f.at for f in faults)
    return first if 0.0 < first < experiment.duration else None


class SharedStarts:
    """Fault-free starts of runs, pickled, by (experiment without faults, seed, time).

    An experiment is keyed by the digest of its encoding (parsed models need not be
    hashable), so a start is only used for variants equal to it but for their faults.
    """

    LIMIT = 4

    def __init__(self) -> None:
        self.starts: OrderedDict[tuple[str, int, float], bytes] = OrderedDict()
        self.simulated = 0  # starts simulated (for tests and figures)
        self.lock = threading.Lock()  # a Dask worker may run tasks on several threads

    def simulate(self, experiment: Experiment, seed: int) -> Run:
        """The same Run as ``simulate(experiment, seed)``, from a shared start when there is one."""
        until = shared_until(experiment)
        if until is None:
            return simulate(experiment, seed)
        common = dataclasses.replace(experiment, faults=())
        sim: Simulation = pickle.loads(self._start(common, seed, until))
        sim.carry_on_as(experiment)
        sim.advance(experiment.duration)
        return sim.end()

    def _start(self, common: Experiment, seed: int, until: float) -> bytes:
        key = (wire.digest(wire.dumps(common)), seed, until)
        with self.lock:
            blob = self.starts.get(key)
            if blob is not None:
                self.starts.move_to_end(key)
                return blob
        sim = Simulation(common, seed)  # two threads may both simulate it: the same bytes either way
        sim.begin()
        sim.advance(until)
        blob = wire.dumps(sim)
        with self.lock:
            self.starts[key] = blob
            self.simulated += 1
            while len(self.starts) > self.LIMIT:
                self.starts.popitem(last=False)
        return blob
