"""The incident responder on simulated time: the simulator's side of ``chaos.responder``."""

from __future__ import annotations

from collections.abc import Callable

from chaos.analysis.prometheus_rules import rule_alerts
from chaos.model.playbook import AnyAction, Playbook, Step
from chaos.model.scope import Scope
from chaos.responder import Responder
from chaos.run import Marker, Series
from chaos.sim import actions
from chaos.sim.simulation import Simulation
from chaos.streams import stream


class SimExecutor:
    """Simulated clock, simulated actions: every step simply takes its sampled time."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.bounds = sim.bounds

    def now(self) -> float:
        return self.sim.now

    def at(self, t: float, fn: Callable[[], None]) -> None:
        self.sim.at(t, fn)

    def series(self) -> dict[Scope, Series]:
        return self.sim.series

    def perform(self, step: Step, action: AnyAction) -> None:
        actions.perform(self.sim, action)

    def mark(self, marker: Marker) -> None:
        self.sim.markers.append(marker)

    def carry_out(self, step: Step, start: float, duration: float, done: Callable[[], None]) -> None:
        self.sim.at(start + duration, done)


def attach(sim: Simulation, playbook: Playbook, seed: int) -> Responder:
    """Make ``sim`` carry out ``playbook`` (validated with ``chaos.model.playbook.bind``)."""
    responder = Responder(SimExecutor(sim), playbook, sim.experiment.alert_rules,
                          stream(seed, "playbook", playbook.name), rule_alerts(sim.experiment, sim.bounds))
    sim.incident = responder.record
    sim.observers.append(responder.on_second)
    return responder
