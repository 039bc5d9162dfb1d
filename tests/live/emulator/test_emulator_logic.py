"""The emulator's pure logic, without sockets: admission, breaker, load balancing, histograms and
service-time draws, checked against the simulator's code and theory (the retry budget and backoff
are the core's: tests/core)."""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import time

import pytest

from chaos.live.in_container.emulator.balancer import HOLD_S, Balancer
from chaos.live.in_container.emulator.breaker import BreakerState, CircuitBreaker, breaker_for
from chaos.live.in_container.emulator.metrics import Cause, Histogram
from chaos.live.in_container.emulator.pool import Admission, Admit, PoolLimits, Ticket, WorkerPool
from chaos.live.in_container.emulator.servicetime import Sleeper, mean, sampler
from chaos.live.in_container.stackspec import Breaker, Dist, LoadBalancing, ServiceTime

# --------------------------------------------------------------------------- admission


def test_admission_starts_then_queues_then_rejects():
    pool = Admission(PoolLimits(workers=2, queue_limit=2))
    decisions = [pool.arrive(Ticket(0.0)) for _ in range(5)]
    assert decisions == [Admit.START, Admit.START, Admit.QUEUE, Admit.QUEUE, Admit.REJECT]
    assert (pool.busy, pool.waiting) == (2, 2)


@pytest.mark.parametrize("lifo, first", [(False, 0), (True, 2)])
def test_a_freed_worker_takes_the_oldest_or_the_newest(lifo, first):
    pool = Admission(PoolLimits(workers=1, queue_limit=5, lifo=lifo))
    pool.arrive(Ticket(0.0))
    waiting = [Ticket(0.1 * i) for i in range(3)]
    for t in waiting:
        assert pool.arrive(t) is Admit.QUEUE
    assert pool.release(1.0) == [(waiting[first], True)]
    assert (pool.busy, pool.waiting) == (1, 2)


def test_release_sheds_requests_that_waited_too_long_and_starts_the_next():
    pool = Admission(PoolLimits(workers=1, queue_limit=5, max_wait_s=0.5))
    pool.arrive(Ticket(0.0))
    old, older, fresh = Ticket(0.1), Ticket(0.2), Ticket(0.8)
    for t in (old, older, fresh):
        pool.arrive(t)
    assert pool.release(1.0) == [(old, False), (older, False), (fresh, True)]
    assert (pool.busy, pool.waiting) == (1, 0)


def test_a_withdrawn_ticket_frees_its_place_and_is_skipped():
    pool = Admission(PoolLimits(workers=1, queue_limit=1))
    pool.arrive(Ticket(0.0))
    gone = Ticket(0.0)
    assert pool.arrive(gone) is Admit.QUEUE
    assert pool.arrive(Ticket(0.0)) is Admit.REJECT
    pool.withdraw(gone)
    nxt = Ticket(0.1)
    assert pool.arrive(nxt) is Admit.QUEUE  # the place is free again at once
    assert pool.release(1.0) == [(nxt, True)]
    pool.withdraw(nxt)  # no longer waiting: nothing to undo
    assert (pool.busy, pool.waiting, pool.dead) == (1, 0, 0)


def test_worker_pool_hands_workers_over_and_survives_cancellation():
    async def scenario() -> tuple[int, int, bool, bool]:
        pool = WorkerPool(PoolLimits(workers=1, queue_limit=5), time.monotonic)
        assert await pool.acquire()
        waiter = asyncio.create_task(pool.acquire())
        cancelled = asyncio.create_task(pool.acquire())
        third = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.sleep(0)
        pool.release()  # to the first waiter
        got_first = await waiter
        pool.release()  # the cancelled one is skipped: to the third
        got_third = await third
        pool.release()
        return pool.busy, pool.waiting, got_first, got_third

    assert asyncio.run(scenario()) == (0, 0, True, True)


def test_a_worker_handed_to_a_request_cancelled_meanwhile_is_not_lost():
    async def scenario() -> tuple[int, int]:
        pool = WorkerPool(PoolLimits(workers=1, queue_limit=5), time.monotonic)
        await pool.acquire()
        waiter = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0)
        pool.release()      # the worker goes to the waiter ...
        waiter.cancel()     # ... which is cancelled before it runs again
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return pool.busy, pool.waiting

    assert asyncio.run(scenario()) == (0, 0)


# --------------------------------------------------------------------------- breaker


def breaker(**kw: float) -> CircuitBreaker:
    spec = Breaker(**{"failure_ratio": 0.5, "min_calls": 4, "window_s": 10.0, "open_for_s": 5.0,
                      "half_open_probes": 2, **kw})  # type: ignore[arg-type]
    return breaker_for(spec)


def test_breaker_waits_for_min_calls_then_opens_on_the_ratio():
    b = breaker()
    for t, ok in [(0.1, False), (0.2, False), (0.3, True)]:
        assert b.allow(t)
        b.record(t, ok)
    assert b.state is BreakerState.CLOSED  # 2 of 3 failed, but fewer than min_calls
    b.record(0.4, True)
    assert b.state is BreakerState.CLOSED  # 2 of 4: exactly the ratio ...
    b.record(0.5, False)
    assert b.state is BreakerState.OPEN    # ... 3 of 5 is above it
    assert not b.allow(5.4) and b.opens == 1


def test_breaker_forgets_failures_that_left_the_window():
    b = breaker(min_calls=3)
    b.record(0.5, False)
    b.record(0.6, False)
    b.record(11.0, False)  # ten seconds later the first two have left the window
    assert b.state is BreakerState.CLOSED and (b.total, b.failed) == (1, 1)


def test_breaker_half_opens_after_open_for_and_closes_after_enough_good_probes():
    b = breaker()
    for t in (1.0, 1.1, 1.2, 1.3):
        b.record(t, False)
    assert b.state is BreakerState.OPEN
    assert not b.allow(6.2)
    assert b.allow(6.4) and b.state is BreakerState.HALF_OPEN
    assert b.allow(6.4) and not b.allow(6.4)  # two probes at most
    b.record(6.5, True)
    assert b.state is BreakerState.HALF_OPEN
    b.record(6.6, True)
    assert b.state is BreakerState.CLOSED and b.allow(6.7)


def test_a_failed_probe_opens_the_breaker_again():
    b = breaker()
    for t in (1.0, 1.1, 1.2, 1.3):
        b.record(t, False)
    assert b.allow(6.4)
    b.record(6.5, False)
    assert b.state is BreakerState.OPEN and b.opens == 2 and not b.allow(11.4) and b.allow(11.6)


def test_the_emulator_breaker_configured_from_its_spec_acts_as_the_simulators():
    # One implementation serves both engines; this checks the emulator configures it from the
    # stack spec exactly as the simulator does from the topology (ratio, calls, window, open time, probes).
    from chaos.sim.kernel import Breaker as SimBreaker

    rng = random.Random(5)
    ours = breaker(min_calls=5, window_s=2.0, open_for_s=0.7)
    states: list[str] = []
    sim = SimBreaker(0.5, 5, 2.0, 0.7, 2, states.append)
    t = 0.0
    for _ in range(3000):
        t += rng.expovariate(20)
        allowed = ours.allow(t)
        assert allowed == sim.allow(t)
        if allowed:
            ok = rng.random() > (0.7 if (t // 5) % 2 else 0.1)  # alternating bad and good spells
            ours.record(t, ok, t)
            sim.record(t, ok, t)
        assert ours.state is sim.state
    assert ours.opens == states.count("open") > 3


# --------------------------------------------------------------------------- balancer


def test_round_robin_visits_every_replica_in_turn():
    lb = Balancer(3, LoadBalancing.ROUND_ROBIN, random.Random(1).random)
    assert [lb.pick(0.0) for _ in range(6)] == [0, 1, 2, 0, 1, 2]


def test_a_replica_that_refused_is_skipped_for_a_while_then_tried_again():
    lb = Balancer(3, LoadBalancing.ROUND_ROBIN, random.Random(1).random)
    lb.connection_failed(1, now=10.0)
    assert [lb.pick(10.5) for _ in range(4)] == [0, 2, 0, 2]
    assert 1 in [lb.pick(10.0 + HOLD_S) for _ in range(3)]


def test_when_every_replica_is_skipped_all_are_tried():
    lb = Balancer(2, LoadBalancing.RANDOM, random.Random(1).random)
    lb.connection_failed(0, 0.0)
    lb.connection_failed(1, 0.0)
    assert {lb.pick(0.5) for _ in range(50)} == {0, 1}


def test_least_outstanding_prefers_the_idlest_replica_and_rotates_ties():
    lb = Balancer(3, LoadBalancing.LEAST_OUTSTANDING, random.Random(1).random)
    lb.started(0)
    lb.started(0)
    lb.started(2)
    assert lb.pick(0.0) == 1
    lb.started(1)
    assert {lb.pick(0.0) for _ in range(4)} == {1, 2}  # tied at one each: taken in turn


# --------------------------------------------------------------------------- metrics


def test_histogram_buckets_exactly_as_the_simulator_recorder():
    from chaos.core.latency import bucketize  # the oracle
    from chaos.run import Cause as RunCause
    from chaos.run import latency_bounds

    bounds = latency_bounds((0.25, 0.8))
    rng = random.Random(3)
    xs = [rng.lognormvariate(-4, 2) for _ in range(5000)] + list(bounds[:50]) + [1e4]
    hist = Histogram(bounds)
    for x in xs:
        hist.add(x)
    expected = bucketize(sorted(xs), bounds)
    assert {i: c for i, c in enumerate(hist.counts) if c} == expected
    assert [c.value for c in Cause] == [c.value for c in RunCause]


# --------------------------------------------------------------------------- service times


@pytest.mark.parametrize("spec", [
    ServiceTime(Dist.CONSTANT, value=0.02),
    ServiceTime(Dist.EXPONENTIAL, mean=0.02),
    ServiceTime(Dist.LOGNORMAL, median=0.01, tail="p99", tail_s=0.08),
    ServiceTime(Dist.LOGNORMAL, median=0.01, tail="p90", tail_s=0.03),
])
def test_draws_have_the_mean_and_quantiles_of_the_model_distribution(spec):
    from chaos.live.stack.stackspec_build import service_time
    from chaos.model.distributions import Constant, Exponential, LogNormal  # the oracle

    model = {Dist.CONSTANT: lambda: Constant(spec.value), Dist.EXPONENTIAL: lambda: Exponential(spec.mean),
             Dist.LOGNORMAL: lambda: LogNormal(spec.median, **{spec.tail: spec.tail_s})}[spec.dist]()
    assert service_time(model) == spec  # the stack spec carries the model's distribution unchanged
    draw = sampler(spec, random.Random(11))
    xs = sorted(draw() for _ in range(40000))
    assert mean(spec) == pytest.approx(model.mean, rel=1e-12)
    sd = statistics.pstdev(xs)
    assert abs(statistics.fmean(xs) - model.mean) <= 4 * sd / math.sqrt(len(xs)) + 1e-12
    for q in (0.5, 0.9, 0.99):
        assert xs[int(q * len(xs))] == pytest.approx(model.quantile(q), rel=0.06)


class LateTimer:
    """A fake clock and a timer on it that fires ``late`` seconds after it was due."""

    def __init__(self, late: float) -> None:
        self.now = 0.0
        self.late = late

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds + (self.late if seconds > 0 else 0.0)


def test_sleeper_learns_the_timer_lateness_and_takes_it_off():
    timer = LateTimer(late=0.0011)
    sleeper = Sleeper(timer.clock, timer.sleep)

    async def took(seconds: float) -> float:
        start = timer.now
        await sleeper.sleep(seconds)
        return timer.now - start

    first = asyncio.run(took(0.006))
    assert first == pytest.approx(0.0071)  # nothing learned yet: late by the whole lateness
    for _ in range(40):
        asyncio.run(took(0.006))
    assert sleeper.lateness == pytest.approx(0.0011, abs=Sleeper.STEP)
    assert asyncio.run(took(0.006)) == pytest.approx(0.006, abs=Sleeper.STEP)
    short = {asyncio.run(took(0.0005)) for _ in range(20)}  # below the timer's resolution:
    assert min(short) == 0.0 and max(short) == pytest.approx(0.0011, abs=2 * Sleeper.STEP)  # a yield or the timer


@pytest.mark.parametrize("seconds", [0.001, 0.0005, 0.0002])
def test_a_sleep_shorter_than_the_lateness_is_right_on_average_and_keeps_it_learned(seconds):
    # The timer fires 0.9-1.1 ms late. A 1 ms constant once froze the estimate at 1 ms: every
    # sleep was then a bare yield, nothing measured the timer again, and the mean sleep was 0.
    timer = LateTimer(late=0.001)
    rng = random.Random(5)
    sleeper = Sleeper(timer.clock, timer.sleep)

    async def run(n: int) -> list[float]:
        took = []
        for _ in range(n):
            timer.late = rng.uniform(0.0009, 0.0011)
            start = timer.now
            await sleeper.sleep(seconds)
            took.append(timer.now - start)
        return took

    asyncio.run(run(200))  # learn
    assert sleeper.lateness == pytest.approx(0.001, abs=3 * Sleeper.STEP)
    took = asyncio.run(run(4000))
    assert statistics.fmean(took) == pytest.approx(seconds, rel=0.06)
    assert sleeper.lateness == pytest.approx(0.001, abs=3 * Sleeper.STEP)


def test_sleeper_follows_the_median_not_the_outliers():
    timer = LateTimer(late=0.001)
    sleeper = Sleeper(timer.clock, timer.sleep, random.Random(7))
    for i in range(200):
        timer.late = 0.030 if i % 5 == 0 else 0.001  # one sleep in five preempted for 30 ms
        asyncio.run(sleeper.sleep(0.01))
    assert sleeper.lateness == pytest.approx(0.001, abs=2 * Sleeper.STEP)


def test_the_haproxy_average_is_the_plain_mean_of_the_first_512_successes_then_slides_as_haproxy_computes_it():
    from chaos.live.in_container.emulator.metrics import AVERAGE_OVER, CallMetrics

    rand = random.Random(5)
    m = CallMetrics((0.01, 0.1))
    assert AVERAGE_OVER == 512  # HAProxy's TIME_STATS_SAMPLES, whatever its help text says (1024)
    seen = [rand.expovariate(20.0) for _ in range(AVERAGE_OVER)]
    for x in seen:
        m.success(x)
    m.failure(Cause.TIMEOUT, 9.0)  # failures are not in it
    assert m.average == pytest.approx(statistics.fmean(seen), rel=1e-9)
    expected = m.average
    for _ in range(3000):  # then each success moves it by a 512th of its distance: the old ones fade out
        x = rand.expovariate(2.0)
        m.success(x)
        expected = expected * (1 - 1 / AVERAGE_OVER) + x / AVERAGE_OVER
    assert m.average == pytest.approx(expected, rel=1e-9)
    assert 0.4 < m.average < 0.6  # mostly the new latencies (mean 0.5 s) after three windows
    # Two calls to one callee merged: their averages weighted by the successes each holds.
    other = CallMetrics((0.01, 0.1))
    other.success(1.0)
    merged = CallMetrics.merged([m, other])
    assert merged.average == pytest.approx((m.average * AVERAGE_OVER + 1.0) / (AVERAGE_OVER + 1), rel=1e-9)
