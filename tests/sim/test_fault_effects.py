"""What each fault kind does, checked on small scenarios against simulated times and counts.

Services here have constant service times and far more workers than requests in
flight, so without faults every latency is known exactly; a fault's effect is then
a matter of arithmetic.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

import pytest
from scipy import stats
from simkit import (
    CONFIDENCE,
    call,
    entry_series,
    entry_totals,
    experiment,
    exponential,
    fixed,
    run,
    service_series,
    service_totals,
    svc,
    topology,
)

from chaos.model.faults import ColdCache, ColdStart, Crash, Hang, Latency, PacketLoss, Partition, Slowdown
from chaos.model.load import Step
from chaos.model.topology import Service
from chaos.run import CAUSES, Cause, Series
from chaos.sim.simulation import Simulation

Z = stats.norm.ppf(0.5 + CONFIDENCE / 2)
MANY = 10_000  # workers: never a queue


def failures(s: Series, cause: Cause, lo: int = 0, hi: int | None = None) -> int:
    return sum(s.errors[cause][lo:hi])


def other_failures(s: Series, cause: Cause) -> int:
    return sum(sum(s.errors[c]) for c in CAUSES if c is not cause)


# --------------------------------------------------------------------------- hang


def test_hang_holds_requests_and_releases_them_when_it_ends() -> None:
    # 10 ms of work, hung from 20 s to 25 s, callers without a timeout, and no arrivals
    # after 25 s. Nothing is answered while hung; at 25 s every held request resumes,
    # so one that arrived at time a (from 19.99 s, still in work at 20 s) answers at
    # 25.01 s, with latency 25.01 - a.
    hang_at, hang_end, work = 20, 25, 0.01
    topo = topology(svc("s", fixed(work), workers=MANY))
    r = run(experiment(topo, load=Step(rate=50, to=0, at=hang_end), duration=30,
                       faults=[Hang(target="s", at=hang_at, duration=hang_end - hang_at)]))
    users, s = entry_series(r), service_series(r, "s")
    assert entry_totals(r).failed == 0 and service_totals(r, "s").failed == 0
    assert sum(users.ok[hang_at:hang_end]) == 0
    assert sum(s.requests[hang_at:hang_end]) > 150  # accepted while hung
    assert entry_totals(r).ok == entry_totals(r).requests  # every held request came back...
    held = users.ok[hang_end]
    assert held >= sum(users.requests[hang_at:hang_end])
    assert sum(users.ok[hang_end + 1:]) == 0  # ...all within the second the hang ended
    # Arrival times are uniform on [19.99, 25), so the mean latency is 25.01 minus their midpoint.
    first = hang_at - work
    expected = hang_end + work - (first + hang_end) / 2
    spread = (hang_end - first) / math.sqrt(12 * held)
    mean = (users.mean_ms[hang_end] or 0.0) / 1000
    assert abs(mean - expected) <= Z * spread, (mean, expected)
    assert (users.p99_ms[hang_end] or 0.0) / 1000 <= hang_end + work - first + 1e-9


def test_hang_times_callers_out_and_the_work_done_after_it_is_wasted() -> None:
    # With a 1 s timeout, requests that arrived more than 1 s before the hang ended time
    # out; the rest (arrived in its last second) wait it out and succeed. After the hang
    # the service still does the timed-out work, which nobody waits for any more.
    hang_at, hang_end = 20, 25
    topo = topology(svc("s", fixed(0.01), workers=MANY), timeout=1.0)
    r = run(experiment(topo, load=Step(rate=50, to=0, at=35), duration=40,
                       faults=[Hang(target="s", at=hang_at, duration=hang_end - hang_at)]))
    s = service_series(r, "s")
    timeouts = failures(s, Cause.TIMEOUT)
    arrived_early = sum(s.requests[hang_at:hang_end - 1])
    # Requests in work at the start of the hang (sent in its last 10 ms) also time out.
    assert arrived_early <= timeouts <= arrived_early + s.requests[hang_at - 1]
    assert other_failures(s, Cause.TIMEOUT) == 0
    assert service_totals(r, "s").wasted == timeouts
    assert sum(s.ok[hang_end:hang_end + 1]) >= sum(s.requests[hang_end - 1:hang_end])  # the last second's arrivals


# --------------------------------------------------------------------------- crash


def test_crash_fails_held_requests_and_shifts_load_to_survivors() -> None:
    # Three replicas behind round robin, 3000 requests/s of 50 ms each: 50 busy workers
    # per replica. Replica 0 crashes at 20 s for 10 s; the other two then get half the
    # traffic each, 75 busy workers. The requests replica 0 held fail at once.
    rate, work, crash_at, back_at = 3000.0, 0.05, 20, 30
    topo = topology(svc("s", fixed(work), workers=MANY, replicas=3))
    exp = experiment(topo, rate=rate, duration=40, faults=[Crash(target="s", replicas=1, at=crash_at,
                                                                  duration=back_at - crash_at)])
    sim = Simulation(exp)
    samples: dict[int, list[int]] = {}
    sim.observers.append(lambda second: samples.__setitem__(
        second + 1, [rep.busy for rep in sim.world.replicas_of("s")]))  # taken at time second + 1
    r = sim.run()

    s = service_series(r, "s")
    # The tick at 20 s samples before the crash at 20 s: what replica 0 held then fails.
    assert failures(s, Cause.CRASHED) == samples[crash_at][0] > 0
    assert failures(s, Cause.CRASHED, crash_at, crash_at + 1) == samples[crash_at][0]
    assert other_failures(s, Cause.CRASHED) == 0

    def busy(replica: int, times: range) -> tuple[float, float]:
        values = [samples[t][replica] for t in times]
        return statistics.fmean(values), statistics.stdev(values) / math.sqrt(len(values))

    before, during, after = range(2, crash_at + 1), range(crash_at + 1, back_at + 1), range(back_at + 1, 41)
    for replica in range(3):
        for times, share in ((before, 1 / 3), (after, 1 / 3), (during, 0.0 if replica == 0 else 1 / 2)):
            mean, se = busy(replica, times)
            # Work lasts 50 ms, so one second after a change the samples reflect it fully.
            expected = rate * share * work
            assert abs(mean - expected) <= Z * max(se, 0.5), (replica, times, mean, expected)


# --------------------------------------------------------------------------- network faults


def two_tier(timeout: float | None = 0.2) -> list[Service]:
    return [svc("front", fixed(0.001), workers=MANY, calls=[call("back", timeout=timeout)]),
            svc("back", fixed(0.001), workers=MANY)]


@pytest.mark.parametrize("target", ["front->back", "back"])
def test_partition_times_out_every_call_sent_during_it(target: str) -> None:
    start, end = 20, 30
    r = run(experiment(topology(*two_tier()), rate=100, duration=40,
                       faults=[Partition(target=target, at=start, duration=end - start)]))
    back, front, users = service_series(r, "back"), service_series(r, "front"), entry_series(r)
    sent = sum(back.requests[start:end])
    assert sent > 800
    # The caller gives up after its 200 ms timeout, so the failures land up to 0.2 s later.
    assert failures(back, Cause.TIMEOUT) == failures(back, Cause.TIMEOUT, start, end + 1) == sent
    assert other_failures(back, Cause.TIMEOUT) == 0
    # Each timed-out call fails its caller's request, and that the user's.
    assert failures(front, Cause.DEPENDENCY) == sent == entry_totals(r).failed
    assert sum(users.failed(i) for i in range(end + 1, len(users))) == 0  # healed


@pytest.mark.parametrize("target", ["front->back", "back"])
@pytest.mark.parametrize("ratio", [0.1, 0.3])
def test_packet_loss_times_out_the_expected_share_of_calls(target: str, ratio: float) -> None:
    start, end = 10, 50
    r = run(experiment(topology(*two_tier()), rate=200, duration=60,
                       faults=[PacketLoss(target=target, ratio=ratio, at=start, duration=end - start)]))
    back = service_series(r, "back")
    sent = sum(back.requests[start:end])
    lost = failures(back, Cause.TIMEOUT)
    assert failures(back, Cause.TIMEOUT, 0, start) == 0 and other_failures(back, Cause.TIMEOUT) == 0
    # Each call is lost independently: binomial.
    assert abs(lost / sent - ratio) <= Z * math.sqrt(ratio * (1 - ratio) / sent), (lost / sent, ratio)


# --------------------------------------------------------------------------- latency and service time


@pytest.mark.parametrize("target", ["front->back", "back"])
def test_latency_fault_adds_its_delay_to_what_the_caller_sees(target: str) -> None:
    # back answers in 1 ms; a 100 ms delay on its responses makes the call 101 ms, and
    # the user's request (front's 1 ms + the call) 102 ms, exactly.
    start, end, delay = 20, 40, 0.1
    r = run(experiment(topology(*two_tier(timeout=None)), rate=100, duration=50,
                       faults=[Latency(target=target, delay=delay, at=start, duration=end - start)]))
    back, users = service_series(r, "back"), entry_series(r)
    for second in range(start + 1, end - 1):  # seconds whose requests all saw the fault
        assert back.p50_ms[second] == pytest.approx((0.001 + delay) * 1000, abs=1e-6)
        assert back.p99_ms[second] == pytest.approx((0.001 + delay) * 1000, abs=1e-6)
        assert users.mean_ms[second] == pytest.approx((0.002 + delay) * 1000, abs=1e-6)
    for second in list(range(1, start)) + list(range(end + 1, 50)):
        assert users.mean_ms[second] == pytest.approx(2.0, abs=1e-6)


def test_latency_jitter_spreads_the_delay_uniformly() -> None:
    start, end, delay, jitter = 10, 50, 0.1, 0.04
    r = run(experiment(topology(*two_tier(timeout=None)), rate=200, duration=60,
                       faults=[Latency(target="back", delay=delay, jitter=jitter, at=start, duration=end - start)]))
    back = service_series(r, "back")
    seconds = range(start + 1, end - 1)
    n = sum(back.ok[i] for i in seconds)
    mean = sum((back.mean_ms[i] or 0.0) * back.ok[i] for i in seconds) / n / 1000
    se = jitter / math.sqrt(3) / math.sqrt(n)  # uniform on [delay - jitter, delay + jitter]
    assert abs(mean - (0.001 + delay)) <= Z * se
    assert min(back.p50_ms[i] or 0.0 for i in seconds) >= (0.001 + delay - jitter) * 1000
    assert max(back.p99_ms[i] or 0.0 for i in seconds) <= (0.001 + delay + jitter) * 1000


def test_slowdown_multiplies_service_time() -> None:
    # Exponential 10 ms at 100 requests/s with unlimited workers: the latency is the
    # service time itself, mean 10 ms, and 30 ms while slowed down threefold.
    start, end, factor, mean_s = 20, 60, 3.0, 0.01
    topo = topology(svc("s", exponential(mean_s), workers=MANY))
    r = run(experiment(topo, rate=100, duration=80, faults=[Slowdown(target="s", factor=factor, at=start,
                                                                       duration=end - start)]))
    s = service_series(r, "s")

    def mean_latency(seconds: range) -> tuple[float, int]:
        n = sum(s.ok[i] for i in seconds)
        return sum((s.mean_ms[i] or 0.0) * s.ok[i] for i in seconds) / n / 1000, n

    for seconds, expected in ((range(1, start), mean_s), (range(start + 1, end), mean_s * factor),
                              (range(end + 1, 80), mean_s)):
        mean, n = mean_latency(seconds)
        assert abs(mean - expected) <= Z * expected / math.sqrt(n), (seconds, mean, expected)


# --------------------------------------------------------------------------- cold start


def cold_curve(work: float, factor: float, decay: float, since: float) -> Callable[[float], float]:
    return lambda t: work * (1 + (factor - 1) * math.exp(-(t - since) / decay))


def assert_follows(series: Series, curve: Callable[[float], float], first: int, last: int) -> None:
    # The slowdown decays with the time work starts, which here is the arrival time, so
    # the mean latency of a second lies between the curve at its end and at its start.
    for second in range(first, last):
        mean = (series.mean_ms[second] or 0.0) / 1000
        assert curve(second + 1) - 1e-12 <= mean <= curve(second) + 1e-12, (second, mean)
    # And it does decay: well above the warm time at first, back to it at the end.
    assert (series.mean_ms[first] or 0.0) / 1000 > 2 * curve(1e9)


def test_cold_start_raises_service_time_and_decays() -> None:
    work, factor, decay, at = 0.01, 3.0, 10.0, 20
    topo = topology(svc("s", fixed(work), workers=MANY))
    r = run(experiment(topo, rate=100, duration=90, faults=[ColdStart(target="s", factor=factor, decay=decay, at=at)]))
    s = service_series(r, "s")
    assert all(m == pytest.approx(work * 1000, abs=1e-9) for m in s.mean_ms[1:at])
    assert_follows(s, cold_curve(work, factor, decay, at), at, 90)
    assert (s.mean_ms[89] or 0.0) / 1000 == pytest.approx(work, rel=0.01)  # 7 decay times later


def test_replica_restarted_after_a_crash_starts_cold() -> None:
    work, factor, decay = 0.01, 4.0, 5.0
    topo = topology(svc("s", fixed(work), workers=MANY))
    crash = Crash(target="s", at=10, duration=5, cold_start=ColdCache(factor=factor, decay=decay))
    r = run(experiment(topo, rate=100, duration=50, faults=[crash]))
    s = service_series(r, "s")
    # Down from 10 s to 15 s: every request is refused, plus the ones in work at 10 s.
    assert sum(s.ok[10:15]) == 0
    assert sum(s.requests[10:15]) <= failures(s, Cause.CRASHED, 10, 15) <= sum(s.requests[9:15])
    assert_follows(s, cold_curve(work, factor, decay, 15), 15, 50)
