"""Trailing-window aggregates over per-second series: the arithmetic alerts and SLOs share."""

from __future__ import annotations

import math

from chaos.run import Series, merge_hists, percentile_from_hist


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
    """Seconds; from the merged latency histogram of the window."""
    return percentile_from_hist(merge_hists(series.hist[lo:hi]), bounds, q)


def mean(values: list[float], lo: int, hi: int) -> float | None:
    chunk = values[lo:hi]
    return sum(chunk) / len(chunk) if chunk else None
