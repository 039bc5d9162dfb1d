"""The clock of a live run, and a small scheduler driven by the run's loop.

Second 0 of a run is second 0 of its load (the load generator fixes it), so the per-second
load records, the scrapes and the fault windows share one time axis. The fault runner is
started before the load (its preflight talks to Docker and Toxiproxy), so :class:`RunClock`
reads 0 until :meth:`RunClock.begin` is called with the load's start: a FaultRunner started
on it then measures its elapsed time from the load's second 0.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class RunClock:
    """Seconds since the run's second 0 on ``time.monotonic``; 0 until :meth:`begin`."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic,
                 sleeper: Callable[[float], None] = time.sleep) -> None:
        self._monotonic = monotonic
        self._sleeper = sleeper
        self.t0: float | None = None

    def begin(self, t0_monotonic: float) -> None:
        self.t0 = t0_monotonic

    @property
    def started(self) -> bool:
        return self.t0 is not None

    def now(self) -> float:
        return 0.0 if self.t0 is None else self._monotonic() - self.t0

    def sleep(self, seconds: float) -> None:
        self._sleeper(max(0.0, seconds))

    def sleep_until(self, t_s: float) -> None:
        self.sleep(t_s - self.now())


@dataclass(order=True)
class _Timer:
    t_s: float
    seq: int
    fn: Callable[[], None] = field(compare=False)


class Scheduler:
    """Callbacks at run times, called by :meth:`run_due` from the run's loop (one thread, no locks).

    A callback scheduled in the past runs at the next :meth:`run_due`; callbacks due at the
    same time run in the order they were scheduled.
    """

    def __init__(self) -> None:
        self._heap: list[_Timer] = []
        self._seq = itertools.count()

    def at(self, t_s: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._heap, _Timer(t_s, next(self._seq), fn))

    def next_due(self) -> float | None:
        return self._heap[0].t_s if self._heap else None

    def run_due(self, now_s: float) -> int:
        """Call every callback due by ``now_s`` (including those they schedule for now); return how many ran."""
        ran = 0
        while self._heap and self._heap[0].t_s <= now_s:
            timer = heapq.heappop(self._heap)
            timer.fn()
            ran += 1
        return ran

    def __len__(self) -> int:
        return len(self._heap)
