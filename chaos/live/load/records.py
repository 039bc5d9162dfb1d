"""What the load generator reports back, as typed values: per-second records and the run's summary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from chaos.live_states import LoadStop
from chaos.run import CAUSES, Cause


def _frozen(d: Mapping[Any, int]) -> Mapping[Any, int]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class Counts:
    """Entry requests of one entrypoint, and their attempts: over one second, or over the whole run.

    ``requests`` started in the window; their outcomes are counted in the window where
    they ended: ``ok``, an error by cause, a ``client_error`` (our request or our machine
    failed, not the system), or ``unfinished`` (cut off at the end of the run). ``hist``
    counts successful requests by latency bucket, end to end including retries, with
    bucket k holding latencies in (bounds[k-1], bounds[k]]. ``late`` arrivals left more
    than 50 ms after their planned time and ``dropped`` ones were never sent (in-flight
    cap): either means the generator fell behind its target rate.

    The attempts' view is the entry service's as its caller saw it, counted as the
    emulators count their calls: ``attempts`` sent in the window (``retries`` among
    them), each ending ``attempt_ok`` (its own latency, send to answer, in
    ``attempt_hist``, same buckets) or under a cause in ``attempt_errors``, in the
    window where it ended. An attempt that ended in a client error, or was cut off at
    the end of the run, is in neither.
    """

    requests: int = 0
    attempts: int = 0
    retries: int = 0
    ok: int = 0
    errors: Mapping[Cause, int] = field(default_factory=lambda: _frozen({c: 0 for c in CAUSES}))
    client_errors: int = 0
    unfinished: int = 0
    hist: Mapping[int, int] = field(default_factory=lambda: _frozen({}))
    attempt_ok: int = 0
    attempt_errors: Mapping[Cause, int] = field(default_factory=lambda: _frozen({c: 0 for c in CAUSES}))
    attempt_hist: Mapping[int, int] = field(default_factory=lambda: _frozen({}))
    late: int = 0
    dropped: int = 0
    max_lag_s: float = 0.0
    client_statuses: Mapping[str, int] = field(default_factory=lambda: _frozen({}))  # "404", or "local"

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def attempts_failed(self) -> int:
        return sum(self.attempt_errors.values())

    @property
    def behind(self) -> bool:
        """Did the generator fall behind its target rate here?"""
        return self.late > 0 or self.dropped > 0

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> Counts:
        return cls(**_counts_fields(raw))


@dataclass(frozen=True)
class SecondStats(Counts):
    """One entrypoint over second ``second`` since the load started (wall seconds [second, second+1))."""

    entrypoint: str = ""
    second: int = 0
    in_flight: int = 0  # entry requests in flight when the second closed
    complete: bool = True  # False: a worker's part of this second never reached the master

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> SecondStats:
        return cls(entrypoint=str(raw["entrypoint"]), second=int(raw["second"]), in_flight=int(raw["in_flight"]),
                   complete=bool(raw["complete"]), **_counts_fields(raw))


def _counts_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {"requests": int(raw["requests"]), "attempts": int(raw["attempts"]), "retries": int(raw["retries"]),
            "ok": int(raw["ok"]), "errors": _by_cause(raw.get("errors", {})),
            "client_errors": int(raw["client_errors"]), "unfinished": int(raw["unfinished"]),
            "hist": _hist(raw.get("hist", {})), "attempt_ok": int(raw["attempt_ok"]),
            "attempt_errors": _by_cause(raw.get("attempt_errors", {})),
            "attempt_hist": _hist(raw.get("attempt_hist", {})),
            "late": int(raw["late"]), "dropped": int(raw["dropped"]), "max_lag_s": float(raw["max_lag_s"]),
            "client_statuses": _frozen({str(k): int(v) for k, v in raw.get("client_statuses", {}).items()})}


def _by_cause(raw: Mapping[str, Any]) -> Mapping[Cause, int]:
    unknown = set(raw) - {c.value for c in CAUSES}
    if unknown:
        raise ValueError(f"unknown causes in a load record: {sorted(unknown)}")
    return _frozen({c: int(raw.get(c.value, 0)) for c in CAUSES})


def _hist(raw: Mapping[str, Any]) -> Mapping[int, int]:
    return _frozen({int(k): int(v) for k, v in raw.items()})


@dataclass(frozen=True)
class LoadStart:
    """When second 0 of the load began: ``time.monotonic()`` (same clock in every local process) and wall time."""

    t0_monotonic: float
    t0_wall: float
    processes: int


@dataclass(frozen=True)
class LoadSummary:
    """How the load ended, with the Locust side's own running totals per entrypoint."""

    reason: LoadStop
    totals: Mapping[str, Counts]
    kinds: Mapping[str, Mapping[str, Counts]] = field(default_factory=dict)  # entrypoint -> request kind -> totals
    capped: bool = False
    stragglers: int = 0  # worker records that reached the master after their second was written
    warnings: tuple[str, ...] = ()
    exit_codes: tuple[int | None, ...] = ()

    @property
    def behind(self) -> bool:
        return self.capped or any(c.behind for c in self.totals.values())
