"""Blast radius: which services a fault hurt, in what order, how far from the fault, and what users saw."""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from chaos.analysis.slos import ObjectiveResult
from chaos.model.scope import Scope, ScopeKind, split_edge
from chaos.model.slos import ALL, ObjectiveKind
from chaos.model.topology import Topology
from chaos.run import Run, count_above, merge_hists


@dataclass
class Breach:
    """A service's place in the cascade."""

    service: str
    first_breach_s: float
    hops: int | None          # distance in the call graph from the nearest faulted service
    breach_seconds: int       # how many seconds it spent in breach
    cause: ObjectiveKind      # which objective broke first


@dataclass
class BlastRadius:
    cascade: list[Breach]
    entry_requests: int
    entry_failed: int         # failed, or succeeded slower than the entrypoint's latency objective
    entry_errors: int
    entry_slow: int
    unmeasured: list[str] = field(default_factory=list)  # services nothing measured: in no cascade, not healthy

    @property
    def services(self) -> list[str]:
        return [b.service for b in self.cascade]

    @property
    def entry_failed_ratio(self) -> float:
        return self.entry_failed / self.entry_requests if self.entry_requests else 0.0


def call_graph(topology: Topology) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(s.name for s in topology.services)
    graph.add_edges_from(topology.edges)
    return graph


def faulted_services(run: Run) -> set[str]:
    """Services where the faults of a run were applied (edges count by both ends, spikes by their target)."""
    topo = run.experiment.topology
    out: set[str] = set()
    for fault in run.faults:
        edge = split_edge(fault.target)
        if edge is not None:
            out.update(edge)
        elif fault.target in topo.service_map:
            out.add(fault.target)
        else:
            entries = topo.entrypoints if fault.target == ALL else [topo.entrypoint_map[fault.target]]
            out.update(e.to for e in entries)
    return out


def hop_distances(topology: Topology, sources: set[str]) -> dict[str, int]:
    if not sources:
        return {}
    lengths = nx.multi_source_dijkstra_path_length(call_graph(topology).to_undirected(), sources)
    return {name: int(d) for name, d in lengths.items()}


def cascade(run: Run, results: list[ObjectiveResult]) -> list[Breach]:
    hops = hop_distances(run.experiment.topology, faulted_services(run))
    first: dict[str, tuple[int, ObjectiveKind, set[int]]] = {}
    for res in results:
        scope = res.objective.scope
        if scope.kind is not ScopeKind.SERVICE or not res.breach_seconds or not run.measured(scope):
            continue
        t0 = res.breach_seconds[0]
        prev = first.get(scope.name)
        seconds = set(res.breach_seconds) | (prev[2] if prev else set())
        if prev is None or t0 < prev[0]:
            first[scope.name] = (t0, res.objective.kind, seconds)
        else:
            first[scope.name] = (prev[0], prev[1], seconds)
    order = sorted(first.items(), key=lambda kv: (kv[1][0], hops.get(kv[0], 1 << 30), kv[0]))
    return [Breach(name, float(t0), hops.get(name), len(secs), kind) for name, (t0, kind, secs) in order]


def entry_impact(run: Run, results: list[ObjectiveResult]) -> tuple[int, int, int]:
    """(answered, failed, slow) entry requests over the measured window.

    Counted by outcome, so a request started before the window and answered in it is one of
    the answered ones, and no share can exceed 100%."""
    thresholds = {r.objective.scope: r.objective.threshold for r in results
                  if r.objective.kind is ObjectiveKind.LATENCY and r.objective.scope.kind is ScopeKind.ENTRYPOINT}
    requests = errors = slow = 0
    for scope, totals in run.totals.items():
        if scope.kind is not ScopeKind.ENTRYPOINT or not run.measured(scope):
            continue
        requests += totals.answered
        errors += totals.failed
        threshold = thresholds.get(scope)
        if threshold is not None:
            hist = merge_hists(run.series[scope].hist[run.first_measured:])
            slow += count_above(hist, run.bounds, threshold)
    return requests, errors, slow


def blast_radius(run: Run, results: list[ObjectiveResult]) -> BlastRadius:
    requests, errors, slow = entry_impact(run, results)
    unknown = [s.name for s in run.experiment.topology.services if not run.measured(Scope.service(s.name))]
    return BlastRadius(cascade(run, results), requests, errors + slow, errors, slow, unknown)
