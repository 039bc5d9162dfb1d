"""Turns the kernel's per-second counters into the Run's series and whole-run totals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chaos.core.latency import bucketize
from chaos.model.scope import Scope
from chaos.run import CAUSES, LatencySamples, Series, Totals, quantile
from chaos.sim.kernel import N_CAUSES, Stats

Gauge = Callable[[], tuple[float, float]]  # (queue, busy) sampled at the end of each second


@dataclass
class Channel:
    scope: Scope
    stats: Stats
    gauge: Gauge | None
    series: Series
    totals: Totals
    samples: LatencySamples
    parts: tuple[Stats, ...] = ()  # a service's operations, whose counts are the service's


class Recorder:
    """Closes each second: appends every scope's figures to its series and empties the counters."""

    def __init__(self, bounds: tuple[float, ...], first_measured: int) -> None:
        self.bounds = bounds
        self.first_measured = first_measured
        self.channels: list[Channel] = []

    def add(self, scope: Scope, stats: Stats, gauge: Gauge | None, parts: tuple[Stats, ...] = ()) -> None:
        """Record ``stats`` as ``scope``; with ``parts``, each second's counts are first summed from them.

        A part's channel must be added after the channel that sums it: it empties the part.
        """
        samples = LatencySamples()
        self.channels.append(Channel(scope, stats, gauge, Series(samples=samples), Totals(), samples, parts))

    def record(self, second: int) -> None:
        measured = second >= self.first_measured
        for ch in self.channels:
            st, ser = ch.stats, ch.series
            for part in ch.parts:  # what the service's operations counted, the service's own caller-side counts too
                st.requests += part.requests
                st.ok += part.ok
                st.err = [a + b for a, b in zip(st.err, part.err, strict=True)]
                st.lat += part.lat
                st.retries += part.retries
                st.wasted += part.wasted
                st.degraded += part.degraded
            lat = st.lat
            lat.sort()
            ser.requests.append(st.requests)
            ser.ok.append(st.ok)
            for code, cause in enumerate(CAUSES):
                ser.errors[cause].append(st.err[code])
            if lat:
                ser.p50_ms.append(quantile(lat, 0.50) * 1000)
                ser.p95_ms.append(quantile(lat, 0.95) * 1000)
                ser.p99_ms.append(quantile(lat, 0.99) * 1000)
                ser.mean_ms.append(sum(lat) / len(lat) * 1000)
            else:
                ser.p50_ms.append(None)
                ser.p95_ms.append(None)
                ser.p99_ms.append(None)
                ser.mean_ms.append(None)
            ser.hist.append(bucketize(lat, self.bounds))
            ch.samples.append(lat)
            queue, busy = ch.gauge() if ch.gauge is not None else (0.0, 0.0)
            ser.queue.append(queue)
            ser.busy.append(busy)
            ser.retries.append(st.retries)
            ser.wasted.append(st.wasted)
            ser.degraded.append(st.degraded)
            if measured:
                tot = ch.totals
                tot.requests += st.requests
                tot.ok += st.ok
                for code, cause in enumerate(CAUSES):
                    tot.errors[cause] += st.err[code]
                tot.retries += st.retries
                tot.wasted += st.wasted
                tot.degraded += st.degraded
            st.requests = st.ok = st.retries = st.wasted = st.degraded = 0
            st.err = [0] * N_CAUSES
            st.lat = []

    def finish(self) -> tuple[dict[Scope, Series], dict[Scope, Totals]]:
        """Series and totals by scope, with whole-run latency percentiles computed exactly."""
        series, totals = {}, {}
        for ch in self.channels:
            seconds = len(ch.series)
            lat = ch.samples.window(min(self.first_measured, seconds), seconds)
            tot = ch.totals
            if lat:
                tot.p50_ms = quantile(lat, 0.50) * 1000
                tot.p95_ms = quantile(lat, 0.95) * 1000
                tot.p99_ms = quantile(lat, 0.99) * 1000
                tot.mean_ms = sum(lat) / len(lat) * 1000
            series[ch.scope] = ch.series
            totals[ch.scope] = tot
        return series, totals
