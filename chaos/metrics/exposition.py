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
  HAProxy's sliding average of the successful requests' latency (over 512: ``AVERAGE_OVER``), updated second
  by second with each second's mean (an approximation of its per-request update).

Label sets of presets whose client libraries create them on first use (OpenTelemetry,
Micrometer) appear at the first scrape where they count something; the others are there
from the first scrape, at 0. A scrape of a label set writes all its samples (buckets,
``_count``, ``_sum``) at once.

**History.** A team's Prometheus has been scraping for days when an incident starts; a
burn-rate alert's hour-long window is mostly that history. With history, the scraper first
writes each series as it would have been before the run, as far back as the rules read it
(the longest range plus offset of a selector that matches it), in the steady state of the
run's warm-up: each counter growing at its warm-up average rate (a label set that counted
nothing in the warm-up has no history), each gauge at its warm-up mean. Its last minutes
(as long before the run as rules are evaluated, plus a minute) are scraped as often as the
run, the hour before every minute, anything older with at most 120 samples: a window within
the history sees a straight line, whose rate a few samples give exactly. The run's counters
continue from where the history ends. This needs the warm-up, so nothing is written before
the warm-up has completed; samples never change in hindsight, so an evaluation done then of
an earlier instant sees exactly what it would have seen at that instant.

:class:`Scraper` appends samples to a sink incrementally (the responder evaluates rules as
seconds complete); :func:`scrape_run` collects a whole run.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Protocol

from chaos.core.latency import AVERAGE_OVER  # HAProxy's average: each success moves it by a 512th
from chaos.metrics.mapping import Exposed, Kind, Labels, MetricMapping, Signal, labels_of
from chaos.model.scope import Scope
from chaos.run import Series, as_bound

NAME = "__name__"
INF = float("inf")
HISTORY_STEP = 60    # seconds between the samples of the last hour of history before a run
FINE_HISTORY = 3600  # the history's last hour is sampled every HISTORY_STEP ...
COARSE_POINTS = 120  # ... and what lies before it with this many samples at most


class Handle(Protocol):
    """One series in a sink: its sample times (milliseconds) and values, appended to in time order."""

    times: list[int]
    values: list[float]


class Sink(Protocol):
    """Where scraped samples go: a :class:`chaos.promql.series.Store`, or a :class:`Collector` for export."""

    def handle(self, labels: Labels) -> Handle: ...  # a store's handle is its StoredSeries


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


def history_times(span: int, step: int, dense: int = 0, scrape: int = 1) -> list[int]:
    """Sample times (seconds, negative) of a history ``span`` long.

    Its last ``dense`` seconds every ``scrape`` seconds, as Prometheus scraped them (rules are
    evaluated there, before the run, and see what they would have seen); the hour before
    every ``step`` seconds; anything older with at most :data:`COARSE_POINTS` samples. A window
    that lies in the history sees a straight line, whose rate a few samples give exactly.
    """
    dense = min(span, dense) // scrape * scrape
    fine = min(span, max(FINE_HISTORY, step))
    times = list(range(-dense, 0, scrape))
    times = [t for t in range(-fine, 0, step) if t < -dense] + times
    if span > fine:
        coarse = max(step, -(-(span - fine) // COARSE_POINTS))
        times = list(range(-span, -fine, coarse)) + times
    return times


@dataclass
class _State:
    """What one exposed label set has accumulated so far."""

    item: Exposed
    names: list[SampleName]
    wanted: list[bool]
    history: int = 0        # seconds of history this label set gets
    seen: int = 0           # seconds consumed
    total: float = 0.0      # a counter's total, a histogram's count, a gauge's latest value
    latency_sum: float = 0.0
    buckets: list[float] = field(default_factory=list)  # per le bound: requests in (previous bound, bound]
    average: float = 0.0    # HAProxy's running average
    averaged: int = 0       # successes it has seen
    created: bool = False
    handles: list[Handle | None] | None = None


class Scraper:
    """Scrapes per-second series into a sink as they complete, under one mapping.

    ``bounds`` are the run's latency bounds (bucket ``k`` of a second's histogram holds
    latencies in ``(bounds[k-1], bounds[k]]``). ``wanted`` keeps only the series a consumer
    reads (rules select a few of them); None keeps everything. ``history`` says how many
    seconds of steady-state history a series gets (see the module's docstring); it is made
    from the first ``warmup`` seconds, and its last ``dense`` seconds are scraped as often as
    the run.
    """

    def __init__(self, mapping: MetricMapping, bounds: tuple[float, ...],
                 wanted: Callable[[Labels], bool] | None = None,
                 history: Callable[[Labels], float] | None = None, warmup: int = 0, dense: int = 0) -> None:
        self.mapping = mapping
        self.dense = dense
        self.step = mapping.scrape_interval
        self.warmup = warmup
        self.history_step = max(self.step, HISTORY_STEP)
        self.le = tuple(mapping.le_bounds(bounds))
        # chaoslab bucket k counts toward the first le bound at or above its upper bound
        stored = [as_bound(b) for b in self.le]
        self._to_le = [bisect.bisect_left(stored, as_bound(b)) for b in bounds] + [len(self.le)]
        self.next_t = 0
        self.states: list[_State] = []
        for item in mapping.exposed:
            names = sample_names(item, self.le, mapping.convention.format_le)
            keep = [wanted is None or wanted(n.labels) for n in names]
            if not any(keep):
                continue
            span = 0.0
            if history is not None and warmup > 0:
                span = max(history(n.labels) for n, k in zip(names, keep, strict=True) if k)
            steps = int(math.ceil(span / self.history_step))
            self.states.append(_State(item, names, keep, steps * self.history_step,
                                      buckets=[0.0] * (len(self.le) + 1)))
        self.flowing = not any(st.history for st in self.states)  # with history, nothing before the warm-up

    @property
    def lazy(self) -> bool:
        return self.mapping.convention.lazy

    def scrape(self, series: Mapping[Scope, Series], complete: int, sink: Sink) -> None:
        """Append every scrape at ``t <= complete`` not taken yet (``complete``: seconds recorded)."""
        if not self.flowing:
            if complete < self.warmup:
                return
            self._write_history(series, sink)
            self.flowing = True
        if self.next_t > complete:
            return
        times = list(range(self.next_t, complete + 1, self.step))
        self.next_t = times[-1] + self.step
        for state in self.states:  # state by state, every pending scrape at once: the series are independent
            self._take(state, series[state.item.scope], times, sink)

    # ------------------------------------------------------------------ history

    def _write_history(self, series: Mapping[Scope, Series], sink: Sink) -> None:
        w = self.warmup
        for st in self.states:
            if not st.history:
                continue
            s = series[st.item.scope]
            rates = _State(st.item, st.names, st.wanted, buckets=[0.0] * len(st.buckets))
            self._take(rates, s, [w], None)
            if st.item.signal in _GAUGES:
                column = _GAUGES[st.item.signal](s)[:w]
                rates.total = sum(column) / len(column) if column else 0.0
            elif st.item.signal is not Signal.LATENCY_AVERAGE:
                rates.total /= w
                rates.latency_sum /= w
                rates.buckets = [b / w for b in rates.buckets]
            if self.lazy and rates.total <= 0:
                continue  # a label set the warm-up never used: created later, if ever
            st.created = True
            times = history_times(st.history, self.history_step, self.dense, self.step)
            rows = []
            for t in times:
                self._scale(st, rates, st.history + t)
                rows.append(self._values(st))
            self._push(st, times, rows, sink)
            self._scale(st, rates, st.history)  # the run's counters continue from where the history ends
            st.averaged = AVERAGE_OVER if rates.averaged else 0

    @staticmethod
    def _scale(st: _State, rates: _State, elapsed: int) -> None:
        """``st`` as it stood ``elapsed`` seconds into its history: rates times time, gauges as they are."""
        if st.item.signal in _GAUGES:
            st.total = rates.total
            return
        st.average = rates.average
        st.total = rates.total * elapsed
        st.latency_sum = rates.latency_sum * elapsed
        st.buckets = [b * elapsed for b in rates.buckets]

    # ------------------------------------------------------------------ accumulation

    def _take(self, st: _State, s: Series, times: list[int], sink: Sink | None) -> None:
        """Advance ``st`` through the seconds before each of ``times`` (ascending); push a sample at each."""
        signal = st.item.signal
        rows: list[list[float]] = []
        totals: list[float] = []   # what decides whether a label set created on first use exists yet
        if signal is Signal.LATENCY or signal is Signal.LATENCY_AVERAGE:
            add = self._add_latency if signal is Signal.LATENCY else self._add_average
            for t in times:
                hi = min(t, len(s))
                if hi > st.seen:
                    add(st, s, st.seen, hi)
                    st.seen = hi
                rows.append(self._values(st))
                totals.append(st.total)
        elif signal in _GAUGES:
            column = _GAUGES[signal](s)
            for t in times:
                if 0 < t <= len(column) and t > st.seen:
                    st.total, st.seen = float(column[t - 1]), t
                rows.append([st.total])
            totals = [row[0] for row in rows]
        else:
            lo, hi = st.seen, max(st.seen, min(times[-1], len(s)))
            running = list(accumulate(self._increments(st, s, lo, hi), initial=st.total))
            totals = [running[max(0, min(t, hi) - lo)] for t in times]
            rows = [[v] for v in totals]
            st.total, st.seen = running[-1], hi
        if sink is None:
            return
        first = 0
        if not st.created:
            if self.lazy:
                first = next((i for i, v in enumerate(totals) if v > 0), len(times))
                if first == len(times):
                    return
            st.created = True
        self._push(st, times[first:], rows[first:], sink)

    @staticmethod
    def _increments(st: _State, s: Series, lo: int, hi: int) -> list[int]:
        """A counter's per-second increments over seconds ``[lo, hi)``."""
        signal = st.item.signal
        if signal is Signal.FAILED:
            columns = [s.errors[c][lo:hi] for c in st.item.causes]
            return columns[0] if len(columns) == 1 else [sum(v) for v in zip(*columns, strict=True)]
        if signal is Signal.NEVER:
            return [0] * (hi - lo)
        return _COUNTERS[signal](s)[lo:hi]

    def _add_latency(self, st: _State, s: Series, lo: int, hi: int) -> None:
        to_le, buckets = self._to_le, st.buckets
        last = len(to_le) - 1
        for i in range(lo, hi):
            ok = s.ok[i]
            if not ok:
                continue
            st.total += ok
            mean = s.mean_ms[i]
            st.latency_sum += (mean or 0.0) * ok / 1000.0
            for k, count in s.hist[i].items():
                buckets[to_le[min(k, last)]] += count

    def _add_average(self, st: _State, s: Series, lo: int, hi: int) -> None:
        # HAProxy's sliding average: each success moves it by (latency - average) / n, n growing
        # with the successes seen up to AVERAGE_OVER; a second's successes all at that second's mean.
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

    def _push(self, st: _State, times: list[int], rows: list[list[float]], sink: Sink) -> None:
        """Samples at ``times`` (seconds), one row of values per time in the order of ``st.names``."""
        if not times:
            return
        if st.handles is None:
            st.handles = [sink.handle(n.labels) if keep else None for n, keep in zip(st.names, st.wanted,
                                                                                     strict=True)]
        stamps = [t * 1000 for t in times]
        columns = [[row[0] for row in rows]] if len(st.handles) == 1 else list(zip(*rows, strict=True))
        for handle, column in zip(st.handles, columns, strict=True):
            if handle is not None:
                handle.times.extend(stamps)
                handle.values.extend(column)

    def _values(self, st: _State) -> list[float]:
        signal = st.item.signal
        if signal is Signal.LATENCY:
            return [*accumulate(st.buckets[:-1]), st.total, st.total, st.latency_sum]  # buckets, +Inf, count, sum
        if signal is Signal.LATENCY_AVERAGE:
            return [st.average]
        return [st.total]  # a counter's total, or a gauge's latest value


_COUNTERS: dict[Signal, Callable[[Series], list[int]]] = {
    Signal.SENT: lambda s: s.requests, Signal.OK: lambda s: s.ok, Signal.RETRIES: lambda s: s.retries,
    Signal.WASTED: lambda s: s.wasted, Signal.DEGRADED: lambda s: s.degraded,
}
_GAUGES: dict[Signal, Callable[[Series], list[float]]] = {Signal.QUEUE: lambda s: s.queue,
                                                         Signal.BUSY: lambda s: s.busy}


class _Points:
    """One collected series: its times (milliseconds) and values."""

    __slots__ = ("times", "values")

    def __init__(self) -> None:
        self.times: list[int] = []
        self.values: list[float] = []


class Collector:
    """A sink that keeps every sample, by series (for export and for tests)."""

    def __init__(self) -> None:
        self.points: dict[Labels, _Points] = {}

    def handle(self, labels: Labels) -> _Points:
        return self.points.setdefault(labels, _Points())


def scrape_run(series: Mapping[Scope, Series], seconds: int, bounds: tuple[float, ...], mapping: MetricMapping,
               wanted: Callable[[Labels], bool] | None = None) -> Collector:
    """Every sample a Prometheus would have stored over a whole run of ``seconds`` (no history)."""
    collector = Collector()
    Scraper(mapping, bounds, wanted).scrape(series, seconds, collector)
    return collector
