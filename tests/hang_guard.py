"""Guards for tests of the no-hang contract: a command still running after its time fails instead.

The guards tell a hang from a finish, not fast from slow (speed lives in benchmarks/). A hang is of one
of two kinds, and each has its own clock:

- :func:`deadline` counts wall time: it catches a command blocked for good (a FIFO that no one writes, a
  lock), which uses no CPU. A bound of a minute holds on a machine whose cores are shared with other
  tests, as CI's are, where ten seconds of wall time did not.
- :func:`cpu_deadline` counts this process's CPU time: it catches a command that computes without end (a
  loop that never converges, a number with a million digits). Other processes on the same cores slow the
  wall clock, not this one, so its bound can be tight without tripping on a busy machine.

Both interrupt through a signal (SIGALRM, SIGPROF), so they run in the main thread only. pytest-timeout
(``timeout`` in pyproject, method "signal") keeps its own SIGALRM timer: :func:`deadline` puts back what
is left of it, so a test keeps its overall timeout after a guarded command.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """A command that would hang raises TimeoutError after ``seconds`` of wall time (SIGALRM)."""
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expired)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)  # pytest-timeout's time left, or 0
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:  # due already: a moment from now, so the outer timeout still fires
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001))


@contextlib.contextmanager
def cpu_deadline(seconds: float) -> Iterator[None]:
    """A command that would compute forever raises TimeoutError after ``seconds`` of this process's CPU
    time, user and system (ITIMER_PROF, SIGPROF)."""
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still computing after {seconds} s of CPU time")
    previous = signal.signal(signal.SIGPROF, expired)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
