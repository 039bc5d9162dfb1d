"""A replica's worker pool and its bounded queue: admission decisions, then their asyncio form.

:class:`Admission` is the pure logic (the caller passes the time): a request starts at
once if a worker is free, waits if fewer than ``queue_limit`` are waiting, else is
rejected. A freed worker takes the next waiting request (oldest first, or newest
first with ``lifo``), shedding those that waited longer than ``max_wait_s``. A request
that leaves the queue early (its caller went away) is marked dead and skipped.

:class:`WorkerPool` puts it on the event loop: a waiting request awaits a future that
a freed worker resolves.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


class Admit(enum.Enum):
    START = "start"
    QUEUE = "queue"
    REJECT = "reject"


@dataclass(frozen=True)
class PoolLimits:
    workers: int
    queue_limit: int
    lifo: bool = False
    max_wait_s: float | None = None


class Ticket:
    """A request's place in the queue. Mutable: it dies if its request leaves while waiting."""

    __slots__ = ("since", "queued", "dead", "future")

    def __init__(self, since: float, future: asyncio.Future[bool] | None = None) -> None:
        self.since = since
        self.queued = False  # in the queue, waiting for its turn
        self.dead = False    # left the queue early; skipped when its turn comes
        self.future = future


class Admission:
    """Workers busy and tickets waiting, with the decisions of arrival and release."""

    def __init__(self, limits: PoolLimits) -> None:
        self.limits = limits
        self.busy = 0
        self.queue: deque[Ticket] = deque()
        self.dead = 0  # dead tickets still in the queue

    @property
    def waiting(self) -> int:
        return len(self.queue) - self.dead

    def arrive(self, ticket: Ticket) -> Admit:
        if self.busy < self.limits.workers:
            self.busy += 1
            return Admit.START
        if self.waiting < self.limits.queue_limit:
            self.queue.append(ticket)
            ticket.queued = True
            return Admit.QUEUE
        return Admit.REJECT

    def release(self, now: float) -> list[tuple[Ticket, bool]]:
        """A worker is free: the tickets that now start (True) or are shed (False), in order."""
        self.busy -= 1
        decided: list[tuple[Ticket, bool]] = []
        max_wait = self.limits.max_wait_s
        while self.queue and self.busy < self.limits.workers:
            ticket = self.queue.pop() if self.limits.lifo else self.queue.popleft()
            ticket.queued = False
            if ticket.dead:
                self.dead -= 1
                continue
            if max_wait is not None and now - ticket.since > max_wait:
                decided.append((ticket, False))
                continue
            self.busy += 1
            decided.append((ticket, True))
        return decided

    def withdraw(self, ticket: Ticket) -> None:
        """A waiting request left (its caller went away): skip it when its turn comes."""
        if ticket.queued and not ticket.dead:
            ticket.dead = True
            self.dead += 1


class WorkerPool:
    """:class:`Admission` on the event loop."""

    def __init__(self, limits: PoolLimits, clock: Callable[[], float]) -> None:
        self.admission = Admission(limits)
        self.clock = clock

    @property
    def busy(self) -> int:
        return self.admission.busy

    @property
    def waiting(self) -> int:
        return self.admission.waiting

    async def acquire(self) -> bool:
        """Wait for a worker: True once one is held, False if rejected or shed."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        ticket = Ticket(self.clock(), future)
        decision = self.admission.arrive(ticket)
        if decision is Admit.START:
            return True
        if decision is Admit.REJECT:
            return False
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.result():
                self.release()  # a worker was handed over just as the request went away
            self.admission.withdraw(ticket)  # no-op unless it is still waiting
            raise

    def release(self) -> None:
        """Free a worker and hand it on."""
        handed = self.admission.release(self.clock())
        for ticket, started in handed:
            assert ticket.future is not None
            if not ticket.future.done():
                ticket.future.set_result(started)
            elif started:
                # Its request was cancelled after it was woken for the last time: the worker
                # it was just given goes to the next one instead of leaking.
                self.release()
