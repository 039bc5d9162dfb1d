"""Drawing service times from a stack spec's distribution (the same forms as ``chaos.model.distributions``)."""

from __future__ import annotations

import functools
import itertools
import math
import random
from collections.abc import Callable
from statistics import NormalDist

from chaos.live.stackspec import Dist, ServiceTime

_TAIL_Q = {"p90": 0.90, "p95": 0.95, "p99": 0.99}


def lognormal_sigma(spec: ServiceTime) -> float:
    """The log-space sigma of a lognormal given by its median and one upper percentile."""
    return math.log(spec.tail_s / spec.median) / NormalDist().inv_cdf(_TAIL_Q[spec.tail])


def mean(spec: ServiceTime) -> float:
    if spec.dist is Dist.CONSTANT:
        return spec.value
    if spec.dist is Dist.EXPONENTIAL:
        return spec.mean
    return spec.median * math.exp(lognormal_sigma(spec) ** 2 / 2)


def sampler(spec: ServiceTime, rng: random.Random) -> Callable[[], float]:
    """A function drawing one service time (seconds) from ``rng``."""
    if spec.dist is Dist.CONSTANT:
        return itertools.repeat(spec.value).__next__
    if spec.dist is Dist.EXPONENTIAL:
        return functools.partial(rng.expovariate, 1.0 / spec.mean)
    return functools.partial(rng.lognormvariate, math.log(spec.median), lognormal_sigma(spec))
