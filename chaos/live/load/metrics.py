"""The load generator's counters in Prometheus text exposition: what its ``GET /metrics`` answers.

Standard library only (both sides may import it); the Locust process counts into a
:class:`LoadMetrics` and serves :meth:`LoadMetrics.render` (``chaos.live.load.process.serve_metrics``)
on the address the generated stack planned for it, so the stack's Prometheus measures the
entrypoints, and the entrypoints' target services as their caller saw them, as it measures the
emulators. ``job`` and ``instance`` are the scraper's (the stack's Prometheus sets ``job="chaoslab-load"``).

===========================================  =========  ===============================================
family                                       type       labels, meaning
===========================================  =========  ===============================================
``chaoslab_load_requests_total``             counter    entry requests started, by ``entrypoint`` and
                                                        ``request`` (the request kind's name)
``chaoslab_load_responses_total``            counter    entry requests ended, by ``entrypoint``, ``request``
                                                        and ``outcome``: ``ok``, the cause of a failure
                                                        (``timeout``, ``crashed``, ``rejected``,
                                                        ``injected``, ``dependency``, ``circuit_open``),
                                                        or ``client_error`` (a 4xx or our own machine)
``chaoslab_load_request_duration_seconds``   histogram  the same requests, timed from their start to their
                                                        end (every attempt, backoff and retry included),
                                                        by ``entrypoint`` and ``outcome``: not by request
                                                        kind (below)
``http_client_request_duration_seconds``     histogram  attempts sent to the entrypoints' targets, as the
                                                        emulators count the calls they send:
                                                        ``server_address`` (the target service),
                                                        ``http_response_status_code="200"`` on success,
                                                        ``error_type`` (the cause) on failure; every
                                                        entrypoint and method to one target together
                                                        (below)
``chaoslab_load_retries_total``              counter    retries among the attempts, by ``entrypoint``
``chaoslab_load_entry_requests_total``       counter    entry requests started, by ``entrypoint`` (every kind)
``chaoslab_load_entry_responses_total``      counter    entry requests ended, by ``entrypoint`` and ``outcome``
                                                        (``ok`` or a cause, every one there from the start;
                                                        client errors left out)
``chaoslab_load_entry_responses_by_class_total``
                                             counter    the same by HAProxy's status class, ``code`` (``2xx``,
                                                        ``5xx``, and ``1xx``, ``3xx``, ``4xx``, ``other`` at 0)
``chaoslab_client_requests_total``           counter    attempts sent to each target, as the emulators' of the
``chaoslab_client_responses_total``          counter    same names: by ``server_address`` (every entrypoint
``chaoslab_client_responses_by_class_total`` counter    to it together, as one caller), ``outcome`` or
``chaoslab_client_time_average_seconds``     gauge      ``code``; the average twice, as HAProxy's total
``chaoslab_client_response_time_average_seconds``       and response time averages
``chaoslab_load_in_flight_requests``         gauge      entry requests started and not ended, by
                                                        ``entrypoint``
===========================================  =========  ===============================================

Both histograms have the run's latency bounds, the emulators' (``LoadPlan.bounds``), bucket k
holding latencies in ``(bounds[k-1], bounds[k]]`` as the load's own records count them. Every
success label set is there from the start, zeros included, as the emulators' are; a failure's
appears once it has counted something. An attempt that ended in a client error, and a request
cut off at the end of the run, are in neither histogram (as in the records).

Request kinds are counted, not timed, one by one: a generated stack's categorical attributes give an entrypoint
up to 64 kinds, and a histogram per kind and outcome made a scrape of 64 kinds 8,136 lines (1 MB) from the start
and 63,688 (8 MB, 69 ms to render in the load's own process, every scrape) once every outcome had counted; per
entrypoint it is about 1,700 lines (``benchmarks/load_metrics_kinds.py``, docs/live.md). It also kept the stack's
renaming to an experiment's names (``chaos.live.stack.mapped_scrape``, which drops the ``request`` label) from
making several kinds' series one series, of which Prometheus kept only the first.

The attempts are one caller's per target, not one per entrypoint and method: the stack's renaming
(``chaos.live.stack.mapped_scrape``) measures each target as its callers saw it, under the target's names and labels,
which drop ``entrypoint`` and ``http_request_method``; two entrypoints to one service (or two methods) would then be
two series with one label set in one scrape, and Prometheus keeps only one of them (the other's attempts lost).

The per-entrypoint counters and the attempts' counters are what the ``chaoslab`` and ``haproxy`` metric presets
count (sent requests, answers by outcome, HAProxy's average): the stack's Prometheus renames them
(``chaos.live.stack.mapped_scrape``). Sums taken when scraped, but for the attempts sent and the average.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from chaos.core.causes import Cause, by_status_class
from chaos.core.latency import AVERAGE_OVER
from chaos.live.in_container.exposition import Family, Kind, render
from chaos.live.in_container.load_names import (
    CLIENT_CLASSES,
    CLIENT_ERROR,
    DURATION,
    ENTRY_CLASSES,
    ENTRY_REQUESTS,
    ENTRY_RESPONSES,
    OK,
    REQUESTS,
    RESPONSES,
)

__all__ = ["CLIENT_ERROR", "DURATION", "OK", "REQUESTS", "RESPONSES", "LoadMetrics"]

CLIENT = "http_client_request_duration_seconds"
_K = TypeVar("_K")


@dataclass
class _Hist:
    counts: list[int]
    total: float = 0.0

    def add(self, bounds: Sequence[float], seconds: float) -> None:
        self.counts[bisect.bisect_left(bounds, seconds)] += 1
        self.total += seconds


@dataclass(frozen=True)
class _Entry:
    name: str
    service: str
    kinds: tuple[str, ...]
    methods: tuple[str, ...]


@dataclass
class LoadMetrics:
    """One load process's cumulative counters (entrypoints and request kinds by index, as in the plan)."""

    bounds: tuple[float, ...]
    entries: tuple[_Entry, ...]
    started: dict[tuple[int, int], int] = field(default_factory=dict)
    answered: dict[tuple[int, int, str], int] = field(default_factory=dict)  # by entrypoint, kind and outcome
    ended: dict[tuple[int, str], _Hist] = field(default_factory=dict)  # by entrypoint and outcome: no kind
    # by target service and cause ("" for a success): every entrypoint and method to one target together, since
    # renamed to the target's names (their labels gone) they would be several series with one label set, of which
    # Prometheus keeps one
    attempts: dict[tuple[str, str], _Hist] = field(default_factory=dict)
    retries: list[int] = field(default_factory=list)
    in_flight: list[int] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)  # attempts, by entrypoint
    # HAProxy's average of the successful attempts' latency, by target service (one caller, every entrypoint's)
    average: dict[str, float] = field(default_factory=dict)
    averaged: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, bounds: Sequence[float], entrypoints: Sequence[tuple[str, str, Sequence[tuple[str, str]]]]
           ) -> LoadMetrics:
        """``entrypoints``: (name, target service, ((request kind, method), ...)) in the plan's order."""
        entries = tuple(_Entry(name, service, tuple(k for k, _ in kinds), tuple(m for _, m in kinds))
                        for name, service, kinds in entrypoints)
        n = len(entries)
        targets = [e.service for e in entries]
        m = cls(tuple(bounds), entries, retries=[0] * n, in_flight=[0] * n, sent=[0] * n,
                average=dict.fromkeys(targets, 0.0), averaged=dict.fromkeys(targets, 0))
        for i, e in enumerate(entries):
            for k in range(len(e.kinds)):
                m.started[i, k] = 0
                m.answered[i, k, OK] = 0
                m._hist(m.attempts, (e.service, ""))
            m._hist(m.ended, (i, OK))
        return m

    def _hist(self, into: dict[_K, _Hist], key: _K) -> _Hist:
        hist = into.get(key)
        if hist is None:
            hist = into[key] = _Hist([0] * (len(self.bounds) + 1))
        return hist

    def request_started(self, entry: int, kind: int) -> None:
        self.started[entry, kind] += 1
        self.in_flight[entry] += 1

    def request_ended(self, entry: int, kind: int, outcome: str, seconds: float) -> None:
        """``outcome``: OK, a cause's value, or CLIENT_ERROR."""
        self.answered[entry, kind, outcome] = self.answered.get((entry, kind, outcome), 0) + 1
        self._hist(self.ended, (entry, outcome)).add(self.bounds, seconds)
        self.in_flight[entry] -= 1

    def request_cut(self, entry: int) -> None:
        """A request cut off at the end of the run: no longer in flight, in no histogram."""
        self.in_flight[entry] -= 1

    def attempt_sent(self, entry: int, retry: bool) -> None:
        self.sent[entry] += 1
        if retry:
            self.retries[entry] += 1

    def attempt_ended(self, entry: int, kind: int, cause: str | None, seconds: float) -> None:
        """An attempt answered (``cause`` None) or failed with ``cause``, ``seconds`` after it was sent."""
        self._hist(self.attempts, (self.entries[entry].service, cause or "")).add(self.bounds, seconds)
        if cause is None:  # as the emulators' CallMetrics.success
            target = self.entries[entry].service
            n = self.averaged[target] = min(self.averaged[target] + 1, AVERAGE_OVER)
            self.average[target] += (seconds - self.average[target]) / n

    def render(self) -> bytes:
        requests = Family(REQUESTS, Kind.COUNTER, "Entry requests started.")
        answered = Family(RESPONSES, Kind.COUNTER, "Entry requests ended, by outcome.")
        ended = Family(DURATION, Kind.HISTOGRAM, "Duration of entry requests, end to end, by outcome.")
        client = Family(CLIENT, Kind.HISTOGRAM, "Duration of HTTP client requests.")
        retries = Family("chaoslab_load_retries_total", Kind.COUNTER, "Retries sent.")
        in_flight = Family("chaoslab_load_in_flight_requests", Kind.GAUGE, "Entry requests in flight.")
        for (i, k), n in sorted(self.started.items()):
            requests.sample(self._kind_labels(i, k), n)
        for (i, k, outcome), n in sorted(self.answered.items()):
            answered.sample(sorted((*self._kind_labels(i, k), ("outcome", outcome))), n)
        for (i, outcome), h in sorted(self.ended.items()):
            ended.histogram((("entrypoint", self.entries[i].name), ("outcome", outcome)), self.bounds, h.counts,
                            h.total)
        for (target, cause), h in sorted(self.attempts.items()):
            status = ("error_type", cause) if cause else ("http_response_status_code", "200")
            client.histogram(sorted((("server_address", target), status)), self.bounds, h.counts, h.total)
        for i, e in enumerate(self.entries):
            retries.sample((("entrypoint", e.name),), self.retries[i])
            in_flight.sample((("entrypoint", e.name),), self.in_flight[i])
        return render((requests, answered, ended, client, retries, in_flight, *self._totals()))

    def _totals(self) -> tuple[Family, ...]:
        """Per entrypoint, every request kind and method together: requests and answers, attempts and theirs."""
        entry_requests = Family(ENTRY_REQUESTS, Kind.COUNTER, "Entry requests started.")
        entry_answers = Family(ENTRY_RESPONSES, Kind.COUNTER, "Entry requests ended, by outcome.")
        sent = Family("chaoslab_client_requests_total", Kind.COUNTER, "Attempts sent to the callee.")
        answers = Family("chaoslab_client_responses_total", Kind.COUNTER, "Attempts ended, by outcome.")
        entry_classes = Family(ENTRY_CLASSES, Kind.COUNTER, "Entry requests ended, by status class.")
        classes = Family(CLIENT_CLASSES, Kind.COUNTER, "Attempts ended, by status class.")
        average = Family("chaoslab_client_time_average_seconds", Kind.GAUGE,
                         "Sliding average latency of the successful attempts, as HAProxy averages total time.")
        response = Family("chaoslab_client_response_time_average_seconds", Kind.GAUGE,
                          "The same, for HAProxy's average response time (the same figure: no proxy queue here).")
        outcomes = (OK, *(c.value for c in Cause))
        ended = dict.fromkeys(((i, o) for i in range(len(self.entries)) for o in outcomes), 0)
        for (i, _, outcome), n in self.answered.items():
            if outcome != CLIENT_ERROR:
                ended[i, outcome] += n
        for i, e in enumerate(self.entries):
            own = (("entrypoint", e.name),)
            entry_requests.sample(own, sum(n for (j, _), n in self.started.items() if j == i))
            for o in outcomes:
                entry_answers.sample((*own, ("outcome", o)), ended[i, o])
            _classes(entry_classes, own, {o: ended[i, o] for o in outcomes})
        # By target: two entrypoints to one service would be one series once renamed (their label dropped).
        by_target = dict.fromkeys(((t, o) for t in self.average for o in outcomes), 0)
        for (target, cause), h in self.attempts.items():
            by_target[target, cause or OK] += sum(h.counts)
        for target in self.average:
            peer = (("server_address", target),)
            sent.sample(peer, sum(n for e, n in zip(self.entries, self.sent, strict=True) if e.service == target))
            average.sample(peer, self.average[target])
            response.sample(peer, self.average[target])
            for o in outcomes:
                answers.sample((*peer, ("outcome", o)), by_target[target, o])
            _classes(classes, peer, {o: by_target[target, o] for o in outcomes})
        return entry_requests, entry_answers, entry_classes, sent, answers, classes, average, response

    def _kind_labels(self, entry: int, kind: int) -> tuple[tuple[str, str], ...]:
        e = self.entries[entry]
        return (("entrypoint", e.name), ("request", e.kinds[kind]))


def _classes(family: Family, labels: tuple[tuple[str, str], ...], by_outcome: dict[str, int]) -> None:
    """Answers by outcome (``ok`` or a cause's value) as counts per status class, every class there."""
    errors = {c: by_outcome[c.value] for c in Cause}
    for code, n in by_status_class(by_outcome[OK], errors).items():
        family.sample((*labels, ("code", code)), n)
