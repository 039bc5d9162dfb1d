"""The service graph: services, their capacity, and the calls they make to each other.

A topology file::

    name: shop
    services:
      cart:
        replicas: 2            # instances behind a load balancer
        workers: 16            # requests one replica works on at once
        queue: {limit: 100, discipline: fifo}
        service_time: {dist: lognormal, median: 4ms, p99: 30ms}
        calls:
          - to: db
            timeout: 200ms
            retries: {max: 2, backoff: {base: 20ms, cap: 200ms, jitter: full}, budget: 0.2}
            circuit_breaker: {failure_ratio: 0.5, min_calls: 20, window: 10s, open_for: 5s}
    entrypoints:
      web: {to: gateway, share: 1.0, timeout: 10s}

A request at a service waits in the queue for a worker, holds the worker for its
service time, then makes its calls in order (adjacent ``mode: parallel`` calls run
together) while still holding the worker, and answers. A caller that times out stops
waiting; unless ``cancel_on_timeout`` the callee keeps working on the abandoned
request, which is what lets retry storms sustain themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from operator import attrgetter

from chaos.core.choices import CallMode as CallMode  # re-exported: the model's choices are the core's
from chaos.core.choices import Jitter as Jitter
from chaos.core.choices import LoadBalancing as LoadBalancing
from chaos.core.choices import QueueDiscipline as QueueDiscipline
from chaos.core.choices import stages as stages
from chaos.model.bounds import (
    MAX_CALL_DEPTH,
    MAX_CALLS,
    MAX_COUNT,
    MAX_QUEUE,
    MAX_REPLICAS,
    MAX_RETRIES,
    MAX_SERVICES,
    MAX_SHARE,
    MAX_WORKERS,
)
from chaos.model.distributions import Distribution
from chaos.model.parsing import NAME, Model, Seconds, did_you_mean, fld


@dataclass(frozen=True)
class Queue(Model):
    """Where requests wait for a free worker."""

    limit: int = fld(1000, ge=0, le=MAX_QUEUE, doc="requests that may wait per replica; beyond it they are rejected")
    discipline: QueueDiscipline = fld(QueueDiscipline.FIFO, doc="fifo, or lifo (newest first)")
    max_wait: Seconds | None = fld(None, gt=0, doc="shed a request that waited longer than this (load shedding)")


@dataclass(frozen=True)
class Backoff(Model):
    """Delay before retry n: min(cap, base * 2**(n-1)), then jittered."""

    base: Seconds = fld(0.0, doc="delay before the first retry")
    cap: Seconds = fld(10.0, doc="longest delay")
    jitter: Jitter = fld(Jitter.FULL, doc="none, full or equal")

    def validate(self) -> None:
        if self.cap < self.base:
            raise self.error("cap", f"cap ({self.cap:g}s) is below base ({self.base:g}s)")


@dataclass(frozen=True)
class Retries(Model):
    """How a failed call is tried again."""

    max: int = fld(0, ge=0, le=MAX_RETRIES, doc="retries after the first attempt")
    backoff: Backoff = fld(factory=Backoff, doc="delay between attempts")
    budget: float | None = fld(None, ge=0, le=10,
                               doc="retries allowed as a share of requests (0.2: at most 20% extra attempts)")


@dataclass(frozen=True)
class CircuitBreaker(Model):
    """Stops calling a dependency that keeps failing, and probes it again later."""

    failure_ratio: float = fld(0.5, gt=0, le=1, doc="opens when this share of calls in the window failed")
    min_calls: int = fld(20, ge=1, le=MAX_COUNT, doc="calls needed in the window before it can open")
    window: Seconds = fld(10.0, gt=0, doc="the sliding window of calls it judges")
    open_for: Seconds = fld(5.0, gt=0, doc="how long it stays open before probing")
    half_open_probes: int = fld(1, ge=1, le=MAX_COUNT, doc="successful probes needed to close it again")


@dataclass(frozen=True)
class Call(Model):
    """One outgoing call a service makes while handling a request."""

    to: str = fld(doc="the service called")
    mode: CallMode = fld(CallMode.SEQUENTIAL, doc="sequential, or parallel with the adjacent parallel calls")
    probability: float = fld(1.0, ge=0, le=1, doc="share of requests that make this call")
    timeout: Seconds | None = fld(None, gt=0, doc="per attempt; none means wait forever")
    retries: Retries = fld(factory=Retries)
    circuit_breaker: CircuitBreaker | None = fld(None)
    fallback: bool = fld(False, doc="on final failure carry on degraded instead of failing the request")
    cancel_on_timeout: bool = fld(False, doc="a timeout cancels the callee's work (deadline propagation)")


@dataclass(frozen=True)
class Service(Model):
    """A service: identical replicas, each with a worker pool and a bounded queue."""

    name: str = fld(doc="taken from the key under 'services'", text=NAME)
    service_time: Distribution = fld(doc="time a worker spends on one request, calls excluded")
    replicas: int = fld(1, ge=1, le=MAX_REPLICAS)
    workers: int = fld(1, ge=1, le=MAX_WORKERS, doc="requests one replica works on at once")
    queue: Queue = fld(factory=Queue)
    load_balancing: LoadBalancing = fld(LoadBalancing.ROUND_ROBIN)
    calls: tuple[Call, ...] = fld((), max_items=MAX_CALLS)

    @property
    def capacity(self) -> float:
        """Requests per second all replicas can serve, calls excluded."""
        return self.replicas * self.workers / self.service_time.mean

    def stages(self) -> tuple[tuple[Call, ...], ...]:
        """Calls grouped in the order they run: each group runs in parallel, groups in sequence."""
        return stages(self.calls, attrgetter("mode"))


@dataclass(frozen=True)
class Entrypoint(Model):
    """Where user traffic enters: a share of the load, sent by clients with their own timeout and retries."""

    name: str = fld(doc="taken from the key under 'entrypoints'", text=NAME)
    to: str = fld(doc="the service the clients call")
    share: float = fld(1.0, gt=0, le=MAX_SHARE, doc="relative share of the experiment's load")
    timeout: Seconds | None = fld(None, gt=0, doc="the client gives up after this, per attempt")
    retries: Retries = fld(factory=Retries)
    cancel_on_timeout: bool = fld(False)

    def as_call(self) -> Call:
        return Call(to=self.to, timeout=self.timeout, retries=self.retries, cancel_on_timeout=self.cancel_on_timeout)


@dataclass(frozen=True)
class Topology(Model):
    """Services, the calls between them, and the entrypoints where load arrives."""

    REF = True  # an experiment may name a topology file instead of writing it inline
    name: str = fld(doc="a short name", text=NAME)
    services: tuple[Service, ...] = fld(keyed="name", max_items=MAX_SERVICES, doc="services by name")
    entrypoints: tuple[Entrypoint, ...] = fld(keyed="name", max_items=MAX_SERVICES, doc="entrypoints by name")
    description: str = fld("")

    @cached_property
    def service_map(self) -> dict[str, Service]:
        return {s.name: s for s in self.services}

    @cached_property
    def entrypoint_map(self) -> dict[str, Entrypoint]:
        return {e.name: e for e in self.entrypoints}

    def service(self, name: str) -> Service:
        return self.service_map[name]

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        return tuple((s.name, c.to) for s in self.services for c in s.calls)

    def call(self, caller: str, callee: str) -> Call:
        for c in self.service(caller).calls:
            if c.to == callee:
                return c
        raise KeyError(f"{caller}->{callee}")

    def validate(self) -> None:
        if not self.services:
            raise self.error("services", "a topology needs at least one service")
        if not self.entrypoints:
            raise self.error("entrypoints", "a topology needs at least one entrypoint")
        names = self.service_map
        for service in self.services:
            seen: set[str] = set()
            for call in service.calls:
                if call.to not in names:
                    raise call.error("to", f"unknown service '{call.to}'{did_you_mean(call.to, names)}")
                if call.to in seen:
                    raise call.error("to", f"'{service.name}' already calls '{call.to}'; "
                                           "merge the two calls (an edge is identified by caller and callee)")
                seen.add(call.to)
        for entry in self.entrypoints:
            if entry.to not in names:
                raise entry.error("to", f"unknown service '{entry.to}'{did_you_mean(entry.to, names)}")
        self._refuse_certain_cycles()
        self._refuse_deep_chains()

    def _refuse_certain_cycles(self) -> None:
        """A cycle of calls made with probability 1 would recurse forever: refuse it here."""
        certain = {s.name: [c.to for c in s.calls if c.probability >= 1.0] for s in self.services}
        cycle = find_loop(certain)
        if cycle is not None:
            shown = cycle if len(cycle) <= 8 else [*cycle[:4], "...", *cycle[-3:]]
            raise self.service(cycle[-2]).error(
                "calls", f"calls always loop back: {' -> '.join(shown)}; "
                         "every request would call forever (give one call a probability below 1)")

    def _refuse_deep_chains(self) -> None:
        """A chain of more than MAX_CALL_DEPTH services is refused (calls that loop back not counted)."""
        chain = longest_chain({s.name: [c.to for c in s.calls] for s in self.services})
        if len(chain) > MAX_CALL_DEPTH:
            shown = chain if len(chain) <= 8 else [*chain[:4], "...", *chain[-3:]]
            raise self.service(chain[0]).error(
                "calls", f"calls go {len(chain)} services deep ({' -> '.join(shown)}); at most {MAX_CALL_DEPTH} "
                         "services may call one another in a row")


def find_loop(graph: dict[str, list[str]]) -> list[str] | None:
    """The first loop depth-first search meets, as ``[a, b, ..., a]``; None when there is none.

    Written with an explicit stack: a chain of a thousand services must not need a
    thousand Python frames.
    """
    state: dict[str, int] = {}  # 1: on the search path, 2: done
    for root in graph:
        if root in state:
            continue
        trail, pending = [root], [iter(graph[root])]
        state[root] = 1
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                state[trail.pop()] = 2
                pending.pop()
            elif state.get(nxt) == 1:
                return trail[trail.index(nxt):] + [nxt]
            elif nxt not in state and nxt in graph:
                state[nxt] = 1
                trail.append(nxt)
                pending.append(iter(graph[nxt]))
    return None


def longest_chain(graph: dict[str, list[str]]) -> list[str]:
    """The longest path of calls, leaving out calls back to a service already on the path."""
    best: dict[str, list[str]] = {}
    for root in graph:
        if root in best:
            continue
        trail, pending = [root], [iter(graph[root])]
        on_trail = {root}
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                name = trail.pop()
                on_trail.discard(name)
                pending.pop()
                tails = [best[c] for c in graph[name] if c in best and c not in on_trail]
                best[name] = [name, *max(tails, key=len, default=[])]
            elif nxt not in best and nxt not in on_trail and nxt in graph:
                trail.append(nxt)
                on_trail.add(nxt)
                pending.append(iter(graph[nxt]))
    return max(best.values(), key=len, default=[])
