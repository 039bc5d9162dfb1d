"""The no-hang guards (tests/hang_guard.py) count the clock each kind of hang runs on, and nothing else."""

from __future__ import annotations

import signal
import time

import pytest
from hang_guard import cpu_deadline, deadline


def spin(seconds: float) -> None:
    until = time.process_time() + seconds
    while time.process_time() < until:
        pass


def test_a_computation_without_end_is_stopped_by_its_cpu_time() -> None:
    started = time.process_time()
    with pytest.raises(TimeoutError, match="of CPU time"), cpu_deadline(0.3):
        spin(30.0)
    # Roughly the bound: the kernel charges CPU time to the timer in ticks, so it may fire a tick early.
    assert 0.2 <= time.process_time() - started < 5.0


def test_waiting_costs_no_cpu_time_so_the_cpu_bound_lets_it_finish() -> None:
    with cpu_deadline(0.5):
        time.sleep(1.0)  # twice the bound in wall time: a busy machine's slow wall clock does not count


def test_a_command_blocked_for_good_is_stopped_by_wall_time() -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="still running after 1 s"), deadline(1):
        time.sleep(30.0)
    assert 1.0 <= time.monotonic() - started < 10.0


def test_the_wall_guard_gives_back_the_outer_timeout_it_borrowed() -> None:
    # pytest-timeout's signal method keeps its own ITIMER_REAL: after a guarded command it still runs.
    def outer(signum: int, frame: object) -> None:
        raise AssertionError("the outer timer fired during the test")
    previous = signal.signal(signal.SIGALRM, outer)
    own, _ = signal.setitimer(signal.ITIMER_REAL, 100.0)  # this test's own pytest-timeout, put back below
    try:
        with deadline(5):
            pass
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert signal.getsignal(signal.SIGALRM) is outer
        assert 90.0 < left <= 100.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if own:
            signal.setitimer(signal.ITIMER_REAL, own)
