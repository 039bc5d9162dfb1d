"""Cumulative counters and latency histograms, and the JSON of ``GET /admin/metrics``.

``GET /metrics`` is the same counts in Prometheus text (:mod:`.prometheus`).

Everything counts from the start of the process, so the scraper differences two
scrapes. Histogram bucket k counts latencies in (bounds[k-1], bounds[k]] and the
last bucket those above the last bound: the core's bucket rule (``chaos.core.latency``),
as the simulator's recorder counts them.
Latencies in the JSON are of successes only; the Prometheus exposition
(:mod:`.prometheus`) also times failures, each under its cause (``failed``).

``server`` is the service's own view of the requests it received: each is counted
once when it ends, as ``ok`` or under the cause of its error; one whose caller went
away and was cancelled counts as ``timeout`` (what the caller saw). ``wasted``
counts successes whose caller had already gone (a subset of ``ok``).
``own_time_hist`` times the service's own work only, the service-time sleep of every
request that got a worker (no queueing, no calls): calibration fits the service-time
distribution of a topology from it.

A service with operations also has ``operations[name]``: the same server counts, own-time
histogram included, for the requests of that operation alone; they add up to ``server``.

``calls[callee]`` is this replica's view as a caller: ``attempts`` sent (a retry is
an attempt), each ending ``ok`` or under a cause; ``retries`` among the attempts;
``degraded`` calls that failed and were carried on by a fallback;
``short_circuited`` attempts the breaker refused (not sent, so not attempts: the
simulator does not count them at the callee either); ``average`` the successes' latency
averaged as HAProxy averages a backend's total time (:data:`AVERAGE_OVER`).
"""

from __future__ import annotations

from typing import Any

from chaos.core.causes import Cause
from chaos.core.latency import AVERAGE_OVER, bucket_index

__all__ = ["AVERAGE_OVER", "Cause", "CallMetrics", "Histogram", "Outcomes", "ServerMetrics"]


class Histogram:
    """Counts per latency bucket."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def add(self, seconds: float) -> None:
        self.counts[bucket_index(self.bounds, seconds)] += 1
        self.sum += seconds

    def merge(self, other: Histogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.sum += other.sum


class Outcomes:
    """Successes (timed) and errors by cause (timed too, apart: ``failed[cause]``, made at the first one)."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.ok = 0
        self.errors = dict.fromkeys(Cause, 0)
        self.latency = Histogram(bounds)
        self.failed: dict[Cause, Histogram] = {}

    def success(self, seconds: float) -> None:
        self.ok += 1
        self.latency.add(seconds)

    def failure(self, cause: Cause, seconds: float) -> None:
        self.errors[cause] += 1
        hist = self.failed.get(cause)
        if hist is None:
            hist = self.failed[cause] = Histogram(self.latency.bounds)
        hist.add(seconds)

    def merge(self, other: Outcomes) -> None:
        """Add ``other``'s counts to these."""
        self.ok += other.ok
        for cause, n in other.errors.items():
            self.errors[cause] += n
        self.latency.merge(other.latency)
        for cause, hist in other.failed.items():
            self.failed.setdefault(cause, Histogram(self.latency.bounds)).merge(hist)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "errors": {c.value: n for c, n in self.errors.items()},
                "latency_hist": list(self.latency.counts)}


class ServerMetrics(Outcomes):
    def __init__(self, bounds: tuple[float, ...]) -> None:
        super().__init__(bounds)
        self.requests = 0
        self.wasted = 0
        self.own_time = Histogram(bounds)

    def to_json(self) -> dict[str, Any]:
        return {"requests": self.requests, **super().to_json(), "wasted": self.wasted,
                "own_time_hist": list(self.own_time.counts)}


class CallMetrics(Outcomes):
    def __init__(self, bounds: tuple[float, ...]) -> None:
        super().__init__(bounds)
        self.attempts = 0
        self.retries = 0
        self.degraded = 0
        self.short_circuited = 0
        self.average = 0.0
        self.averaged = 0  # successes in the average, up to AVERAGE_OVER

    def success(self, seconds: float) -> None:
        super().success(seconds)
        n = self.averaged
        if n < AVERAGE_OVER:
            n = self.averaged = n + 1
        self.average += (seconds - self.average) / n

    @classmethod
    def merged(cls, parts: list[CallMetrics]) -> CallMetrics:
        """The counts of several calls to one callee, added up."""
        out = cls(parts[0].latency.bounds)
        for part in parts:
            out.merge(part)
            out.attempts += part.attempts
            out.retries += part.retries
            out.degraded += part.degraded
            out.short_circuited += part.short_circuited
        # Several calls to one callee (operations): their averages weighted by the successes in each, capped.
        weights = [p.averaged for p in parts]
        out.averaged = min(AVERAGE_OVER, sum(weights))
        out.average = sum(p.average * w for p, w in zip(parts, weights, strict=True)) / sum(weights) if any(
            weights) else 0.0
        return out

    def to_json(self) -> dict[str, Any]:
        return {"attempts": self.attempts, **super().to_json(), "retries": self.retries,
                "degraded": self.degraded, "short_circuited": self.short_circuited}
