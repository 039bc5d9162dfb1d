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
from chaos.live.in_container.stackspec import CallSpec, LoadBalancing

from .balancer import Balancer
from .breaker import BreakerState, CircuitBreaker, breaker_for
from .faults import EdgeFaults
from .metrics import CallMetrics, Cause
from .tracing import client as client_span
from .tracing import end as end_span
from .tracing import headers_with

CAUSE_HEADER = "X-Chaoslab-Cause"
CANCEL_HEADER = "X-Chaoslab-Cancel"
WORK_PATH = "/work"
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

    def taken(self) -> bool:
        """Does this request make the call (drawn with the call's probability)?"""
        p = self.spec.probability
        return p >= 1.0 or self.rand() < p

    async def call(self) -> Cause | None:
        """Make the call: None if it succeeded or fell back, else the cause the request fails with."""
        spec = self.spec  # one policy for all attempts of a call, even if an admin changes it meanwhile
        attempt = 0
        while True:
            cause = await self._send(attempt, spec)
            if cause is None:
                return None
            if attempt < spec.retries.max and self.budget.try_spend(spec.retries.budget):
                attempt += 1
                retries = spec.retries
                delay = backoff_delay(attempt, retries.base_s, retries.cap_s, retries.jitter, self.rand)
                if delay > 0:
                    await asyncio.sleep(delay)
                continue
            if spec.fallback:
                self.metrics.degraded += 1
                return None
            return Cause.CIRCUIT_OPEN if cause is Cause.CIRCUIT_OPEN else Cause.DEPENDENCY

    async def _send(self, attempt: int, spec: CallSpec) -> Cause | None:
        breaker = self.breaker
        if breaker is not None and not breaker.allow(self.clock()):
            self.metrics.short_circuited += 1
            return Cause.CIRCUIT_OPEN
        self.metrics.attempts += 1
        if attempt:
            self.metrics.retries += 1
        else:
            self.budget.deposit(spec.retries.budget)
        if spec.cancel_on_timeout:
            return await self._attempt(spec, breaker)
        # Shielded: if the request that makes this call is cancelled, the attempt goes on.
        task = asyncio.create_task(self._attempt(spec, breaker))
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return await asyncio.shield(task)

    def injected(self) -> bool:
        """Does the edge's error fault fail this attempt? (Drawn only while one is set.)"""
        ratio = self.faults.errors
        return ratio > 0 and self.error_roll() < ratio

    async def _attempt(self, spec: CallSpec, breaker: CircuitBreaker | None) -> Cause | None:
        sent = self.clock()
        cause = Cause.INJECTED if self.injected() else await self._exchange(spec, sent)
        now = self.clock()
        if breaker is not None:
            breaker.record(now, cause is None, sent)
        if cause is None:
            self.metrics.success(now - sent)
        else:
            self.metrics.failure(cause, now - sent)
        return cause

    async def _exchange(self, spec: CallSpec, sent: float) -> Cause | None:
        """The attempt on the wire, to the replica the balancer picks: None, or why it failed."""
        balancer, targets = self.balancer, self.targets  # an admin may re-point the call meanwhile
        replica = balancer.pick(sent)
        balancer.started(replica)
        target = targets[replica]
        span = client_span(self.callee, target.host, target.port, sent)
        headers = headers_with(span, {CANCEL_HEADER: "1"} if spec.cancel_on_timeout else None)
        cause: Cause | None = Cause.TIMEOUT
        try:
            async with asyncio.timeout(spec.timeout_s):
                answer = await fetch(target, WORK_PATH, headers)
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
