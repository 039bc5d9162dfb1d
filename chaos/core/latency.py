"""Latency histograms as both engines count them: the bucket bounds, thresholds among them, the bucket rule.

Every latency either engine measures (the simulator's recorder, the emulator's
``/metrics`` and ``/admin/metrics``, the live load generator's tally) lands in a bucket of the same bounds:
20 per decade from 100 us to 100 s, plus every latency threshold an experiment's SLOs
and percentile alerts name, added as an exact bound so that "how many requests were
slower than 800 ms" is counted rather than interpolated. Bucket ``k`` holds latencies in
``(bounds[k-1], bounds[k]]``; the last bucket, ``len(bounds)``, those above the last bound.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

AVERAGE_OVER = 512
"""HAProxy's ``*_time_average_seconds``: a sliding average of the backend's answered requests, each moving it by
(latency - average) / n, n the successes seen up to 512. HAProxy's help text says "for last 1024 successful
connections", but its code (``TIME_STATS_SAMPLES``: "to advertise accurate times across 1k samples, we effectively
measure over 512") keeps a sliding sum of 512 samples, ``sum - sum/512 + latency`` per request, and its Prometheus
exporter reads ``sum/512``: a request moves the average by a 512th of its distance, so a latency step shows twice as
fast as over 1024. (Before its first 512 requests HAProxy's exporter still divides by 512, so it rises from 0; chaoslab
gives their plain mean.) The simulator's export models it second by second (``chaos.metrics.exposition``); the
emulators and the load generator keep it request by request."""


def as_bound(seconds: float) -> float:
    """A threshold as it is stored among the bounds: rounded to the picosecond.

    Rounding merges a threshold with an equal base bound, but 9ms parses to
    0.009000000000000001: whoever looks a threshold up must round it the same way, or
    it lands one bucket too high.
    """
    return round(seconds, 12)


def latency_bounds(thresholds: Sequence[float] = ()) -> tuple[float, ...]:
    """Upper bounds (seconds) of the buckets: 20 per decade from 100us to 100s, and each positive threshold."""
    base = [as_bound(1e-4 * 10 ** (i / 20)) for i in range(0, 121)]
    return tuple(sorted(set(base) | {as_bound(x) for x in thresholds if x > 0}))


def bucket_index(bounds: Sequence[float], seconds: float) -> int:
    """The bucket of one latency: the first bound at or above it (``len(bounds)`` above them all)."""
    return bisect.bisect_left(bounds, seconds)


def bucketize(xs: Sequence[float], bounds: Sequence[float]) -> dict[int, int]:
    """Counts per bucket of a sorted sample, as :func:`bucket_index` places each latency."""
    out: dict[int, int] = {}
    i, n, nb = 0, len(xs), len(bounds)
    while i < n:
        b = bisect.bisect_left(bounds, xs[i])
        if b >= nb:
            out[b] = n - i
            break
        j = bisect.bisect_right(xs, bounds[b], i)
        out[b] = j - i
        i = j
    return out


def count_above(hist: dict[int, int], bounds: Sequence[float], threshold: float) -> int:
    """Requests slower than ``threshold``; exact when the threshold is one of the bounds."""
    cut = bisect.bisect_left(bounds, as_bound(threshold))  # buckets <= cut hold latencies <= threshold
    return sum(c for idx, c in hist.items() if idx > cut)
