"""Trailing-window aggregates over per-second series: the arithmetic alerts and SLOs share."""

from __future__ import annotations

import bisect
import math

from chaos.run import LatencySamples, Series, merge_hists, percentile_from_hist


def span(end: int, window: float) -> tuple[int, int]:
    """Second indices [lo, end) of a trailing window of ``window`` seconds ending before second ``end``."""
    width = max(1, math.ceil(window - 1e-9))
    return max(0, end - width), end


def total(values: list[int], lo: int, hi: int) -> int:
    return sum(values[lo:hi])


def failed(series: Series, lo: int, hi: int) -> int:
    return sum(sum(col[lo:hi]) for col in series.errors.values())


def answered(series: Series, lo: int, hi: int) -> int:
    """Requests whose outcome arrived in the window (succeeded or failed)."""
    return total(series.ok, lo, hi) + failed(series, lo, hi)


def error_ratio(series: Series, lo: int, hi: int) -> float | None:
    """Failed / answered in the window: the outcome's share, as request counters counted on
    completion give it (a request started in one window may end in the next)."""
    bad = failed(series, lo, hi)
    done = total(series.ok, lo, hi) + bad
    if done == 0:
        return None
    return bad / done


def latency_quantile(series: Series, bounds: tuple[float, ...], lo: int, hi: int, q: float) -> float | None:
    """Seconds: the q-quantile of the window's latencies, exact where the series kept its samples
    (linear interpolation between order statistics, as the per-second percentiles), else estimated
    from the merged latency histogram (interpolated within a bucket 12% wide)."""
    hist = merge_hists(series.hist[lo:hi])
    if series.samples is None:
        return percentile_from_hist(hist, bounds, q)
    n = sum(hist.values())
    if n == 0:
        return None
    pos = q * (n - 1)
    rank = int(pos)
    below, bucket = _bucket_of(hist, rank)
    inside = _in_bucket(series.samples, bounds, lo, hi, bucket)
    low = inside[rank - below]
    if pos == rank or rank + 1 >= n:
        return low
    if rank + 1 - below < len(inside):
        high = inside[rank + 1 - below]
    else:  # the next order statistic opens the next bucket that holds any
        _, after = _bucket_of(hist, rank + 1)
        high = _in_bucket(series.samples, bounds, lo, hi, after)[0]
    return low + (high - low) * (pos - rank)


def _bucket_of(hist: dict[int, int], rank: int) -> tuple[int, int]:
    """(how many latencies lie in lower buckets, the bucket) of the rank-th smallest latency (from 0)."""
    seen = 0
    for idx in sorted(hist):
        if seen + hist[idx] > rank:
            return seen, idx
        seen += hist[idx]
    raise ValueError(f"rank {rank} of {seen} latencies")


def _in_bucket(samples: LatencySamples, bounds: tuple[float, ...], lo: int, hi: int, bucket: int) -> list[float]:
    """The latencies of seconds [lo, hi) in one histogram bucket, (bounds[bucket-1], bounds[bucket]], sorted.

    Each second's latencies are sorted, so the bucket's share of each is found by bisection:
    a window quantile reads one bucket's latencies, not the whole window's.
    """
    values, starts = samples.values, samples.starts
    out: list[float] = []
    for i in range(lo, hi):
        first, end = starts[i], starts[i + 1]
        if bucket > 0:
            first = bisect.bisect_right(values, bounds[bucket - 1], first, end)
        if bucket < len(bounds):
            end = bisect.bisect_right(values, bounds[bucket], first, end)
        out.extend(values[first:end])
    out.sort()
    return out


def mean(values: list[float], lo: int, hi: int) -> float | None:
    chunk = values[lo:hi]
    return sum(chunk) / len(chunk) if chunk else None
