"""How a request moves: call stages, optional calls, fallbacks, timeouts, backoff, queues.

Deterministic scenarios are checked exactly; random ones against a closed form
(binomial shares, M/M/1/K blocking, the work-conservation of queue disciplines).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from scipy import stats
from simkit import (
    CONFIDENCE,
    ENTRY,
    batches,
    entry_totals,
    experiment,
    exponential,
    fixed,
    ratio_estimate,
    run,
    service_series,
    service_totals,
    svc,
    topology,
)

from chaos.errors import InputError
from chaos.model.faults import Errors
from chaos.model.files import load_topology
from chaos.model.live_limits import generated_problems
from chaos.model.load import Step
from chaos.model.topology import (
    Backoff,
    Call,
    CallMode,
    Entrypoint,
    Jitter,
    Queue,
    QueueDiscipline,
    Retries,
    Service,
    Topology,
)
from chaos.run import Cause

Z = stats.norm.ppf(0.5 + CONFIDENCE / 2)
MANY = 10_000


@pytest.mark.parametrize(("mode", "expected_ms"), [(CallMode.PARALLEL, 2 + max(10, 30)),
                                                    (CallMode.SEQUENTIAL, 2 + 10 + 30)])
def test_parallel_calls_take_the_longest_and_sequential_ones_the_sum(mode: CallMode, expected_ms: float) -> None:
    # The worker holds the request for its own 2 ms and then for its calls.
    front = svc("front", fixed(0.002), workers=MANY, calls=[Call(to="b", mode=mode), Call(to="c", mode=mode)])
    topo = topology(front, svc("b", fixed(0.010), workers=MANY), svc("c", fixed(0.030), workers=MANY))
    r = run(experiment(topo, load=Step(rate=50, to=0, at=18), duration=20))  # all done by the end
    for figure in ("mean_ms", "p50_ms", "p99_ms"):
        assert getattr(entry_totals(r), figure) == pytest.approx(expected_ms, abs=1e-6)
    assert service_totals(r, "b").requests == service_totals(r, "c").requests == service_totals(r, "front").requests


def test_an_optional_call_is_made_with_its_probability_and_a_fallback_hides_its_failure() -> None:
    # front calls extra for 30% of requests; extra always fails, but front falls back,
    # so users see no error and front counts each fallback as degraded.
    extra = Call(to="extra", probability=0.3, fallback=True)
    topo = topology(svc("front", fixed(0.001), workers=MANY, calls=[extra]), svc("extra", fixed(0.001), workers=MANY))
    r = run(experiment(topo, rate=400, duration=30, faults=[Errors(target="extra", ratio=1.0)]))
    n = service_totals(r, "front").requests
    made = service_totals(r, "extra").requests
    assert abs(made / n - 0.3) <= Z * math.sqrt(0.3 * 0.7 / n)
    assert service_totals(r, "front").degraded == made
    assert entry_totals(r).failed == 0 and service_totals(r, "front").failed == 0


def test_backoff_delays_retries_by_base_doubling_up_to_the_cap() -> None:
    # Attempts fail at once with probability 1/2; without jitter the retries wait 100,
    # 200 and 250 ms (capped), so a request that succeeds on attempt k took 1 ms plus
    # the first k - 1 delays: 1, 101, 301 or 551 ms, and nothing else.
    backoff = Backoff(base=0.1, cap=0.25, jitter=Jitter.NONE)
    topo = Topology(name="t", services=(svc("leaf", fixed(0.001), workers=MANY),),
                    entrypoints=(Entrypoint(name=ENTRY, to="leaf", retries=Retries(max=3, backoff=backoff)),))
    r = run(experiment(topo, rate=300, duration=30, faults=[Errors(target="leaf", ratio=0.5)]))
    latencies = [0.001, 0.101, 0.301, 0.551]
    weights = [0.5 ** k for k in range(1, 5)]  # P(success on attempt k) = (1/2)^k
    share = [w / sum(weights) for w in weights]  # among successful requests
    mean = sum(x * s for x, s in zip(latencies, share, strict=True))
    sd = math.sqrt(sum((x - mean) ** 2 * s for x, s in zip(latencies, share, strict=True)))
    totals = entry_totals(r)
    assert abs((totals.mean_ms or 0) / 1000 - mean) <= Z * sd / math.sqrt(totals.ok)
    # 8/15 succeed at once, 12/15 by the second try, 14/15 (93%) by the third.
    assert totals.p50_ms == pytest.approx(1.0, abs=1e-6)
    assert totals.p95_ms == pytest.approx(551.0, abs=1e-6) and totals.p99_ms == pytest.approx(551.0, abs=1e-6)


@pytest.mark.parametrize("jitter", [Jitter.FULL, Jitter.EQUAL])
def test_jittered_backoff_spreads_the_delay(jitter: Jitter) -> None:
    # Leaf fails half the time; successes on the second attempt waited one backoff of
    # 200 ms: uniform on [0, 200] ms with full jitter, on [100, 200] ms with equal jitter.
    backoff = Backoff(base=0.2, cap=1.0, jitter=jitter)
    topo = Topology(name="t", services=(svc("leaf", fixed(0.001), workers=MANY),),
                    entrypoints=(Entrypoint(name=ENTRY, to="leaf", retries=Retries(max=1, backoff=backoff)),))
    r = run(experiment(topo, rate=400, duration=30, faults=[Errors(target="leaf", ratio=0.5)]))
    lo = 0.0 if jitter is Jitter.FULL else 0.1
    # Successes: half immediate (1 ms), a quarter after one uniform delay on [lo, 0.2].
    totals = entry_totals(r)
    expected = (0.5 * 0.001 + 0.25 * (0.001 + (lo + 0.2) / 2)) / 0.75
    spread = math.sqrt((0.5 * 0.001 ** 2 + 0.25 * ((0.001 + lo) ** 2 + (0.001 + lo) * 0.201 + 0.201 ** 2) / 3) / 0.75
                       - expected ** 2)
    assert abs((totals.mean_ms or 0) / 1000 - expected) <= Z * spread / math.sqrt(totals.ok)
    assert (totals.p99_ms or 0) <= 201.0 + 1e-6


@pytest.mark.parametrize("cancel", [False, True])
def test_timeouts_and_abandoned_work(cancel: bool) -> None:
    # back's exponential service (mean 50 ms) outlasts front's 50 ms timeout with
    # probability exp(-1). Without cancellation back finishes that work anyway (wasted)
    # and keeps a worker busy for the whole service time: 200/s * 50 ms = 10 on average.
    # With cancellation it stops at the timeout: 200/s * E[min(S, 50 ms)] = 10 (1 - 1/e).
    topo = topology(svc("front", fixed(0.001), workers=MANY,
                        calls=[Call(to="back", timeout=0.05, cancel_on_timeout=cancel)]),
                    svc("back", exponential(0.05), workers=MANY))
    r = run(experiment(topo, load=Step(rate=200, to=0, at=60), duration=62))
    back = service_totals(r, "back")
    share = back.errors[Cause.TIMEOUT] / back.requests
    assert abs(share - math.exp(-1)) <= Z * math.sqrt(math.exp(-1) * (1 - math.exp(-1)) / back.requests)
    assert back.wasted == (0 if cancel else back.errors[Cause.TIMEOUT])
    busy = service_series(r, "back").busy[5:55]
    expected = 200 * 0.05 * ((1 - math.exp(-1)) if cancel else 1.0)
    # Busy workers at a moment are Poisson (an M/G/infinity count), sampled once a second.
    assert abs(sum(busy) / len(busy) - expected) <= Z * math.sqrt(expected / len(busy))


@pytest.mark.slow
@pytest.mark.parametrize(("capacity", "duration"), [(1, 300), (3, 600), (10, 1500)])  # rarer: longer
def test_a_full_queue_rejects_with_the_mm1k_blocking_probability(capacity: int, duration: float) -> None:
    # One worker and room for capacity - 1 waiting: M/M/1/K, which turns away a share
    # (1 - rho) rho^K / (1 - rho^(K+1)) of arrivals (PASTA). Rejections come in runs
    # while the queue is full, so the error is taken from batch means, not a binomial.
    mu, lam = 100.0, 90.0
    rho = lam / mu
    blocking = (1 - rho) * rho ** capacity / (1 - rho ** (capacity + 1))
    r = run(experiment(topology(svc("s", exponential(1 / mu), queue=capacity - 1)), rate=lam, duration=duration))
    s = service_series(r, "s")
    share = ratio_estimate(batches(s.errors[Cause.REJECTED], 25), batches(s.requests, 25))
    assert share.covers(blocking), (share, blocking)
    assert share.half_width < 0.25 * blocking  # measured: 3% (K=1) to 13% (K=10)
    assert service_totals(r, "s").failed == sum(s.errors[Cause.REJECTED])


@pytest.mark.slow
def test_lifo_has_the_same_mean_and_a_longer_tail() -> None:
    # Any work-conserving discipline has the same number in system at every moment,
    # hence (Little) the same mean response time, on the very same arrivals and service
    # draws; newest-first leaves the unlucky ones waiting much longer.
    means, tails = {}, {}
    for disc in (QueueDiscipline.FIFO, QueueDiscipline.LIFO):
        topo = topology(Service(name="s", service_time=exponential(0.01), queue=Queue(limit=100_000, discipline=disc)))
        totals = service_totals(run(experiment(topo, load=Step(rate=80, to=0, at=600), duration=620), seed=3), "s")
        means[disc], tails[disc] = totals.mean_ms, totals.p99_ms
    assert means[QueueDiscipline.LIFO] == pytest.approx(means[QueueDiscipline.FIFO], rel=1e-9)
    assert (tails[QueueDiscipline.LIFO] or 0) > 2 * (tails[QueueDiscipline.FIFO] or 0)


def test_queue_shedding_bounds_the_wait_and_keeps_the_server_busy() -> None:
    # Offered 20/s to a server that does 10/s (constant 100 ms): the queue never empties,
    # so it completes exactly 10 a second, and shedding requests that waited over 500 ms
    # keeps every successful response within 500 + 100 ms.
    topo = topology(Service(name="s", service_time=fixed(0.1), queue=Queue(limit=100_000, max_wait=0.5)))
    r = run(experiment(topo, rate=20, duration=60))
    s = service_series(r, "s")
    assert sum(s.ok[10:60]) == pytest.approx(500, abs=1)
    assert max(v for v in s.p99_ms if v is not None) <= 600 + 1e-6
    assert service_totals(r, "s").errors[Cause.REJECTED] > 0.4 * service_totals(r, "s").requests


def _two_parallel_stages(separate: bool) -> Topology:
    """front calls a and b together, then c and d together (the second stage written apart when ``separate``)."""
    plan = [Call(to="a", mode=CallMode.PARALLEL), Call(to="b", mode=CallMode.PARALLEL),
            Call(to="c", mode=CallMode.PARALLEL, new_stage=separate), Call(to="d", mode=CallMode.PARALLEL)]
    return topology(svc("front", fixed(0.0), workers=MANY, calls=plan),
                    *(svc(name, exponential(0.010), workers=MANY) for name in "abcd"))


@pytest.mark.parametrize(("separate", "expected_ms"), [
    # E[max of k independent exponentials of mean m] = m (1 + 1/2 + ... + 1/k)
    (True, 2 * 10 * (1 + 1 / 2)),                   # two stages: the sum of two maxima of two, 30 ms
    (False, 10 * (1 + 1 / 2 + 1 / 3 + 1 / 4)),      # one stage: the maximum of four, 20.8 ms
])
def test_two_parallel_stages_written_apart_take_the_sum_of_their_maxima(separate: bool, expected_ms: float) -> None:
    r = run(experiment(_two_parallel_stages(separate), load=Step(rate=100, to=0, at=118), duration=120))
    entry = entry_totals(r)
    # each request's latency is a max or sum of exponentials: its sd is below 2.5 x the 10 ms mean
    assert entry.failed == 0 and entry.requests > 10_000
    assert abs(entry.mean_ms - expected_ms) <= Z * 25 / math.sqrt(entry.requests), (entry.mean_ms, expected_ms)
    assert service_totals(r, "d").requests == service_totals(r, "a").requests == entry.requests


def test_new_stage_is_read_from_yaml_refused_on_a_sequential_call_and_carried_to_a_live_stack(
        tmp_path: Path) -> None:
    text = """\
name: t
entrypoints: {web: {to: front}}
services:
  front:
    service_time: 1ms
    calls:
      - {to: a, mode: parallel}
      - {to: b, mode: parallel}
      - {to: c, mode: parallel, new_stage: true}
      - {to: d, mode: parallel}
  a: {service_time: 1ms}
  b: {service_time: 1ms}
  c: {service_time: 1ms}
  d: {service_time: 1ms}
"""
    path = tmp_path / "t.yaml"
    path.write_text(text)
    topo = load_topology(path)
    assert [[c.to for c in group] for group in topo.service("front").stages()] == [["a", "b"], ["c", "d"]]
    assert generated_problems(topo) == []  # the emulator keeps the stages apart too
    from chaos.live.stack.stackspec_build import build

    spec = build(topo, (0.1,), lambda caller, callee, n: (f"http://{callee}:8080", f"{caller}-{callee}"))
    assert [[c.to for c in g] for g in spec.service("front").stages()] == [["a", "b"], ["c", "d"]]
    assert spec.service("front").to_json()["calls"][2]["new_stage"] is True
    assert "new_stage" not in spec.service("front").to_json()["calls"][3]  # written only where set
    path.write_text(text.replace("{to: c, mode: parallel, new_stage: true}", "{to: c, new_stage: true}"))
    with pytest.raises(InputError) as info:
        load_topology(path)
    assert "t.yaml:9:" in str(info.value) and "a sequential call is a stage of its own already" in str(info.value)
