"""One simulated run of an experiment: build the world, schedule faults and ticks, run, hand back a Run.

:class:`Simulation` is the object playbooks drive (they act on its world at simulated
moments); :func:`simulate` is the plain function for everything else.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable
from typing import cast

import simpy
from simpy.events import Event, EventPriority

from chaos.measurement import Source
from chaos.model.experiment import Experiment
from chaos.model.faults import AnyFault
from chaos.model.load import RateCurve, Users
from chaos.model.scope import Scope
from chaos.run import Engine, FaultWindow, IncidentRecord, Marker, Run, Series, experiment_bounds
from chaos.sim import faults as sim_faults
from chaos.sim.faults import Applied
from chaos.sim.kernel import Kernel, Svc
from chaos.sim.recorder import Recorder
from chaos.sim.users import Population
from chaos.sim.world import World

URGENT = simpy.events.URGENT  # ticks close a second before anything else happening at that instant
# Faults start and end after the tick and before every request event of the same instant,
# whenever they were scheduled (see Simulation.carry_on_as). SimPy orders events by
# (time, priority, insertion), and a priority between URGENT (0) and NORMAL (1) does this.
FAULT = cast(EventPriority, 0.5)

Observer = Callable[[int], None]


class Moment(Event):
    """Run a function at a simulated time (fault starts and ends, ticks, playbook steps)."""

    _ok = True

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.callbacks = [_call]


def _call(ev: Moment) -> None:
    ev.fn()


class Simulation:
    """A simulated run in progress."""

    def __init__(self, experiment: Experiment, seed: int | None = None) -> None:
        self.experiment = experiment
        self.seed = experiment.seed if seed is None else seed
        self.env = simpy.Environment()
        self.curve = RateCurve(experiment.load_profile.segments(experiment.duration))
        self.kernel = Kernel(self.env, self.curve)
        self.markers: list[Marker] = []
        self.world = World.build(self.kernel, experiment.topology, self.seed, self.markers)
        self.bounds = experiment_bounds(experiment)
        self.recorder = Recorder(self.bounds, math.ceil(experiment.warmup - 1e-9))
        self.applied: list[Applied] = []
        self.cancelled_faults: set[str] = set()  # removed by a playbook before they started
        self.observers: list[Observer] = []
        self.incident: IncidentRecord | None = None
        self.second = 0
        declared = [s for s in experiment.topology.services if s.operations]
        for svc in self.world.services.values():
            ops = tuple(op.stats for op in svc.ops.values() if op.stats is not svc.stats)
            self.recorder.add(Scope.service(svc.name), svc.stats, _Gauge(svc), ops)
        for entry in self.world.entries.values():
            self.recorder.add(Scope.entrypoint(entry.name), entry.stats, None)
        for spec in declared:  # after the services: their channels sum the operations' counts first
            for op in self.world.services[spec.name].ops.values():
                self.recorder.add(Scope.operation(spec.name, op.name), op.stats, None)

    @property
    def now(self) -> float:
        return self.env.now

    @property
    def series(self) -> dict[Scope, Series]:
        """The per-second series recorded so far (complete seconds only)."""
        return {ch.scope: ch.series for ch in self.recorder.channels}

    def at(self, t: float, fn: Callable[[], None], priority: EventPriority = simpy.events.NORMAL) -> None:
        """Call ``fn`` at simulated time ``t`` (not before now)."""
        self.env.schedule(Moment(fn), priority, max(0.0, t - self.env.now))

    def inject(self, fault: AnyFault) -> Applied:
        applied = sim_faults.apply(self.world, fault)
        self.applied.append(applied)
        return applied

    def revert(self, applied: Applied) -> None:
        sim_faults.revert(self.world, applied)

    def _schedule_faults(self) -> None:
        for fault in self.experiment.fault_list:
            def start(fault: AnyFault = fault) -> None:
                if fault.label in self.cancelled_faults or "*" in self.cancelled_faults:
                    return
                applied = self.inject(fault)
                if fault.duration is not None:
                    self.at(fault.at + fault.duration, lambda: self.revert(applied), FAULT)
            self.at(fault.at, start, FAULT)

    def _tick(self) -> None:
        self.recorder.record(self.second)
        second = self.second
        self.second += 1
        for observer in self.observers:
            observer(second)
        if self.second < self.experiment.duration:
            self.at(self.second + 1, self._tick, URGENT)

    def run(self) -> Run:
        """Run to the end of the experiment and return what was measured."""
        self.begin()
        self._schedule_faults()
        self.advance(self.experiment.duration)
        return self.end()

    def begin(self) -> None:
        """Start the arrivals (or the users) and the clock's ticks; faults are scheduled separately."""
        load = self.experiment.load_profile
        if isinstance(load, Users):
            Population(self.kernel, load, list(self.world.entries.values()), self.seed).start()
        else:
            for entry in self.world.entries.values():
                self.kernel.start_arrivals(entry)
        self.at(1.0, self._tick, URGENT)

    def advance(self, until: float) -> None:
        """Simulate up to ``until``: every event before it, none at it."""
        # Spans never form reference cycles that outlive them, so the cyclic collector
        # only costs time here (about 15%); it runs once at the end instead.
        enabled = gc.isenabled()
        gc.disable()
        try:
            self.env.run(until=until)
        finally:
            if enabled:
                gc.enable()

    def carry_on_as(self, experiment: Experiment) -> None:
        """Continue this fault-free run as a run of ``experiment``, whose faults have not started yet.

        A run paused at time t before any fault is, event for event, the start of every
        experiment that differs from it only in faults starting at t or later (faults run
        at their own priority, so when they were scheduled does not matter). Resuming a
        saved copy of it (``chaos.sweep.shared``) is therefore the same as running that
        experiment from the start. The caller vouches that nothing but the faults differ
        (``chaos.sweep.shared`` keys its starts by the encoded fault-free experiment).
        """
        if self.experiment.faults:
            raise ValueError("only a run without faults can carry on as another experiment")
        early = [f.label for f in experiment.fault_list if f.at < self.env.now]
        if early:
            raise ValueError(f"faults {', '.join(early)} would have started before {self.env.now:g} s")
        self.experiment = experiment
        self._schedule_faults()

    def end(self) -> Run:
        """Close the last, partial second and hand back what was measured."""
        if self.second < math.ceil(self.experiment.duration):
            self._tick_final()
        return self._collect()

    def _tick_final(self) -> None:
        self.recorder.record(self.second)
        for observer in self.observers:
            observer(self.second)
        self.second += 1

    def _collect(self) -> Run:
        series, totals = self.recorder.finish()
        exp = self.experiment
        windows = [FaultWindow(a.fault.label, a.fault.target, a.start, a.end, a.fault.params())
                   for a in self.applied]
        return Run(engine=Engine.SIM, experiment=exp, seed=self.seed, duration_s=exp.duration, warmup_s=exp.warmup,
                   bounds=self.bounds, series=series, totals=totals, faults=windows,
                   markers=sorted(self.markers, key=lambda m: m.t_s), incident=self.incident,
                   sources=dict.fromkeys(series, Source.SIMULATOR))


class _Gauge:
    """A service's queue and busy workers, summed over its replicas (a class, not a closure: runs are pickled)."""

    __slots__ = ("svc",)

    def __init__(self, svc: Svc) -> None:
        self.svc = svc

    def __call__(self) -> tuple[float, float]:
        pools = [p for r in self.svc.replicas for p in (r, *r.pools)]  # operations' own pools included
        return float(sum(len(p.queue) - p.qdead for p in pools)), float(sum(p.busy for p in pools))


def simulate(experiment: Experiment, seed: int | None = None,
             on_second: Observer | None = None) -> Run:
    """Simulate ``experiment`` once with ``seed`` (default: the experiment's)."""
    sim = Simulation(experiment, seed)
    if on_second is not None:
        sim.observers.append(on_second)
    return sim.run()
