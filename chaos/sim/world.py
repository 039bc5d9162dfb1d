"""The run-time side of a topology: services, edges and entrypoints the kernel moves spans through.

Built once per run from the frozen model. Faults and playbook actions change it only
through the methods here, so every change is one mechanism: set a policy, or
recompute a target's fault-derived state from the faults active on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import simpy

from chaos.core.breaker import CircuitBreaker as Breaker
from chaos.core.streams import stream
from chaos.incident_states import MarkerKind
from chaos.model.distributions import Exponential
from chaos.model.faults import AnyFault
from chaos.model.scope import edge_name
from chaos.model.topology import Call, Entrypoint, QueueDiscipline, Service, Topology
from chaos.run import Marker
from chaos.sim.kernel import Edge, Entry, Kernel, Replica, Stats, Svc


@dataclass(frozen=True)
class BreakerMarker:
    """Marks a breaker's changes of state on the run's timeline (a class, not a closure: runs are pickled)."""

    env: simpy.Environment
    markers: list[Marker]
    name: str

    def __call__(self, state: str) -> None:
        self.markers.append(Marker(self.env.now, MarkerKind(f"breaker_{state}"), self.name))


@dataclass
class World:
    """Runtime objects by name, plus the faults active on each target."""

    kernel: Kernel
    topology: Topology
    seed: int
    markers: list[Marker]
    services: dict[str, Svc] = field(default_factory=dict)
    edges: dict[tuple[str, str], Edge] = field(default_factory=dict)
    entries: dict[str, Entry] = field(default_factory=dict)
    active: dict[str, list[AnyFault]] = field(default_factory=dict)
    call_specs: dict[tuple[str, str], Call] = field(default_factory=dict)  # the policy each edge runs now

    @classmethod
    def build(cls, kernel: Kernel, topology: Topology, seed: int, markers: list[Marker]) -> World:
        world = cls(kernel, topology, seed, markers)
        for spec in topology.services:
            svc = Svc(spec.name, stream(seed, "service", spec.name))
            world.services[spec.name] = svc
            world.configure_service(spec)
        for spec in topology.services:
            for call in spec.calls:
                caller = world.services[spec.name]
                edge = Edge(edge_name(spec.name, call.to), caller, world.services[call.to], caller.stats,
                            stream(seed, "edge", spec.name, call.to).random)
                world.edges[(spec.name, call.to)] = edge
                world.call_specs[(spec.name, call.to)] = call
                world.configure_edge(edge, call)
            world.wire_stages(spec)
        for ep in topology.entrypoints:
            world.add_entry(ep)
        return world

    # ------------------------------------------------------------------ configuration

    def configure_service(self, spec: Service) -> None:
        """Apply a service's spec (capacity, queue, service time); replicas are added or retired to match."""
        svc = self.services[spec.name]
        svc.workers = spec.workers
        svc.qlimit = spec.queue.limit
        svc.lifo = spec.queue.discipline is QueueDiscipline.LIFO
        svc.max_wait = spec.queue.max_wait
        svc.draw = spec.service_time.sampler(svc.rng)
        svc.exp_rate = 1.0 / spec.service_time.mean if isinstance(spec.service_time, Exponential) else 0.0
        svc.lb = spec.load_balancing
        self.scale(spec.name, spec.replicas)

    def wire_stages(self, spec: Service) -> None:
        svc = self.services[spec.name]
        svc.stages = tuple(tuple(self.edges[(spec.name, c.to)] for c in group) for group in spec.stages())
        svc.track_kids = any(c.cancel_on_timeout for c in spec.calls)

    def configure_edge(self, edge: Edge, call: Call) -> None:
        """Apply a call policy (timeout, retries, breaker, fallback) to an edge."""
        edge.timeout = call.timeout
        edge.timeouts = self.kernel.timeouts_of(call.timeout)
        edge.max_retries = call.retries.max
        edge.base = call.retries.backoff.base
        edge.cap = call.retries.backoff.cap
        edge.jitter = call.retries.backoff.jitter
        edge.budget = call.retries.budget
        edge.prob = call.probability
        edge.fallback = call.fallback
        edge.cancel = call.cancel_on_timeout
        cb = call.circuit_breaker
        edge.breaker = None if cb is None else Breaker(
            cb.failure_ratio, cb.min_calls, cb.window, cb.open_for, cb.half_open_probes,
            self._breaker_marker(edge.name))
        if edge.caller is not None:
            edge.caller.track_kids = edge.caller.track_kids or call.cancel_on_timeout

    def add_entry(self, ep: Entrypoint) -> None:
        stats = Stats()
        callee = self.services[ep.to]
        edge = Edge(f"{ep.name}->{ep.to}", None, callee, stats, stream(self.seed, "client", ep.name).random)
        self.configure_edge(edge, ep.as_call())
        # Shares are relative (entrypoints split the load by them): normalise, or two
        # entrypoints with the default share of 1 would each be offered the whole load.
        share = ep.share / sum(e.share for e in self.topology.entrypoints)
        self.entries[ep.name] = Entry(ep.name, edge, share, stream(self.seed, "arrivals", ep.name))

    def restore(self, topology: Topology) -> None:
        """Put every service, edge and entrypoint back to ``topology``'s settings (a rollback)."""
        for spec in topology.services:
            if spec.name not in self.services:
                continue
            self.configure_service(spec)
            for call in spec.calls:
                edge = self.edges.get((spec.name, call.to))
                if edge is not None:
                    edge.callee = self.services[call.to]
                    self.call_specs[(spec.name, call.to)] = call
                    self.configure_edge(edge, call)
        for ep in topology.entrypoints:
            entry = self.entries.get(ep.name)
            if entry is not None:
                entry.edge.callee = self.services[ep.to]
                self.configure_edge(entry.edge, ep.as_call())
                entry.admission.set(None, self.kernel.env.now)

    def redirect(self, old: str, new: str) -> None:
        """Every call meant for ``old`` goes to ``new`` from now on (a failover)."""
        source, target = self.services[old], self.services[new]
        for edge in list(self.edges.values()) + [e.edge for e in self.entries.values()]:
            if edge.callee is source:
                edge.callee = target

    def _breaker_marker(self, name: str) -> Callable[[str], None]:
        return BreakerMarker(self.kernel.env, self.markers, name)

    # ------------------------------------------------------------------ capacity

    def scale(self, name: str, replicas: int) -> None:
        """Run ``replicas`` instances: new ones start now; retired ones take no new work and drain."""
        svc = self.services[name]
        while len(svc.replicas) < replicas:
            svc.replicas.append(Replica(svc, len(svc.replicas)))
        if len(svc.replicas) > replicas:
            svc.replicas = svc.replicas[:replicas]
        svc.up = [r for r in svc.replicas if r.up]

    def replicas_of(self, name: str) -> list[Replica]:
        return self.services[name].replicas

    # ------------------------------------------------------------------ faults

    def attach(self, target: str, fault: AnyFault) -> None:
        self.active.setdefault(target, []).append(fault)

    def detach(self, target: str, fault: AnyFault) -> None:
        faults = self.active.get(target, [])
        if fault in faults:
            faults.remove(fault)

    def faults_on(self, target: str) -> list[AnyFault]:
        return self.active.get(target, [])
