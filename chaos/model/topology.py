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

from chaos.choices import CallMode, Jitter, LoadBalancing, QueueDiscipline, stages  # noqa: F401  (re-exported)
from chaos.model.distributions import Distribution
from chaos.model.parsing import Model, Seconds, did_you_mean, fld


@dataclass(frozen=True)
class Queue(Model):
    """Where requests wait for a free worker."""

    limit: int = fld(1000, ge=0, doc="requests that may wait per replica; beyond it they are rejected")
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

    max: int = fld(0, ge=0, doc="retries after the first attempt")
    backoff: Backoff = fld(factory=Backoff, doc="delay between attempts")
    budget: float | None = fld(None, ge=0, le=10,
                               doc="retries allowed as a share of requests (0.2: at most 20% extra attempts)")


@dataclass(frozen=True)
class CircuitBreaker(Model):
    """Stops calling a dependency that keeps failing, and probes it again later."""

    failure_ratio: float = fld(0.5, gt=0, le=1, doc="opens when this share of calls in the window failed")
    min_calls: int = fld(20, ge=1, doc="calls needed in the window before it can open")
    window: Seconds = fld(10.0, gt=0, doc="the sliding window of calls it judges")
    open_for: Seconds = fld(5.0, gt=0, doc="how long it stays open before probing")
    half_open_probes: int = fld(1, ge=1, doc="successful probes needed to close it again")


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

    name: str = fld(doc="taken from the key under 'services'")
    service_time: Distribution = fld(doc="time a worker spends on one request, calls excluded")
    replicas: int = fld(1, ge=1)
    workers: int = fld(1, ge=1, doc="requests one replica works on at once")
    queue: Queue = fld(factory=Queue)
    load_balancing: LoadBalancing = fld(LoadBalancing.ROUND_ROBIN)
    calls: tuple[Call, ...] = fld(())

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

    name: str = fld(doc="taken from the key under 'entrypoints'")
    to: str = fld(doc="the service the clients call")
    share: float = fld(1.0, gt=0, doc="relative share of the experiment's load")
    timeout: Seconds | None = fld(None, gt=0, doc="the client gives up after this, per attempt")
    retries: Retries = fld(factory=Retries)
    cancel_on_timeout: bool = fld(False)

    def as_call(self) -> Call:
        return Call(to=self.to, timeout=self.timeout, retries=self.retries, cancel_on_timeout=self.cancel_on_timeout)


@dataclass(frozen=True)
class Topology(Model):
    """Services, the calls between them, and the entrypoints where load arrives."""

    REF = True  # an experiment may name a topology file instead of writing it inline
    name: str = fld(doc="a short name")
    services: tuple[Service, ...] = fld(keyed="name", doc="services by name")
    entrypoints: tuple[Entrypoint, ...] = fld(keyed="name", doc="entrypoints by name")
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

    def _refuse_certain_cycles(self) -> None:
        """A cycle of calls made with probability 1 would recurse forever: refuse it here."""
        certain = {s.name: [c.to for c in s.calls if c.probability >= 1.0] for s in self.services}
        state: dict[str, int] = {}

        def visit(name: str, trail: list[str]) -> None:
            state[name] = 1
            for nxt in certain[name]:
                if state.get(nxt) == 1:
                    cycle = trail[trail.index(nxt):] + [nxt] if nxt in trail else [name, nxt]
                    raise self.service(name).error(
                        "calls", f"calls always loop back: {' -> '.join(cycle)}; "
                                 "every request would call forever (give one call a probability below 1)")
                if state.get(nxt) is None:
                    visit(nxt, trail + [nxt])
            state[name] = 2

        for s in self.services:
            if state.get(s.name) is None:
                visit(s.name, [s.name])
