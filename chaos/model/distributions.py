"""Distributions of durations: service times, human response times, action durations.

In YAML a plain duration is a constant (``service_time: 20ms``); otherwise
``{dist: exponential, mean: 20ms}`` or ``{dist: lognormal, median: 20ms, p99: 200ms}``.
A lognormal given by its median and one upper percentile is how people describe
latencies and response times ("usually 3 minutes, 1 in 10 takes over 10"), so that is
the form accepted, rather than the log-space mu and sigma.

These are the file format; the arithmetic (parameters, moments, samplers) is the
behaviour core's (``chaos.core.servicetime``), which the live emulator draws with too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Annotated

from chaos.core import servicetime as core
from chaos.core.servicetime import Sampler
from chaos.model.bounds import MAX_TAIL_RATIO
from chaos.model.parsing import Model, Seconds, Tagged, fld

__all__ = ["AnyDistribution", "Constant", "Distribution", "Exponential", "LogNormal", "Sampler"]


@dataclass(frozen=True)
class Constant(Model):
    """Always the same duration."""

    TAG = "constant"
    value: Seconds = fld(doc="the duration")

    @property
    def mean(self) -> float:
        return self.value

    def quantile(self, q: float) -> float:
        return self.value

    def cdf(self, x: float) -> float:
        return 1.0 if x >= self.value else 0.0

    def sampler(self, rng: random.Random) -> Sampler:
        return core.constant_sampler(self.value)

    def scaled(self, factor: float) -> Constant:
        return Constant(self.value * factor)


@dataclass(frozen=True)
class Exponential(Model):
    """Memoryless durations: the service time of an M/M/c queue."""

    TAG = "exponential"
    mean_: Seconds = fld(key="mean", gt=0, doc="the mean duration")

    @property
    def mean(self) -> float:
        return self.mean_

    def quantile(self, q: float) -> float:
        return core.exponential_quantile(self.mean_, q)

    def cdf(self, x: float) -> float:
        return core.exponential_cdf(self.mean_, x)

    def sampler(self, rng: random.Random) -> Sampler:
        return core.exponential_sampler(self.mean_, rng)

    def scaled(self, factor: float) -> Exponential:
        return Exponential(self.mean_ * factor)


@dataclass(frozen=True)
class LogNormal(Model):
    """Right-skewed durations given by the median and exactly one of p90, p95, p99."""

    TAG = "lognormal"
    median: Seconds = fld(gt=0, doc="half of the durations are shorter than this")
    p90: Seconds | None = fld(None, gt=0, doc="90% of durations are shorter than this")
    p95: Seconds | None = fld(None, gt=0, doc="95% of durations are shorter than this")
    p99: Seconds | None = fld(None, gt=0, doc="99% of durations are shorter than this")

    def validate(self) -> None:
        given = [name for name in core.TAIL_LEVELS if getattr(self, name) is not None]
        if len(given) != 1:
            raise self.error(None, "a lognormal needs its median and exactly one of p90, p95, p99"
                                   f" (got {', '.join(given) or 'none'})")
        tail = getattr(self, given[0])
        if tail < self.median:
            raise self.error(given[0], f"{given[0]} ({tail:g}s) must not be below the median ({self.median:g}s)")
        if tail > MAX_TAIL_RATIO * self.median:
            raise self.error(given[0], f"{given[0]} ({tail:g}s) is more than {MAX_TAIL_RATIO:,.0f} times the median "
                                       f"({self.median:g}s); no latency is spread that wide")

    @property
    def sigma(self) -> float:
        for name in core.TAIL_LEVELS:
            tail = getattr(self, name)
            if tail is not None:
                return core.lognormal_sigma(self.median, tail, name)
        raise AssertionError("validated lognormal has a tail percentile")

    @property
    def mu(self) -> float:
        return core.lognormal_mu(self.median)

    @property
    def mean(self) -> float:
        return core.lognormal_mean(self.median, self.sigma)

    def quantile(self, q: float) -> float:
        return core.lognormal_quantile(self.median, self.sigma, q)

    def cdf(self, x: float) -> float:
        return core.lognormal_cdf(self.median, self.sigma, x)

    def sampler(self, rng: random.Random) -> Sampler:
        return core.lognormal_sampler(self.median, self.sigma, rng)

    def scaled(self, factor: float) -> LogNormal:
        def times(v: float | None) -> float | None:
            return None if v is None else v * factor
        return LogNormal(self.median * factor, times(self.p90), times(self.p95), times(self.p99))


Distribution = Annotated[Constant | Exponential | LogNormal, Tagged("dist", scalar=Constant)]
"""A duration distribution; a bare duration means a constant."""

AnyDistribution = Constant | Exponential | LogNormal
