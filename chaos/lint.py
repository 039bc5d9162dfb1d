"""Static resilience checks of a topology: each finding names the call path that proves it.

Rules and their severity (``chaoslab lint`` exits 1 when any finding is an error):

    error    timeout-inversion      a call's timeout is at least the timeout of the call into its caller:
                                    the caller gives up while the callee is still being waited on, unless
                                    both calls cancel on timeout (the deadline propagates)
    error    retry-amplification    worst-case attempts reaching one service per entry request, along a
                                    path, above --max-amplification (default 10)
    error    cycle                  calls loop back to a service already on the path: a request can visit
                                    it again, and retries compound around the loop
    error    no-timeout             a service calls another without a timeout: a hung callee holds the
                                    caller's worker forever
    warning  retries-outlast-caller the worst-case time a service spends on its calls (every attempt timing
                                    out, every backoff at its cap, sequential stages added) reaches the
                                    timeout of the call into it
    warning  single-point-of-failure  a service with one replica that every request from some entrypoint
                                    needs (reached over calls made with probability 1 and no fallback)
    warning  no-timeout             an entrypoint's clients have no timeout (real clients usually do; the
                                    simulation waits forever)
    warning  unreachable            no entrypoint reaches a service over any calls: no request visits it,
                                    so its settings are never exercised and faults on it change nothing
    warning  fallback-overload      a call falls back to another service (cache-aside: the database) that
                                    cannot carry, with the first callee down, the rate of requests the
                                    first callee carries: its death would drown the fallback (a stampede)

Capacity is counted per worker pool: an operation with ``workers`` of its own queues for its own
pool, the others for the service's shared pool, so a fallback to an operation is carried by that
operation's pool (``replicas x workers`` worker-seconds a second, each request taking its
operation's mean service time), with the caller's other calls into the same pool, and the
finding names the pool.

Worst-case amplification along a path is the product over its calls of the attempts one
request can cause: ``retries + 1``, bounded by a retry budget ``b`` to ``1 + b``
(retries may add at most that share of requests), and by a circuit breaker that opens at
failure ratio ``f`` to ``(1 - f**(r+1)) / (1 - f)`` (the expected attempts while the
breaker stays closed, which needs the failure probability below ``f``).

A deadline propagates when the calls cancel on timeout (``cancel_on_timeout``): when the
caller gives up, the service stops working on the request, sends no further attempts, and
cancels its own calls that cancel too. Then an inner timeout longer than the outer one
wastes nothing, and neither timeout rule fires. That is the fix to suggest first: a
shorter inner timeout applies to *every* caller of the service, not only the impatient
one, and without cancellation the callee still works on what the caller gave up on
(docs/sweeps.md measures both on the bundled shop).

Requests fan out to *every* call of a service (each with its probability), so "every
path from an entrypoint goes through X" means every request needs X: X is reachable
from the entrypoint's service over mandatory calls.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

import networkx as nx

from chaos.errors import Location
from chaos.model.parsing import Model, where_of
from chaos.model.quantities import plural
from chaos.model.topology import Call, Entrypoint, Operation, Retries, Service, Topology

DEFAULT_MAX_AMPLIFICATION = 10.0


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


class Rule(enum.Enum):
    TIMEOUT_INVERSION = "timeout-inversion"
    RETRIES_OUTLAST_CALLER = "retries-outlast-caller"
    RETRY_AMPLIFICATION = "retry-amplification"
    SINGLE_POINT_OF_FAILURE = "single-point-of-failure"
    CYCLE = "cycle"
    NO_TIMEOUT = "no-timeout"
    UNREACHABLE = "unreachable"
    FALLBACK_OVERLOAD = "fallback-overload"


@dataclass(frozen=True)
class Finding:
    rule: Rule
    severity: Severity
    message: str
    path: tuple[str, ...]          # services, an entrypoint written 'entrypoint:NAME'
    location: Location | None = None
    via: tuple[str, ...] = ()      # the calls at the end of the path that the finding adds up

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.value, "severity": self.severity.value, "message": self.message,
                "path": list(self.path), "via": list(self.via),
                "location": None if self.location is None else str(self.location)}

    @property
    def shown_path(self) -> str:
        tail = [f"[{'; then '.join(self.via)}]"] if self.via else []
        return " -> ".join([*self.path, *tail])


def _at(obj: Model, field_name: str | None = None) -> Location | None:
    location, _ = where_of(obj).of(field_name)
    return None if location.file.startswith("<") else location


def _entry(e: Entrypoint) -> str:
    return f"entrypoint:{e.name}"


def _s(seconds: float) -> str:
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"


@dataclass(frozen=True)
class Inbound:
    """A call into a service: from another service or from an entrypoint's clients."""

    source: str
    call: Call


def inbound(topology: Topology) -> dict[str, list[Inbound]]:
    out: dict[str, list[Inbound]] = {s.name: [] for s in topology.services}
    for e in topology.entrypoints:
        out[e.to].append(Inbound(_entry(e), e.as_call()))
    for s in topology.services:
        for c in s.all_calls:
            out[c.to].append(Inbound(s.name, c))
    return out


# --------------------------------------------------------------------------- timeouts


def worst_backoff(retries: Retries) -> float:
    """Longest total wait between attempts: every delay at its un-jittered value."""
    b = retries.backoff
    return sum(min(b.cap, b.base * 2 ** (n - 1)) for n in range(1, retries.max + 1))


def worst_call_time(call: Call) -> float:
    """How long one call can take when every attempt times out (infinite without a timeout)."""
    if call.timeout is None:
        return math.inf
    return (call.retries.max + 1) * call.timeout + worst_backoff(call.retries)


def worst_calls_time(service: Service) -> tuple[float, list[Call]]:
    """Worst case over the service's calls: stages in sequence, each as long as its slowest call
    (for a service with operations, its slowest operation's)."""
    worst: tuple[float, list[Call]] = (0.0, [])
    for op in service.ops:
        total, slowest = 0.0, []
        for stage in op.stages():
            call = max(stage, key=worst_call_time)
            total += worst_call_time(call)
            slowest.append(call)
        if total > worst[0]:
            worst = (total, slowest)
    return worst


def propagates(into: Call, call: Call) -> bool:
    """Whether giving up on ``into`` stops ``call`` too: both cancel the callee's work on timeout."""
    return into.cancel_on_timeout and call.cancel_on_timeout


def _inversion_message(src: Inbound, service: Service, call: Call, t_call: float, t_in: float) -> str:
    missing = " and ".join(f"{a}->{b}" for a, b, c in ((src.source, service.name, src.call),
                                                      (service.name, call.to, call)) if not c.cancel_on_timeout)
    return (f"{service.name} waits up to {_s(t_call)} for {call.to}, but {src.source} gives up on "
            f"{service.name} after {_s(t_in)}, and both go on working for nobody: propagate the deadline "
            f"(cancel_on_timeout on {missing}); a shorter inner timeout would apply to every caller of "
            f"{service.name}, so it must still cover {call.to}'s slow answers")


def timeout_findings(topology: Topology) -> list[Finding]:
    out = []
    into = inbound(topology)
    for service in topology.services:
        inverted: set[str] = set()
        for src in into[service.name]:
            t_in = src.call.timeout
            if t_in is None:
                continue
            for call in service.all_calls:
                if call.timeout is not None and call.timeout >= t_in and not propagates(src.call, call):
                    inverted.add(src.source)
                    message = _inversion_message(src, service, call, call.timeout, t_in)
                    out.append(Finding(Rule.TIMEOUT_INVERSION, Severity.ERROR, message,
                                       (src.source, service.name, call.to), _at(call, "timeout")))
            if src.call.cancel_on_timeout:
                continue  # the service stops when src gives up: no late attempts are made
            total, slowest = worst_calls_time(service)
            if src.source not in inverted and math.isfinite(total) and slowest and total >= t_in:
                detail = ", then ".join(f"{c.to} {c.retries.max + 1} x {_s(c.timeout or 0)}"
                                        + (f" + {_s(worst_backoff(c.retries))} backoff"
                                           if worst_backoff(c.retries) > 0 else "")
                                        for c in slowest)
                out.append(Finding(
                    Rule.RETRIES_OUTLAST_CALLER, Severity.WARNING,
                    f"{service.name} may spend up to {_s(total)} on its calls ({detail}), but {src.source} gives "
                    f"up on it after {_s(t_in)}: late attempts are wasted work",
                    (src.source, service.name), _at(slowest[-1], "retries"), tuple(c.to for c in slowest)))
    return out


def missing_timeouts(topology: Topology) -> list[Finding]:
    out = []
    for service in topology.services:
        for call in service.all_calls:
            if call.timeout is None:
                out.append(Finding(Rule.NO_TIMEOUT, Severity.ERROR,
                                   f"{service.name} calls {call.to} without a timeout: if {call.to} hangs, "
                                   f"{service.name}'s workers wait forever", (service.name, call.to), _at(call)))
    for e in topology.entrypoints:
        if e.timeout is None:
            out.append(Finding(Rule.NO_TIMEOUT, Severity.WARNING,
                               f"clients of entrypoint {e.name} have no timeout: they wait forever on {e.to}",
                               (_entry(e), e.to), _at(e)))
    return out


# --------------------------------------------------------------------------- amplification


def attempts_factor(call: Call) -> float:
    """Worst-case attempts one request makes over this call, with its budget and breaker."""
    retries = call.retries
    factor = float(retries.max + 1)
    if retries.budget is not None:
        factor = min(factor, 1.0 + retries.budget)
    breaker = call.circuit_breaker
    if breaker is not None and breaker.failure_ratio < 1.0:
        f = breaker.failure_ratio
        factor = min(factor, (1.0 - f ** (retries.max + 1)) / (1.0 - f))
    return factor


def call_graph(topology: Topology) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(s.name for s in topology.services)
    for s in topology.services:
        for c in s.all_calls:
            graph.add_edge(s.name, c.to, call=c)
    return graph


def back_edges(graph: nx.DiGraph) -> list[tuple[str, str]]:
    """Edges that close a cycle, found by depth-first search (to a node still on the search stack)."""
    on_stack, finished = set(), set()
    out = []
    for root in graph.nodes:
        if root in finished:
            continue
        on_stack.add(root)
        stack = [(root, iter(graph.successors(root)))]
        while stack:
            node, successors = stack[-1]
            nxt = next(successors, None)
            if nxt is None:
                stack.pop()
                on_stack.discard(node)
                finished.add(node)
            elif nxt in on_stack:
                out.append((node, nxt))
            elif nxt not in finished:
                on_stack.add(nxt)
                stack.append((nxt, iter(graph.successors(nxt))))
    return out


def acyclic(graph: nx.DiGraph) -> nx.DiGraph:
    """The graph without the edges that close cycles (reported on their own), for path products."""
    dag = graph.copy()
    dag.remove_edges_from(back_edges(graph))
    return dag


def worst_paths(graph: nx.DiGraph, start: str) -> tuple[float, list[str]]:
    """The path from ``start`` with the largest product of attempt factors, by dynamic programming."""
    best: dict[str, tuple[float, list[str]]] = {}
    for node in reversed(list(nx.topological_sort(graph))):
        options = [(graph.edges[node, nxt]["call"], nxt) for nxt in graph.successors(node)]
        scored = [(attempts_factor(c) * best[n][0], [node, *best[n][1]]) for c, n in options]
        best[node] = max(scored, key=lambda x: x[0], default=(1.0, [node]))
    return best[start]


def amplification_findings(topology: Topology, limit: float) -> list[Finding]:
    dag = acyclic(call_graph(topology))
    out = []
    for e in topology.entrypoints:
        inner, path = worst_paths(dag, e.to)
        total = attempts_factor(e.as_call()) * inner
        if total <= limit + 1e-9:
            continue
        factors = [attempts_factor(e.as_call())] + [attempts_factor(dag.edges[a, b]["call"])
                                                    for a, b in zip(path, path[1:], strict=False)]
        shown = " x ".join(f"{f:g}" for f in factors)
        out.append(Finding(
            Rule.RETRY_AMPLIFICATION, Severity.ERROR,
            f"one {e.name} request can cause up to {total:g} attempts at {path[-1]} ({shown}) when it fails, "
            f"above {limit:g}: retry at one layer only, or give the calls retry budgets or circuit breakers",
            (_entry(e), *path), _at(e)))
    return out


# --------------------------------------------------------------------------- structure


def cycle_findings(topology: Topology, limit: int = 20) -> list[Finding]:
    graph = call_graph(topology)
    out: list[Finding] = []
    for cycle in nx.simple_cycles(graph):
        if len(out) >= limit:
            break
        path = (*cycle, cycle[0])
        closing = graph.edges[cycle[-1], cycle[0]]["call"]
        out.append(Finding(Rule.CYCLE, Severity.ERROR,
                           f"calls loop: {' -> '.join(path)}; a request can come back to {cycle[0]}, and each "
                           "retry on the loop multiplies the load again", path, _at(closing)))
    return out


def mandatory_graph(topology: Topology) -> nx.DiGraph:
    """Calls every request makes and cannot do without: made by every request (probability 1, no
    attribute condition, not one route of a router; with operations, by every operation) and with no
    fallback of either kind. A fallback call itself is made only on failure: never mandatory."""
    graph = nx.DiGraph()
    graph.add_nodes_from(s.name for s in topology.services)
    attrs = topology.attribute_shares
    for service in topology.services:
        needed = [{c.to for c, share in op.call_shares_given(attrs)
                   if share >= 1.0 and not c.fallback and c.fallback_to is None}
                  for op in service.ops]
        graph.add_edges_from((service.name, to) for to in set.intersection(*needed))
    return graph


def single_points(topology: Topology) -> list[Finding]:
    """One finding per single-replica service that some entrypoint cannot do without, naming every
    entrypoint that needs it (all of them: "every entrypoint"), with the path from the first."""
    graph = mandatory_graph(topology)
    needers: dict[str, list[Entrypoint]] = {}
    for e in topology.entrypoints:
        needed = nx.descendants(graph, e.to) | {e.to}
        for name in sorted(needed, key=lambda n: (nx.shortest_path_length(graph, e.to, n), n)):
            if topology.service(name).replicas == 1:
                needers.setdefault(name, []).append(e)
    out = []
    for name, entries in needers.items():
        first = entries[0]
        path = nx.shortest_path(graph, first.to, name)
        out.append(Finding(Rule.SINGLE_POINT_OF_FAILURE, Severity.WARNING, _spof_message(topology, name, entries),
                           (_entry(first), *path), _at(topology.service(name), "replicas")))
    return out


def _spof_message(topology: Topology, name: str, entries: list[Entrypoint]) -> str:
    names = [e.name for e in entries]
    if len(names) > 1 and len(names) == len(topology.entrypoints):
        return (f"{name} has one replica and every entrypoint ({', '.join(names)}) depends on it: its crash fails "
                "every request")
    who = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f"{name} has one replica and every {who} request needs it: its crash fails them all"


def unreachable(topology: Topology) -> list[Finding]:
    graph = call_graph(topology)
    reached: set[str] = set()
    for e in topology.entrypoints:
        reached |= nx.descendants(graph, e.to) | {e.to}
    out = []
    for service in topology.services:
        if service.name in reached:
            continue
        callers = sorted(graph.predecessors(service.name))
        why = (f"its only callers ({', '.join(callers)}) are unreachable too" if callers
               else "no service calls it")
        out.append(Finding(Rule.UNREACHABLE, Severity.WARNING,
                           f"no entrypoint reaches {service.name} ({why}): no request visits it, so a fault "
                           "on it changes nothing; a call to it may be missing", (service.name,), _at(service)))
    return out


# --------------------------------------------------------------------------- fallbacks


@dataclass(frozen=True)
class Pool:
    """The workers an operation's requests queue for: its own pool (``workers`` on the operation), or the
    service's shared pool, which every operation without workers of its own uses."""

    service: Service
    own: Operation | None          # the operation with a pool of its own; None: the shared pool

    @staticmethod
    def of(service: Service, op: Operation) -> Pool:
        return Pool(service, op if op.workers is not None else None)

    @property
    def workers(self) -> int:
        """Per replica."""
        return self.own.workers if self.own is not None and self.own.workers is not None else self.service.workers

    @property
    def worker_seconds(self) -> float:
        """Worker-seconds it has each second, on all replicas."""
        return self.service.replicas * self.workers

    def holds(self, op: Operation) -> bool:
        return op.name == self.own.name if self.own is not None else op.workers is None

    @property
    def label(self) -> str:
        name = self.service.name
        if self.own is not None:
            return f"{name}'s pool of {self.own.name} ({plural(self.workers, 'worker')} a replica)"
        if any(o.workers is not None for o in self.service.operations):
            return f"{name}'s shared pool ({plural(self.workers, 'worker')} a replica)"
        return name


def _work(service: Service, call: Call) -> float:
    """Worker-seconds one call takes in its callee's pool (its operation's mean service time)."""
    dist = service.operation_of(call.operation).service_time
    assert dist is not None  # Service.ops gives every operation a service time (its own or the service's)
    return dist.mean


def fallback_overloads(topology: Topology) -> list[Finding]:
    """Calls whose fallback's worker pool, taking every call of the first callee when it dies, saturates first.

    Per request of the caller: ``up`` is what the fallback's pool receives while the first callee
    answers (its misses, plus the caller's own calls into that pool), ``down`` what it receives when
    every call to the first callee fails and falls back, in requests and in worker-seconds. The pool
    carries ``worker_seconds / down`` caller requests per second then; the first callee's pool carried
    ``its worker_seconds / (share x its service time)``. Below that, the first callee's death drowns the
    fallback at rates the first callee handled; the finding gives the fallback pool's utilisation at
    the rate the first callee carried.
    """
    attrs = topology.attribute_shares
    out = []
    for service, op in ((s, o) for s in topology.services for o in s.ops):
        shares = op.call_shares_given(attrs)
        caller = f"{service.name}.{op.name}" if service.operations else service.name
        for call, share in shares:
            fb = call.fallback_to
            if fb is None or share <= 0:
                continue
            first, backup = topology.service(call.to), topology.service(fb.to)
            first_pool = Pool.of(first, first.operation_of(call.operation))
            pool = Pool.of(backup, backup.operation_of(fb.operation))
            direct = [(c, s) for c, s in shares
                      if c.to == fb.to and c is not fb and pool.holds(backup.operation_of(c.operation))]
            miss = share * (1.0 - attrs[call.hit]) if call.hit is not None else 0.0
            up = sum(s for _, s in direct) + miss
            down = sum(s for _, s in direct) + share
            direct_work = sum(s * _work(backup, c) for c, s in direct)
            up_work, down_work = direct_work + miss * _work(backup, fb), direct_work + share * _work(backup, fb)
            carried_by_first = first_pool.worker_seconds / (share * _work(first, call))
            carried_when_down = pool.worker_seconds / down_work
            if carried_when_down >= carried_by_first:
                continue
            # what the pool serves of this mix of requests, per second, and how busy the first callee's rate makes it
            capacity = carried_when_down * down
            first_capacity = first_pool.worker_seconds / _work(first, call)
            busy = carried_by_first * down_work / pool.worker_seconds
            normal = (f"{pool.worker_seconds / up_work:,.0f}" if up_work > 0 else "any number of")
            out.append(Finding(
                Rule.FALLBACK_OVERLOAD, Severity.WARNING,
                f"when {call.to} is down every {caller} call to it falls back to {fb.to}: {pool.label} then gets "
                f"{down:.2f} requests per {caller} request instead of {up:.2f}, so its capacity "
                f"({capacity:,.0f}/s) carries at most {carried_when_down:,.0f} {caller} requests/s "
                f"(against {normal}/s with {call.to} up), while {first_pool.label} ({first_capacity:,.0f}/s) "
                f"carried {carried_by_first:,.0f}/s, at which the utilisation of {pool.label} would be {busy:.2f}: "
                f"above {carried_when_down:,.0f} {caller} requests/s a "
                f"{call.to} outage drowns {fb.to} (add {fb.to} capacity, or a breaker and a budget on the fallback)",
                (service.name, call.to, fb.to), _at(fb) or _at(call)))
    return out


# --------------------------------------------------------------------------- all


def lint(topology: Topology, max_amplification: float = DEFAULT_MAX_AMPLIFICATION) -> list[Finding]:
    """Every finding, errors first, then in rule order."""
    findings = (missing_timeouts(topology) + timeout_findings(topology) + cycle_findings(topology)
                + amplification_findings(topology, max_amplification) + single_points(topology)
                + unreachable(topology) + fallback_overloads(topology))
    order = list(Severity)
    # two calls into one service (a router's routes to two of its operations) can prove the same finding
    return sorted(dict.fromkeys(findings), key=lambda f: order.index(f.severity))


def counts(findings: list[Finding]) -> dict[str, int]:
    return {s.value + "s": sum(f.severity is s for f in findings) for s in Severity}


def render_text(topology: Topology, findings: list[Finding]) -> str:
    where = _at(topology)
    lines = []
    for f in findings:
        prefix = f"{f.location}: " if f.location is not None else (f"{where.file}: " if where else "")
        lines.append(f"{prefix}{f.severity.value}[{f.rule.value}]: {f.message}")
        lines.append(f"    path: {f.shown_path}")
    n = counts(findings)
    lines.append(f"{topology.name}: {plural(n['errors'], 'error')}, {plural(n['warnings'], 'warning')}")
    return "\n".join(lines)


def to_doc(topology: Topology, findings: list[Finding]) -> dict[str, Any]:
    where = _at(topology)
    return {"topology": topology.name, "file": None if where is None else where.file,
            **counts(findings), "findings": [f.to_dict() for f in findings]}
