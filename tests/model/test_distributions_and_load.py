"""Distributions and load profiles: closed forms against their definitions and against samples."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable

import pytest
from scipy import integrate, stats

from chaos.errors import InputError
from chaos.model.distributions import Constant, Exponential, LogNormal
from chaos.model.load import Ramp, RateCurve, Spike, Stage, Stages, Step

Z = stats.norm.ppf(0.99995)  # two-sided 99.99%: a seeded sample outside it means a changed formula
N = 200_000

LOGNORMALS = [LogNormal(median=0.02, p99=0.2), LogNormal(median=0.004, p95=0.03), LogNormal(median=3.0, p90=10.0),
              LogNormal(median=0.01, p99=0.01)]


@pytest.mark.parametrize("dist", LOGNORMALS, ids=str)
def test_lognormal_is_pinned_by_its_median_and_tail(dist: LogNormal) -> None:
    dist.validate()
    tail, q = next((getattr(dist, k), p) for k, p in (("p90", 0.90), ("p95", 0.95), ("p99", 0.99))
                   if getattr(dist, k) is not None)
    assert dist.quantile(0.5) == pytest.approx(dist.median, rel=1e-12)
    assert dist.quantile(q) == pytest.approx(tail, rel=1e-9)
    # scipy's lognorm with s = sigma and scale = median is the same law.
    ref = stats.lognorm(s=dist.sigma, scale=dist.median) if dist.sigma > 0 else None
    if ref is not None:
        assert dist.cdf(tail) == pytest.approx(q, abs=1e-9)
        assert dist.mean == pytest.approx(ref.mean(), rel=1e-12)
        for x in (dist.median / 3, dist.median, tail, tail * 2):
            assert dist.cdf(x) == pytest.approx(ref.cdf(x), abs=1e-12)
    else:  # median == tail: no spread at all
        assert dist.mean == pytest.approx(dist.median, rel=1e-12) and dist.cdf(dist.median) == 1.0


@pytest.mark.parametrize("dist", [LOGNORMALS[0], LOGNORMALS[1], Exponential(0.01), Exponential(2.0)], ids=str)
def test_samples_follow_the_distribution(dist: LogNormal | Exponential) -> None:
    draw = dist.sampler(random.Random(99))
    xs = [draw() for _ in range(N)]
    # Mean: the sample mean is within Z standard errors (the sample's own spread).
    assert abs(statistics.fmean(xs) - dist.mean) <= Z * statistics.stdev(xs) / math.sqrt(N)
    # Quantiles: the share below each theoretical quantile is binomial.
    for q in (0.5, 0.9, 0.99):
        below = sum(x <= dist.quantile(q) for x in xs) / N
        assert abs(below - q) <= Z * math.sqrt(q * (1 - q) / N), (q, below)


def test_exponential_closed_forms() -> None:
    d = Exponential(0.5)
    assert d.mean == 0.5
    assert d.quantile(0.99) == pytest.approx(0.5 * math.log(100), rel=1e-12)
    assert d.cdf(d.quantile(0.3)) == pytest.approx(0.3, rel=1e-12)
    assert d.cdf(0.0) == 0.0 and d.scaled(4) == Exponential(2.0)


def test_constant_and_scaling() -> None:
    draw = Constant(0.25).sampler(random.Random(1))
    assert {draw() for _ in range(100)} == {0.25}
    assert Constant(0.25).scaled(3).value == pytest.approx(0.75)
    scaled = LogNormal(median=0.02, p99=0.2).scaled(10)
    assert scaled.quantile(0.5) == pytest.approx(0.2) and scaled.quantile(0.99) == pytest.approx(2.0)


@pytest.mark.parametrize(("dist", "message"), [
    (LogNormal(median=0.02), "exactly one of p90, p95, p99 (got none)"),
    (LogNormal(median=0.02, p90=0.1, p99=0.2), "exactly one of p90, p95, p99 (got p90, p99)"),
    (LogNormal(median=0.02, p99=0.01), "p99 (0.01s) must not be below the median (0.02s)"),
])
def test_lognormal_refuses_an_incomplete_or_impossible_description(dist: LogNormal, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        dist.validate()


PROFILES = [
    (Ramp(from_=50, to=450, start=10, over=40), lambda t: 50 if t < 10 else 50 + 10 * (t - 10) if t < 50 else 450),
    (Step(rate=100, to=400, at=30.5), lambda t: 100 if t < 30.5 else 400),
    (Spike(rate=100, peak=500, at=20, for_=5.5), lambda t: 500 if 20 <= t < 25.5 else 100),
    (Stages(stages=(Stage(for_=10, rate=100), Stage(for_=20, rate=100, to=300), Stage(for_=10, rate=0))),
     lambda t: 100 if t < 10 else 100 + 10 * (t - 10) if t < 30 else 0),
]


@pytest.mark.parametrize(("profile", "rate"), PROFILES, ids=[type(p).__name__ for p, _ in PROFILES])
def test_rate_curve_integrates_the_profile(profile: Ramp | Step | Spike | Stages,
                                           rate: Callable[[float], float]) -> None:
    curve = RateCurve(profile.segments(60.0))
    for t in (0.0, 5.0, 10.0, 19.99, 20.0, 25.49, 25.5, 30.4, 30.5, 45.0, 59.9):
        assert curve.rate_at(t) == pytest.approx(rate(t), abs=1e-9), t
    for lo, hi in ((0, 60), (0, 10), (9.5, 10.5), (20, 25.5), (25, 35), (44.2, 51.7)):
        points = [x for x in (10, 20, 25.5, 30, 30.5, 50) if lo < x < hi]
        cuts = [lo, *points, hi]
        exact = sum(integrate.quad(rate, a, b)[0] for a, b in zip(cuts, cuts[1:], strict=False))
        assert curve.expected(lo, hi) == pytest.approx(exact, rel=1e-9, abs=1e-9), (lo, hi)
    assert curve.rate_at(60.0) == 0.0  # the run is over
