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

import math
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
from chaos.model.parsing import NAME, Model, Seconds, TextRule, did_you_mean, fld

CONDITION = TextRule(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}(=[A-Za-z0-9][A-Za-z0-9_-]{0,62})?",
                     "a condition names a yes-or-no attribute, or a value of a categorical one as NAME=VALUE")
"""What ``when``, ``unless`` and ``hit`` name: ``cache_hit``, or ``tenant=paid``."""

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
    operation: str | None = fld(None, text=NAME,
                                doc="the callee's operation (default: its only one)")
    mode: CallMode = fld(CallMode.SEQUENTIAL, doc="sequential; parallel with the adjacent parallel calls; or "
                                                   "route: exactly one of the adjacent routed calls, by weight")
    new_stage: bool = fld(False, doc="with mode parallel or route: begin a new stage instead of joining the "
                                     "calls before it (two parallel stages in a row)")
    probability: float = fld(1.0, ge=0, le=1, doc="share of requests that make this call, drawn per attempt")
    weight: float | None = fld(None, gt=0, le=MAX_SHARE, doc="with mode: route, its relative share of the "
                                                            "router's requests (default 1)")
    when: str | None = fld(None, text=CONDITION, doc="made only for requests that have this attribute "
                                                "(decided once per request, at the entrypoint)")
    unless: str | None = fld(None, text=CONDITION, doc="made only for requests that do not have this attribute, "
                                                       "or this value of a categorical one")
    timeout: Seconds | None = fld(None, gt=0, doc="per attempt; none means wait forever")
    retries: Retries = fld(factory=Retries)
    circuit_breaker: CircuitBreaker | None = fld(None)
    fallback: bool = fld(False, doc="on final failure carry on degraded instead of failing the request")
    fallback_to: Call | None = fld(None, doc="on final failure (errors, timeouts, an open breaker) make this call "
                                             "instead, with its own timeout and retries (cache-aside: the database)")
    hit: str | None = fld(None, text=CONDITION, doc="with fallback_to: the attribute of requests this call answers "
                                               "usefully; the others fall back after its answer (a cache miss)")
    cancel_on_timeout: bool = fld(False, doc="a timeout cancels the callee's work (deadline propagation)")

    def validate(self) -> None:
        if self.mode is CallMode.ROUTE and self.probability < 1.0:
            raise self.error("probability", "a routed call is made whenever the router picks it: give the "
                                            "router's calls weights, not probabilities")
        if self.weight is not None and self.mode is not CallMode.ROUTE:
            raise self.error("weight", "a weight shares a router's requests: give the call mode: route")
        if self.new_stage and self.mode is CallMode.SEQUENTIAL:
            raise self.error("new_stage", "a sequential call is a stage of its own already: new_stage separates "
                                          "parallel or routed calls from the group before them")
        if self.when is not None and self.unless is not None:
            raise self.error("unless", "give a call 'when' or 'unless', not both")
        if self.hit is not None and self.fallback_to is None:
            raise self.error("hit", "a miss falls back to another call: give the call fallback_to")
        if self.mode is CallMode.ROUTE and (self.when or self.unless):
            raise self.error("when" if self.when else "unless", "a routed call is picked by weight alone; "
                                                                "put the condition on a call of its own")

    @property
    def condition(self) -> str | None:
        return self.when or self.unless

    @property
    def chain(self) -> tuple[Call, ...]:
        """This call and its fallbacks, in the order they are tried."""
        return (self,) if self.fallback_to is None else (self, *self.fallback_to.chain)

    @property
    def route_weight(self) -> float:
        return 1.0 if self.weight is None else self.weight


DEFAULT_OPERATION = "default"
"""The name of the one operation of a service that declares none."""


@dataclass(frozen=True)
class TimeChoice(Model):
    """``large: {dist: exponential, mean: 20ms}``: the service time of requests with one value of an attribute."""

    VALUE_KEY = "service_time"
    name: str = fld(doc="the attribute's value (taken from the key)", text=NAME)
    service_time: Distribution = fld(doc="time a worker spends on these requests, calls excluded")


@dataclass(frozen=True)
class ServiceTimeBy(Model):
    """Service times that depend on a categorical attribute of the request (a payload size class)."""

    attribute: str = fld(doc="a categorical attribute (one with values)", text=NAME)
    values: tuple[TimeChoice, ...] = fld(keyed="name", max_items=MAX_CALLS,
                                         doc="service time by value; a value not listed takes the service_time")


@dataclass(frozen=True)
class Operation(Model):
    """One endpoint of a service (an HTTP route, an RPC method): its own work and its own calls.

    Every operation of a service shares the service's replicas; it works on the service's shared
    workers and queue, or with ``workers`` on a pool of its own on each replica.
    """

    name: str = fld(doc="taken from the key under 'operations'", text=NAME)
    service_time: Distribution | None = fld(None, doc="time a worker spends on it, calls excluded "
                                                      "(default: the service's)")
    calls: tuple[Call, ...] = fld((), max_items=MAX_CALLS)
    service_time_by: ServiceTimeBy | None = fld(None, doc="service times by an attribute's value "
                                                          "(default: the service's, when it has no service_time)")
    workers: int | None = fld(None, ge=1, le=MAX_WORKERS, doc="a worker pool of its own on each replica, with "
                                                             "this many workers and a queue like the service's "
                                                             "(default: the service's shared pool)")

    def stages(self) -> tuple[tuple[Call, ...], ...]:
        return stages(self.calls, attrgetter("mode"), attrgetter("new_stage"))

    def call_shares_given(self, attributes: dict[str, float]) -> tuple[tuple[Call, float], ...]:
        """Each call with the share of this operation's requests that make it: its probability, or for a
        routed call its weight over its router's, times its condition's share (``attributes``; an
        attribute not given counts as every request's)."""
        def given(c: Call) -> float:
            if c.when is not None:
                return attributes.get(c.when, 1.0)
            return 1.0 - attributes[c.unless] if c.unless in attributes else 1.0
        out = []
        for group in self.stages():
            total = sum(c.route_weight for c in group)
            out += [(c, (c.route_weight / total if c.mode is CallMode.ROUTE else c.probability) * given(c))
                    for c in group]
        return tuple(out)


@dataclass(frozen=True)
class AttributeValue(Model):
    """``paid: 0.3``: one value of a categorical attribute and the share of requests that have it."""

    VALUE_KEY = "share"
    name: str = fld(doc="the value (taken from the key)", text=NAME)
    share: float = fld(doc="share of requests with this value", ge=0, le=1)


@dataclass(frozen=True)
class Attribute(Model):
    """A property of a request (a cache hit, a tenant, a size class), decided once when it enters.

    Yes-or-no with ``probability``, or categorical with ``values`` (exactly one per request).
    Every attempt of the request, retries included, anywhere in the graph, sees the same value;
    a call's ``when``/``unless`` depend on it (``tenant=paid`` for a categorical one). A call's
    ``probability``, by contrast, is drawn anew each time a request reaches the caller.
    """

    name: str = fld(doc="taken from the key under 'attributes'", text=NAME)
    probability: float | None = fld(None, doc="share of requests that have it (a yes-or-no attribute)", ge=0, le=1)
    values: tuple[AttributeValue, ...] = fld((), keyed="name", max_items=MAX_CALLS,
                                             doc="its values with their shares, which add up to 1 (categorical)")

    @property
    def yes_share(self) -> float:
        """The share of requests that have a yes-or-no attribute; a categorical one has none (live stacks
        refuse those before they ask)."""
        if self.probability is None:
            raise ValueError(f"'{self.name}' is categorical: it has values, not a yes-or-no share")
        return self.probability

    def validate(self) -> None:
        if (self.probability is None) == (not self.values):
            raise self.error(None, "an attribute has a probability (yes or no) or values with shares, "
                                   "exactly one of them")
        total = sum(v.share for v in self.values)
        if self.values and abs(total - 1.0) > 1e-9:
            raise self.error("values", f"the shares of the values add up to {total:g}, not 1: each request "
                                       "has exactly one value")

    @property
    def shares(self) -> dict[str, float]:
        """What a condition may name, with the share of requests it holds for: ``cache_hit``, ``tenant=paid``."""
        if self.probability is not None:
            return {self.name: self.probability}
        return {f"{self.name}={v.name}": v.share for v in self.values}


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
    service_time_by: ServiceTimeBy | None = fld(None, doc="service times by the value of a categorical attribute "
                                                          "(its operations' too, unless they have a service_time)")
    operations: tuple[Operation, ...] = fld((), keyed="name", max_items=MAX_CALLS,
                                            doc="its endpoints by name, each with its own service time and calls")

    @property
    def capacity(self) -> float:
        """Requests per second all replicas can serve, calls excluded."""
        return self.replicas * self.workers / self.service_time.mean

    def stages(self) -> tuple[tuple[Call, ...], ...]:
        """Calls grouped in the order they run: each group runs in parallel, groups in sequence."""
        return stages(self.calls, attrgetter("mode"), attrgetter("new_stage"))

    @cached_property
    def ops(self) -> tuple[Operation, ...]:
        """Its operations; a service that declares none has one, ``default``, with the service's calls."""
        if self.operations:
            return tuple(Operation(name=o.name, service_time=o.service_time or self.service_time, calls=o.calls,
                                   workers=o.workers,
                                   service_time_by=o.service_time_by or (
                                       self.service_time_by if o.service_time is None else None))
                         for o in self.operations)
        return (Operation(name=DEFAULT_OPERATION, service_time=self.service_time, calls=self.calls,
                          service_time_by=self.service_time_by),)

    @cached_property
    def op_map(self) -> dict[str, Operation]:
        return {o.name: o for o in self.ops}

    @property
    def all_calls(self) -> tuple[Call, ...]:
        """Every call any of its operations may make, fallbacks included."""
        return tuple(c for o in self.ops for call in o.calls for c in call.chain)

    @property
    def call_shares(self) -> tuple[tuple[Call, float], ...]:
        """Every call of every operation with the share of that operation's requests that make it:
        its probability, or for a routed call its weight over its router's (conditions not applied)."""
        return self.call_shares_given({})

    def call_shares_given(self, attributes: dict[str, float]) -> tuple[tuple[Call, float], ...]:
        """:attr:`call_shares`, with each call's condition's share of requests (``attributes``) applied."""
        return tuple(pair for op in self.ops for pair in op.call_shares_given(attributes))

    def operation_of(self, name: str | None) -> Operation:
        """The operation a call or an entrypoint naming ``name`` reaches (None: the only one)."""
        return self.ops[0] if name is None else self.op_map[name]

    def validate(self) -> None:
        if self.operations and self.calls:
            raise self.error("calls", "a service with operations makes its calls in its operations; "
                                      "move these calls under an operation")


@dataclass(frozen=True)
class Entrypoint(Model):
    """Where user traffic enters: a share of the load, sent by clients with their own timeout and retries."""

    name: str = fld(doc="taken from the key under 'entrypoints'", text=NAME)
    to: str = fld(doc="the service the clients call")
    operation: str | None = fld(None, text=NAME, doc="the operation they call (default: the service's only one)")
    share: float = fld(1.0, gt=0, le=MAX_SHARE, doc="relative share of the experiment's load")
    timeout: Seconds | None = fld(None, gt=0, doc="the client gives up after this, per attempt")
    retries: Retries = fld(factory=Retries)
    cancel_on_timeout: bool = fld(False)

    def as_call(self) -> Call:
        return Call(to=self.to, operation=self.operation, timeout=self.timeout, retries=self.retries,
                    cancel_on_timeout=self.cancel_on_timeout)


@dataclass(frozen=True)
class Topology(Model):
    """Services, the calls between them, and the entrypoints where load arrives."""

    REF = True  # an experiment may name a topology file instead of writing it inline
    name: str = fld(doc="a short name", text=NAME)
    services: tuple[Service, ...] = fld(keyed="name", max_items=MAX_SERVICES, doc="services by name")
    entrypoints: tuple[Entrypoint, ...] = fld(keyed="name", max_items=MAX_SERVICES, doc="entrypoints by name")
    attributes: tuple[Attribute, ...] = fld((), keyed="name", max_items=MAX_CALLS,
                                            doc="properties decided once per request at its entrypoint")
    description: str = fld("")

    @cached_property
    def service_map(self) -> dict[str, Service]:
        return {s.name: s for s in self.services}

    @cached_property
    def entrypoint_map(self) -> dict[str, Entrypoint]:
        return {e.name: e for e in self.entrypoints}

    @cached_property
    def attribute_shares(self) -> dict[str, float]:
        """Each yes-or-no attribute and each value ``NAME=VALUE`` of a categorical one, with its share."""
        return {cond: share for a in self.attributes for cond, share in a.shares.items()}

    @cached_property
    def attribute_bits(self) -> dict[str, int]:
        """A bit of a request's attribute word for everything a condition may name (``attribute_shares``)."""
        return {cond: 1 << i for i, cond in enumerate(self.attribute_shares)}

    @property
    def attribute_draws(self) -> tuple[tuple[tuple[int, ...], tuple[float, ...]], ...]:
        """Per attribute, one uniform draw per request: the bit of the first value whose cumulative share
        exceeds it (a yes-or-no attribute: its one bit, below its probability; else none)."""
        out = []
        for a in self.attributes:
            bits = tuple(self.attribute_bits[c] for c in a.shares)
            cum, acc = [], 0.0
            for share in a.shares.values():
                acc += share
                cum.append(acc)
            if a.values:
                cum[-1] = 1.0  # every request has one value, whatever the rounding
            out.append((bits, tuple(cum)))
        return tuple(out)

    @property
    def attribute_combinations(self) -> int:
        """How many combinations of values a request's attributes can take (2 for each yes-or-no one)."""
        return math.prod(len(a.values) or 2 for a in self.attributes)

    def service(self, name: str) -> Service:
        return self.service_map[name]

    @property
    def edges(self) -> tuple[tuple[str, str], ...]:
        return tuple(dict.fromkeys((s.name, c.to) for s in self.services for c in s.all_calls))

    def call(self, caller: str, callee: str) -> Call:
        for c in self.service(caller).all_calls:
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
            for op in (service.operations or (service,)):
                seen: set[tuple[str, str | None]] = set()
                for call in op.calls:
                    for fb in call.chain[1:]:
                        self._check_fallback(service, fb)
                    if call.to not in names:
                        raise call.error("to", f"unknown service '{call.to}'{did_you_mean(call.to, names)}")
                    self._check_operation(call, call.operation, names[call.to])
                    target = (call.to, names[call.to].operation_of(call.operation).name)
                    if target in seen:
                        raise call.error("to", f"'{service.name}' already calls '{call.to}' here; merge the two "
                                               "calls (one call per callee and operation)")
                    seen.add(target)
                    for field, attr in (("when", call.when), ("unless", call.unless), ("hit", call.hit)):
                        if attr is not None and attr not in self.attribute_shares:
                            raise call.error(field, f"unknown attribute '{attr}'"
                                                    f"{did_you_mean(attr, self.attribute_shares)}",
                                             hint="declare it under the topology's attributes, with its probability; "
                                                  "a categorical attribute's value is named NAME=VALUE")
        for service in self.services:
            for by in (service.service_time_by, *(o.service_time_by for o in service.operations)):
                if by is not None:
                    self._check_time_choices(by)
        for entry in self.entrypoints:
            if entry.to not in names:
                raise entry.error("to", f"unknown service '{entry.to}'{did_you_mean(entry.to, names)}")
            self._check_operation(entry, entry.operation, names[entry.to])
        self._refuse_certain_cycles()
        self._refuse_deep_chains()

    def _check_time_choices(self, by: ServiceTimeBy) -> None:
        attrs = {a.name: a for a in self.attributes}
        attr = attrs.get(by.attribute)
        if attr is None or not attr.values:
            categorical = [a.name for a in self.attributes if a.values]
            raise by.error("attribute", f"'{by.attribute}' is not a categorical attribute of the topology"
                                        f"{did_you_mean(by.attribute, categorical)}",
                           hint="declare it under attributes with values and their shares")
        known = {v.name for v in attr.values}
        for choice in by.values:
            if choice.name not in known:
                raise choice.error("name", f"'{by.attribute}' has no value '{choice.name}'"
                                           f"{did_you_mean(choice.name, known)} (it has {', '.join(sorted(known))})")

    def _check_fallback(self, service: Service, fb: Call) -> None:
        names = self.service_map
        if fb.to not in names:
            raise fb.error("to", f"unknown service '{fb.to}'{did_you_mean(fb.to, names)}")
        self._check_operation(fb, fb.operation, names[fb.to])
        if fb.mode is not CallMode.SEQUENTIAL or fb.probability < 1.0 or fb.condition is not None:
            raise fb.error(None, f"a fallback of {service.name} is made whenever the call before it failed: "
                                 "it takes no mode, probability, when or unless")

    @staticmethod
    def _check_operation(obj: Call | Entrypoint, name: str | None, callee: Service) -> None:
        ops = callee.op_map
        if name is None:
            if len(ops) > 1:
                raise obj.error("operation", f"'{callee.name}' has operations {', '.join(ops)}: "
                                             "name the one called")
        elif name not in ops:
            raise obj.error("operation", f"'{callee.name}' has no operation '{name}'{did_you_mean(name, ops)}"
                                         f" (it has {', '.join(ops)})")

    def _refuse_certain_cycles(self) -> None:
        """A cycle of calls made with probability 1 would recurse forever: refuse it here."""
        certain = {s.name: [c.to for c, share in s.call_shares_given(self.attribute_shares) if share >= 1.0]
                   for s in self.services}
        cycle = find_loop(certain)
        if cycle is not None:
            shown = cycle if len(cycle) <= 8 else [*cycle[:4], "...", *cycle[-3:]]
            raise self.service(cycle[-2]).error(
                "calls", f"calls always loop back: {' -> '.join(shown)}; "
                         "every request would call forever (give one call a probability below 1)")

    def _refuse_deep_chains(self) -> None:
        """A chain of more than MAX_CALL_DEPTH services is refused (calls that loop back not counted)."""
        chain = longest_chain({s.name: [c.to for c in s.all_calls] for s in self.services})
        if len(chain) > MAX_CALL_DEPTH:
            shown = chain if len(chain) <= 8 else [*chain[:4], "...", *chain[-3:]]
            raise self.service(chain[0]).error(
                "calls", f"calls go {len(chain)} services deep ({' -> '.join(shown)}); at most {MAX_CALL_DEPTH} "
                         "services may call one another in a row")


def check_operation_scope(obj: Model, service: Service, name: str) -> None:
    """Refuse a fault, an alert, an SLO or a verify step scoped to an operation ``service`` does not declare."""
    ops = service.op_map
    if not service.operations:
        raise obj.error("operation", f"'{service.name}' declares no operations",
                        hint="scope it to the service, or declare the service's operations")
    if name not in ops:
        raise obj.error("operation", f"'{service.name}' has no operation '{name}'{did_you_mean(name, ops)}"
                                     f" (it has {', '.join(ops)})")


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
