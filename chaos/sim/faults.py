"""The fault vocabulary in the simulator: what each kind does to the world, and how it is undone.

Most kinds only *contribute* to a target's state (a latency fault adds a delay, two
slowdowns multiply): applying or reverting one attaches or detaches it and recomputes
the target from every fault still active on it, so overlapping faults compose and
revert cleanly in any order. Crashes and cold starts act on replicas and keep a
handle of what they touched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from chaos.incident_states import MarkerKind
from chaos.model.faults import AnyFault, ColdStart, Crash, Errors, FaultKind, Latency, LoadSpike, PacketLoss, Slowdown
from chaos.model.scope import split_edge
from chaos.model.slos import ALL
from chaos.run import Marker
from chaos.sim.kernel import Replica
from chaos.sim.world import World

F = TypeVar("F")


@dataclass
class Applied:
    """A fault in effect, and what reverting it must undo."""

    fault: AnyFault
    start: float
    replicas: list[Replica] = field(default_factory=list)
    cold: list[tuple[Replica, tuple[float, float, float]]] = field(default_factory=list)
    end: float | None = None

    @property
    def reverted(self) -> bool:
        return self.end is not None


def _combine(ratios: list[float]) -> float:
    """Probability that at least one of several independent faults hits."""
    keep = math.prod(1.0 - r for r in ratios)
    return 1.0 - keep


def _of(faults: list[AnyFault], kind: type[F]) -> list[F]:
    return [f for f in faults if isinstance(f, kind)]


def refresh_service(world: World, name: str) -> None:
    svc = world.services[name]
    faults = world.faults_on(name)
    svc.factor = math.prod(f.factor for f in _of(faults, Slowdown))
    svc.err_ratio = _combine([f.ratio for f in _of(faults, Errors) if f.operation is None])
    svc.delays = [(f.delay, f.jitter) for f in _of(faults, Latency) if f.operation is None]
    for op in svc.ops.values():  # latency and errors on one operation: only its requests
        op.err_ratio = _combine([f.ratio for f in _of(faults, Errors) if f.operation == op.name])
        op.delays = [(f.delay, f.jitter) for f in _of(faults, Latency) if f.operation == op.name]
    svc.partitioned = sum(1 for f in faults if f.kind is FaultKind.PARTITION)
    svc.loss = _combine([f.ratio for f in _of(faults, PacketLoss)])
    svc.net_faulty = bool(svc.partitioned or svc.loss)
    svc.faulty = bool(svc.net_faulty or svc.err_ratio or any(op.err_ratio for op in svc.ops.values())
                      or any(f.kind is FaultKind.HANG for f in faults))
    hung = sum(1 for f in faults if f.kind is FaultKind.HANG)
    svc.answers_held = bool(hung or svc.delays or any(op.delays for op in svc.ops.values()))
    was_hung, svc.hung = svc.hung, hung
    if was_hung and not svc.hung:
        world.kernel.thaw(svc)


def refresh_edge(world: World, caller: str, callee: str) -> None:
    faults = world.faults_on(f"{caller}->{callee}")
    for edge in world.edges[(caller, callee)]:  # one per calling operation
        edge.delays = [(f.delay, f.jitter) for f in _of(faults, Latency)]
        edge.err_ratio = _combine([f.ratio for f in _of(faults, Errors)])
        edge.partitioned = sum(1 for f in faults if f.kind is FaultKind.PARTITION)
        edge.loss = _combine([f.ratio for f in _of(faults, PacketLoss)])
        edge.net_faulty = bool(edge.partitioned or edge.loss)
        edge.faulty = bool(edge.net_faulty or edge.err_ratio)


def refresh_entry(world: World, name: str) -> None:
    entry = world.entries[name]
    factor = math.prod(f.factor for f in _of(world.faults_on(name) + world.faults_on(ALL), LoadSpike))
    if factor != entry.factor:
        entry.factor = factor
        world.kernel.start_arrivals(entry)


def refresh(world: World, target: str) -> None:
    """Recompute a target's state from the faults active on it."""
    edge = split_edge(target)
    if edge is not None:
        refresh_edge(world, *edge)
    elif target in world.services:
        refresh_service(world, target)
    else:
        for name in (world.entries if target == ALL else [target]):
            refresh_entry(world, name)


# --------------------------------------------------------------------------- stateful kinds


def _crash(world: World, applied: Applied) -> None:
    fault: Crash = applied.fault  # type: ignore[assignment]
    up = [r for r in world.replicas_of(fault.target) if r.up]
    victims = up if fault.replicas is None else up[: fault.replicas]
    for rep in victims:
        world.kernel.crash(rep)
        world.markers.append(Marker(world.kernel.env.now, MarkerKind.CRASH, fault.target, f"replica {rep.index}"))
    applied.replicas = victims


def _restart(world: World, applied: Applied) -> None:
    fault: Crash = applied.fault  # type: ignore[assignment]
    cold = None if fault.cold_start is None else (fault.cold_start.factor, fault.cold_start.decay)
    for rep in applied.replicas:
        if rep.up:
            continue  # brought back already (a playbook's restart): it has its marker
        world.kernel.restart(rep, cold)
        world.markers.append(Marker(world.kernel.env.now, MarkerKind.RESTART, fault.target, f"replica {rep.index}"))


def restarted(world: World, applied: Applied) -> bool:
    """Something other than the fault's end (a playbook's restart) brought replicas it crashed back up.

    Once every replica the crash took down is up again, the crash is over now: its window
    ends and its ``fault_off`` marker is set at this moment, not at its scheduled end (whose
    revert then does nothing). Returns whether it ended.
    """
    if applied.reverted or applied.fault.kind is not FaultKind.CRASH or any(not r.up for r in applied.replicas):
        return False
    applied.end = world.kernel.env.now
    world.markers.append(Marker(applied.end, MarkerKind.FAULT_OFF, applied.fault.target, applied.fault.label))
    return True


def _cold_start(world: World, applied: Applied) -> None:
    fault: ColdStart = applied.fault  # type: ignore[assignment]
    now = world.kernel.env.now
    for rep in world.replicas_of(fault.target):
        entry = (now, fault.factor, fault.decay)
        rep.cold.append(entry)
        applied.cold.append((rep, entry))
    world.services[fault.target].cold = True


def _warm(world: World, applied: Applied) -> None:
    for rep, entry in applied.cold:
        if entry in rep.cold:
            rep.cold.remove(entry)


_STATEFUL: dict[FaultKind, tuple[Callable[[World, Applied], None], Callable[[World, Applied], None]]] = {
    FaultKind.CRASH: (_crash, _restart),
    FaultKind.COLD_START: (_cold_start, _warm),
}


def apply(world: World, fault: AnyFault) -> Applied:
    """Put ``fault`` into effect now."""
    applied = Applied(fault, world.kernel.env.now)
    stateful = _STATEFUL.get(fault.kind)
    if stateful is not None:
        stateful[0](world, applied)
    else:
        world.attach(fault.target, fault)
        refresh(world, fault.target)
    world.markers.append(Marker(applied.start, MarkerKind.FAULT_ON, fault.target, fault.label))
    return applied


def revert(world: World, applied: Applied) -> None:
    """Undo a fault now; reverting twice is harmless."""
    if applied.reverted:
        return
    applied.end = world.kernel.env.now
    fault = applied.fault
    stateful = _STATEFUL.get(fault.kind)
    if stateful is not None:
        stateful[1](world, applied)
    else:
        world.detach(fault.target, fault)
        refresh(world, fault.target)
    world.markers.append(Marker(world.kernel.env.now, MarkerKind.FAULT_OFF, fault.target, fault.label))
