"""A circuit breaker judging failures over a sliding window of ten buckets (the simulator's, on a wall clock).

Closed: every call goes through; each answer is recorded in the bucket of its time.
When the window holds at least ``min_calls`` answers and at least ``failure_ratio`` of
them failed, it opens. Open: calls are refused (cause ``circuit_open``) for
``open_for_s``; then half-open: up to ``half_open_probes`` calls go through, and that
many successes close it while one failure opens it again. Answers that arrive while
it is open (to calls sent before it opened) are ignored.

Pure logic: the caller passes the time, so tests need no clock and no sockets.
"""

from __future__ import annotations

import enum

from chaos.live.stackspec import Breaker as BreakerSpec


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """The state of one edge's breaker."""

    BUCKETS = 10

    def __init__(self, spec: BreakerSpec) -> None:
        self.spec = spec
        self.width = spec.window_s / self.BUCKETS
        self.state = BreakerState.CLOSED
        self.until = 0.0      # end of the open period
        self.out = 0          # probes let through while half-open
        self.good = 0         # successful probes while half-open
        self.opens = 0        # times it opened since start (for markers)
        self.since = 0.0      # when it last became half-open
        self._reset_window(0)

    def _reset_window(self, head: int) -> None:
        self.calls = [0] * self.BUCKETS
        self.fails = [0] * self.BUCKETS
        self.head = head
        self.total = 0
        self.failed = 0

    def allow(self, now: float) -> bool:
        """May a call be sent now? Moves an expired open breaker to half-open."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if now < self.until:
                return False
            self.state = BreakerState.HALF_OPEN
            self.out = self.good = 0
            self.since = now
        if self.out < self.spec.half_open_probes:
            self.out += 1
            return True
        return False

    def record(self, now: float, ok: bool, sent: float | None = None) -> None:
        """The answer (or timeout) of a call that ``allow`` let through, sent at ``sent`` (default: now)."""
        if self.state is BreakerState.HALF_OPEN:
            if sent is not None and sent < self.since:
                return  # answers a call sent before the probes: it says nothing about now
            self._probe_answered(now, ok)
            return
        if self.state is BreakerState.OPEN:
            return
        b = int(now / self.width)
        if b != self.head:
            self._advance(b)
        i = b % self.BUCKETS
        self.calls[i] += 1
        self.total += 1
        if not ok:
            self.fails[i] += 1
            self.failed += 1
            if self.total >= self.spec.min_calls and self.failed >= self.spec.failure_ratio * self.total:
                self._open(now)

    def _probe_answered(self, now: float, ok: bool) -> None:
        if not ok:
            self._open(now)
            return
        self.good += 1
        if self.good >= self.spec.half_open_probes:
            self.state = BreakerState.CLOSED
            self._reset_window(int(now / self.width))

    def _advance(self, b: int) -> None:
        """Move the window's head to bucket ``b``, forgetting the buckets it passes."""
        if b - self.head >= self.BUCKETS:
            self._reset_window(b)
            return
        for k in range(self.head + 1, b + 1):
            i = k % self.BUCKETS
            self.total -= self.calls[i]
            self.failed -= self.fails[i]
            self.calls[i] = self.fails[i] = 0
        self.head = b

    def _open(self, now: float) -> None:
        self.state = BreakerState.OPEN
        self.until = now + self.spec.open_for_s
        self.opens += 1
        self._reset_window(int(now / self.width))
