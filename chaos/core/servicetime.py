"""Duration distributions as both engines draw them: constant, exponential, lognormal, empirical.

A lognormal is given as people describe latencies, by its median and one upper
percentile (``p90``, ``p95`` or ``p99``); its log-space parameters are
``mu = ln(median)`` and ``sigma = ln(tail / median) / z``, where ``z`` is the standard
normal quantile of the tail's level. The model's YAML types
(``chaos.model.distributions``) and the emulator's stack spec both come here for the
parameters, the moments and the samplers, so a service time is the same distribution,
drawn the same way from the same stream, in the simulator and in a container.

An empirical distribution is a set of observed durations. It is drawn by inverse CDF:
one uniform ``u`` from the run's stream picks the point ``u * (n - 1)`` along the sorted
samples, interpolated linearly between the two samples beside it. So its quantile ``q`` is
the samples' own quantile ``q`` (the usual linear-interpolation definition), it never draws
outside the samples' range, and it has a density (a queue fed by it does not see ties that
the samples' rounding made).

Samplers are C-level callables where possible (``functools.partial`` of a
``random.Random`` method, ``itertools.repeat``): no Python frame per draw.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
from collections.abc import Callable, Sequence
from statistics import NormalDist

Sampler = Callable[[], float]

STANDARD_NORMAL = NormalDist()

TAIL_LEVELS = {"p90": 0.90, "p95": 0.95, "p99": 0.99}
"""The upper percentiles a lognormal may be given by, and their levels."""

TAIL_Z = {name: STANDARD_NORMAL.inv_cdf(q) for name, q in TAIL_LEVELS.items()}
"""The standard normal quantile of each tail level."""


# --------------------------------------------------------------------------- constant


def constant_sampler(value: float) -> Sampler:
    return itertools.repeat(value).__next__


# --------------------------------------------------------------------------- exponential


def exponential_sampler(mean: float, rng: random.Random) -> Sampler:
    """Draws as ``rng.expovariate(1 / mean)``: ``-ln(1 - u) / rate`` of one uniform ``u``."""
    return functools.partial(rng.expovariate, 1.0 / mean)


def exponential_from_uniform(u: float, rate: float) -> float:
    """The exponential draw ``random.expovariate(rate)`` makes of the uniform ``u`` (the simulator inlines it)."""
    return -math.log(1.0 - u) / rate


def exponential_quantile(mean: float, q: float) -> float:
    return -mean * math.log1p(-q)


def exponential_cdf(mean: float, x: float) -> float:
    return 1.0 - math.exp(-x / mean) if x > 0 else 0.0


# --------------------------------------------------------------------------- lognormal


def lognormal_sigma(median: float, tail: float, level: str) -> float:
    """The log-space sigma of a lognormal whose ``level`` percentile (``"p99"``, ...) is ``tail``."""
    return math.log(tail / median) / TAIL_Z[level]


def lognormal_mu(median: float) -> float:
    return math.log(median)


def lognormal_mean(median: float, sigma: float) -> float:
    return math.exp(math.log(median) + sigma ** 2 / 2)


def lognormal_quantile(median: float, sigma: float, q: float) -> float:
    return math.exp(math.log(median) + sigma * STANDARD_NORMAL.inv_cdf(q))


def lognormal_cdf(median: float, sigma: float, x: float) -> float:
    if x <= 0:
        return 0.0
    if sigma == 0:
        return 1.0 if x >= median else 0.0
    return STANDARD_NORMAL.cdf((math.log(x) - math.log(median)) / sigma)


def lognormal_sampler(median: float, sigma: float, rng: random.Random) -> Sampler:
    return functools.partial(rng.lognormvariate, math.log(median), sigma)


# --------------------------------------------------------------------------- empirical


def empirical_points(samples: Sequence[float]) -> tuple[float, ...]:
    """The sorted samples an empirical distribution interpolates between."""
    return tuple(sorted(samples))


def empirical_quantile(points: Sequence[float], q: float) -> float:
    """The sample quantile ``q`` of sorted ``points``, linearly interpolated; also the inverse CDF."""
    last = len(points) - 1
    if last <= 0:
        return points[0]
    at = min(max(q, 0.0), 1.0) * last
    i = min(int(at), last - 1)
    return points[i] + (at - i) * (points[i + 1] - points[i])


def empirical_cdf(points: Sequence[float], x: float) -> float:
    """The share of draws at or below ``x``: the inverse of :func:`empirical_quantile`."""
    last = len(points) - 1
    if x < points[0]:
        return 0.0
    if x >= points[-1] or last == 0:
        return 1.0
    i = bisect.bisect_right(points, x) - 1  # points[i] <= x < points[i + 1]
    return (i + (x - points[i]) / (points[i + 1] - points[i])) / last


def empirical_moments(points: Sequence[float]) -> tuple[float, float]:
    """The mean and the second moment of the interpolated distribution (uniform between neighbours).

    Each of the ``n - 1`` gaps holds an equal share; a uniform on ``[a, b]`` has mean ``(a + b) / 2``
    and second moment ``(a^2 + ab + b^2) / 3``. (The mean differs from the samples' own mean by the end
    samples' half weight.)
    """
    last = len(points) - 1
    if last == 0:
        return points[0], points[0] ** 2
    first = second = 0.0
    for a, b in zip(points, points[1:], strict=False):
        first += (a + b) / 2
        second += (a * a + a * b + b * b) / 3
    return first / last, second / last


def empirical_sampler(points: Sequence[float], rng: random.Random) -> Sampler:
    """Draws the inverse CDF of one uniform of ``rng`` per draw (one ``rng.random()`` each)."""
    last = len(points) - 1
    if last <= 0:
        return constant_sampler(points[0])
    starts = tuple(points[:-1])
    widths = tuple(b - a for a, b in zip(points, points[1:], strict=False))
    draw_uniform = rng.random

    def draw() -> float:
        at = draw_uniform() * last
        i = int(at)  # random() < 1, so i < last
        return starts[i] + (at - i) * widths[i]
    return draw
