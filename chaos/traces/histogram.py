"""A streaming histogram with log-spaced buckets: quantiles within half a percent, in constant memory.

Work times of a million spans cannot all be kept, and sampling would make the result depend on
a seed; buckets 1% wide give every quantile to within 0.5% of its value, deterministically, in
a few hundred buckets per decade of spread. Count, sum, minimum, maximum and the first two
moments of the logarithm (what a lognormal fit needs) are kept exactly.

Values may be negative (a gap between two hosts' clocks can be), zero, or positive; each sign
has its own buckets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

RESOLUTION = 0.01
_LOG_BASE = math.log1p(RESOLUTION)


class LogHistogram:
    __slots__ = ("count", "total", "low", "high", "zeros", "_pos", "_neg", "log_n", "log_sum", "log_sq")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.low = math.inf
        self.high = -math.inf
        self.zeros = 0
        self._pos: dict[int, int] = {}
        self._neg: dict[int, int] = {}
        self.log_n = 0
        self.log_sum = 0.0
        self.log_sq = 0.0

    def add(self, x: float) -> None:
        self.count += 1
        self.total += x
        if x < self.low:
            self.low = x
        if x > self.high:
            self.high = x
        if x > 0:
            lg = math.log(x)
            i = math.floor(lg / _LOG_BASE)
            self._pos[i] = self._pos.get(i, 0) + 1
            self.log_n += 1
            self.log_sum += lg
            self.log_sq += lg * lg
        elif x < 0:
            i = math.floor(math.log(-x) / _LOG_BASE)
            self._neg[i] = self._neg.get(i, 0) + 1
        else:
            self.zeros += 1

    def merge(self, other: LogHistogram) -> None:
        self.count += other.count
        self.total += other.total
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)
        self.zeros += other.zeros
        for mine, theirs in ((self._pos, other._pos), (self._neg, other._neg)):
            for i, c in theirs.items():
                mine[i] = mine.get(i, 0) + c
        self.log_n += other.log_n
        self.log_sum += other.log_sum
        self.log_sq += other.log_sq

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    def buckets(self) -> Iterator[tuple[float, float, int]]:
        """(lower edge, upper edge, count) in increasing order; zeros as the bucket [0, 0]."""
        for i in sorted(self._neg, reverse=True):
            yield -math.exp((i + 1) * _LOG_BASE), -math.exp(i * _LOG_BASE), self._neg[i]
        if self.zeros:
            yield 0.0, 0.0, self.zeros
        for i in sorted(self._pos):
            yield math.exp(i * _LOG_BASE), math.exp((i + 1) * _LOG_BASE), self._pos[i]

    def quantile(self, q: float) -> float:
        """The value below which a share ``q`` of the values lie (nearest rank, bucket middle)."""
        if not self.count:
            return math.nan
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for lower, upper, c in self.buckets():
            seen += c
            if seen >= rank:
                middle = 0.0 if lower == upper == 0.0 else math.copysign(math.sqrt(lower * upper), upper)
                return min(max(middle, self.low), self.high)
        return self.high

    def ks_distance(self, cdf: Callable[[float], float]) -> float:
        """Kolmogorov-Smirnov distance to a distribution, judged at the bucket edges.

        Within a bucket the empirical CDF is unknown, so the distance is exact to within the
        largest bucket's share; at 1% wide buckets that is far below any distance worth acting on.
        """
        if not self.count:
            return math.nan
        worst, seen = 0.0, 0
        for lower, upper, c in self.buckets():
            before = seen / self.count
            seen += c
            after = seen / self.count
            lower_edge = max(lower, self.low)
            upper_edge = min(upper, self.high)
            worst = max(worst, abs(before - _left(cdf, lower_edge)), abs(after - cdf(upper_edge)))
        return worst


def _left(cdf: Callable[[float], float], x: float) -> float:
    """The CDF just below ``x`` (differs from cdf(x) at a point mass such as a constant)."""
    return cdf(x - abs(x) * 1e-12 - 1e-300)
