"""Per-second counting of entry requests, on both sides of the process boundary (standard library only).

A load process counts into a :class:`Tally`: each event lands in the second (since the
load started) in which it happened, as the simulator's recorder counts: a request in
the second it started, its outcome and latency in the second it ended, a retry in the
second it was sent. Closing a second turns its counts into wire records, one per
entrypoint, zeros included, so the stream is a complete grid.

Two views of each entrypoint: the entry requests' (``requests``, ``ok``, ``errors``,
``hist``: end to end, retries included) and, as the emulators count their calls, the
attempts' (``attempts`` sent, each ending ``attempt_ok`` with its latency in
``attempt_hist``, or under a cause in ``attempt_errors``): the load generator is the
entry service's caller, and the attempts are what that service's callers saw.

In distributed mode the master merges the workers' records with :class:`Merger` and
writes a second once every worker has closed it.

Wire record (one JSON object; ``errors`` and ``hist`` list only non-zero entries)::

    {"type": "second", "second": 3, "entrypoint": "web", "requests": 98, "attempts": 110,
     "retries": 12, "ok": 95, "errors": {"timeout": 2}, "client_errors": 0, "unfinished": 0,
     "hist": {"57": 80, "58": 15}, "attempt_ok": 96, "attempt_errors": {"timeout": 13},
     "attempt_hist": {"57": 83, "58": 13}, "late": 0, "dropped": 0, "max_lag_s": 0.0012,
     "in_flight": 3, "complete": true}
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from typing import Any

# The values of chaos.run.Cause, spelled out: the Locust process imports nothing it does not need.
TIMEOUT, REJECTED, CIRCUIT_OPEN, CRASHED, INJECTED, DEPENDENCY = (
    "timeout", "rejected", "circuit_open", "crashed", "injected", "dependency")
CAUSES = (TIMEOUT, REJECTED, CIRCUIT_OPEN, CRASHED, INJECTED, DEPENDENCY)
LATE_S = 0.05  # an arrival sent this much after its planned time counts as late: the generator fell behind
_SUMMED = ("requests", "attempts", "retries", "ok", "client_errors", "unfinished", "attempt_ok", "late", "dropped")
_BY_CAUSE = ("errors", "attempt_errors", "client_statuses")  # client_statuses: by status code, as a string
_HISTS = ("hist", "attempt_hist")


class Counts:
    """What happened at one entrypoint over one second (or over the whole run, for totals)."""

    __slots__ = (*_SUMMED, *_BY_CAUSE, *_HISTS, "max_lag_s")

    def __init__(self) -> None:
        self.requests = self.attempts = self.retries = self.ok = self.attempt_ok = 0
        self.client_errors = self.unfinished = self.late = self.dropped = 0
        self.errors: dict[str, int] = {}
        self.attempt_errors: dict[str, int] = {}
        self.client_statuses: dict[str, int] = {}
        self.hist: dict[int, int] = {}
        self.attempt_hist: dict[int, int] = {}
        self.max_lag_s = 0.0

    def add(self, other: Counts) -> None:
        for name in _SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in (*_BY_CAUSE, *_HISTS):
            mine: dict[Any, int] = getattr(self, name)
            for key, n in getattr(other, name).items():
                mine[key] = mine.get(key, 0) + n
        self.max_lag_s = max(self.max_lag_s, other.max_lag_s)

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in _SUMMED}
        for name in _BY_CAUSE:
            out[name] = dict(getattr(self, name))
        for name in _HISTS:
            out[name] = {str(k): v for k, v in sorted(getattr(self, name).items())}
        out["max_lag_s"] = round(self.max_lag_s, 6)
        return out

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Counts:
        c = cls()
        for name in _SUMMED:
            setattr(c, name, int(raw.get(name, 0)))
        for name in _BY_CAUSE:
            setattr(c, name, {str(k): int(v) for k, v in raw.get(name, {}).items()})
        for name in _HISTS:
            setattr(c, name, {int(k): int(v) for k, v in raw.get(name, {}).items()})
        c.max_lag_s = float(raw.get("max_lag_s", 0.0))
        return c


class Tally:
    """One load process's counts, by second since the load started and by entrypoint."""

    def __init__(self, entrypoints: Iterable[str], bounds: tuple[float, ...],
                 kinds: Iterable[Iterable[str]] | None = None) -> None:
        self.names = tuple(entrypoints)
        self.bounds = bounds
        self.open: dict[int, list[Counts]] = {}  # second -> counts per entrypoint (index as in names)
        self.closed_until = 0  # every second below this has been closed and handed out
        self.totals = [Counts() for _ in self.names]
        # Whole-run totals per request kind of each entrypoint (entry requests only, not attempts).
        self.kind_names = [tuple(k) for k in kinds] if kinds is not None else [() for _ in self.names]
        self.kinds = [[Counts() for _ in names] for names in self.kind_names]

    def _slots(self, entry: int, t: float, kind: int | None = None) -> tuple[Counts, ...]:
        # Never count into a second already handed out: a straggler lands in the first open one.
        second = max(self.closed_until, int(t) if t > 0 else 0)
        row = self.open.get(second)
        if row is None:
            row = self.open[second] = [Counts() for _ in self.names]
        if kind is None or not self.kinds[entry]:
            return row[entry], self.totals[entry]
        return row[entry], self.totals[entry], self.kinds[entry][kind]

    def started(self, entry: int, t: float, lag_s: float, kind: int | None = None) -> None:
        for c in self._slots(entry, t, kind):
            c.requests += 1
            if lag_s > LATE_S:
                c.late += 1
            if lag_s > c.max_lag_s:
                c.max_lag_s = lag_s

    def dropped(self, entry: int, t: float) -> None:
        for c in self._slots(entry, t):
            c.dropped += 1

    def attempt(self, entry: int, t: float, retry: bool) -> None:
        for c in self._slots(entry, t):
            c.attempts += 1
            c.retries += retry

    def attempt_ok(self, entry: int, t: float, latency_s: float) -> None:
        """An attempt answered successfully ``latency_s`` after it was sent."""
        # Bucket k holds (bounds[k-1], bounds[k]], as chaos.sim.recorder.bucketize.
        idx = bisect.bisect_left(self.bounds, latency_s)
        for c in self._slots(entry, t):
            c.attempt_ok += 1
            c.attempt_hist[idx] = c.attempt_hist.get(idx, 0) + 1

    def attempt_failed(self, entry: int, t: float, cause: str) -> None:
        """An attempt failed with ``cause`` (retried or not: the entry request's fate is counted apart)."""
        for c in self._slots(entry, t):
            c.attempt_errors[cause] = c.attempt_errors.get(cause, 0) + 1

    def ok(self, entry: int, t: float, latency_s: float, kind: int | None = None) -> None:
        """An entry request succeeded ``latency_s`` after it started (retries and backoff included)."""
        idx = bisect.bisect_left(self.bounds, latency_s)
        for c in self._slots(entry, t, kind):
            c.ok += 1
            c.hist[idx] = c.hist.get(idx, 0) + 1

    def failed(self, entry: int, t: float, cause: str, kind: int | None = None) -> None:
        for c in self._slots(entry, t, kind):
            c.errors[cause] = c.errors.get(cause, 0) + 1

    def client_error(self, entry: int, t: float, kind: int | None = None, status: int | None = None) -> None:
        """Our request was wrong (answered ``status``, a 4xx say) or our machine failed (no status)."""
        key = "local" if status is None else str(status)
        for c in self._slots(entry, t, kind):
            c.client_errors += 1
            c.client_statuses[key] = c.client_statuses.get(key, 0) + 1

    def unfinished(self, entry: int, t: float, kind: int | None = None) -> None:
        for c in self._slots(entry, t, kind):
            c.unfinished += 1

    def close(self, until: int, in_flight: list[int]) -> list[dict[str, Any]]:
        """Wire records of every second below ``until`` not closed yet, each entrypoint in each second."""
        out = []
        for second in range(self.closed_until, until):
            row = self.open.pop(second, None) or [Counts() for _ in self.names]
            for i, name in enumerate(self.names):
                rec = row[i].to_wire()
                rec.update(type="second", second=second, entrypoint=name, in_flight=in_flight[i], complete=True)
                out.append(rec)
        self.closed_until = max(self.closed_until, until)
        return out

    def totals_wire(self) -> dict[str, dict[str, Any]]:
        """Whole-run totals per entrypoint, each with its request kinds' totals under ``kinds``."""
        out = {}
        for i, name in enumerate(self.names):
            out[name] = self.totals[i].to_wire()
            out[name]["kinds"] = {k: self.kinds[i][j].to_wire() for j, k in enumerate(self.kind_names[i])}
        return out


class Merger:
    """The master's view: records from every worker, merged per second and entrypoint.

    A second is written once every worker has closed it (a finished worker has closed
    them all), or, if a worker stays silent, ``stale_s`` after the second ended, marked
    incomplete. Records that arrive for a second already written are counted as
    stragglers and only reach the totals.
    """

    def __init__(self, entrypoints: Iterable[str], workers: int, stale_s: float) -> None:
        self.names = tuple(entrypoints)
        self.workers = workers
        self.stale_s = stale_s
        self.closed: dict[str, float] = {}  # worker -> every second below this is closed there
        self.pending: dict[tuple[int, str], dict[str, Any]] = {}
        self.totals: dict[str, dict[str, dict[str, Any]]] = {}  # worker -> its latest cumulative totals
        self.written_until = 0
        self.stragglers = 0
        self.capped = False
        self.warnings: list[str] = []
        self._warned = 0

    def add(self, worker: str, report: dict[str, Any]) -> None:
        for rec in report.get("records", []):
            key = (int(rec["second"]), str(rec["entrypoint"]))
            if key[0] < self.written_until:
                self.stragglers += 1
                continue
            have = self.pending.get(key)
            self.pending[key] = rec if have is None else merge_records(have, rec)
        closed = math.inf if report.get("finished") else float(report.get("closed", 0))
        self.closed[worker] = max(self.closed.get(worker, 0.0), closed)
        if "totals" in report:
            self.totals[worker] = report["totals"]
        self.capped = self.capped or bool(report.get("capped"))
        for message in report.get("warnings", []):
            if message not in self.warnings:
                self.warnings.append(message)

    def take_warnings(self) -> list[str]:
        """Warnings not handed out yet (each once, whichever worker sent it)."""
        out = self.warnings[self._warned:]
        self._warned = len(self.warnings)
        return out

    @property
    def finished(self) -> bool:
        return len(self.closed) >= self.workers and all(c == math.inf for c in self.closed.values())

    def _closed_everywhere(self) -> float:
        return min(self.closed.values()) if len(self.closed) >= self.workers else 0.0

    def ready(self, now_s: float, force: bool = False) -> list[dict[str, Any]]:
        """Records to write now, in order: ``now_s`` is the time since the load started."""
        last = max((s for s, _ in self.pending), default=-1)
        closed = self._closed_everywhere()
        if closed == math.inf:
            closed = max(last + 1, self.written_until)
        out = []
        second = self.written_until
        while True:
            if second < closed:
                complete = True
            elif second <= last and (force or now_s > second + 1 + self.stale_s):
                complete = False
            else:
                break
            for name in self.names:
                rec = self.pending.pop((second, name), None) or _empty(second, name)
                rec["complete"] = complete
                out.append(rec)
            second += 1
        self.written_until = second
        return out

    def totals_wire(self) -> dict[str, dict[str, Any]]:
        out: dict[str, Counts] = {name: Counts() for name in self.names}
        kinds: dict[str, dict[str, Counts]] = {name: {} for name in self.names}
        for per_worker in self.totals.values():
            for name, raw in per_worker.items():
                out.setdefault(name, Counts()).add(Counts.from_wire(raw))
                for kind, counts in raw.get("kinds", {}).items():
                    kinds.setdefault(name, {}).setdefault(kind, Counts()).add(Counts.from_wire(counts))
        return {name: {**c.to_wire(), "kinds": {k: v.to_wire() for k, v in kinds.get(name, {}).items()}}
                for name, c in out.items()}


def merge_records(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    c = Counts.from_wire(a)
    c.add(Counts.from_wire(b))
    out = c.to_wire()
    out.update(type="second", second=a["second"], entrypoint=a["entrypoint"],
               in_flight=int(a.get("in_flight", 0)) + int(b.get("in_flight", 0)),
               complete=bool(a.get("complete", True)) and bool(b.get("complete", True)))
    return out


def _empty(second: int, name: str) -> dict[str, Any]:
    rec = Counts().to_wire()
    rec.update(type="second", second=second, entrypoint=name, in_flight=0)
    return rec
