"""One guard for tests of the no-hang contract: a command still running after its time fails instead.

The guard tells a hang from a finish, not fast from slow (speed lives in benchmarks/): a bound of a
minute holds on a machine whose cores are shared with other tests, as CI's are, where ten seconds of
wall time did not."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """A command that would hang raises TimeoutError after ``seconds`` (SIGALRM: main thread only)."""
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
