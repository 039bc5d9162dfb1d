"""Service times drawn from a stack spec's distribution, by the core's rules (``chaos.core.servicetime``),
and the sleep that spends them on the loop's timer."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from chaos.core.servicetime import (
    Sampler,
    constant_sampler,
    empirical_moments,
    empirical_sampler,
    exponential_sampler,
    lognormal_mean,
    lognormal_sampler,
    lognormal_sigma,
)
from chaos.live.in_container.stackspec import Dist, ServiceTime


def sigma(spec: ServiceTime) -> float:
    """The log-space sigma of a lognormal spec."""
    return lognormal_sigma(spec.median, spec.tail_s, spec.tail)


def mean(spec: ServiceTime) -> float:
    if spec.dist is Dist.CONSTANT:
        return spec.value
    if spec.dist is Dist.EXPONENTIAL:
        return spec.mean
    if spec.dist is Dist.EMPIRICAL:
        return empirical_moments(spec.samples)[0]
    return lognormal_mean(spec.median, sigma(spec))


def sampler(spec: ServiceTime, rng: random.Random) -> Sampler:
    """A function drawing one service time (seconds) from ``rng``."""
    if spec.dist is Dist.CONSTANT:
        return constant_sampler(spec.value)
    if spec.dist is Dist.EXPONENTIAL:
        return exponential_sampler(spec.mean, rng)
    if spec.dist is Dist.EMPIRICAL:
        return empirical_sampler(spec.samples, rng)
    return lognormal_sampler(spec.median, sigma(spec), rng)


class Sleeper:
    """``asyncio.sleep`` with the loop's timer lateness learned and taken off.

    asyncio timers on Linux fire about a millisecond late at low load: epoll and poll wait
    in whole milliseconds, rounded up (Python 3.11's epoll selector even rounds twice),
    and a wake-up a hair early costs another millisecond. For services whose work takes a
    few milliseconds that is a bias of tens of percent. So each sleep starts earlier by
    the typical lateness of recent sleeps. Typical means the running median, nudged a
    step up or down after each sleep: a median ignores the long delays of a process
    preempted on a busy machine, which are the machine's slowness, not the timer's, and
    it falls by itself when a busy loop wakes often.

    A service time shorter than the lateness cannot be slept as such: the shortest timer
    sleep takes about the lateness, a bare yield about nothing. It takes the timer with
    probability ``seconds / lateness`` and yields otherwise, so the mean is right, and
    the timer sleeps keep the lateness learned. (Always yielding, as this did first,
    froze it: once the estimate reached a 1 ms constant's length, no sleep measured the
    timer again, and that service's own time read 0.1-0.4 ms.)
    """

    STEP = 5e-5  # seconds the median estimate moves per sleep: about 20 sleeps to learn 1 ms
    SHORTEST = 1e-6  # what the timer is asked for when the lateness alone is the sleep

    def __init__(self, clock: Callable[[], float],
                 timer: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: random.Random | None = None) -> None:
        self.clock = clock
        self.timer = timer
        self.lateness = 0.0
        self.rng = rng or random.Random()

    async def sleep(self, seconds: float) -> None:
        ask = seconds - self.lateness
        if ask <= 0:
            if seconds <= 0 or self.rng.random() * self.lateness >= seconds:
                await self.timer(0)
                return
            ask = self.SHORTEST
        start = self.clock()
        await self.timer(ask)
        late = self.clock() - start - ask
        self.lateness += self.STEP if late > self.lateness else -self.STEP
        self.lateness = max(0.0, self.lateness)
