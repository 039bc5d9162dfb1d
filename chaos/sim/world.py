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
from chaos.core.choices import cumulative_shares
from chaos.core.streams import stream
from chaos.incident_states import MarkerKind
from chaos.model.distributions import Exponential
from chaos.model.faults import AnyFault
from chaos.model.scope import edge_name
from chaos.model.topology import Call, CallMode, Entrypoint, QueueDiscipline, Service, Topology
from chaos.run import Marker
from chaos.sim.kernel import Edge, Entry, Kernel, Op, Replica, Stats, Svc


def routing(group: tuple[Call, ...]) -> tuple[float, ...] | None:
    """A router's cumulative shares (by weight, the last exactly 1.0); None for any other stage."""
    if group[0].mode is not CallMode.ROUTE:
        return None
    return cumulative_shares([c.route_weight for c in group])


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
    # The calls from one service to another, one per calling operation (a service without operations
    # has one), with the policy each runs now: faults and playbook actions on ``caller->callee`` act on all.
    edges: dict[tuple[str, str], list[Edge]] = field(default_factory=dict)
    entries: dict[str, Entry] = field(default_factory=dict)
    active: dict[str, list[AnyFault]] = field(default_factory=dict)
    call_specs: dict[tuple[str, str], list[Call]] = field(default_factory=dict)
    op_edges: dict[tuple[str, str], list[Edge]] = field(default_factory=dict)  # an operation's calls, in order

    @classmethod
    def build(cls, kernel: Kernel, topology: Topology, seed: int, markers: list[Marker]) -> World:
        world = cls(kernel, topology, seed, markers)
        kernel.attributes = topology.attribute_draws
        for spec in topology.services:
            svc = Svc(spec.name, stream(seed, "service", spec.name))
            world.services[spec.name] = svc
            for declared in spec.ops:
                # a service without operations counts in its own stats; one with operations in each
                svc.ops[declared.name] = Op(declared.name, svc, Stats() if spec.operations else svc.stats)
            world.configure_service(spec)
        for spec in topology.services:
            for op_spec in spec.ops:
                op = world.services[spec.name].ops[op_spec.name]
                made = {id(call): world.add_edge(spec.name, op, call) for call in op_spec.calls}
                world.op_edges[(spec.name, op_spec.name)] = list(made.values())
                op.stages = tuple(tuple(made[id(c)] for c in group) for group in op_spec.stages())
                op.routes = tuple(routing(group) for group in op_spec.stages())
                op.plain_stages = all(r is None for r in op.routes) and not any(e.need for g in op.stages for e in g)
                op.track_kids = any(c.cancel_on_timeout for call in op_spec.calls for c in call.chain)
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
        own = [o for o in spec.ops if o.workers is not None]
        svc.pool_workers = tuple(o.workers for o in own if o.workers is not None)
        for rep in svc.replicas:
            rep.workers, rep.qlimit = spec.workers, spec.queue.limit
            for pool, workers in zip(rep.pools, svc.pool_workers, strict=True):
                pool.workers, pool.qlimit = workers, spec.queue.limit
        for op_spec in spec.ops:
            op = svc.ops[op_spec.name]
            op.pool = own.index(op_spec) + 1 if op_spec.workers is not None else 0
            dist = op_spec.service_time or spec.service_time
            op.draw = dist.sampler(svc.rng)
            by = op_spec.service_time_by
            bits = self.topology.attribute_bits
            op.choices = () if by is None else tuple((bits[f"{by.attribute}={c.name}"], c.service_time.sampler(svc.rng))
                                                     for c in by.values)
            op.exp_rate = 1.0 / dist.mean if isinstance(dist, Exponential) and not op.choices else 0.0
        svc.lb = spec.load_balancing
        self.scale(spec.name, spec.replicas)

    def add_edge(self, caller: str, op: Op, call: Call, spare: bool = False) -> Edge:
        """The edge of one call of ``caller``'s operation ``op``, and of its fallback call (a spare edge), if any."""
        # the first operation calling a service keeps the stream a service without operations has
        key = (caller, call.to)
        nth = () if key not in self.edges else (op.name,) if not spare else (op.name, "fallback",
                                                                             str(len(self.edges[key])))
        edge = Edge(edge_name(caller, call.to), op, self.callee(call), op.stats,
                    stream(self.seed, "edge", caller, call.to, *nth).random)
        edge.spare = spare
        self.edges.setdefault(key, []).append(edge)
        self.call_specs.setdefault(key, []).append(call)
        self.configure_edge(edge, call)
        if call.fallback_to is not None:
            edge.backup = self.add_edge(caller, op, call.fallback_to, spare=True)
        return edge

    def callee(self, call: Call) -> Op:
        """The operation ``call`` reaches."""
        return self.services[call.to].ops[self.topology.service(call.to).operation_of(call.operation).name]


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
        bits = self.topology.attribute_bits
        edge.need = bits[call.condition] if call.condition is not None else 0
        edge.want = edge.need if call.when is not None else 0
        edge.hit = bits[call.hit] if call.hit is not None else 0
        if edge.need and edge.caller is not None:
            edge.caller.plain_stages = False
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
        edge = Edge(f"{ep.name}->{ep.to}", None, self.callee(ep.as_call()), stats,
                    stream(self.seed, "client", ep.name).random)
        self.configure_edge(edge, ep.as_call())
        # Shares are relative (entrypoints split the load by them): normalise, or two
        # entrypoints with the default share of 1 would each be offered the whole load.
        share = ep.share / sum(e.share for e in self.topology.entrypoints)
        self.entries[ep.name] = Entry(ep.name, edge, share, stream(self.seed, "arrivals", ep.name),
                                      stream(self.seed, "attributes", ep.name).random)

    def restore(self, topology: Topology) -> None:
        """Put every service, edge and entrypoint back to ``topology``'s settings (a rollback)."""
        for spec in topology.services:
            if spec.name not in self.services:
                continue
            self.configure_service(spec)
            for op in spec.ops:
                for first, made in zip(op.calls, self.op_edges[(spec.name, op.name)], strict=True):
                    edge: Edge | None = made
                    for call in first.chain:  # the call, then its fallbacks' spare edges
                        assert edge is not None
                        self._point(edge, self.callee(call))
                        specs = self.call_specs[(spec.name, call.to)]
                        specs[self.edges[(spec.name, call.to)].index(edge)] = call
                        self.configure_edge(edge, call)
                        edge = edge.backup
        for ep in topology.entrypoints:
            entry = self.entries.get(ep.name)
            if entry is not None:
                self._point(entry.edge, self.callee(ep.as_call()))
                self.configure_edge(entry.edge, ep.as_call())
                entry.admission.set(None, self.kernel.env.now)

    def redirect(self, old: str, new: str) -> None:
        """Every call meant for ``old`` goes to ``new`` from now on (a failover)."""
        source, target = self.services[old], self.services[new]
        for edge in [e for group in self.edges.values() for e in group] + [e.edge for e in self.entries.values()]:
            if edge.callee is source:
                # the operation of the same name, or the standby's first when it has no such operation
                self._point(edge, target.ops.get(edge.op.name) or next(iter(target.ops.values())))

    @staticmethod
    def _point(edge: Edge, op: Op) -> None:
        edge.callee, edge.op, edge.callee_stats = op.svc, op, op.stats

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
