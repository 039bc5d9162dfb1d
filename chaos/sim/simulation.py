"""One simulated run of an experiment: build the world, schedule faults and ticks, run, hand back a Run.

:class:`Simulation` is the object playbooks drive (they act on its world at simulated
moments); :func:`simulate` is the plain function for everything else.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable

import simpy
from simpy.events import Event, EventPriority

from chaos.model.alerts import ThresholdRule
from chaos.model.experiment import Experiment
from chaos.model.faults import AnyFault
from chaos.model.load import RateCurve
from chaos.model.scope import Scope
from chaos.run import FaultWindow, IncidentRecord, Marker, Run, Series, latency_bounds
from chaos.sim import faults as sim_faults
from chaos.sim.faults import Applied
from chaos.sim.kernel import Kernel, Svc
from chaos.sim.recorder import Recorder
from chaos.sim.world import World

URGENT = simpy.events.URGENT  # ticks close a second before anything else happening at that instant

Observer = Callable[[int], None]


class Moment(Event):
    """Run a function at a simulated time (fault starts and ends, ticks, playbook steps)."""

    _ok = True

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self.callbacks = [_call]


def _call(ev: Moment) -> None:
    ev.fn()


def thresholds(experiment: Experiment) -> tuple[float, ...]:
    """Latency thresholds that should be exact histogram bounds."""
    out = [o.threshold for o in experiment.objectives if o.threshold is not None]
    out += [r.threshold for r in experiment.alert_rules
            if isinstance(r, ThresholdRule) and r.metric.percentile is not None]
    return tuple(out)


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
        self.bounds = latency_bounds(thresholds(experiment))
        self.recorder = Recorder(self.bounds, math.ceil(experiment.warmup - 1e-9))
        self.applied: list[Applied] = []
        self.cancelled_faults: set[str] = set()  # removed by a playbook before they started
        self.observers: list[Observer] = []
        self.incident: IncidentRecord | None = None
        self.second = 0
        for svc in self.world.services.values():
            self.recorder.add(Scope.service(svc.name), svc.stats, _gauge(svc))
        for entry in self.world.entries.values():
            self.recorder.add(Scope.entrypoint(entry.name), entry.stats, None)

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
                    self.at(fault.at + fault.duration, lambda: self.revert(applied))
            self.at(fault.at, start)

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
        for entry in self.world.entries.values():
            self.kernel.start_arrivals(entry)
        self._schedule_faults()
        self.at(1.0, self._tick, URGENT)
        duration = self.experiment.duration
        # Spans never form reference cycles that outlive them, so the cyclic collector
        # only costs time here (about 15%); it runs once at the end instead.
        enabled = gc.isenabled()
        gc.disable()
        try:
            self.env.run(until=duration)
        finally:
            if enabled:
                gc.enable()
        if self.second < math.ceil(duration):  # the last, partial second
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
        windows = [FaultWindow(a.fault.label, a.fault.TAG, a.fault.target, a.start, a.end, _params(a.fault))
                   for a in self.applied]
        return Run(engine="sim", experiment=exp, seed=self.seed, duration_s=exp.duration, warmup_s=exp.warmup,
                   bounds=self.bounds, series=series, totals=totals, faults=windows,
                   markers=sorted(self.markers, key=lambda m: m.t_s), incident=self.incident)


def _gauge(svc: Svc) -> Callable[[], tuple[float, float]]:
    def sample() -> tuple[float, float]:
        reps = svc.replicas
        return float(sum(len(r.queue) - r.qdead for r in reps)), float(sum(r.busy for r in reps))
    return sample


def _params(fault: AnyFault) -> dict[str, object]:
    skip = {"target", "at", "duration", "name"}
    out: dict[str, object] = {}
    for key, value in vars(fault).items():
        if key.startswith("_") or key in skip or value is None:
            continue
        out[key] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return out


def simulate(experiment: Experiment, seed: int | None = None,
             on_second: Observer | None = None) -> Run:
    """Simulate ``experiment`` once with ``seed`` (default: the experiment's)."""
    sim = Simulation(experiment, seed)
    if on_second is not None:
        sim.observers.append(on_second)
    return sim.run()
