"""One outgoing call of a service, as its caller makes it: attempts, retries, breaker, fallback.

A call sends attempts to the callee's replicas (picked by :class:`Balancer`), each on
a new connection with the per-attempt timeout. A failed attempt (timeout, connection
refused or reset, or an error answer) is retried after its backoff while retries and
the retry budget allow; the breaker may refuse an attempt outright. When the last
attempt has failed, a ``fallback`` call carries on (``degraded``) and any other fails
the request with ``dependency``, or ``circuit_open`` if the breaker refused it.

An error fault on the edge (:class:`~.faults.EdgeFaults`) fails its share of the
attempts at once with ``injected``, before a replica is picked or a connection opened:
the attempt is counted, retried and seen by the breaker like any failed one, as in the
simulator, where the callee answers it ``injected`` on arrival.

A call with ``fallback_to`` (cache-aside) makes that call when its own last attempt has
failed, or an open breaker refused it, and with ``hit`` also after a success for a request
that lacks the attribute (a miss); the fallback answers for it, with its own policy. The
request's attributes (``X-Chaoslab-Attributes``) travel with every attempt, so the callee's
conditions see what the entry decided.

With ``cancel_on_timeout`` the caller tells the callee (header ``X-Chaoslab-Cancel``)
that it will stop waiting by closing the connection, and the callee stops working on
the request when it sees the connection close. Without it the callee finishes
abandoned work (counted ``wasted``), and an attempt in flight when the caller's own
request is cancelled runs to its end, as a real client library without deadline
propagation would.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from chaos.core.retry import RetryBudget, backoff_delay
from chaos.live.in_container.http import Answer, Target, fetch
from chaos.live.in_container.stackspec import ATTRIBUTES_HEADER, WORK_PATH, CallSpec, LoadBalancing

from .balancer import Balancer
from .breaker import BreakerState, CircuitBreaker, breaker_for
from .faults import EdgeFaults
from .metrics import CallMetrics, Cause
from .tracing import client as client_span
from .tracing import end as end_span
from .tracing import headers_with

CAUSE_HEADER = "X-Chaoslab-Cause"
CANCEL_HEADER = "X-Chaoslab-Cancel"
__all__ = ["WORK_PATH", "Attributes", "Edge", "Peer", "answer_cause"]

Attributes = frozenset[str]
"""The attributes of the entry request an attempt works for."""
_CAUSES = {c.value: c for c in Cause}


def answer_cause(answer: Answer) -> Cause | None:
    """None for a success; else the cause the callee named, or ``dependency`` if it named none."""
    if 200 <= answer.status < 300:
        return None
    return _CAUSES.get(answer.headers.get(CAUSE_HEADER.lower(), ""), Cause.DEPENDENCY)


class Edge:
    """The caller's side of one call: its current policy and the state that policy needs."""

    def __init__(self, spec: CallSpec, load_balancing: LoadBalancing, bounds: tuple[float, ...],
                 rng: random.Random, clock: Callable[[], float], background: set[asyncio.Task[object]],
                 error_rng: random.Random) -> None:
        self.spec = spec
        self.faults = EdgeFaults()
        # A stream of its own: an error fault must not shift the draws of balancing, probability or jitter.
        self.error_roll = error_rng.random
        self.targets = tuple(Target.parse(url) for url in spec.urls)
        self.rand = rng.random
        self.load_balancing = load_balancing
        self.balancer = Balancer(len(self.targets), load_balancing, self.rand)
        self.breaker = None if spec.breaker is None else breaker_for(spec.breaker)
        self.budget = RetryBudget()
        self.metrics = CallMetrics(bounds)
        self.retired_opens = 0  # openings counted by breakers an admin replaced
        self.clock = clock
        self.background = background  # attempts left running when their request was cancelled
        self.backup: Edge | None = None  # the fallback_to call, with its own policy and state

    @property
    def callee(self) -> str:
        return self.spec.to

    def update(self, spec: CallSpec) -> None:
        """A new policy from now on; a changed breaker starts closed with an empty window, and new
        urls a fresh load balancer (attempts in flight finish where they went)."""
        if spec.breaker != self.spec.breaker:
            self.retired_opens += 0 if self.breaker is None else self.breaker.opens
            self.breaker = None if spec.breaker is None else breaker_for(spec.breaker)
        if spec.urls != self.spec.urls:
            self.targets = tuple(Target.parse(url) for url in spec.urls)
            self.balancer = Balancer(len(self.targets), self.load_balancing, self.rand)
        self.spec = spec

    def breaker_state(self) -> BreakerState | None:
        return None if self.breaker is None else self.breaker.state

    def taken(self, attributes: Attributes = frozenset()) -> bool:
        """Does this request make the call? Its condition on the request's attributes first (decided at
        the entry, the same for every retry), then the call's probability (drawn anew each time)."""
        spec = self.spec
        if spec.when is not None and spec.when not in attributes:
            return False
        if spec.unless is not None and spec.unless in attributes:
            return False
        p = spec.probability
        return p >= 1.0 or self.rand() < p

    async def call(self, attributes: Attributes = frozenset()) -> Cause | None:
        """Make the call: None if it succeeded or fell back, else the cause the request fails with."""
        spec = self.spec  # one policy for all attempts of a call, even if an admin changes it meanwhile
        attempt = 0
        while True:
            cause = await self._send(attempt, spec, attributes)
            if cause is None:
                if spec.hit is not None and spec.hit not in attributes and self.backup is not None:
                    return await self.backup.call(attributes)  # a miss: the fallback answers for it
                return None
            if attempt < spec.retries.max and self.budget.try_spend(spec.retries.budget):
                attempt += 1
                retries = spec.retries
                delay = backoff_delay(attempt, retries.base_s, retries.cap_s, retries.jitter, self.rand)
                if delay > 0:
                    await asyncio.sleep(delay)
                continue
            if self.backup is not None:  # cache-aside: another call answers for this one
                return await self.backup.call(attributes)
            if spec.fallback:
                self.metrics.degraded += 1
                return None
            return Cause.CIRCUIT_OPEN if cause is Cause.CIRCUIT_OPEN else Cause.DEPENDENCY

    async def _send(self, attempt: int, spec: CallSpec, attributes: Attributes) -> Cause | None:
        breaker = self.breaker
        if breaker is not None and not breaker.allow(self.clock()):
            self.metrics.short_circuited += 1
            return Cause.CIRCUIT_OPEN
        self.metrics.attempts += 1
        if attempt:
            self.metrics.retries += 1
        else:
            self.budget.deposit(spec.retries.budget)
        # The attempt is timed (its client span too) from here, where the caller begins to wait on it: a task
        # starts on a later turn of the loop, and on a busy machine that wait would read as the caller's own
        # work in its traces, where the simulator has it in the call.
        sent = self.clock()
        if spec.cancel_on_timeout:
            return await self._attempt(spec, breaker, attributes, sent)
        # Shielded: if the request that makes this call is cancelled, the attempt goes on.
        task = asyncio.create_task(self._attempt(spec, breaker, attributes, sent))
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return await asyncio.shield(task)

    def injected(self) -> bool:
        """Does the edge's error fault fail this attempt? (Drawn only while one is set.)"""
        ratio = self.faults.errors
        return ratio > 0 and self.error_roll() < ratio

    async def _attempt(self, spec: CallSpec, breaker: CircuitBreaker | None, attributes: Attributes,
                       sent: float) -> Cause | None:
        cause = Cause.INJECTED if self.injected() else await self._exchange(spec, sent, attributes)
        now = self.clock()
        if breaker is not None:
            breaker.record(now, cause is None, sent)
        if cause is None:
            self.metrics.success(now - sent)
        else:
            self.metrics.failure(cause, now - sent)
        return cause

    async def _exchange(self, spec: CallSpec, sent: float, attributes: Attributes) -> Cause | None:
        """The attempt on the wire, to the replica the balancer picks: None, or why it failed."""
        balancer, targets = self.balancer, self.targets  # an admin may re-point the call meanwhile
        replica = balancer.pick(sent)
        balancer.started(replica)
        target = targets[replica]
        span = client_span(self.callee, target.host, target.port, sent)
        extra = {CANCEL_HEADER: "1"} if spec.cancel_on_timeout else {}
        if attributes:
            extra[ATTRIBUTES_HEADER] = ",".join(sorted(attributes))
        headers = headers_with(span, extra or None)
        cause: Cause | None = Cause.TIMEOUT
        try:
            async with asyncio.timeout(spec.timeout_s):
                answer = await fetch(target, spec.path, headers)
            cause = answer_cause(answer)
            return cause
        except TimeoutError:  # before OSError: TimeoutError is one
            return cause
        except OSError:
            balancer.connection_failed(replica, self.clock())
            cause = Cause.CRASHED  # refused, reset, or closed without an answer
            return cause
        except asyncio.CancelledError:
            # The caller gave up on it: what the simulator counts.
            self.metrics.failure(Cause.TIMEOUT, self.clock() - sent)
            raise
        finally:
            balancer.finished(replica)
            end_span(span, cause is not None, self.clock())

    def breaker_opens(self) -> int:
        """Times a breaker of this edge opened, those an admin replaced included."""
        return self.retired_opens + (0 if self.breaker is None else self.breaker.opens)

    def metrics_json(self) -> dict[str, object]:
        state = self.breaker_state()
        return {**self.metrics.to_json(), "breaker_state": None if state is None else state.value,
                "breaker_opens": self.breaker_opens()}


class Peer:
    """Every call a replica makes to one callee (one per operation that calls it, fallbacks included), as
    the admin routes and metrics see them: an edge of the graph is a pair of services, so a policy change
    or an edge fault acts on all of them, and their counts add up."""

    def __init__(self, edges: list[Edge]) -> None:
        self.edges = edges

    @property
    def spec(self) -> CallSpec:
        return self.edges[0].spec

    @property
    def faults(self) -> EdgeFaults:
        return self.edges[0].faults

    @faults.setter
    def faults(self, faults: EdgeFaults) -> None:
        for edge in self.edges:
            edge.faults = faults

    def update(self, change: Callable[[CallSpec], CallSpec]) -> None:
        """Apply ``change`` to each call's own policy (keys a change leaves out keep each call's value)."""
        for edge in self.edges:
            edge.update(change(edge.spec))

    @property
    def metrics(self) -> CallMetrics:
        if len(self.edges) == 1:
            return self.edges[0].metrics
        return CallMetrics.merged([e.metrics for e in self.edges])

    def breaker_state(self) -> BreakerState | None:
        return next((s for s in (e.breaker_state() for e in self.edges) if s is not None), None)

    def breaker_opens(self) -> int:
        return sum(e.breaker_opens() for e in self.edges)

    def metrics_json(self) -> dict[str, object]:
        state = self.breaker_state()
        return {**self.metrics.to_json(), "breaker_state": None if state is None else state.value,
                "breaker_opens": self.breaker_opens()}
