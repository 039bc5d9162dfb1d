"""The streaming histogram and the fits, checked against exact computations (sorted samples, scipy)."""

from __future__ import annotations

import math
import random

import pytest
from scipy import stats

from chaos.model.distributions import Constant, Exponential, LogNormal
from chaos.traces.fit import fit_times
from chaos.traces.histogram import LogHistogram


def sample(n: int, seed: int = 3) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(math.log(0.004), 0.8) for _ in range(n)]


def filled(values: list[float]) -> LogHistogram:
    hist = LogHistogram()
    for v in values:
        hist.add(v)
    return hist


def test_quantiles_lie_within_half_a_percent_of_the_exact_ones() -> None:
    values = sample(20_000)
    hist = filled(values)
    ordered = sorted(values)
    for q in (0.01, 0.1, 0.5, 0.9, 0.99, 0.999):
        exact = ordered[max(0, math.ceil(q * len(ordered)) - 1)]
        assert hist.quantile(q) == pytest.approx(exact, rel=0.005)
    assert (hist.low, hist.high, hist.count) == (ordered[0], ordered[-1], len(values))
    assert hist.mean == pytest.approx(sum(values) / len(values))


def test_signed_values_and_merging() -> None:
    values = [-0.003, -0.001, 0.0, 0.0, 0.002, 0.004]
    hist = filled(values[:3])
    hist.merge(filled(values[3:]))
    assert [round(hist.quantile(q), 5) for q in (1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1)] == \
        [-0.003, -0.001, 0.0, 0.0, 0.002, 0.004]


def test_ks_distance_agrees_with_scipy() -> None:
    values = sample(5_000)
    hist = filled(values)
    for dist, scipy_cdf in [
        (LogNormal(median=0.004, p99=0.004 * math.exp(0.8 * 2.3263)), stats.lognorm(0.8, scale=0.004).cdf),
        (Exponential(0.005), stats.expon(scale=0.005).cdf),
    ]:
        exact = stats.kstest(values, scipy_cdf).statistic
        assert hist.ks_distance(dist.cdf) == pytest.approx(exact, abs=0.005)


def test_the_lognormal_fit_is_the_maximum_likelihood_one() -> None:
    values = sample(3_000)
    fitted = fit_times(filled(values))
    best = fitted.best
    assert best is not None and isinstance(best.distribution, LogNormal) and fitted.good
    shape, _, scale = stats.lognorm.fit(values, floc=0)
    assert best.distribution.median == pytest.approx(scale, rel=1e-9)
    assert best.distribution.sigma == pytest.approx(shape, rel=1e-6)
    assert [f.kind for f in fitted.fits] == ["lognormal", "exponential"]


def test_exponential_data_picks_the_exponential_and_a_constant_is_a_constant() -> None:
    rng = random.Random(5)
    fitted = fit_times(filled([rng.expovariate(1 / 0.01) for _ in range(3_000)]))
    assert fitted.best is not None and isinstance(fitted.best.distribution, Exponential) and fitted.good
    jittered = fit_times(filled([0.005 * (1 + rng.uniform(-0.004, 0.004)) for _ in range(100)]))
    assert jittered.best is not None and isinstance(jittered.best.distribution, Constant) and jittered.good
    assert jittered.best.distribution.value == pytest.approx(0.005, rel=0.005)


def test_a_bimodal_mixture_fits_nothing_and_keeps_its_quantiles() -> None:
    rng = random.Random(9)
    values = [rng.lognormvariate(math.log(0.002), 0.2) if rng.random() < 0.7 else 0.2 for _ in range(2_000)]
    fitted = fit_times(filled(values))
    assert not fitted.good
    table = {q.q: q.value for q in fitted.empirical}
    assert table[0.5] == pytest.approx(sorted(values)[999], rel=0.005)
    assert table[1.0] == 0.2
