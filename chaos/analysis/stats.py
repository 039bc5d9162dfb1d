"""Means over seeds or replications with a 95% confidence half-width (Student's t: runs are few)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom; past 30 the normal 1.96
# is within 2%. The standard library has no t distribution, and three seeds with 1.96 would
# claim a confidence interval half as wide as the truth.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def t975(df: int) -> float:
    return _T975[df - 1] if df <= len(_T975) else 1.96


@dataclass(frozen=True)
class Stat:
    """Mean of the known values, how many were known of how many, and the 95% half-width."""

    mean: float | None
    ci95: float | None
    known: int
    count: int

    def finite(self) -> Stat:
        """The same, with a mean or half-width that is not a finite number (an infinite budget burned)
        as None: how the documents that hold it (sweep.json, diff.json) write it."""
        return Stat(_clean(self.mean), _clean(self.ci95), self.known, self.count)


def _clean(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def wilson95(successes: int, n: int) -> tuple[float, float]:
    """Wilson's 95% score interval for a share of ``successes`` in ``n`` runs.

    Unlike the normal interval p ± 1.96·sqrt(p(1-p)/n) it stays inside [0, 1] and is not empty at the
    edges: 20 of 20 runs give [83.9%, 100%], not "100% ± 0%", and it keeps its coverage with few runs.
    """
    if n <= 0:
        raise ValueError("a share needs at least one run")
    z = 1.959963984540054
    p = successes / n
    scale = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z / scale * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def stat(values: Sequence[float | None]) -> Stat:
    known = [v for v in values if v is not None]
    if not known:
        return Stat(None, None, 0, len(values))
    mean = statistics.fmean(known)
    half = t975(len(known) - 1) * statistics.stdev(known) / math.sqrt(len(known)) if len(known) > 1 else None
    return Stat(mean, half, len(known), len(values))
