"""Oracle tests: the simulator against queueing theory (M/M/1, Erlang C, Little's law).

Each test runs one long seeded simulation, splits it into batches much longer than the
queue's autocorrelation time, and checks that the theoretical value lies inside the
batch-means confidence interval (see ``simkit.CONFIDENCE``). It also checks that the
interval is narrow, so a test cannot pass merely by being vague. Those width limits
are about twice the typical width measured over several seeds (M/M/1 mean about 6%,
its p99 about 12-17%, Erlang C waits 8-16%, Little's law 2-4%), so that a change of
seed or of the kernel's draw order does not trip them, while a test whose interval
grew twofold would.
"""

from __future__ import annotations

import math

import pytest
from simkit import (
    ENTRY,
    batches,
    call,
    entry_series,
    entry_totals,
    experiment,
    exponential,
    latency_sums,
    mean_estimate,
    mmc_wait,
    ratio_estimate,
    run,
    service_series,
    service_totals,
    svc,
    topology,
)

from chaos.model.slos import LatencyObjective, Slo
from chaos.run import count_above

BATCHES = 25

pytestmark = pytest.mark.slow


def test_mm1_mean_and_p99_response_time() -> None:
    # M/M/1, mu = 10/s, lambda = 8/s: the response time is exponential with rate
    # mu - lambda = 2/s, so W = 1/2 s and its 99th percentile is ln(100)/2 = 2.303 s.
    mu, lam = 10.0, 8.0
    w_theory = 1.0 / (mu - lam)
    p99_theory = math.log(100.0) / (mu - lam)
    # The p99 threshold is made an exact histogram bound (through an SLO), so the share of
    # responses slower than it is counted exactly, second by second.
    slo = Slo(entrypoint=ENTRY, latency=LatencyObjective(p99=p99_theory))
    # About 500,000 customers: at utilisation 0.8 the asymptotic variance of the mean
    # response time is roughly 20 s^2 per customer, so this gives a standard error near 1%.
    exp = experiment(topology(svc("s", exponential(1 / mu))), rate=lam, duration=62_600, warmup=100, slos=[slo])
    r = run(exp, seed=2024)
    series = entry_series(r)
    start = r.first_measured

    mean = ratio_estimate(batches(latency_sums(series)[start:], BATCHES), batches(series.ok[start:], BATCHES))
    assert mean.covers(w_theory), f"mean response time {mean}, theory {w_theory}"
    assert mean.half_width < 0.12 * w_theory, f"interval too wide to mean anything: {mean}"
    # The whole-run figure the result reports is the same estimate.
    assert entry_totals(r).mean_ms == pytest.approx(mean.mean * 1000, rel=1e-9)

    slow = [count_above(h, r.bounds, p99_theory) for h in series.hist[start:]]
    share = ratio_estimate(batches(slow, BATCHES), batches(series.ok[start:], BATCHES))
    assert share.covers(0.01), f"share slower than the theoretical p99: {share}"
    # The reported p99 is the sample quantile; near the true quantile q it moves by the
    # error of the exceedance share divided by the density there (Bahadur), and the
    # density of an exponential with rate 2 at its p99 is 2 * 0.01.
    density = (mu - lam) * 0.01
    p99 = (entry_totals(r).p99_ms or 0.0) / 1000
    assert abs(p99 - p99_theory) <= share.half_width / density, (p99, p99_theory, share)
    assert share.half_width / density < 0.3 * p99_theory


# (workers, utilisation): one case per level from 50% to 90%. Service takes 10 ms on
# average, so every simulated second holds hundreds of customers; Erlang C scales with
# 1/mu, so this is the textbook queue with time measured in hundredths of a second.
MMC_CASES = [(2, 0.5, 1500, 21), (4, 0.7, 1200, 22), (8, 0.8, 1000, 23), (8, 0.9, 1600, 24)]


@pytest.mark.parametrize(("workers", "rho", "duration", "seed"), MMC_CASES)
def test_mmc_mean_wait_matches_erlang_c(workers: int, rho: float, duration: float, seed: int) -> None:
    mu = 100.0
    lam = rho * workers * mu
    wq_theory = mmc_wait(workers, lam, mu)
    exp = experiment(topology(svc("s", exponential(1 / mu), workers=workers)), rate=lam,
                     duration=duration, warmup=20)
    # A seed per case: with one seed the cases would share their random draws (common
    # random numbers) and err in the same direction together.
    r = run(exp, seed=seed)
    series = service_series(r, "s")
    start = r.first_measured
    # The caller sees wait + service; the service part has mean 1/mu exactly.
    response = ratio_estimate(batches(latency_sums(series)[start:], BATCHES), batches(series.ok[start:], BATCHES))
    wait = response.mean - 1 / mu
    assert abs(wait - wq_theory) <= response.half_width, f"Wq {wait:.6f} vs Erlang C {wq_theory:.6f} ({response})"
    assert response.half_width < 0.25 * wq_theory, f"interval too wide for Wq {wq_theory}: {response}"

    # Second, independent route to the same number: the sampled queue length is
    # lambda * Wq by Little's law applied to the waiting room.
    queue = mean_estimate(batches(series.queue[start:], BATCHES))
    per_batch = (len(series.queue) - start) // BATCHES
    assert abs(queue.mean / per_batch - lam * wq_theory) <= queue.half_width / per_batch, (
        f"mean queue {queue.mean / per_batch:.4f} vs lambda*Wq {lam * wq_theory:.4f}")


def test_littles_law_holds_for_every_service() -> None:
    # front holds its worker while it calls back, so front's time in system includes
    # back's: L = lambda * W must hold for each service separately, with L the mean of
    # the sampled in-system count (queue + busy workers) and W the latency its callers see.
    # back is M/M/8 at 100 * 0.06 / 8 = 0.75 utilisation; front's workers are held for
    # 100 ms plus back's ~75 ms response, so 64 of them run about 30% busy. Long service
    # times keep many requests in each system, which makes the once-a-second samples of
    # the in-system count informative (their relative spread shrinks like 1/sqrt(L)).
    topo = topology(svc("front", exponential(0.1), workers=64, calls=[call("back")]),
                    svc("back", exponential(0.06), workers=8))
    r = run(experiment(topo, rate=100, duration=3000, warmup=20), seed=11)
    start = r.first_measured
    for name in ("front", "back"):
        series = service_series(r, name)
        seconds = len(series) - start
        in_system = [q + b for q, b in zip(series.queue[start:], series.busy[start:], strict=True)]
        sampled = batches(in_system, BATCHES)
        work = batches(latency_sums(series)[start:], BATCHES)  # seconds of time-in-system per batch
        per_batch = seconds // BATCHES
        # Paired per batch: mean sampled count minus (time in system)/(batch length). The
        # two estimate the same quantity, so their difference is centred on zero.
        diff = mean_estimate([(s - w) / per_batch for s, w in zip(sampled, work, strict=True)])
        totals = service_totals(r, name)
        little = totals.requests / seconds * (totals.mean_ms or 0.0) / 1000
        sampled_mean = sum(in_system) / seconds
        assert diff.covers(0.0), f"{name}: L {sampled_mean:.4f} vs lambda*W {little:.4f} ({diff})"
        assert diff.half_width < 0.075 * little, f"{name}: interval too wide: {diff}"
        assert sampled_mean == pytest.approx(little, abs=diff.half_width + 0.002 * little)
