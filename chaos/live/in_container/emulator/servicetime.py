"""Drawing service times from a stack spec's distribution (the same forms as ``chaos.model.distributions``)."""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import random
from collections.abc import Awaitable, Callable
from statistics import NormalDist

from chaos.live.in_container.stackspec import Dist, ServiceTime

_TAIL_Q = {"p90": 0.90, "p95": 0.95, "p99": 0.99}


def lognormal_sigma(spec: ServiceTime) -> float:
    """The log-space sigma of a lognormal given by its median and one upper percentile."""
    return math.log(spec.tail_s / spec.median) / NormalDist().inv_cdf(_TAIL_Q[spec.tail])


def mean(spec: ServiceTime) -> float:
    if spec.dist is Dist.CONSTANT:
        return spec.value
    if spec.dist is Dist.EXPONENTIAL:
        return spec.mean
    return spec.median * math.exp(lognormal_sigma(spec) ** 2 / 2)


def sampler(spec: ServiceTime, rng: random.Random) -> Callable[[], float]:
    """A function drawing one service time (seconds) from ``rng``."""
    if spec.dist is Dist.CONSTANT:
        return itertools.repeat(spec.value).__next__
    if spec.dist is Dist.EXPONENTIAL:
        return functools.partial(rng.expovariate, 1.0 / spec.mean)
    return functools.partial(rng.lognormvariate, math.log(spec.median), lognormal_sigma(spec))


class Sleeper:
    """``asyncio.sleep`` with the loop's timer lateness learned and taken off.

    asyncio timers on Linux fire about a millisecond late at low load: epoll and poll wait
    in whole milliseconds, rounded up (Python 3.11's epoll selector even rounds twice),
    and a wake-up a hair early costs another millisecond. For services whose work takes a
    few milliseconds that is a bias of tens of percent. So each sleep starts earlier by
    the typical lateness of recent sleeps. Typical means the running median, nudged a
    step up or down after each sleep: a median ignores the long delays of a process
    preempted on a busy machine, which are the machine's slowness, not the timer's, and
    it falls by itself when a busy loop wakes often. Service times shorter than the
    lateness are slept as a bare yield: below the timer's resolution only the average
    can be about right, not each sleep.
    """

    STEP = 5e-5  # seconds the median estimate moves per sleep: about 20 sleeps to learn 1 ms

    def __init__(self, clock: Callable[[], float],
                 timer: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.clock = clock
        self.timer = timer
        self.lateness = 0.0

    async def sleep(self, seconds: float) -> None:
        ask = seconds - self.lateness
        if ask <= 0:
            await self.timer(0)
            return
        start = self.clock()
        await self.timer(ask)
        late = self.clock() - start - ask
        self.lateness += self.STEP if late > self.lateness else -self.STEP
        self.lateness = max(0.0, self.lateness)
