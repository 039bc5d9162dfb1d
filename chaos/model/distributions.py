"""Distributions of durations: service times, human response times, action durations.

In YAML a plain duration is a constant (``service_time: 20ms``); otherwise
``{dist: exponential, mean: 20ms}``, ``{dist: lognormal, median: 20ms, p99: 200ms}``, or
observed durations as they are: ``{dist: empirical, samples: [12ms, 14ms, 31ms]}`` or
``{dist: empirical, file: payments-times.txt}`` (one duration a line, relative to the YAML file).
A lognormal given by its median and one upper percentile is how people describe
latencies and response times ("usually 3 minutes, 1 in 10 takes over 10"), so that is
the form accepted, rather than the log-space mu and sigma.

These are the file format; the arithmetic (parameters, moments, samplers) is the
behaviour core's (``chaos.core.servicetime``), which the live emulator draws with too.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from chaos.core import servicetime as core
from chaos.core.servicetime import Sampler
from chaos.errors import InputError, Location
from chaos.model.bounds import MAX_TAIL_RATIO
from chaos.model.inputs import read_input
from chaos.model.parsing import (
    MAX_SECONDS,
    Model,
    Seconds,
    Tagged,
    Where,
    display_path,
    fld,
    located,
    parse_duration,
    shorten,
)

__all__ = ["AnyDistribution", "Constant", "Distribution", "Empirical", "Exponential", "LogNormal", "SampleFile",
           "Sampler"]

MAX_INLINE_SAMPLES = 10_000
"""Most samples written inline in a YAML list; more belong in a file of samples."""


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


@dataclass(frozen=True)
class SampleFile(Model):
    """A text file of observed durations, one a line (``12.5ms`` or a number of seconds); ``#`` starts a
    comment. Read once, when the YAML file naming it is loaded; its size is bounded like a model file's."""

    REF = True  # written as a path relative to the YAML file; chaos.model.files hands it to read_file
    file: str = fld("", internal=True, doc="the path as shown in messages")
    samples: tuple[float, ...] = fld((), internal=True, doc="the durations, in seconds, in file order")

    @classmethod
    def read_file(cls, target: Path, where: Where) -> SampleFile:
        shown = display_path(target)
        return located(cls(shown, _read_samples(read_input(target, shown), shown)), where)


def _read_samples(text: str, shown: str) -> tuple[float, ...]:
    out: list[float] = []
    for number, line in enumerate(text.splitlines(), 1):
        body = line.split("#", 1)[0]
        value = body.strip()
        if not value:
            continue
        at = Location(shown, number, len(body) - len(body.lstrip()) + 1)
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise InputError(str(exc), at) from None
        if seconds > MAX_SECONDS:
            raise InputError(f"'{shorten(value)}' is longer than the longest duration accepted (30 days)", at)
        out.append(seconds)
    if not out:
        raise InputError("the file holds no durations (one a line, e.g. 12.5ms)", Location(shown, 1, 1))
    return tuple(out)


@dataclass(frozen=True)
class Empirical(Model):
    """Durations as observed: a service time that no parametric distribution describes well enough.

    Drawn by inverse CDF, interpolating linearly between the sorted samples (``chaos.core.servicetime``),
    so its quantiles are the samples' quantiles. Give the samples inline or in a file, not both.
    """

    TAG = "empirical"
    samples: tuple[Seconds, ...] = fld((), ge=0, max_items=MAX_INLINE_SAMPLES,
                                       doc="the observed durations, in any order")
    file: SampleFile | None = fld(None, doc="a file of observed durations, one a line, relative to this YAML "
                                            "file (instead of samples)")

    def validate(self) -> None:
        if bool(self.samples) == (self.file is not None):
            raise self.error(None, "an empirical distribution needs its samples inline ('samples: [...]') or in a "
                                   "file ('file: times.txt'), exactly one of them")

    @functools.cached_property
    def points(self) -> tuple[float, ...]:
        """The samples, sorted: what the draws interpolate between."""
        return core.empirical_points(self.file.samples if self.file is not None else self.samples)

    @functools.cached_property
    def _moments(self) -> tuple[float, float]:
        return core.empirical_moments(self.points)

    @property
    def mean(self) -> float:
        return self._moments[0]

    @property
    def second_moment(self) -> float:
        """The mean of the squared durations (what Pollaczek-Khinchine's mean wait needs)."""
        return self._moments[1]

    def quantile(self, q: float) -> float:
        return core.empirical_quantile(self.points, q)

    def cdf(self, x: float) -> float:
        return core.empirical_cdf(self.points, x)

    def sampler(self, rng: random.Random) -> Sampler:
        return core.empirical_sampler(self.points, rng)

    def scaled(self, factor: float) -> Empirical:
        return Empirical(tuple(v * factor for v in self.points))


Distribution = Annotated[Constant | Exponential | LogNormal | Empirical, Tagged("dist", scalar=Constant)]
"""A duration distribution; a bare duration means a constant."""

AnyDistribution = Constant | Exponential | LogNormal | Empirical
