"""Per-second Series and whole-run Totals of a live run, from scrapes and load records. Pure: no I/O, no clock.

Every emulator replica's ``/admin/metrics`` (JSON) is cumulative; the difference between scrape k+1
and scrape k is what happened in second k. A replica that did not answer contributes
nothing that second, and the next answer's difference covers the gap; one whose counters
went back (its container restarted) contributes what it counted since it started.

Each scope is measured as the simulator measures it (``chaos.run``):

- ``entrypoint:E`` is the load generator's record of E for that second;
- ``service:S`` is S *as its callers saw it*: the sum over every caller replica of its
  ``calls[S]`` view, plus, for an entrypoint's target, the load generator's attempts view
  (attempts sent, their outcomes by cause, the latency of the successful ones): the load
  generator is that service's caller, as the simulator's clients are. ``retries`` and
  ``degraded`` are those S *sent* (its own calls' views, as the
  simulator counts them at the caller), ``wasted`` is S's own (server) count, ``queue``
  and ``busy`` are summed over S's replicas at the end of the second. A service nobody
  with metrics calls is measured by its own server view.
- ``operation:S.O`` (a declared operation of S) is S's replicas' own server view of O's requests:
  they add up to what S's replicas received, which is S's callers' view less the attempts that
  never reached a replica (a crashed one refuses them; the simulator's callee counts those too).

A service the stack's Prometheus measures (``live: prometheus:``, or a generated stack's own) is read
from it once the run is over (``chaos.live.gameday.prometheus``) and its series replaced
(:meth:`Assembler.measured_by_prometheus`); so is an operation a generated stack's Prometheus reads
(from its replicas' server histogram of the operation's route: the same view as above), or a team's
Prometheus reads under its preset's route label. A team's service's operations are measured that way
only: its own metrics hold no view of them.

A service none of these views covers (no metrics of its own, no caller with metrics, not an
entrypoint's target) is *unmeasured* (:meth:`Assembler.sources`): its series stay zeros here,
and the analysis and reports read them as unknown, never as healthy.

Percentiles and means come from the latency histograms (bucket k holds (bounds[k-1],
bounds[k]], interpolated within a bucket as ``chaos.run.percentile_from_hist``); whole-run
totals merge the histograms of the measured seconds (after warm-up).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaos.analysis import windows
from chaos.measurement import Source
from chaos.model.scope import Scope
from chaos.run import CAUSES, Cause, Series, Totals, merge_hists, percentile_from_hist

_CAUSE = {c.value: c for c in CAUSES}


# --------------------------------------------------------------------------- one view's counters


@dataclass
class Counts:
    """Counters of one view (a server, or a caller's calls to one callee), cumulative or per second."""

    requests: int = 0
    ok: int = 0
    errors: dict[Cause, int] = field(default_factory=dict)
    hist: dict[int, int] = field(default_factory=dict)
    retries: int = 0
    degraded: int = 0
    wasted: int = 0
    own: dict[int, int] = field(default_factory=dict)  # the service's own work time (server views only)

    def add(self, other: Counts) -> None:
        self.requests += other.requests
        self.ok += other.ok
        self.retries += other.retries
        self.degraded += other.degraded
        self.wasted += other.wasted
        for cause, n in other.errors.items():
            self.errors[cause] = self.errors.get(cause, 0) + n
        _add_hist(self.hist, other.hist)
        _add_hist(self.own, other.own)

    def minus(self, before: Counts) -> Counts | None:
        """The counts since ``before``; None when a counter went back (the process started again)."""
        out = Counts(self.requests - before.requests, self.ok - before.ok,
                     {c: n - before.errors.get(c, 0) for c, n in self.errors.items()},
                     _hist_minus(self.hist, before.hist), self.retries - before.retries,
                     self.degraded - before.degraded, self.wasted - before.wasted,
                     _hist_minus(self.own, before.own))
        scalars = (out.requests, out.ok, out.retries, out.degraded, out.wasted, *out.errors.values())
        if min(scalars, default=0) < 0 or any(n < 0 for n in (*out.hist.values(), *out.own.values())):
            return None
        return out


def _add_hist(into: dict[int, int], other: Mapping[int, int]) -> None:
    for idx, n in other.items():
        into[idx] = into.get(idx, 0) + n


def _hist_minus(after: Mapping[int, int], before: Mapping[int, int]) -> dict[int, int]:
    keys = set(after) | set(before)
    out = {k: after.get(k, 0) - before.get(k, 0) for k in keys}
    return {k: n for k, n in out.items() if n}


def _sparse(counts: Sequence[int]) -> dict[int, int]:
    return {i: int(n) for i, n in enumerate(counts) if n}


def _errors(raw: Mapping[str, Any]) -> dict[Cause, int]:
    return {_CAUSE[k]: int(v) for k, v in raw.items() if k in _CAUSE}


@dataclass
class Snapshot:
    """One replica's cumulative ``/admin/metrics``: its server view, its views of each callee, its gauges."""

    server: Counts
    calls: dict[str, Counts]
    queue: float
    busy: float
    operations: dict[str, Counts] = field(default_factory=dict)  # the server view of each declared operation

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Snapshot:
        s = data.get("server") or {}
        server = Counts(int(s.get("requests", 0)), int(s.get("ok", 0)), _errors(s.get("errors") or {}),
                        _sparse(s.get("latency_hist") or ()), wasted=int(s.get("wasted", 0)),
                        own=_sparse(s.get("own_time_hist") or ()))
        calls = {}
        for callee, c in (data.get("calls") or {}).items():
            calls[str(callee)] = Counts(int(c.get("attempts", 0)), int(c.get("ok", 0)),
                                        _errors(c.get("errors") or {}), _sparse(c.get("latency_hist") or ()),
                                        retries=int(c.get("retries", 0)), degraded=int(c.get("degraded", 0)))
        operations = {str(name): Counts(int(o.get("requests", 0)), int(o.get("ok", 0)), _errors(o.get("errors") or {}),
                                        _sparse(o.get("latency_hist") or ()), wasted=int(o.get("wasted", 0)),
                                        own=_sparse(o.get("own_time_hist") or ()))
                      for name, o in (data.get("operations") or {}).items()}
        return cls(server, calls, float(data.get("queue", 0)), float(data.get("busy", 0)), operations)

    def minus(self, before: Snapshot | None) -> Snapshot:
        """What happened since ``before`` (all of it, if the replica started again since)."""
        if before is None:
            return self
        server = self.server.minus(before.server)
        calls = {k: v.minus(before.calls.get(k, Counts())) for k, v in self.calls.items()}
        ops = {k: v.minus(before.operations.get(k, Counts())) for k, v in self.operations.items()}
        if server is None or any(v is None for v in (*calls.values(), *ops.values())):
            return self  # a restart: its counters began again from zero
        return Snapshot(server, {k: v for k, v in calls.items() if v is not None}, self.queue, self.busy,
                        {k: v for k, v in ops.items() if v is not None})


# --------------------------------------------------------------------------- histogram figures


def hist_mean(hist: Mapping[int, int], bounds: tuple[float, ...]) -> float | None:
    """Mean of a bucketed sample, each count at its bucket's middle (seconds)."""
    total = sum(hist.values())
    if not total:
        return None
    acc = 0.0
    for idx, n in hist.items():
        lo = bounds[idx - 1] if idx > 0 else 0.0
        hi = bounds[idx] if idx < len(bounds) else bounds[-1] * 2
        acc += n * (lo + hi) / 2
    return acc / total


def _ms(x: float | None) -> float | None:
    return None if x is None else x * 1000.0


# --------------------------------------------------------------------------- the assembler


@dataclass(frozen=True)
class ReplicaRef:
    container: str
    service: str


@dataclass(frozen=True)
class EntryRef:
    """An entrypoint, and the service its load reaches."""

    entrypoint: str
    service: str


@dataclass(frozen=True)
class LoadSecond:
    """What the load generator counted at one entrypoint in one second (a SecondStats, reduced): the entry
    requests' view (end to end) and the attempts' view (what the entry service's caller saw)."""

    requests: int
    attempts: int
    retries: int
    ok: int
    errors: Mapping[Cause, int]
    hist: Mapping[int, int]
    attempt_ok: int
    attempt_errors: Mapping[Cause, int]
    attempt_hist: Mapping[int, int]


class Assembler:
    """Builds each scope's Series second by second, and whole-run Totals over the measured seconds."""

    def __init__(self, services: Sequence[str], callers: Mapping[str, Sequence[str]],
                 replicas: Sequence[ReplicaRef], entries: Sequence[EntryRef], bounds: tuple[float, ...],
                 first_measured: int, prometheus: Sequence[str] = (),
                 operations: Mapping[str, Sequence[str]] | None = None,
                 prometheus_operations: Sequence[tuple[str, str]] = (),
                 prometheus_entrypoints: Sequence[str] = (), replica_operations: bool = True) -> None:
        self.services = tuple(services)
        # Whether the replicas' metrics hold each operation's own view: the emulators' do; a team's service's
        # do not (its operations are read through Prometheus's route label, or unmeasured).
        self.replica_operations = replica_operations
        # Declared operations by service: each measured by its own replicas' server view of it.
        self.operations = {s: tuple(ops) for s, ops in (operations or {}).items() if ops}
        self.prometheus = frozenset(prometheus)  # services the stack's Prometheus measures
        self.prometheus_operations = frozenset(prometheus_operations)  # (service, operation) pairs it measures
        self.prometheus_entrypoints = frozenset(prometheus_entrypoints)  # entrypoints it measures (the load's metrics)
        self.replicas = tuple(replicas)
        reporting = {r.service for r in self.replicas}
        # Services some caller with metrics calls: measured by their callers; the others by themselves.
        self.called = {s for s in self.services if reporting & set(callers.get(s, ()))}
        self.entries = tuple(entries)
        self.bounds = bounds
        self.first_measured = first_measured
        self.routes: dict[tuple[str, str], str] = {}  # (caller, callee it was written for) -> service reached
        self.series: dict[Scope, Series] = {Scope.service(s): Series() for s in self.services}
        self.series.update({Scope.entrypoint(e.entrypoint): Series() for e in self.entries})
        self.series.update({Scope.operation(s, op): Series() for s, ops in self.operations.items() for op in ops})
        self._last: dict[str, Snapshot] = {}
        self._totals: dict[Scope, Counts] = {scope: Counts() for scope in self.series}
        self.own: dict[str, list[dict[int, int]]] = {s: [] for s in self.services}      # per second
        self.server: dict[str, list[dict[int, int]]] = {s: [] for s in self.services}   # per second
        self.op_own: dict[tuple[str, str], list[dict[int, int]]] = {          # per operation, per second
            (s, op): [] for s, ops in self.operations.items() for op in ops}
        self.gaps = 0  # replica-seconds without an answer

    @property
    def seconds(self) -> int:
        return max((len(s) for s in self.series.values()), default=0)

    def sources(self) -> dict[Scope, Source]:
        """What measures each scope: the load generator its entrypoints, and each service the views above
        (its callers' metrics first, then the load generator's attempts, then its own server view), or nothing."""
        reporting = {r.service for r in self.replicas}
        targets = {e.service for e in self.entries}
        out = {Scope.entrypoint(e.entrypoint): Source.PROMETHEUS if e.entrypoint in self.prometheus_entrypoints
               else Source.LOAD_GENERATOR for e in self.entries}
        for service in self.services:
            if service in self.prometheus:
                source = Source.PROMETHEUS
            elif service in self.called:
                source = Source.CHAOSLAB_METRICS
            elif service in targets:
                source = Source.LOAD_GENERATOR
            elif service in reporting:
                source = Source.CHAOSLAB_METRICS
            else:
                source = Source.UNMEASURED
            out[Scope.service(service)] = source
            for op in self.operations.get(service, ()):
                out[Scope.operation(service, op)] = (
                    Source.PROMETHEUS if (service, op) in self.prometheus_operations
                    else Source.CHAOSLAB_METRICS if service in reporting and self.replica_operations
                    else Source.UNMEASURED)
        return out

    def redirect(self, caller: str, callee: str, service: str) -> None:
        """From the next second on, ``caller``'s calls written for ``callee`` reach ``service`` (a failover)."""
        self.routes[(caller, callee)] = service

    def baseline(self, values: Mapping[str, Any]) -> None:
        """Scrape 0, taken when the load began: what every counter held before the run."""
        for ref in self.replicas:
            data = values.get(ref.container)
            if isinstance(data, dict):
                self._last[ref.container] = Snapshot.parse(data)

    def add_second(self, values: Mapping[str, Any], load: Mapping[str, LoadSecond | None]) -> None:
        """Second k from scrape k+1 (``values``: container -> /admin/metrics JSON or None) and the load's records."""
        deltas: dict[str, Snapshot] = {}
        gauges: dict[str, tuple[float, float]] = {}
        for ref in self.replicas:
            data = values.get(ref.container)
            if not isinstance(data, dict):
                self.gaps += 1
                continue
            now = Snapshot.parse(data)
            deltas[ref.container] = now.minus(self._last.get(ref.container))
            self._last[ref.container] = now
            q, b = gauges.get(ref.service, (0.0, 0.0))
            gauges[ref.service] = (q + now.queue, b + now.busy)
        views = self._service_views(deltas, load)
        for service in self.services:
            counts = views[service]
            q, b = gauges.get(service, (0.0, 0.0))
            self._append(Scope.service(service), counts, q, b)
            self.own[service].append(self._merged(deltas, service, own=True))
            self.server[service].append(self._merged(deltas, service, own=False))
            for op in self.operations.get(service, ()):
                view = self._operation_view(deltas, service, op)
                self._append(Scope.operation(service, op), view, 0.0, 0.0)
                self.op_own[service, op].append(dict(view.own))
        for entry in self.entries:
            rec = load.get(entry.entrypoint)
            counts = Counts() if rec is None else Counts(rec.requests, rec.ok, dict(rec.errors), dict(rec.hist),
                                                          retries=rec.retries)
            self._append(Scope.entrypoint(entry.entrypoint), counts, 0.0, 0.0)

    def _operation_view(self, deltas: Mapping[str, Snapshot], service: str, op: str) -> Counts:
        """What ``service``'s replicas served of operation ``op`` this second (their server view: an
        attempt that never reached a replica, refused by a crashed one, is not in it)."""
        view = Counts()
        for ref in self.replicas:
            if ref.service == service and ref.container in deltas:
                counts = deltas[ref.container].operations.get(op)
                if counts is not None:
                    view.add(counts)
        return view

    def _merged(self, deltas: Mapping[str, Snapshot], service: str, own: bool) -> dict[int, int]:
        out: dict[int, int] = {}
        for ref in self.replicas:
            if ref.service == service and ref.container in deltas:
                server = deltas[ref.container].server
                _add_hist(out, server.own if own else server.hist)
        return out

    def _service_views(self, deltas: Mapping[str, Snapshot], load: Mapping[str, LoadSecond | None]
                       ) -> dict[str, Counts]:
        views = {s: Counts() for s in self.services}
        measured: set[str] = set()
        by_container = {r.container: r for r in self.replicas}
        for container, snap in deltas.items():
            caller = by_container[container].service
            for callee, counts in snap.calls.items():
                reached = self.routes.get((caller, callee), callee)
                if reached in views:
                    views[reached].add(Counts(counts.requests, counts.ok, counts.errors, counts.hist))
                    measured.add(reached)
            sent = views[caller]
            for counts in snap.calls.values():  # retries and fallbacks are counted where they were sent
                sent.retries += counts.retries
                sent.degraded += counts.degraded
            sent.wasted += snap.server.wasted
        for entry in self.entries:  # the load generator is one more caller of the entry service
            rec = load.get(entry.entrypoint)
            if rec is not None:
                views[entry.service].add(Counts(rec.attempts, rec.attempt_ok, dict(rec.attempt_errors),
                                                dict(rec.attempt_hist)))
                measured.add(entry.service)
        for service in self.services:
            if service not in measured and service not in self.called:
                self._add_server_view(views[service], deltas, service)
        return views

    def _add_server_view(self, view: Counts, deltas: Mapping[str, Snapshot], service: str) -> None:
        for ref in self.replicas:
            if ref.service == service and ref.container in deltas:
                s = deltas[ref.container].server
                view.add(Counts(s.requests, s.ok, s.errors, s.hist))

    def measured_by_prometheus(self, service: str | Scope, seconds: Sequence[Counts]) -> None:
        """Replace a service's (or one of its operations', or an entrypoint's) requests, outcomes and latency,
        from second 0, by the per-second counts its Prometheus holds. What those reads do not carry (queue, busy,
        retries, wasted, degraded) stays what the run's own scrapes and load records counted (zeros where they
        had none)."""
        scope = service if isinstance(service, Scope) else Scope.service(service)
        before = self.series[scope]
        self.series[scope] = Series()
        self._totals[scope] = Counts()
        for k, counts in enumerate(seconds):
            kept = k < len(before.requests)
            if kept:
                counts = Counts(counts.requests, counts.ok, counts.errors, counts.hist, before.retries[k],
                                before.degraded[k], before.wasted[k])
            self._append(scope, counts, before.queue[k] if kept else 0.0, before.busy[k] if kept else 0.0)

    def _append(self, scope: Scope, counts: Counts, queue: float, busy: float) -> None:
        series = self.series[scope]
        second = len(series)
        series.requests.append(counts.requests)
        series.ok.append(counts.ok)
        for cause in CAUSES:
            series.errors[cause].append(counts.errors.get(cause, 0))
        hist = dict(counts.hist)
        series.hist.append(hist)
        series.p50_ms.append(_ms(percentile_from_hist(hist, self.bounds, 0.50)))
        series.p95_ms.append(_ms(percentile_from_hist(hist, self.bounds, 0.95)))
        series.p99_ms.append(_ms(percentile_from_hist(hist, self.bounds, 0.99)))
        series.mean_ms.append(_ms(hist_mean(hist, self.bounds)))
        series.queue.append(queue)
        series.busy.append(busy)
        series.retries.append(counts.retries)
        series.wasted.append(counts.wasted)
        series.degraded.append(counts.degraded)
        if second >= self.first_measured:
            self._totals[scope].add(counts)

    def totals(self) -> dict[Scope, Totals]:
        """Whole-run figures over the measured seconds, percentiles from the merged histograms."""
        out = {}
        for scope, c in self._totals.items():
            t = Totals(requests=c.requests, ok=c.ok, errors={cause: c.errors.get(cause, 0) for cause in CAUSES},
                       retries=c.retries, wasted=c.wasted, degraded=c.degraded)
            t.p50_ms = _ms(percentile_from_hist(c.hist, self.bounds, 0.50))
            t.p95_ms = _ms(percentile_from_hist(c.hist, self.bounds, 0.95))
            t.p99_ms = _ms(percentile_from_hist(c.hist, self.bounds, 0.99))
            t.mean_ms = _ms(hist_mean(c.hist, self.bounds))
            out[scope] = t
        return out

    def figures(self, second: int) -> dict[Scope, dict[str, float | None]]:
        """One second's error ratio and p99 per scope: what abort conditions watch."""
        out: dict[Scope, dict[str, float | None]] = {}
        for scope, s in self.series.items():
            if second >= len(s):
                continue
            out[scope] = {"error_ratio": windows.error_ratio(s, second, second + 1), "p99_ms": s.p99_ms[second]}
        return out


def merged(hists: Sequence[Mapping[int, int]]) -> dict[int, int]:
    return merge_hists([dict(h) for h in hists])
