"""A run's per-second series as a Prometheus scraping them would store them, under the metric mapping.

Second ``i`` of a :class:`~chaos.run.Series` covers ``[i, i+1)``. A scrape at time ``t`` (every
``scrape_interval`` seconds from 0, the run's start) sees everything that completed before
``t``, so a sample stamped ``t`` holds:

* a **counter**: the total over seconds ``0 .. t-1``, cumulative from 0 (no resets: chaoslab
  keeps one series per service, as after a ``sum without (instance)``);
* a **histogram**: per ``le`` bound, the successful requests no slower than it, cumulative
  over seconds and over bounds (``le="+Inf"`` equals ``_count``); ``_sum`` adds each second's
  mean latency times its successes. chaoslab's latency histogram has the run's bounds
  (:func:`chaos.run.latency_bounds`, which for a simulation include the mapping's bounds, so
  their counts are exact); a bound that is not among them counts the buckets wholly below it;
* a **gauge**: the value at the end of second ``t-1`` (queue length, busy workers), or
  HAProxy's running average of the last 1024 successful requests' latency, updated second
  by second with each second's mean (an approximation of its per-request update).

Label sets of presets whose client libraries create them on first use (OpenTelemetry,
Micrometer) appear at the first scrape where they count something; the others are there
from the first scrape, at 0. A scrape of a label set writes all its samples (buckets,
``_count``, ``_sum``) at once.

:class:`Scraper` appends samples to a sink incrementally (the responder evaluates rules as
seconds complete); :func:`samples` collects a whole run.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from chaos.metrics.mapping import Exposed, Kind, Labels, MetricMapping, Signal, labels_of
from chaos.model.scope import Scope
from chaos.run import Series, as_bound

NAME = "__name__"
INF = float("inf")
AVERAGE_OVER = 1024  # HAProxy averages response times over the last 1024 successful requests


class Sink(Protocol):
    """Where scraped samples go: a :class:`chaos.promql.series.Store`, or a collector for export."""

    def append(self, labels: Labels, t: int, value: float) -> None: ...


@dataclass(frozen=True)
class SampleName:
    """One series of an exposed label set: its full labels (``__name__`` and ``le`` included)."""

    labels: Labels
    le: float | None = None  # the bucket bound (inf for +Inf), for a histogram's _bucket series


def sample_names(item: Exposed, le_bounds: Sequence[float], format_le: Callable[[float], str]) -> list[SampleName]:
    """The series an exposed label set writes: a counter's or gauge's one, or a histogram's several."""
    family = item.family
    if family.kind is not Kind.HISTOGRAM:
        return [SampleName(labels_of((*item.labels, (NAME, family.name))))]
    count = SampleName(labels_of((*item.labels, (NAME, f"{family.name}_count"))))
    if item.signal is not Signal.LATENCY:
        return [count]  # chaoslab times successes only: a failure's label set has its _count alone
    buckets = [SampleName(labels_of((*item.labels, (NAME, f"{family.name}_bucket"), ("le", format_le(b)))), b)
               for b in (*le_bounds, INF)]
    return [*buckets, count, SampleName(labels_of((*item.labels, (NAME, f"{family.name}_sum"))))]


@dataclass
class _State:
    """What one exposed label set has accumulated so far."""

    item: Exposed
    names: list[SampleName]
    wanted: list[bool]
    seen: int = 0           # seconds consumed
    total: float = 0.0      # a counter's total, a histogram's count
    latency_sum: float = 0.0
    buckets: list[int] = field(default_factory=list)  # per finite le bound: requests in (previous bound, bound]
    average: float = 0.0    # HAProxy's running average
    averaged: int = 0       # successes it has seen
    created: bool = False


class Scraper:
    """Scrapes per-second series into a sink as they complete, under one mapping.

    ``bounds`` are the run's latency bounds (bucket ``k`` of a second's histogram holds
    latencies in ``(bounds[k-1], bounds[k]]``). ``wanted`` keeps only the series a consumer
    reads (rules select a few of them); None keeps everything.
    """

    def __init__(self, mapping: MetricMapping, bounds: tuple[float, ...],
                 wanted: Callable[[Labels], bool] | None = None) -> None:
        self.mapping = mapping
        self.step = mapping.scrape_interval
        self.le = tuple(mapping.le_bounds(bounds))
        # chaoslab bucket k counts toward the first le bound at or above its upper bound
        stored = [as_bound(b) for b in self.le]
        self._to_le = [bisect.bisect_left(stored, as_bound(b)) for b in bounds] + [len(self.le)]
        self.next_t = 0
        self.states: list[_State] = []
        for item in mapping.exposed:
            names = sample_names(item, self.le, mapping.convention.format_le)
            keep = [wanted is None or wanted(n.labels) for n in names]
            if any(keep):
                self.states.append(_State(item, names, keep, buckets=[0] * (len(self.le) + 1)))

    @property
    def lazy(self) -> bool:
        return self.mapping.convention.lazy

    def scrape(self, series: Mapping[Scope, Series], complete: int, sink: Sink) -> None:
        """Append every scrape at ``t <= complete`` not taken yet (``complete``: seconds recorded)."""
        while self.next_t <= complete:
            t = self.next_t
            for state in self.states:
                self._advance(state, series[state.item.scope], t)
                self._write(state, t, sink)
            self.next_t += self.step

    # ------------------------------------------------------------------ accumulation

    def _advance(self, st: _State, s: Series, t: int) -> None:
        lo, hi = st.seen, min(t, len(s))
        if hi <= lo:
            return
        st.seen = hi
        signal = st.item.signal
        if signal is Signal.LATENCY:
            self._add_latency(st, s, lo, hi)
        elif signal is Signal.LATENCY_AVERAGE:
            self._add_average(st, s, lo, hi)
        elif signal in _COUNTERS:
            st.total += sum(_COUNTERS[signal](s)[lo:hi])
        elif signal in _GAUGES:
            st.total = float(_GAUGES[signal](s)[hi - 1])
        elif signal is Signal.FAILED:
            st.total += sum(sum(s.errors[c][lo:hi]) for c in st.item.causes)

    def _add_latency(self, st: _State, s: Series, lo: int, hi: int) -> None:
        to_le, buckets = self._to_le, st.buckets
        for i in range(lo, hi):
            ok = s.ok[i]
            if not ok:
                continue
            st.total += ok
            mean = s.mean_ms[i]
            st.latency_sum += (mean or 0.0) * ok / 1000.0
            for k, count in s.hist[i].items():
                buckets[to_le[min(k, len(to_le) - 1)]] += count

    def _add_average(self, st: _State, s: Series, lo: int, hi: int) -> None:
        # HAProxy's sliding average: each success moves it by (latency - average) / n, n growing
        # with the successes seen up to 1024; a second's successes all at that second's mean.
        for i in range(lo, hi):
            ok, mean = s.ok[i], s.mean_ms[i]
            if not ok or mean is None:
                continue
            value = mean / 1000.0
            early = min(ok, max(0, AVERAGE_OVER - st.averaged))
            if early:
                st.average = (st.average * st.averaged + value * early) / (st.averaged + early)
                st.averaged += early
            rest = ok - early
            if rest:
                keep = (1.0 - 1.0 / AVERAGE_OVER) ** rest
                st.average = st.average * keep + value * (1.0 - keep)

    # ------------------------------------------------------------------ samples

    def _write(self, st: _State, t: int, sink: Sink) -> None:
        if self.lazy and not st.created:
            if st.total <= 0:
                return
            st.created = True
        ms = t * 1000
        values = self._values(st, t)
        for name, keep, value in zip(st.names, st.wanted, values, strict=True):
            if keep:
                sink.append(name.labels, ms, value)

    def _values(self, st: _State, t: int) -> Iterator[float]:
        signal = st.item.signal
        if signal is Signal.LATENCY:
            running = 0
            for count in st.buckets[:-1]:
                running += count
                yield float(running)
            yield st.total  # +Inf
            yield st.total  # _count
            yield st.latency_sum
        elif signal is Signal.LATENCY_AVERAGE:
            yield st.average
        else:
            yield st.total  # a counter's total, or a gauge's latest value


_COUNTERS: dict[Signal, Callable[[Series], list[int]]] = {
    Signal.SENT: lambda s: s.requests, Signal.OK: lambda s: s.ok, Signal.RETRIES: lambda s: s.retries,
    Signal.WASTED: lambda s: s.wasted, Signal.DEGRADED: lambda s: s.degraded, Signal.NEVER: lambda s: [],
}
_GAUGES: dict[Signal, Callable[[Series], list[float]]] = {Signal.QUEUE: lambda s: s.queue,
                                                         Signal.BUSY: lambda s: s.busy}


class Collector:
    """A sink that keeps every sample, by series (for export and for tests)."""

    def __init__(self) -> None:
        self.points: dict[Labels, tuple[list[int], list[float]]] = {}

    def append(self, labels: Labels, t: int, value: float) -> None:
        times, values = self.points.setdefault(labels, ([], []))
        times.append(t)
        values.append(value)


def scrape_run(series: Mapping[Scope, Series], seconds: int, bounds: tuple[float, ...], mapping: MetricMapping,
               wanted: Callable[[Labels], bool] | None = None) -> Collector:
    """Every sample a Prometheus would have stored over a whole run of ``seconds``."""
    collector = Collector()
    Scraper(mapping, bounds, wanted).scrape(series, seconds, collector)
    return collector
