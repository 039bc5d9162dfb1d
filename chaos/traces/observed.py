"""The observed model: what traces say about a system, typed and independent of the topology's YAML.

    ObservedModel
    ├── sources, period, counts of spans and traces, flaws (what could not be used), clock offsets
    ├── entrypoints        root server operations: requests, rate, share, errors, latency
    └── services           instrumented or only seen from callers; instances; workers
        └── operations     requests, errors, latency, own work time (fits + empirical table)
            └── stages     in the order they run: sequential (one step) or parallel (several)
                └── steps  a call, or a router choosing exactly one of several calls
                    └── call  callee (service, operation), probability per request, attempts,
                              retries, timeout, error ratios, latency as the caller saw it

Settings that the traces only suggest carry a :class:`Marked` value: its :class:`Basis` says
whether it was measured, fitted, inferred from a pattern, or guessed for want of evidence,
and ``why`` says from what, in a sentence that can go into a YAML comment as it is. A later
step writes issue 16's topology (operations, routing, request attributes) from this model;
nothing here knows YAML.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Generic, TypeVar

from chaos.core.choices import CallMode
from chaos.model.distributions import AnyDistribution
from chaos.traces.fit import FittedTimes, Summary
from chaos.traces.flaws import FlawCount
from chaos.traces.spans import TraceFormat

T = TypeVar("T")


class Basis(enum.Enum):
    MEASURED = "measured"  # counted or timed directly
    FITTED = "fitted"      # a distribution fitted to measured values, with its quality stated
    INFERRED = "inferred"  # concluded from a pattern (errors at one duration imply a timeout)
    GUESSED = "guessed"    # the traces do not say; a stand-in to check

    @property
    def guess(self) -> bool:
        return self in (Basis.INFERRED, Basis.GUESSED)


@dataclass(frozen=True)
class Marked(Generic[T]):
    value: T
    basis: Basis
    why: str


@dataclass(frozen=True)
class WorkTime:
    """A service's own time per request of one operation: its server span minus the time spent waiting on calls."""

    times: FittedTimes
    distribution: Marked[AnyDistribution] | None  # the best fit, GUESSED when no fit is good enough


@dataclass(frozen=True)
class Retries:
    max: Marked[int]            # the most retries seen after a first attempt
    backoff_p50: float | None   # median gap between a failed attempt's end and the next attempt's start


@dataclass(frozen=True)
class Matching:
    """How the call's attempts were seen: both sides, the client side only, or the server side only."""

    both: int
    client_only: int
    server_only: int
    sampled_out: int  # client-only attempts to a service that is instrumented elsewhere


@dataclass(frozen=True)
class ObservedCall:
    callee: Marked[str]           # MEASURED from server spans; INFERRED from peer attributes; GUESSED from a host
    operation: Marked[str]
    probability: float            # share of the caller operation's requests that make this call
    probability_stderr: float
    calls_per_request: float      # logical calls per request that makes any (1 unless the call is repeated)
    attempts_per_call: float
    retries: Retries | None
    timeout: Marked[float] | None
    error_ratio: float            # failed attempts / attempts
    final_error_ratio: float      # calls whose last attempt failed / calls
    latency: Summary              # successful attempts, as the caller saw them
    start_offset: float           # mean time from the caller's span start to the call's start
    matching: Matching
    shared: Marked[bool] | None = None  # INFERRED True: whether it is made is the same in every attempt of a retry

    @property
    def target(self) -> tuple[str, str]:
        return self.callee.value, self.operation.value


@dataclass(frozen=True)
class Route:
    call: ObservedCall
    weight: float


@dataclass(frozen=True)
class Router:
    """Exactly one of several calls per request (or none, with ``none_weight``): the calls never occur together."""

    routes: tuple[Route, ...]
    none_weight: float
    why: str


Step = ObservedCall | Router


@dataclass(frozen=True)
class Stage:
    """Steps that run together (PARALLEL, two or more) or one step alone (SEQUENTIAL)."""

    mode: CallMode
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class ObservedOperation:
    service: str
    name: str
    requests: int
    rate: float                   # requests per second over the span of entry arrivals
    error_ratio: float
    latency: Summary              # the server span's duration
    work_time: WorkTime
    stages: tuple[Stage, ...]
    # Its time as its callers waited on it, as ObservedService.seen_work but for this operation alone.
    seen_work: Marked[AnyDistribution] | None = None
    # Its times by the pace of the request, as ObservedService.paced.
    paced: tuple[AnyDistribution, ...] = ()

    def calls(self) -> tuple[ObservedCall, ...]:
        out: list[ObservedCall] = []
        for stage in self.stages:
            for step in stage.steps:
                out.extend(r.call for r in step.routes) if isinstance(step, Router) else out.append(step)
        return tuple(out)

    def call_plan(self) -> tuple[tuple[Step, CallMode], ...]:
        """The steps in order, each with the mode the topology writes (a stage of several: parallel).

        ``chaos.core.choices.stages`` regroups these into :attr:`stages`, except that two parallel stages in
        a row merge there (issue 16 keeps them apart when written apart).
        """
        return tuple((step, stage.mode) for stage in self.stages for step in stage.steps)

    def call_to(self, service: str, operation: str | None = None) -> ObservedCall:
        for call in self.calls():
            if call.callee.value == service and (operation is None or call.operation.value == operation):
                return call
        raise KeyError(f"{self.service} {self.name} -> {service} {operation or ''}".rstrip())


@dataclass(frozen=True)
class Concurrency:
    """What the server spans of one service say about its worker pools."""

    max_in_progress: int          # the most requests one instance was seen working on at once
    share_at_max: float           # of arrivals, the share that found the instance at that maximum
    queue_wait: Summary | None    # server start minus client start, less its minimum (network), on the busiest edge


@dataclass(frozen=True)
class Traffic:
    """A scope as the simulator counts it: attempts sent to it, the failed ones, and the latency of the
    successful ones as the sender saw it (the caller's client span; a server span where there is none)."""

    attempts: int
    errors: int
    ok: Summary

    @property
    def error_ratio(self) -> float:
        return self.errors / self.attempts if self.attempts else 0.0


@dataclass(frozen=True)
class ObservedService:
    name: str
    instrumented: bool            # has server spans; otherwise known only from its callers' client spans
    replicas: Marked[int]
    workers: Marked[int] | None
    concurrency: Concurrency | None
    operations: tuple[ObservedOperation, ...]
    work_time: WorkTime           # every operation's own times together: the one service time the topology has
    hop: Marked[float] | None     # first percentile of caller's span minus server span, calls seen from both sides
    traffic: Traffic
    # Its service time as its callers waited on it (own time and per-hop overhead together, see derive.py);
    # None where no caller was seen waiting on it, or its requests queued before their server spans.
    seen_work: Marked[AnyDistribution] | None = None
    # Its times by the pace of the request (one per class of Pace, slowest last), where the model has one.
    paced: tuple[AnyDistribution, ...] = ()

    def operation(self, name: str) -> ObservedOperation:
        for op in self.operations:
            if op.name == name:
                return op
        raise KeyError(f"{self.name} {name}")


@dataclass(frozen=True)
class ObservedEntrypoint:
    service: str
    operation: str
    requests: int
    rate: float
    share: float
    error_ratio: float
    latency: Summary
    traffic: Traffic


@dataclass(frozen=True)
class ClockOffset:
    """How far a server host's clock seemed ahead of a client host's (negative: behind), from calls between them.

    Each successful call bounds the offset: the server span must lie inside the client span, so
    offset >= server end - client end and offset <= server start - client start. ``low`` and
    ``high`` are the tightest bounds over all calls; the estimate is their middle (equal network
    delay both ways). When the bounds cross, the calls disagree by more than their own jitter.
    """

    client_host: str
    server_host: str
    calls: int
    low: float
    high: float

    @property
    def estimate(self) -> float:
        return (self.low + self.high) / 2

    @property
    def consistent(self) -> bool:
        return self.low <= self.high


@dataclass(frozen=True)
class SourceFile:
    path: str
    format: TraceFormat | None    # None: the file was empty
    spans: int


@dataclass(frozen=True)
class Settings:
    window_s: float
    max_open_traces: int
    skew_tolerance_s: float


@dataclass(frozen=True)
class PaceClass:
    name: str
    share: float              # of the traces with a measured hop
    traces: int
    overhead_low: float       # the mean per-hop overhead of its traces, seconds, from
    overhead_high: float      # to


@dataclass(frozen=True)
class Pace:
    """Requests grouped by how slow their hops were: where the hops of one request are slow together (a
    busy machine, a congested network), each service's time is taken per group, and the topology draws
    the group once per request (a categorical attribute), so that the simulation's hops stall together."""
    classes: tuple[PaceClass, ...]
    correlation: float        # of one hop's log overhead with the mean of its request's other hops'
    traces: int


@dataclass(frozen=True)
class ObservedModel:
    sources: tuple[SourceFile, ...]
    settings: Settings
    start_s: float
    end_s: float
    spans_read: int
    traces: int                   # traces assembled (broken ones included)
    traces_used: int              # traces with one root and at least one server span
    entrypoints: tuple[ObservedEntrypoint, ...]
    services: tuple[ObservedService, ...]
    flaws: tuple[FlawCount, ...]
    clock_offsets: tuple[ClockOffset, ...]
    pace: Pace | None = None

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end_s - self.start_s)

    @property
    def traced_rate(self) -> float:
        """Entry requests per second over the span of their arrivals."""
        return sum(e.rate for e in self.entrypoints)

    @property
    def rate_period_s(self) -> float:
        """The period rates are taken over (entry requests / their rate): what throughputs are divided by."""
        rate = self.traced_rate
        return sum(e.requests for e in self.entrypoints) / rate if rate > 0 else 0.0

    def service(self, name: str) -> ObservedService:
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(name)

    def operation(self, service: str, name: str) -> ObservedOperation:
        return self.service(service).operation(name)

    def entrypoint(self, service: str, operation: str) -> ObservedEntrypoint:
        for e in self.entrypoints:
            if (e.service, e.operation) == (service, operation):
                return e
        raise KeyError(f"{service} {operation}")
