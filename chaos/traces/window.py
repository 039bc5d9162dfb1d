"""Grouping a stream of spans into traces in bounded memory.

Spans of one trace are spread over a file: a collector writes each service's spans when that
service exports them, so a trace's root (which ends last) may come seconds after its leaves,
between other traces' spans. A trace is held open until the stream has moved on past it:

- a trace is **closed** once the latest span end seen in the stream is more than ``window_s``
  after the latest end among its own spans (the collector's tail-sampling processor waits in
  the same way, by ``decision_wait``);
- at most ``max_open`` traces are open at once; past that, the least recently extended trace is
  closed early, and counted (memory stays bounded whatever the input's order);
- a span arriving for a trace that was already closed is **late**: counted and dropped (the ids
  of traces closed within the last two windows are remembered, at most ``max_open`` of them;
  a span later still starts a fragment of its trace, which assembly finds broken and counts);
- at the end of the input every open trace is closed.

Formats that deliver whole traces (a Jaeger trace object, a Zipkin list of one trace's spans)
bypass the window: each arrives complete.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from operator import attrgetter

from chaos.traces.fields import Batch
from chaos.traces.flaws import Flaw, Tally
from chaos.traces.spans import NS_PER_S, Span

_START_NS = attrgetter("start_ns")


class _Open:
    __slots__ = ("spans", "last_end")

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.last_end = 0


class TraceWindow:
    def __init__(self, tally: Tally, window_s: float = 10.0, max_open: int = 100_000) -> None:
        self.tally = tally
        self.window_ns = int(window_s * NS_PER_S)
        self.max_open = max_open
        self.watermark = 0
        # Ordered dicts: a plain dict's first key is found by scanning past every deleted entry, which makes
        # closing traces from the front quadratic; OrderedDict pops from either end in constant time.
        self.open: OrderedDict[str, _Open] = OrderedDict()  # least recently extended first
        self._closed: OrderedDict[str, int] = OrderedDict()  # recently closed trace ids -> last end, oldest first
        self.longest_ns = 0  # the longest trace closed so far, first span start to last span end

    def add(self, batch: Batch) -> Iterator[list[Span]]:
        """The traces this batch completes (or makes old enough to close)."""
        for flaw, where in batch.dropped:
            self.tally.add(flaw, where)
        if batch.whole_traces:
            yield from self._whole(batch.spans)
            return
        open_, closed = self.open, self._closed
        watermark = self.watermark
        for span in batch.spans:
            tid = span.trace_id
            trace = open_.get(tid)
            if trace is None:
                if tid in closed:
                    self.tally.add(Flaw.LATE_SPAN, span.origin)
                    continue
                trace = open_[tid] = _Open()
            else:
                open_.move_to_end(tid)
            trace.spans.append(span)
            if span.end_ns > trace.last_end:
                trace.last_end = span.end_ns
                if span.end_ns > watermark:
                    watermark = span.end_ns
        self.watermark = watermark
        yield from self._expire()

    def flush(self) -> Iterator[list[Span]]:
        while self.open:
            yield self._close(next(iter(self.open)))

    def _whole(self, spans: list[Span]) -> Iterator[list[Span]]:
        by_trace: dict[str, list[Span]] = {}
        for span in spans:
            by_trace.setdefault(span.trace_id, []).append(span)
        for tid, group in by_trace.items():
            pending = self.open.pop(tid, None)  # the same trace also streamed earlier: one trace
            yield group if pending is None else pending.spans + group

    def _expire(self) -> Iterator[list[Span]]:
        horizon = self.watermark - self.window_ns
        open_ = self.open
        while open_:
            tid = next(iter(open_))
            if open_[tid].last_end < horizon:
                yield self._close(tid)
            elif len(open_) > self.max_open:
                self.tally.add(Flaw.CLOSED_EARLY, open_[tid].spans[0].origin)
                yield self._close(tid)
            else:
                return

    def _close(self, tid: str) -> list[Span]:
        trace = self.open.pop(tid)
        closed = self._closed
        closed[tid] = trace.last_end
        forget = self.watermark - 3 * self.window_ns
        while closed and (len(closed) > self.max_open or next(iter(closed.values())) < forget):
            closed.popitem(last=False)
        first = min(map(_START_NS, trace.spans))
        self.longest_ns = max(self.longest_ns, trace.last_end - first)
        return trace.spans
