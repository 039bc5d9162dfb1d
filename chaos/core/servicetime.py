"""Duration distributions as both engines draw them: constant, exponential, lognormal.

A lognormal is given as people describe latencies, by its median and one upper
percentile (``p90``, ``p95`` or ``p99``); its log-space parameters are
``mu = ln(median)`` and ``sigma = ln(tail / median) / z``, where ``z`` is the standard
normal quantile of the tail's level. The model's YAML types
(``chaos.model.distributions``) and the emulator's stack spec both come here for the
parameters, the moments and the samplers, so a service time is the same distribution,
drawn the same way from the same stream, in the simulator and in a container.

Samplers are C-level callables where possible (``functools.partial`` of a
``random.Random`` method, ``itertools.repeat``): no Python frame per draw.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from collections.abc import Callable
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
