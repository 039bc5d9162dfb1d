"""Distributions of durations: service times, human response times, action durations.

In YAML a plain duration is a constant (``service_time: 20ms``); otherwise
``{dist: exponential, mean: 20ms}`` or ``{dist: lognormal, median: 20ms, p99: 200ms}``.
A lognormal given by its median and one upper percentile is how people describe
latencies and response times ("usually 3 minutes, 1 in 10 takes over 10"), so that is
the form accepted, rather than the log-space mu and sigma.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Annotated

from chaos.model.bounds import MAX_TAIL_RATIO
from chaos.model.parsing import Model, Seconds, Tagged, fld

Sampler = Callable[[], float]
_STANDARD_NORMAL = NormalDist()


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
        return itertools.repeat(self.value).__next__  # a C-level callable: no Python frame per draw

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
        return -self.mean_ * math.log1p(-q)

    def cdf(self, x: float) -> float:
        return 1.0 - math.exp(-x / self.mean_) if x > 0 else 0.0

    def sampler(self, rng: random.Random) -> Sampler:
        return functools.partial(rng.expovariate, 1.0 / self.mean_)

    def scaled(self, factor: float) -> Exponential:
        return Exponential(self.mean_ * factor)


_TAIL_Z = {"p90": _STANDARD_NORMAL.inv_cdf(0.90), "p95": _STANDARD_NORMAL.inv_cdf(0.95),
           "p99": _STANDARD_NORMAL.inv_cdf(0.99)}


@dataclass(frozen=True)
class LogNormal(Model):
    """Right-skewed durations given by the median and exactly one of p90, p95, p99."""

    TAG = "lognormal"
    median: Seconds = fld(gt=0, doc="half of the durations are shorter than this")
    p90: Seconds | None = fld(None, gt=0, doc="90% of durations are shorter than this")
    p95: Seconds | None = fld(None, gt=0, doc="95% of durations are shorter than this")
    p99: Seconds | None = fld(None, gt=0, doc="99% of durations are shorter than this")

    def validate(self) -> None:
        given = [name for name in _TAIL_Z if getattr(self, name) is not None]
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
        for name, z in _TAIL_Z.items():
            tail = getattr(self, name)
            if tail is not None:
                return math.log(tail / self.median) / z
        raise AssertionError("validated lognormal has a tail percentile")

    @property
    def mu(self) -> float:
        return math.log(self.median)

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma ** 2 / 2)

    def quantile(self, q: float) -> float:
        return math.exp(self.mu + self.sigma * _STANDARD_NORMAL.inv_cdf(q))

    def cdf(self, x: float) -> float:
        if x <= 0:
            return 0.0
        if self.sigma == 0:
            return 1.0 if x >= self.median else 0.0
        return _STANDARD_NORMAL.cdf((math.log(x) - self.mu) / self.sigma)

    def sampler(self, rng: random.Random) -> Sampler:
        return functools.partial(rng.lognormvariate, self.mu, self.sigma)

    def scaled(self, factor: float) -> LogNormal:
        def times(v: float | None) -> float | None:
            return None if v is None else v * factor
        return LogNormal(self.median * factor, times(self.p90), times(self.p95), times(self.p99))


Distribution = Annotated[Constant | Exponential | LogNormal, Tagged("dist", scalar=Constant)]
"""A duration distribution; a bare duration means a constant."""

AnyDistribution = Constant | Exponential | LogNormal
