"""Fitting work times to the model's distributions, with the quality of each fit stated.

Candidates are the model's own kinds (chaos/model/distributions.py): a constant, an
exponential (maximum likelihood: the mean) and a lognormal (maximum likelihood: the mean and
standard deviation of the logarithms, written as the model writes it, by median and p99).
A constant is proposed only when p1 to p99 lie within 2% of the median, and is then taken.
Each is judged by its Kolmogorov-Smirnov distance to the observed values and by its p50, p90
and p99 against the observed ones. A fit is good enough when its distance is at most
``max(0.05, 1.63/sqrt(n))``: 1.63/sqrt(n) is the 1% critical value of the KS test, and below
a few hundred samples nothing finer can be told; above, 0.05 keeps real, never exactly
lognormal, data from failing a test that large samples always fail. Below ``MIN_SAMPLES``
no fit is called good. When none is good enough (and there are at least ``MIN_SAMPLES``), the
model's empirical distribution stands in: the observed quantiles at every percent, p0 to p100,
which the model draws by inverse CDF between them, so every percentile is the observed one
(to the histogram's half a percent).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from chaos.model.distributions import AnyDistribution, Constant, Empirical, Exponential, LogNormal
from chaos.traces.histogram import LogHistogram

HOP_IGNORED = 0.02  # a per-hop overhead below 2% of the median is left out rather than reshape a fit
KS_FLOOR = 0.05
MIN_SAMPLES = 20  # below this no fit is judged good: a KS test of a handful of values accepts anything
CONSTANT_SPREAD = 0.02  # p1 to p99 within 2% of the median: a constant (jitter of a timer, not a distribution)
EMPIRICAL_POINTS = 101  # the quantiles p0, p1, ..., p100 an empirical distribution is written with
EMPIRICAL_QUANTILES = (0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0)
_Z99 = NormalDist().inv_cdf(0.99)


@dataclass(frozen=True)
class Summary:
    """Observed figures of a set of durations, in seconds."""

    count: int
    mean: float
    p50: float
    p90: float
    p99: float

    @classmethod
    def of(cls, hist: LogHistogram) -> Summary:
        return cls(hist.count, hist.mean, hist.quantile(0.5), hist.quantile(0.9), hist.quantile(0.99))


@dataclass(frozen=True)
class Fit:
    distribution: AnyDistribution
    ks: float
    p50: float
    p90: float
    p99: float

    @property
    def kind(self) -> str:
        return type(self.distribution).TAG


@dataclass(frozen=True)
class Quantile:
    q: float
    value: float


@dataclass(frozen=True)
class FittedTimes:
    """A set of durations, its candidate fits (best first), and its empirical quantiles."""

    observed: Summary
    zeros: int
    fits: tuple[Fit, ...]
    threshold: float
    empirical: tuple[Quantile, ...]

    @property
    def best(self) -> Fit | None:
        """A constant when the values barely vary (its KS distance to jittered values means nothing), else the
        candidate nearest in KS distance."""
        for fit in self.fits:
            if isinstance(fit.distribution, Constant):
                return fit
        return self.fits[0] if self.fits else None

    @property
    def good(self) -> bool:
        best = self.best
        if best is None or self.observed.count < MIN_SAMPLES:
            return False
        return isinstance(best.distribution, Constant) or best.ks <= self.threshold


def shifted(dist: AnyDistribution, hop: float) -> tuple[AnyDistribution, bool]:
    """``dist`` moved by ``hop`` seconds (median and p99 both); True when its kind had to change for it."""
    median = dist.quantile(0.5)
    if hop <= HOP_IGNORED * median:
        return dist, False
    if isinstance(dist, Constant):
        return Constant(dist.value + hop), False
    if isinstance(dist, Empirical):
        return Empirical(tuple(x + hop for x in dist.points)), False
    p99 = dist.quantile(0.99)
    return LogNormal(median=median + hop, p99=p99 + hop), not isinstance(dist, LogNormal)


def ks_threshold(n: int) -> float:
    return max(KS_FLOOR, 1.63 / math.sqrt(n)) if n else 1.0


def fit_times(hist: LogHistogram) -> FittedTimes:
    observed = Summary.of(hist)
    fits: list[Fit] = []
    if hist.count:
        for dist in _candidates(hist, observed):
            fits.append(Fit(dist, hist.ks_distance(dist.cdf), dist.quantile(0.5), dist.quantile(0.9),
                            dist.quantile(0.99)))
        fits.sort(key=lambda f: f.ks)
    empirical = tuple(Quantile(q, hist.quantile(q) if q > 0 else hist.low) for q in EMPIRICAL_QUANTILES) \
        if hist.count else ()
    return FittedTimes(observed, hist.zeros, tuple(fits), ks_threshold(hist.count), empirical)


def _candidates(hist: LogHistogram, observed: Summary) -> list[AnyDistribution]:
    out: list[AnyDistribution] = []
    p1, p99 = hist.quantile(0.01), hist.quantile(0.99)
    if observed.p50 > 0 and (p99 - p1) <= CONSTANT_SPREAD * observed.p50:
        out.append(Constant(observed.p50))
    if observed.mean > 0:
        out.append(Exponential(observed.mean))
    if hist.log_n >= 2:
        mu = hist.log_sum / hist.log_n
        sigma = math.sqrt(max(0.0, hist.log_sq / hist.log_n - mu * mu))
        if sigma > 0:
            out.append(LogNormal(median=math.exp(mu), p99=math.exp(mu + _Z99 * sigma)))
    return out


def empirical(hist: LogHistogram) -> Empirical:
    """The observed durations as the model's empirical distribution: their quantile at every percent.

    Negative own times (clock skew between hosts) are taken as zero: no work takes less.
    """
    last = EMPIRICAL_POINTS - 1
    points = [hist.low] + [hist.quantile(i / last) for i in range(1, last)] + [hist.high]
    return Empirical(tuple(max(0.0, x) for x in points))
