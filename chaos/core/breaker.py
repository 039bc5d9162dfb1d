"""The circuit breaker, one implementation for both engines (standard library only).

Closed: every call goes through and each answer is counted in the ten-bucket sliding
window of its time. When the window holds at least ``min_calls`` answers and at least
``failure_ratio`` of them failed, it opens. Open: calls are refused (cause
``circuit_open``) for ``open_for`` seconds; then half-open: up to ``half_open_probes``
calls go through, that many successes close it, one failure opens it again. Answers to
calls sent before it opened, or before it went half-open, say nothing about now and are
ignored.

Pure logic: the caller passes the time (simulated or wall), so the simulator's kernel
and the live emulator judge identically.
"""

from __future__ import annotations

import enum
from collections.abc import Callable


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def _ignore(state: str) -> None:
    """The default listener of state changes."""


class CircuitBreaker:
    """One edge's breaker."""

    __slots__ = ("ratio", "min_calls", "width", "open_for", "probes", "state", "until", "out", "good",
                 "calls", "fails", "head", "total", "failed", "on_change", "since", "opens")

    BUCKETS = 10

    def __init__(self, failure_ratio: float, min_calls: int, window: float, open_for: float,
                 half_open_probes: int, on_change: Callable[[str], None] = _ignore) -> None:
        self.ratio = failure_ratio
        self.min_calls = min_calls
        self.width = window / self.BUCKETS
        self.open_for = open_for
        self.probes = half_open_probes
        self.on_change = on_change  # told "open", "half_open" or "closed" as it changes
        self.state = CLOSED
        self.until = 0.0   # end of the open period
        self.since = 0.0   # when it last went half-open
        self.out = 0       # probes let through while half-open
        self.good = 0      # successful probes while half-open
        self.opens = 0     # times it opened
        self._reset_window(0)

    def _reset_window(self, head: int) -> None:
        self.calls = [0] * self.BUCKETS
        self.fails = [0] * self.BUCKETS
        self.head = head
        self.total = 0
        self.failed = 0

    def allow(self, now: float) -> bool:
        """May a call be sent now? Moves an expired open breaker to half-open."""
        state = self.state
        if state is CLOSED:
            return True
        if state is OPEN:
            if now < self.until:
                return False
            self.state = HALF_OPEN
            self.out = self.good = 0
            self.since = now
            self.on_change("half_open")
        if self.out < self.probes:
            self.out += 1
            return True
        return False

    def record(self, now: float, ok: bool, sent: float | None = None) -> None:
        """The answer (or timeout) at ``now`` of a call sent at ``sent`` (default: now)."""
        state = self.state
        if state is HALF_OPEN:
            if sent is not None and sent < self.since:
                return
            if not ok:
                self._open(now)
            else:
                self.good += 1
                if self.good >= self.probes:
                    self.state = CLOSED
                    self._reset_window(int(now / self.width))
                    self.on_change("closed")
            return
        if state is OPEN:
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
            if self.total >= self.min_calls and self.failed >= self.ratio * self.total:
                self._open(now)

    def _advance(self, b: int) -> None:
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
        self.state = OPEN
        self.until = now + self.open_for
        self.opens += 1
        self._reset_window(int(now / self.width))
        self.on_change("open")
