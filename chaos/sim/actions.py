"""Playbook actions in the simulator: what each entry of the action catalogue does to the world.

One function per action kind, chosen by a table, so an action the simulator cannot do
is a missing table entry (caught by a test), never a silent fall-through.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from chaos.incident_states import MarkerKind
from chaos.model.playbook import (
    AnyAction,
    Failover,
    Page,
    RemoveFault,
    Restart,
    Rollback,
    Scale,
    SetCall,
    ShedLoad,
    Wait,
)
from chaos.model.scope import split_edge
from chaos.model.topology import Call
from chaos.run import Marker
from chaos.sim import faults as sim_faults
from chaos.sim.simulation import Simulation


def _nothing(sim: Simulation, action: AnyAction) -> None:
    """Paging and waiting change nothing in the system; they only take time."""


def _matches(label: str, wanted: str) -> bool:
    return wanted == "*" or label == wanted


def _remove_fault(sim: Simulation, action: RemoveFault) -> None:
    for applied in sim.applied:
        if not applied.reverted and _matches(applied.fault.label, action.fault):
            sim.revert(applied)
    sim.cancelled_faults.add(action.fault)  # a fault not started yet will not start


def _restart(sim: Simulation, action: Restart) -> None:
    """Restart replicas (what they hold fails); crashed ones come back, which ends the crash that took
    them down once none of its replicas is left down, as a real restart would."""
    reps = sim.world.replicas_of(action.service)
    chosen = reps if action.replicas is None else reps[: action.replicas]
    cold = (action.cold_factor, action.cold_decay) if action.cold_factor > 1.0 else None
    for rep in chosen:
        was_down = not rep.up
        sim.kernel.crash(rep)
        sim.kernel.restart(rep, cold)
        if was_down:
            sim.markers.append(Marker(sim.now, MarkerKind.RESTART, action.service, f"replica {rep.index}"))
    for applied in sim.applied:
        if applied.fault.target == action.service:
            sim_faults.restarted(sim.world, applied)


def _scale(sim: Simulation, action: Scale) -> None:
    sim.world.scale(action.service, action.replicas)


def _set_call(sim: Simulation, action: SetCall) -> None:
    caller, callee = split_edge(action.edge) or ("", "")
    current = sim.world.call_specs[(caller, callee)]
    changes = {f.name: getattr(action, f.name) for f in dataclasses.fields(SetCall)
               if f.name in {g.name for g in dataclasses.fields(Call)} and getattr(action, f.name) is not None}
    new = dataclasses.replace(current, **changes)
    sim.world.call_specs[(caller, callee)] = new
    sim.world.configure_edge(sim.world.edges[(caller, callee)], new)


def _shed_load(sim: Simulation, action: ShedLoad) -> None:
    entry = sim.world.entries[action.entrypoint]
    entry.admission.set(action.limit, sim.now)


def _rollback(sim: Simulation, action: Rollback) -> None:
    sim.world.restore(sim.experiment.baseline)
    for name in action.faults:
        _remove_fault(sim, RemoveFault(fault=name))


def _failover(sim: Simulation, action: Failover) -> None:
    sim.world.redirect(action.from_, action.to)


# Each takes the simulation and an action of its key type (a dict cannot say so per key).
ACTIONS: dict[type, Callable[[Simulation, Any], None]] = {
    Page: _nothing,
    Wait: _nothing,
    RemoveFault: _remove_fault,
    Restart: _restart,
    Scale: _scale,
    SetCall: _set_call,
    ShedLoad: _shed_load,
    Rollback: _rollback,
    Failover: _failover,
}


def perform(sim: Simulation, action: AnyAction) -> None:
    ACTIONS[type(action)](sim, action)
