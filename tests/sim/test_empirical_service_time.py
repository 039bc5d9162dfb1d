"""An empirical service time (a list of observed durations) in both engines, checked against theory.

The samples are a two-humped mix (most requests fast, some ten times slower) that no model
distribution describes: what ``chaoslab topology from-traces`` writes as an empirical
distribution. The simulator must reproduce the samples' quantiles (a Kolmogorov-Smirnov bound
on every latency it kept), an M/G/1 queue fed by them must wait what Pollaczek-Khinchine says,
and the live emulator must draw the same durations from the same stream.
"""

from __future__ import annotations

import math
import random

import pytest
from simkit import batches, entry_series, experiment, latency_sums, ratio_estimate, run, service_series, svc, topology

from chaos.core.servicetime import empirical_cdf
from chaos.live.in_container.emulator import servicetime as emulator_servicetime
from chaos.live.stack.stackspec_build import service_time as stack_service_time
from chaos.model.distributions import Empirical

BATCHES = 25
KS_1_PERCENT = 1.63  # the Kolmogorov-Smirnov critical value at 1%, times sqrt(n)


def two_humps(n: int, seed: int) -> tuple[float, ...]:
    """``n`` durations: 85% lognormal around 4 ms, 15% around 40 ms."""
    rng = random.Random(seed)
    return tuple(rng.lognormvariate(math.log(0.004 if rng.random() < 0.85 else 0.04), 0.3) for _ in range(n))


SAMPLES = two_humps(400, 7)


def test_the_samples_are_drawn_by_inverse_cdf_between_them() -> None:
    dist = Empirical(SAMPLES)
    points = sorted(SAMPLES)
    assert dist.quantile(0.0) == points[0] and dist.quantile(1.0) == points[-1]
    # The quantile at k/(n-1) is the k-th smallest sample; between two, it is interpolated.
    assert dist.quantile(100 / 399) == pytest.approx(points[100], rel=1e-12)
    assert dist.quantile(100.5 / 399) == pytest.approx((points[100] + points[101]) / 2, rel=1e-12)
    for q in (0.01, 0.3, 0.5, 0.77, 0.99):
        assert dist.cdf(dist.quantile(q)) == pytest.approx(q, abs=1e-12)
    # The mean of a uniform between each pair of neighbours: the end samples count half.
    assert dist.mean == pytest.approx((sum(points) - (points[0] + points[-1]) / 2) / 399, rel=1e-12)
    draws = [dist.sampler(random.Random(3))() for _ in range(2000)]
    assert min(draws) >= points[0] and max(draws) <= points[-1]


def test_simulated_service_times_reproduce_the_samples_quantiles() -> None:
    # Enough workers that nobody queues: every latency is one service time, and the simulator keeps them all.
    r = run(experiment(topology(svc("s", Empirical(SAMPLES), workers=200)), rate=200, duration=200), seed=5)
    series = entry_series(r)
    assert series.samples is not None
    latencies = sorted(series.samples.values)
    n = len(latencies)
    assert n > 35_000
    points = Empirical(SAMPLES).points
    ks = max(max(abs((i + 1) / n - empirical_cdf(points, x)), abs(i / n - empirical_cdf(points, x)))
             for i, x in enumerate(latencies))
    assert ks <= KS_1_PERCENT / math.sqrt(n), f"KS distance {ks:.4f} over {n} draws"
    for q in (0.5, 0.9, 0.99):
        simulated = latencies[math.ceil(q * n) - 1]
        # A quantile moves by the KS bound times the spread of the distribution around it at most.
        lo, hi = Empirical(SAMPLES).quantile(q - 0.01), Empirical(SAMPLES).quantile(min(1.0, q + 0.01))
        assert lo <= simulated <= hi, (q, simulated, lo, hi)


@pytest.mark.slow
def test_an_mg1_queue_with_empirical_service_waits_what_pollaczek_khinchine_says() -> None:
    # M/G/1: Wq = lambda E[S^2] / (2 (1 - rho)). The two humps make E[S^2] about 3.5 times E[S]^2,
    # against 2 for an exponential, so an engine drawing the wrong shape would be far off.
    dist = Empirical(SAMPLES)
    rho = 0.6
    lam = rho / dist.mean
    wq_theory = lam * dist.second_moment / (2 * (1 - rho))
    assert dist.second_moment > 3 * dist.mean ** 2
    r = run(experiment(topology(svc("s", dist)), rate=lam, duration=8_000, warmup=50), seed=17)
    series = service_series(r, "s")
    start = r.first_measured
    response = ratio_estimate(batches(latency_sums(series)[start:], BATCHES), batches(series.ok[start:], BATCHES))
    wait = response.mean - dist.mean
    assert abs(wait - wq_theory) <= response.half_width, f"Wq {wait:.6f} vs P-K {wq_theory:.6f} ({response})"
    assert response.half_width < 0.2 * wq_theory, f"interval too wide for Wq {wq_theory}: {response}"


def test_the_emulator_draws_the_same_durations_from_the_same_stream() -> None:
    dist = Empirical(SAMPLES)
    spec = stack_service_time(dist)
    simulator, emulator = dist.sampler(random.Random(11)), emulator_servicetime.sampler(spec, random.Random(11))
    assert [simulator() for _ in range(1000)] == [emulator() for _ in range(1000)]
    assert emulator_servicetime.mean(spec) == dist.mean
