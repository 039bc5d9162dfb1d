"""From executions to the observed model: counts and histograms gathered trace by trace, judged at the end.

Nothing here keeps a span once its trace is counted: per operation and per call the figures
are running counts and :class:`~chaos.traces.histogram.LogHistogram` s, so memory grows with
the number of distinct operations and calls, not with the number of spans. The judgements
that need every trace (which calls never occur together, what order calls run in, whether
errors cluster at one duration) are made in :meth:`Deriver.result` from those figures.

How each figure is derived:

- **probability** of a call: requests of the operation that made it at least once / requests;
- **order and stages**: for every two calls of an operation that occurred in one request, whether
  they overlapped and which started first; calls are ordered by how many others they precede
  (ties by their mean start), and a call joins the stage before it when it overlapped each of
  that stage's calls in most requests that had both;
- **routing**: calls of one operation that never occurred together, where independent calls with
  their probabilities would have met at least ``ROUTER_EVIDENCE`` times, form a router;
- **retries**: attempts after a failed attempt to the same callee within one request;
- **timeout**: most failed attempts (``TIMEOUT_CLUSTER``) lasted within 5% of one duration and no
  successful attempt lasted longer;
- **workers**: the most server spans one instance had in progress at once, taken as the pool size
  when requests were seen to wait for it (server span start later than the client's send by more
  than the network's minimum, and spans beginning as others of their instance ended, far beyond
  chance: a queued request starts when a worker frees).
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import math
from collections.abc import Iterable
from typing import TypeVar

from chaos.core.choices import CallMode
from chaos.errors import Location
from chaos.model.distributions import AnyDistribution
from chaos.model.quantities import plural
from chaos.traces.assemble import Call, Execution, Match, Resolution, Resolver, SkewBook, assemble
from chaos.traces.fit import MIN_SAMPLES, Summary, empirical, fit_times, shifted
from chaos.traces.flaws import Flaw, Tally
from chaos.traces.histogram import LogHistogram
from chaos.traces.observed import (
    Basis,
    ClockOffset,
    Concurrency,
    Marked,
    Matching,
    ObservedCall,
    ObservedEntrypoint,
    ObservedModel,
    ObservedOperation,
    ObservedService,
    Pace,
    PaceClass,
    Retries,
    Route,
    Router,
    Settings,
    SourceFile,
    Stage,
    Step,
    Traffic,
    WorkTime,
)
from chaos.traces.spans import NS_PER_S, TOUCH_NS, Span

ROUTER_EVIDENCE = 5.0      # expected co-occurrences, under independence, before "never together" means routing
TIMEOUT_CLUSTER = 0.8      # share of failed attempts within 5% of one duration
TIMEOUT_MIN_ERRORS = 5
PARALLEL_MAJORITY = 0.5
QUEUE_MIN_S = 0.001        # a queue wait shorter than this is network jitter, not queueing
QUEUE_MIN_SHARE = 0.01     # of arrivals that found the pool at its maximum
HANDOFF_NS = 200_000       # a server span that begins this soon after another one of its instance ended
QUEUE_MIN_HANDOFFS = 0.1   # of arrivals, and three times chance, before a wait before the span is queueing
SHARED_AT_MOST = 0.2       # of the disagreements independent draws would make, before a call's presence is shared
HOP_QUANTILE = 0.01        # of caller's span minus server span: the network, below any queueing before the span
SEEN_QUANTILE_MISS = 0.05  # a fitted service time must hold the callers' waits' p50, p90, p99 this closely
PACE_CLASSES = 8           # requests grouped by how slow their hops were, for services' times by pace
PACE_BIN = math.log(1.1)   # a trace's pace is binned in steps of 10%, so that the grouping needs no list of traces
PACE_MIN_CORRELATION = 0.3  # of one hop's overhead with its request's other hops' (logs), before pace is modelled
_HINTS_KEPT = 32

_BOTH, _CLIENT_ONLY = Match.BOTH, Match.CLIENT_ONLY  # as globals in the loops per attempt (see assemble)

K = TypeVar("K")
SlotKey = tuple[str, str]  # (callee, callee operation); operation "" until a server span names it
PacedKey = str | tuple[str, str]  # a service, or (service, operation)
Paced = tuple[AnyDistribution, ...]  # times in each class of pace, slowest last


class _Slot:
    """Running figures of one call (callee and operation) made by one operation."""

    __slots__ = ("requests_with", "calls", "attempts", "attempt_errors", "final_errors", "max_attempts",
                 "retried", "ok", "failed", "backoff", "offset_sum", "matches", "resolutions", "hints",
                 "client_only_at", "hop")

    def __init__(self) -> None:
        self.requests_with = self.calls = self.attempts = self.attempt_errors = 0
        self.final_errors = self.max_attempts = self.retried = 0
        self.ok = LogHistogram()
        self.failed = LogHistogram()
        self.backoff = LogHistogram()
        self.offset_sum = 0.0  # seconds from the caller's start to the call's, summed (for the mean)
        self.matches = {m: 0 for m in Match}
        self.resolutions: dict[Resolution, int] = {}
        self.hints: dict[str, int] = {}
        self.client_only_at: list[Location] = []
        self.hop = LogHistogram()  # caller's span minus the callee's server span, attempts seen from both sides

    def add(self, call: Call, caller_start: int) -> None:
        self.calls += 1
        n = len(call.attempts)
        self.attempts += n
        self.max_attempts = max(self.max_attempts, n)
        self.retried += n > 1
        self.final_errors += call.attempts[-1].error
        self.resolutions[call.resolution] = self.resolutions.get(call.resolution, 0) + 1
        if call.hint and (call.hint in self.hints or len(self.hints) < _HINTS_KEPT):
            self.hints[call.hint] = self.hints.get(call.hint, 0) + 1
        self.offset_sum += (call.start_ns - caller_start) / NS_PER_S
        previous_end = None
        for start_ns, end_ns, error, match, client, server in call.attempts:  # unpacked: a named tuple's fields
            duration = (end_ns - start_ns) / NS_PER_S                       # are slower to read by name
            if error:
                self.attempt_errors += 1
                self.failed.add(duration)
            else:
                self.ok.add(duration)
            self.matches[match] += 1
            if match is _BOTH and server is not None and not error:
                self.hop.add((end_ns - start_ns - (server.end_ns - server.start_ns)) / NS_PER_S)
            if match is _CLIENT_ONLY and len(self.client_only_at) < 3 and client is not None:
                self.client_only_at.append(client.origin)
            if previous_end is not None:
                self.backoff.add((start_ns - previous_end) / NS_PER_S)
            previous_end = end_ns

    def merge(self, other: _Slot) -> None:
        for name in ("requests_with", "calls", "attempts", "attempt_errors", "final_errors", "retried"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.max_attempts = max(self.max_attempts, other.max_attempts)
        for name in ("ok", "failed", "backoff", "hop"):
            getattr(self, name).merge(getattr(other, name))
        self.offset_sum += other.offset_sum
        for m in Match:
            self.matches[m] += other.matches[m]
        for how, n in other.resolutions.items():
            self.resolutions[how] = self.resolutions.get(how, 0) + n
        for hint, n in other.hints.items():
            self.hints[hint] = self.hints.get(hint, 0) + n
        self.client_only_at = (self.client_only_at + other.client_only_at)[:3]

    def resolution(self) -> Resolution:
        return max(self.resolutions, key=self.resolutions.__getitem__) if self.resolutions else Resolution.HOST


class _Pair:
    """Two calls of one operation in the requests that made both: how often they overlapped, which went first."""

    __slots__ = ("together", "overlapped", "first_first")

    def __init__(self) -> None:
        self.together = self.overlapped = self.first_first = 0


class _Operation:
    __slots__ = ("requests", "errors", "latency", "own", "slots", "pairs")

    def __init__(self) -> None:
        self.requests = self.errors = 0
        self.latency = LogHistogram()
        self.own = LogHistogram()
        self.slots: dict[SlotKey, _Slot] = {}
        self.pairs: dict[tuple[SlotKey, SlotKey], _Pair] = {}

    def add(self, ex: Execution) -> None:
        span = ex.span
        self.requests += 1
        self.errors += span.error
        self.latency.add((span.end_ns - span.start_ns) / NS_PER_S)
        self.own.add(ex.own_ns / NS_PER_S)
        firsts: dict[SlotKey, Call] = {}
        for call in ex.calls:
            key = (call.callee, call.operation)
            slot = self.slots.get(key)
            if slot is None:
                slot = self.slots[key] = _Slot()
            if key not in firsts:
                firsts[key] = call
                slot.requests_with += 1
            slot.add(call, span.start_ns)
        if len(firsts) > 1:
            keys = sorted(firsts)
            for i, a in enumerate(keys):
                ca = firsts[a]
                for b in keys[i + 1:]:
                    cb = firsts[b]
                    pair = self.pairs.get((a, b))
                    if pair is None:
                        pair = self.pairs[(a, b)] = _Pair()
                    pair.together += 1
                    pair.overlapped += ca.start_ns < cb.end_ns - TOUCH_NS and cb.start_ns < ca.end_ns - TOUCH_NS
                    pair.first_first += ca.start_ns <= cb.start_ns

    def rekey(self, old: SlotKey, new: SlotKey) -> None:
        """Fold the figures of call ``old`` into call ``new`` (a callee named late, an operation learned late)."""
        if old == new or old not in self.slots:
            return
        slot = self.slots.pop(old)
        if new in self.slots:
            self.slots[new].merge(slot)
        else:
            self.slots[new] = slot
        for (a, b) in [k for k in self.pairs if old in k]:
            pair = self.pairs.pop((a, b))
            a2, b2 = (new if a == old else a), (new if b == old else b)
            if a2 == b2:
                continue
            flip = a2 > b2
            key = (b2, a2) if flip else (a2, b2)
            target = self.pairs.setdefault(key, _Pair())
            target.together += pair.together
            target.overlapped += pair.overlapped
            target.first_first += (pair.together - pair.first_first) if flip else pair.first_first


class _Concurrency:
    """Server spans per instance, swept in start order once no earlier span can still arrive.

    Pending spans wait in buckets of ``BUCKET_NS`` by start, each sorted when swept, rather than in one heap:
    a heap of the two windows' spans that wait costs some forty comparisons of tuples per span to push and
    pop, a bucket's sort about ten. The order swept is the heap's: buckets in order, each in order, and no
    span joins a bucket below the sweep's end (it is counted late instead).

    Also the hand-offs: spans that began as another span of their instance ended (within ``HANDOFF_NS``).
    A request that queued for a worker before its server span begins when a worker frees, so queueing
    before the span shows as hand-offs far beyond chance; a wait before the span without them is the
    network's (a proxy, connection set-up), which no pool size explains.
    """

    BUCKET_NS = 100_000_000

    def __init__(self) -> None:
        self.pending: dict[int, list[tuple[int, int, tuple[str, str]]]] = {}
        self.buckets: list[int] = []  # a heap of the keys of ``pending``
        self.active: dict[tuple[str, str], list[int]] = {}
        self.arrivals: dict[tuple[str, str], dict[int, int]] = {}
        self.last_end: dict[tuple[str, str], int] = {}  # the latest end swept past, per instance
        self.handoffs: dict[tuple[str, str], int] = {}
        self.period: dict[tuple[str, str], list[int]] = {}  # [first start, last end] per instance
        self.late = 0
        self.done_until = -(2**63)

    def add(self, span: Span) -> None:
        if span.start_ns < self.done_until:
            self.late += 1
            return
        bucket = span.start_ns // self.BUCKET_NS
        waiting = self.pending.get(bucket)
        if waiting is None:
            waiting = self.pending[bucket] = []
            heapq.heappush(self.buckets, bucket)
        waiting.append((span.start_ns, span.end_ns, (span.service, span.instance)))

    def sweep(self, until: int) -> None:
        pending, buckets = self.pending, self.buckets
        while buckets and buckets[0] * self.BUCKET_NS < until:
            bucket = buckets[0]
            spans = pending[bucket]
            spans.sort()
            if (bucket + 1) * self.BUCKET_NS > until:  # the bucket the sweep ends in: its spans from ``until`` on wait
                cut = bisect.bisect_left(spans, (until,))
                if cut < len(spans):
                    pending[bucket] = spans[cut:]
                    self._arrive(spans[:cut])
                    break
            heapq.heappop(buckets)
            del pending[bucket]
            self._arrive(spans)
        self.done_until = max(self.done_until, until)

    def _arrive(self, spans: list[tuple[int, int, tuple[str, str]]]) -> None:
        heappop, heappush = heapq.heappop, heapq.heappush
        last_end, handoffs, periods = self.last_end, self.handoffs, self.period
        for start, end, key in spans:
            active = self.active.get(key)
            if active is None:  # not setdefault, which would build a list and a dict for every span
                active = self.active[key] = []
                self.arrivals[key] = {}
            last = last_end.get(key, -(2**63))
            while active and active[0] <= start + TOUCH_NS:
                last = heappop(active)
            last_end[key] = last
            if last >= start - HANDOFF_NS:
                handoffs[key] = handoffs.get(key, 0) + 1
            heappush(active, end)
            seen = self.arrivals[key]
            seen[len(active)] = seen.get(len(active), 0) + 1
            period = periods.get(key)
            if period is None:
                periods[key] = [start, end]
            elif end > period[1]:
                period[1] = end

    def handoff_share(self, service: str) -> tuple[float, float]:
        """(the share of ``service``'s arrivals that were hand-offs, the share that chance alone would give:
        arrivals landing within ``HANDOFF_NS`` after an end, ends coming at the instance's mean rate)."""
        n = handoffs = 0
        chance = 0.0
        for key, seen in self.arrivals.items():
            if key[0] != service:
                continue
            k = sum(seen.values())
            n += k
            handoffs += self.handoffs.get(key, 0)
            first, last = self.period[key]
            chance += k * min(1.0, k * HANDOFF_NS / max(last - first, 1))
        return (handoffs / n, chance / n) if n else (0.0, 0.0)

    def of_service(self, service: str) -> tuple[int, float]:
        """(the most in progress on one instance, share of arrivals that found their instance at that maximum)."""
        peak, at_peak, total = 0, 0, 0
        for (name, _), seen in self.arrivals.items():
            if name != service:
                continue
            top = max(seen)
            if top > peak:
                peak, at_peak = top, 0
            if top == peak:
                at_peak += seen[top]
            total += sum(seen.values())
        return peak, (at_peak / total if total else 0.0)


class _Gaps:
    """Client send to server start, per (callee, client host, server host): shifted by an anchor so that a
    constant clock offset between the hosts cancels out of the spread."""

    __slots__ = ("anchor", "low", "hist")

    def __init__(self, anchor: int) -> None:
        self.anchor = anchor
        self.low = anchor
        self.hist = LogHistogram()

    def add(self, gap: int) -> None:
        if gap < self.low:
            self.low = gap
        self.hist.add((gap - self.anchor) / NS_PER_S)

    def waits(self) -> Summary:
        shift = (self.low - self.anchor) / NS_PER_S
        h = self.hist
        return Summary(h.count, h.mean - shift, h.quantile(0.5) - shift, h.quantile(0.9) - shift,
                       h.quantile(0.99) - shift)


class Deriver:
    """Takes traces one at a time; :meth:`result` judges what they showed."""

    def __init__(self, tally: Tally, skew_tolerance_s: float = 0.001) -> None:
        self.tally = tally
        self.resolver = Resolver()
        self.skew = SkewBook(int(skew_tolerance_s * NS_PER_S))
        self.ops: dict[tuple[str, str], _Operation] = {}
        self.entries: dict[tuple[str, str], list] = {}  # [requests, errors, latency, latency of successes]
        self.instances: dict[str, set[str]] = {}
        self.concurrency = _Concurrency()
        self.gaps: dict[tuple[str, str, str], _Gaps] = {}
        self.retried: dict[tuple[str, str], _Retried] = {}  # callee operation -> its attempts' calls
        self.seen: dict[str, LogHistogram] = {}  # service -> its work as its callers waited on it
        self.seen_ops: dict[tuple[str, str], LogHistogram] = {}  # the same per (service, operation)
        self.pace = _Pace()
        self.traces = self.traces_used = 0
        self.start_ns = 2**63
        self.end_ns = 0
        self.last_arrival_ns = 0

    def add_trace(self, spans: list[Span]) -> None:
        self.traces += 1
        executions = assemble(spans, self.resolver, self.skew, self.tally)
        if executions is None:
            return
        self.traces_used += 1
        by_span = {ex.span.span_id: ex for ex in executions}
        times = {ex.span.span_id: ex.own_ns / NS_PER_S for ex in executions}
        overheads: list[float] = []
        retried: list[Call] = []
        gaps = self.gaps
        # One pass over every attempt for what is figured per attempt seen from both sides (each figure still
        # takes its values in the order of executions, calls, attempts, as its sums' rounding depends on it).
        for ex in executions:
            self._add(ex)
            for call in ex.calls:
                if len(call.attempts) > 1:
                    retried.append(call)
                for start_ns, end_ns, error, match, client, server in call.attempts:
                    if match is not _BOTH or server is None:
                        continue
                    if client is not None:
                        gkey = (server.service, client.host, server.host)
                        gap = server.start_ns - client.start_ns
                        found = gaps.get(gkey)
                        if found is None:
                            found = gaps[gkey] = _Gaps(gap)
                        found.add(gap)
                    seen = self._add_seen(end_ns - start_ns, server, by_span)
                    if seen is not None:
                        times[server.span_id] = seen
                    if not error:
                        overheads.append(max(0, end_ns - start_ns - (server.end_ns - server.start_ns)) / NS_PER_S)
        self.pace.add(overheads, [(by_span[i].span.service, by_span[i].span.operation, t) for i, t in times.items()])
        for call in retried:
            self._add_retried(call, by_span)

    def _add_seen(self, waited_ns: int, server: Span, by_span: dict[str, Execution]) -> float | None:
        """The callee's work as its caller waited on it: the caller's wait minus what the callee waited on its
        own calls. Per attempt, so the per-hop overhead comes with its own spread, not as one constant. An
        attempt its caller gave up on (a timeout: the server span outlived the client's) counts its own time
        alone, its overhead unseen: left out, the slowest work would be missing from the fit."""
        done = by_span.get(server.span_id)
        if done is None:
            return None
        seen = (max(0, waited_ns - (server.end_ns - server.start_ns)) + done.own_ns) / NS_PER_S
        _histogram(self.seen, server.service).add(seen)
        _histogram(self.seen_ops, (server.service, server.operation)).add(seen)
        return seen

    def _add_retried(self, call: Call, by_span: dict[str, Execution]) -> None:
        """What the callee called in each attempt of one retried call: the same, or drawn anew?"""
        done = [by_span[a.server.span_id] for a in call.attempts
                if a.server is not None and a.server.span_id in by_span]
        if len(done) < 2:
            return
        key = (done[0].span.service, done[0].span.operation)
        book = self.retried.get(key)
        if book is None:
            book = self.retried[key] = _Retried()
        book.groups[len(done)] = book.groups.get(len(done), 0) + 1
        made = [{c.callee for c in ex.calls} for ex in done]
        for callee in set().union(*made):
            if not all(callee in m for m in made):
                book.disagree[callee] = book.disagree.get(callee, 0) + 1

    def advance(self, horizon_ns: int) -> None:
        """No span starting before ``horizon_ns`` is still to come: sweep concurrency up to there."""
        self.concurrency.sweep(horizon_ns)

    def _add(self, ex: Execution) -> None:
        span = ex.span
        key = (span.service, span.operation)
        op = self.ops.get(key)
        if op is None:
            op = self.ops[key] = _Operation()
        op.add(ex)
        instances = self.instances.get(span.service)
        if instances is None:
            instances = self.instances[span.service] = set()
        instances.add(span.instance)
        self.concurrency.add(span)
        if ex.entry:
            entry = self.entries.get(key)
            if entry is None:
                entry = self.entries[key] = [0, 0, LogHistogram(), LogHistogram()]
            entry[0] += 1
            entry[1] += span.error
            duration = (span.end_ns - span.start_ns) / NS_PER_S
            entry[2].add(duration)
            if not span.error:
                entry[3].add(duration)
            self.start_ns = min(self.start_ns, span.start_ns)
            self.end_ns = max(self.end_ns, span.end_ns)
            self.last_arrival_ns = max(self.last_arrival_ns, span.start_ns)

    # ------------------------------------------------------------------ judgement

    def result(self, sources: tuple[SourceFile, ...], settings: Settings, spans_read: int) -> ObservedModel:
        self.concurrency.sweep(2**63 - 1)
        instrumented = {service for service, _ in self.ops}
        self._name_late(instrumented)
        total_entries = sum(e[0] for e in self.entries.values())
        # Rates are over the span of entry arrivals: n - 1 gaps between the first and the last arrival (the
        # unbiased estimate for a Poisson stream), so a trailing slow request does not dilute them.
        arrivals = (self.last_arrival_ns - self.start_ns) / NS_PER_S if self.end_ns else 0.0
        duration = arrivals * total_entries / (total_entries - 1) if total_entries > 1 else 0.0
        services = self._services(instrumented, duration)
        entrypoints = tuple(
            ObservedEntrypoint(svc, op, n, _rate(n, duration), n / total_entries, errors / n, Summary.of(hist),
                               Traffic(n, errors, Summary.of(ok)))
            for (svc, op), (n, errors, hist, ok) in sorted(self.entries.items(), key=lambda kv: (-kv[1][0], kv[0])))
        offsets = tuple(ClockOffset(c, s, n, low / NS_PER_S, high / NS_PER_S)
                        for (c, s), (n, low, high) in sorted(self.skew.pairs.items())
                        if low > -(2**63) and (low > self.skew.tolerance_ns or high < -self.skew.tolerance_ns))
        pace, paced = self.pace.result([(s.name, tuple(op.name for op in s.operations)) for s in services])
        services = tuple(_with_paced(s, paced) for s in services)
        return ObservedModel(sources, settings, self.start_ns / NS_PER_S if self.end_ns else 0.0,
                             self.end_ns / NS_PER_S, spans_read, self.traces, self.traces_used, entrypoints,
                             services, self.tally.summary(), offsets, pace if paced else None)

    def _name_late(self, instrumented: set[str]) -> None:
        """Calls named before the traces taught who answers at an address, or which operation a caller calls."""
        for (svc, opname), op in self.ops.items():
            for key in list(op.slots):
                callee, operation = key
                slot = op.slots[key]
                if slot.resolution() is Resolution.HOST:
                    learned = self.resolver.service_at(callee)
                    if learned:
                        callee = learned
                if not operation:
                    operation = self.resolver.operation(svc, opname, callee)
                op.rekey(key, (callee, operation))
            for (callee, _), slot in op.slots.items():
                sampled_out = slot.matches[Match.CLIENT_ONLY]
                if callee in instrumented and sampled_out:
                    for where in slot.client_only_at[:1]:
                        self.tally.add(Flaw.SAMPLED_OUT, where, sampled_out)

    def _services(self, instrumented: set[str], duration: float) -> tuple[ObservedService, ...]:
        operations: dict[str, list[ObservedOperation]] = {}
        own: dict[str, LogHistogram] = {}
        for (svc, name), op in sorted(self.ops.items()):
            operations.setdefault(svc, []).append(self._operation(svc, name, op, instrumented, duration))
            own.setdefault(svc, LogHistogram()).merge(op.own)
        called = self._called()
        out = [self._service(svc, tuple(ops), own[svc], called) for svc, ops in operations.items()]
        out.extend(self._uninstrumented(instrumented, duration, called))
        return tuple(sorted(out, key=lambda s: s.name))

    def _called(self) -> dict[str, _Called]:
        """Every service's attempts as their senders saw them: callers' calls, and users' requests to it."""
        out: dict[str, _Called] = {}
        for op in self.ops.values():
            for (callee, _), slot in op.slots.items():
                called = out.setdefault(callee, _Called())
                called.attempts += slot.attempts
                called.errors += slot.attempt_errors
                called.ok.merge(slot.ok)
                called.hops.merge(slot.hop)
        for (svc, _), (n, errors, _, ok) in self.entries.items():
            called = out.setdefault(svc, _Called())
            called.attempts += n
            called.errors += errors
            called.ok.merge(ok)
        return out

    def _service(self, name: str, ops: tuple[ObservedOperation, ...], own: LogHistogram,
                 called: dict[str, _Called]) -> ObservedService:
        named = {i for i in self.instances.get(name, set()) if i}
        replicas = (Marked(len(named), Basis.MEASURED, f"{plural(len(named), 'instance')} served requests") if named
                    else Marked(1, Basis.GUESSED, "the spans name no instance (service.instance.id or host)"))
        peak, at_peak = self.concurrency.of_service(name)
        waits = self._queue_waits(name)
        concurrency = Concurrency(peak, at_peak, waits)
        median = min((op.latency.p50 for op in ops if op.latency.count), default=0.0)
        handoffs, chance = self.concurrency.handoff_share(name)
        # Waits before the span that come without hand-offs are the network's: on a traced game day (a proxy
        # and a connection per call on a busy machine) they reached a p99 of 35 ms at a pool never full, and
        # read as queueing, they cost the callee its callers' waits as its service time (see _seen_work).
        queued = (waits is not None and waits.p99 > max(QUEUE_MIN_S, 0.1 * median) and at_peak >= QUEUE_MIN_SHARE
                  and handoffs >= max(QUEUE_MIN_HANDOFFS, 3 * chance))
        if queued:
            assert waits is not None
            workers = Marked(peak, Basis.INFERRED,
                             f"requests waited for a worker (p99 {_ms(waits.p99)} from the client's send to the "
                             f"server span's start, beyond the network's minimum) while {peak} were in progress "
                             f"on one instance, and {handoffs:.0%} of its requests began as another ended (chance: "
                             f"{chance:.0%})")
        else:
            workers = Marked(peak, Basis.GUESSED,
                             f"no queueing seen; {peak} is the most requests one instance worked on at once, "
                             "a lower bound")
        seen = called.get(name, _Called())
        work = _work_time(own)
        seen_work = None
        if not queued:
            seen_work = _seen_work(self.seen.get(name), work, seen.hops)
            ops = tuple(dataclasses.replace(op, seen_work=_seen_work(self.seen_ops.get((name, op.name)),
                                                                     op.work_time, self._hops_to(name, op.name)))
                        for op in ops)
        return ObservedService(name, True, replicas, workers, concurrency, ops, work, seen.hop(), seen.traffic(),
                               seen_work)

    def _hops_to(self, service: str, operation: str) -> LogHistogram:
        """The per-hop overheads of every caller's calls to one operation of ``service``."""
        hops = LogHistogram()
        for op in self.ops.values():
            slot = op.slots.get((service, operation))
            if slot is not None:
                hops.merge(slot.hop)
        return hops

    def _queue_waits(self, service: str) -> Summary | None:
        edges = [g for (callee, _, _), g in self.gaps.items() if callee == service]
        if not edges:
            return None
        return max(edges, key=lambda g: g.hist.count).waits()

    def _uninstrumented(self, instrumented: set[str], duration: float,
                        called: dict[str, _Called]) -> list[ObservedService]:
        """Services seen only from their callers' client spans: their operation is the calls' name."""
        seen: dict[str, dict[str, list[_Slot]]] = {}
        for op in self.ops.values():
            for (callee, operation), slot in op.slots.items():
                if callee not in instrumented:
                    seen.setdefault(callee, {}).setdefault(operation or _hint(slot), []).append(slot)
        out = []
        for name, ops in sorted(seen.items()):
            observed = []
            everything = LogHistogram()
            for opname, slots in sorted(ops.items()):
                ok, attempts, errors = LogHistogram(), 0, 0
                for slot in slots:
                    ok.merge(slot.ok)
                    attempts += slot.attempts
                    errors += slot.attempt_errors
                everything.merge(ok)
                times = fit_times(ok)
                best = times.best
                work = WorkTime(times, None if best is None else Marked(
                    best.distribution, Basis.GUESSED,
                    "no server spans: the callers' view of the call (network included), fitted"))
                observed.append(ObservedOperation(name, opname, attempts, _rate(attempts, duration),
                                                  errors / attempts if attempts else 0.0, Summary.of(ok), work, ()))
            times = fit_times(everything)
            best = times.best
            work = WorkTime(times, None if best is None else Marked(
                best.distribution, Basis.GUESSED,
                f"no server spans: the callers' view of {times.observed.count} calls (network included), "
                f"fitted as {best.kind} at KS distance {best.ks:.3f}"))
            out.append(ObservedService(name, False, Marked(1, Basis.GUESSED, "not instrumented: replicas unknown"),
                                       None, None, tuple(observed), work, None,
                                       called.get(name, _Called()).traffic()))
        return out

    def _operation(self, svc: str, name: str, op: _Operation, instrumented: set[str],
                   duration: float) -> ObservedOperation:
        book = self.retried.get((svc, name))
        calls = {key: self._call(key, slot, op.requests, instrumented, book) for key, slot in op.slots.items()}
        routers = self._routers(op, calls)
        stages = self._stages(op, calls, routers)
        return ObservedOperation(svc, name, op.requests, _rate(op.requests, duration),
                                 op.errors / op.requests if op.requests else 0.0, Summary.of(op.latency),
                                 _work_time(op.own), stages)

    def _call(self, key: SlotKey, slot: _Slot, requests: int, instrumented: set[str],
              book: _Retried | None = None) -> ObservedCall:
        callee, operation = key
        how = slot.resolution()
        callee_basis = {Resolution.SERVER_SPAN: Basis.MEASURED, Resolution.PEER_SERVICE: Basis.INFERRED,
                        Resolution.LEARNED_HOST: Basis.INFERRED, Resolution.HOST: Basis.GUESSED}[how]
        seen_server = slot.matches[Match.BOTH] + slot.matches[Match.SERVER_ONLY]
        if operation and seen_server:
            op_marked = Marked(operation, Basis.MEASURED, "from the callee's server spans")
        elif operation:
            op_marked = Marked(operation, Basis.INFERRED, "the operation this caller calls on it in other traces")
        else:
            op_marked = Marked(_hint(slot), Basis.GUESSED, "no server span names it: the client span's name")
        p = slot.requests_with / requests if requests else 0.0
        retries = None
        if slot.max_attempts > 1:
            retries = Retries(Marked(slot.max_attempts - 1, Basis.INFERRED,
                                     f"{slot.retried} of {slot.calls} calls were tried again after a failure, "
                                     f"at most {slot.max_attempts} attempts in all"),
                              slot.backoff.quantile(0.5) if slot.backoff.count else None)
        client_only = slot.matches[Match.CLIENT_ONLY]
        return ObservedCall(
            callee=Marked(callee, callee_basis, how.value),
            operation=op_marked,
            probability=p,
            probability_stderr=math.sqrt(p * (1 - p) / requests) if requests else 0.0,
            calls_per_request=slot.calls / slot.requests_with if slot.requests_with else 0.0,
            attempts_per_call=slot.attempts / slot.calls if slot.calls else 0.0,
            retries=retries,
            timeout=_timeout(slot),
            error_ratio=slot.attempt_errors / slot.attempts if slot.attempts else 0.0,
            final_error_ratio=slot.final_errors / slot.calls if slot.calls else 0.0,
            latency=Summary.of(slot.ok),
            start_offset=slot.offset_sum / slot.calls if slot.calls else 0.0,
            matching=Matching(slot.matches[Match.BOTH], client_only, slot.matches[Match.SERVER_ONLY],
                              client_only if callee in instrumented else 0),
            shared=None if book is None else book.shared(callee, p, self.resolver),
        )

    def _routers(self, op: _Operation, calls: dict[SlotKey, ObservedCall]) -> list[tuple[SlotKey, ...]]:
        n = op.requests
        keys = sorted(calls, key=lambda k: (-calls[k].probability, k))

        def exclusive(a: SlotKey, b: SlotKey) -> bool:
            pair = op.pairs.get((a, b) if a < b else (b, a))
            expected = n * calls[a].probability * calls[b].probability
            return (pair is None or pair.together == 0) and expected >= ROUTER_EVIDENCE

        groups: list[tuple[SlotKey, ...]] = []
        taken: set[SlotKey] = set()
        for key in keys:
            if key in taken:
                continue
            group = [key]
            for other in keys:
                if other not in taken and other != key and all(exclusive(other, g) for g in group):
                    group.append(other)
            if len(group) > 1:
                groups.append(tuple(group))
                taken.update(group)
        return groups

    def _stages(self, op: _Operation, calls: dict[SlotKey, ObservedCall],
                routers: list[tuple[SlotKey, ...]]) -> tuple[Stage, ...]:
        in_router = {k for group in routers for k in group}
        units: list[tuple[SlotKey, ...]] = [tuple(g) for g in routers] + [(k,) for k in calls if k not in in_router]

        def relation(u: tuple[SlotKey, ...], v: tuple[SlotKey, ...]) -> tuple[int, int, int]:
            """(together, overlapped, u first) summed over the members of two units."""
            together = overlapped = u_first = 0
            for a in u:
                for b in v:
                    flip = a > b
                    pair = op.pairs.get((b, a) if flip else (a, b))
                    if pair is None:
                        continue
                    together += pair.together
                    overlapped += pair.overlapped
                    u_first += (pair.together - pair.first_first) if flip else pair.first_first
            return together, overlapped, u_first

        def start(u: tuple[SlotKey, ...]) -> float:
            return min(calls[k].start_offset for k in u)

        score = {u: 0 for u in units}
        for i, u in enumerate(units):
            for v in units[i + 1:]:
                together, _, u_first = relation(u, v)
                if together:
                    if 2 * u_first > together:
                        score[u] += 1
                        score[v] -= 1
                    elif 2 * u_first < together:
                        score[v] += 1
                        score[u] -= 1
        ordered = sorted(units, key=lambda u: (-score[u], start(u), u))
        stages: list[list[tuple[SlotKey, ...]]] = []
        for u in ordered:
            if stages and self._joins(stages[-1], u, relation):
                stages[-1].append(u)
            else:
                stages.append([u])
        out = []
        for stage in stages:
            steps = tuple(self._step(u, calls, op) for u in stage)
            out.append(Stage(CallMode.PARALLEL if len(steps) > 1 else CallMode.SEQUENTIAL, steps))
        return tuple(out)

    @staticmethod
    def _joins(stage: list[tuple[SlotKey, ...]], u: tuple[SlotKey, ...], relation) -> bool:  # type: ignore[no-untyped-def]
        met = False
        for v in stage:
            together, overlapped, _ = relation(u, v)
            if together:
                met = True
                if overlapped <= PARALLEL_MAJORITY * together:
                    return False
        return met

    def _step(self, unit: tuple[SlotKey, ...], calls: dict[SlotKey, ObservedCall], op: _Operation) -> Step:
        if len(unit) == 1:
            return calls[unit[0]]
        routes = tuple(Route(calls[k], calls[k].probability) for k in unit)
        none = max(0.0, 1.0 - sum(r.weight for r in routes))
        expected = min(op.requests * calls[a].probability * calls[b].probability
                       for i, a in enumerate(unit) for b in unit[i + 1:])
        why = (f"in {op.requests} requests no two of these calls occurred together, where independent calls "
               f"would have met at least {expected:.0f} times")
        return Router(routes, none, why)


class _Retried:
    """Retried calls to one operation, each seen in two or more attempts: which of its own calls they disagreed on."""

    __slots__ = ("groups", "disagree")

    def __init__(self) -> None:
        self.groups: dict[int, int] = {}     # attempts seen -> retried calls
        self.disagree: dict[str, int] = {}   # callee -> retried calls in which some attempts called it, some not

    def shared(self, callee: str, p: float, resolver: Resolver) -> Marked[bool] | None:
        """INFERRED True when the attempts agree on calling ``callee`` far more often than independent draws with
        probability ``p`` would; None when they do not, or when there is too little evidence to tell."""
        expected = sum(n * (1 - p**k - (1 - p) ** k) for k, n in self.groups.items())
        if expected < ROUTER_EVIDENCE:
            return None
        seen = sum(n for name, n in self.disagree.items() if name == callee or resolver.service_at(name) == callee)
        if seen > SHARED_AT_MOST * expected:
            return None
        retried = sum(self.groups.values())
        return Marked(True, Basis.INFERRED,
                      f"in {retried:,} retried requests seen in several attempts, the attempts disagreed on making "
                      f"this call {seen:,} times, where independent draws would have about {expected:.0f} times: "
                      f"whether it is made belongs to the request, not the attempt")


class _Called:
    """Attempts sent to one service, gathered over every caller (and users, for an entry service)."""

    __slots__ = ("attempts", "errors", "ok", "hops")

    def __init__(self) -> None:
        self.attempts = self.errors = 0
        self.ok = LogHistogram()
        self.hops = LogHistogram()

    def traffic(self) -> Traffic:
        return Traffic(self.attempts, self.errors, Summary.of(self.ok))

    def hop(self) -> Marked[float] | None:
        # A request that waited for a worker before its server span began waited longer than the hop: the
        # first percentile is the hop of requests that did not wait (a busy pool makes most of them wait).
        if not self.hops.count:
            return None
        hop = max(0.0, self.hops.quantile(HOP_QUANTILE))
        return Marked(hop, Basis.MEASURED, f"the first percentile of how much longer callers waited than the "
                                           f"service's own server span, over {self.hops.count:,} successful calls "
                                           f"seen from both sides: network, connection, proxies, without queueing")


def _seen_work(hist: LogHistogram | None, own: WorkTime, hops: LogHistogram) -> Marked[AnyDistribution] | None:
    """The service time (of a service, or of one of its operations) that reproduces what callers waited on it:
    ``hist`` holds those waits (each caller's span minus what the callee waited on its own calls), ``own`` its
    own times, ``hops`` the per-hop overheads. The simulator has no network, and a topology's call has no
    latency of its own, so the per-hop overhead (network, connection set-up, proxies, HTTP outside the spans)
    must be the callee's work.

    Two candidates, taken in order of their KS distance to the callers' waits: the own-time fit moved by the
    overhead's median, exact when the overhead barely varies, and a fit to those waits themselves, which
    carries the overhead's spread (a proxy, a busy machine); the first whose p50, p90 and p99 are within 5%
    of the waits' is taken, and where neither is, the waits are written as measured (an empirical
    distribution). None without enough waits seen. The caller leaves it out where requests queued before
    their server spans: a wait then holds queueing that the simulation makes itself with the inferred pool
    (the own time moved by the overhead's first percentile is used instead).
    """
    if hist is None or hist.count < MIN_SAMPLES or not hops.count:
        return None
    candidates: list[tuple[float, Marked[AnyDistribution]]] = []
    fitted = _work_time(hist, "callers' waits on it (own time and per-hop overhead)").distribution
    if fitted is not None:
        candidates.append((hist.ks_distance(fitted.value.cdf), fitted))
    if own.distribution is not None:
        hop = max(0.0, hops.quantile(0.5))
        moved, _ = shifted(own.distribution.value, hop)
        candidates.append((hist.ks_distance(moved.cdf), Marked(moved, own.distribution.basis,
                           f"{own.distribution.why}; moved by the median per-hop overhead, {_ms(hop)}")))
    # A small KS distance is not enough: a lognormal moved by the overhead's median can sit close to the
    # waits' body and still miss their median by half where the overhead is skewed. The fidelity report
    # judges p50, p90 and p99, so a candidate must hold those; otherwise the waits are written as measured.
    for ks, best in sorted(candidates, key=lambda c: c[0]):
        miss = _quantile_miss(best.value, hist)
        if miss <= SEEN_QUANTILE_MISS:
            return Marked(best.value, best.basis,
                          f"{best.why}; as its callers waited on it ({hist.count:,} calls seen from both "
                          f"sides, KS distance {ks:.3f}, p50, p90 and p99 within {miss:.0%} of the waits'): "
                          f"the simulator has no network")
    return Marked(empirical(hist), Basis.MEASURED,
                  f"as its callers waited on it (own time and per-hop overhead, {hist.count:,} calls seen from "
                  f"both sides): no fit holds the waits' p50, p90 and p99 within {SEEN_QUANTILE_MISS:.0%}, so "
                  f"the observed p0 to p100 are written: the simulator has no network")


def _with_paced(s: ObservedService, paced: dict[PacedKey, Paced]) -> ObservedService:
    ops = tuple(dataclasses.replace(op, paced=paced[(s.name, op.name)]) if (s.name, op.name) in paced else op
                for op in s.operations)
    return dataclasses.replace(s, operations=ops, paced=paced.get(s.name, ()))


def _histogram(book: dict[K, LogHistogram], key: K) -> LogHistogram:
    hist = book.get(key)
    if hist is None:
        hist = book[key] = LogHistogram()
    return hist


def _quantile_miss(dist: AnyDistribution, hist: LogHistogram) -> float:
    """The largest relative miss of ``dist``'s p50, p90 and p99 against the observed ones."""
    return max(abs(dist.quantile(q) - hist.quantile(q)) / max(hist.quantile(q), 1e-9) for q in (0.5, 0.9, 0.99))


def _work_time(hist: LogHistogram, what: str = "own times") -> WorkTime:
    """Own times fitted, the fit marked with its quality (GUESSED when no fit is good enough)."""
    times = fit_times(hist)
    best = times.best
    if best is None:
        return WorkTime(times, None)
    n = times.observed.count
    if times.good:
        why = (f"{best.kind} fitted to {n} {what}, KS distance {best.ks:.3f} (accepted up to "
               f"{times.threshold:.3f}); p50 {_ms(best.p50)} vs {_ms(times.observed.p50)} observed, "
               f"p99 {_ms(best.p99)} vs {_ms(times.observed.p99)}")
        return WorkTime(times, Marked(best.distribution, Basis.FITTED, why))
    if n < MIN_SAMPLES:
        why = f"only {n} {what}: too few to judge a fit ({best.kind} is the nearest)"
        return WorkTime(times, Marked(best.distribution, Basis.GUESSED, why))
    why = (f"no parametric fit to {n} {what} is good enough: the nearest, {best.kind}, is at KS distance "
           f"{best.ks:.3f} (accepted up to {times.threshold:.3f}); written as an empirical distribution of "
           f"the observed p0 to p100, so p50 {_ms(times.observed.p50)} and p99 {_ms(times.observed.p99)} are "
           f"the observed ones")
    return WorkTime(times, Marked(empirical(hist), Basis.MEASURED, why))


def _timeout(slot: _Slot) -> Marked[float] | None:
    failed = slot.failed
    if failed.count < TIMEOUT_MIN_ERRORS:
        return None
    m = failed.quantile(0.5)
    low, high = m * 0.95, m * 1.05
    near = sum(c for lo, hi, c in failed.buckets() if lo >= low * 0.99 and hi <= high * 1.01)
    longer_ok = sum(c for lo, _, c in slot.ok.buckets() if lo > high)
    if near < TIMEOUT_CLUSTER * failed.count or longer_ok > 0.001 * max(slot.ok.count, 1):
        return None
    return Marked(m, Basis.INFERRED,
                  f"{near} of {failed.count} failed attempts lasted {_ms(m)} (within 5%) and no successful "
                  f"attempt lasted longer: a client timeout")


def _hint(slot: _Slot) -> str:
    return max(slot.hints, key=slot.hints.__getitem__) if slot.hints else "(unnamed)"


def _rate(n: int, duration: float) -> float:
    return n / duration if duration > 0 else 0.0


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms"


def observe_spans(traces: Iterable[list[Span]], tally: Tally | None = None) -> Deriver:
    """Derive from traces already grouped (for tests and callers that hold traces in memory)."""
    deriver = Deriver(tally or Tally())
    for trace in traces:
        deriver.add_trace(trace)
    return deriver


class _Pace:
    """How slow each request's hops were, and every service's time by it: the stalls of a busy machine or
    network delay every hop of a request together, which independent draws of each service's time do not.

    A trace's pace is the mean per-hop overhead of its calls seen from both sides (caller's span minus
    callee's server span), binned in 10% steps so that grouping needs no list of traces; each operation's
    time (what its callers waited on it, or its own time where no caller was seen) is kept per bin, and a
    service's are its operations' together.
    """

    __slots__ = ("traces", "times", "n", "sx", "sy", "sxx", "syy", "sxy")

    def __init__(self) -> None:
        self.traces: dict[int, int] = {}
        self.times: dict[tuple[str, str, int], LogHistogram] = {}  # (service, operation, pace bin)
        self.n = 0
        self.sx = self.sy = self.sxx = self.syy = self.sxy = 0.0

    def add(self, overheads: list[float], times: list[tuple[str, str, float]]) -> None:
        if not overheads:
            return
        total = sum(overheads)
        pace = int(math.floor(math.log(max(total / len(overheads), 1e-6)) / PACE_BIN))
        self.traces[pace] = self.traces.get(pace, 0) + 1
        for service, operation, t in times:
            _histogram(self.times, (service, operation, pace)).add(t)
        if len(overheads) < 2:
            return
        log, others = math.log, len(overheads) - 1
        n, sx, sy, sxx, syy, sxy = self.n, self.sx, self.sy, self.sxx, self.syy, self.sxy  # locals: once per hop
        for o in overheads:  # each hop against the mean of its request's other hops: correlated or not?
            x = log(max(o, 1e-6))
            y = log(max((total - o) / others, 1e-6))
            n += 1
            sx += x
            sy += y
            sxx += x * x
            syy += y * y
            sxy += x * y
        self.n, self.sx, self.sy, self.sxx, self.syy, self.sxy = n, sx, sy, sxx, syy, sxy

    def correlation(self) -> float:
        if self.n < 2:
            return 0.0
        vx = self.sxx - self.sx * self.sx / self.n
        vy = self.syy - self.sy * self.sy / self.n
        if vx <= 0 or vy <= 0:
            return 0.0
        return (self.sxy - self.sx * self.sy / self.n) / math.sqrt(vx * vy)

    def classes(self) -> list[list[int]]:
        """The bins in PACE_CLASSES groups of about equal numbers of traces, slowest last; none when the
        hops of a request are not seen to be slow together, or too few traces to group."""
        total = sum(self.traces.values())
        if self.correlation() < PACE_MIN_CORRELATION or total < PACE_CLASSES * MIN_SAMPLES:
            return []
        groups: list[list[int]] = [[]]
        seen = 0
        for b in sorted(self.traces):
            if seen >= len(groups) * total / PACE_CLASSES and groups[-1]:
                groups.append([])
            groups[-1].append(b)
            seen += self.traces[b]
        return groups

    def result(self, services: list[tuple[str, tuple[str, ...]]]) -> tuple[Pace | None, dict[PacedKey, Paced]]:
        """The pace, and the times by it of every service (key: its name) and operation (key: service and
        operation) that has enough of them in every class."""
        groups = self.classes()
        if len(groups) < 2:
            return None, {}
        total = sum(self.traces.values())
        classes = tuple(PaceClass(f"p{i + 1}", sum(self.traces[b] for b in g) / total,
                                  sum(self.traces[b] for b in g), math.exp(g[0] * PACE_BIN),
                                  math.exp((g[-1] + 1) * PACE_BIN)) for i, g in enumerate(groups))
        out: dict[PacedKey, Paced] = {}
        for service, operations in services:
            whole = [LogHistogram() for _ in groups]
            for operation in operations:
                hists = [self._in_class(service, operation, g) for g in groups]
                for into, hist in zip(whole, hists, strict=True):
                    into.merge(hist)
                if all(h.count >= MIN_SAMPLES for h in hists):
                    out[(service, operation)] = tuple(empirical(h) for h in hists)
            if all(h.count >= MIN_SAMPLES for h in whole):
                out[service] = tuple(empirical(h) for h in whole)
        return Pace(classes, self.correlation(), total), out

    def _in_class(self, service: str, operation: str, bins: list[int]) -> LogHistogram:
        hist = LogHistogram()
        for b in bins:
            part = self.times.get((service, operation, b))
            if part is not None:
                hist.merge(part)
        return hist
