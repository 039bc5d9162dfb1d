"""A half-open breaker judges only the probes it let through, not late answers to older calls."""

from __future__ import annotations

from chaos.sim.kernel import CLOSED, HALF_OPEN, OPEN, Breaker


def test_a_late_answer_from_before_half_open_does_not_reopen_it() -> None:
    changes: list[str] = []
    b = Breaker(0.5, 2, 10.0, 1.0, 1, changes.append)
    b.record(0.1, False, 0.1)
    b.record(0.2, False, 0.2)
    assert b.state == OPEN and changes == ["open"]
    assert b.allow(1.3) and b.state == HALF_OPEN          # the probe goes out at 1.3
    b.record(1.4, False, 0.15)                              # a timeout of a call sent at 0.15: ignored
    assert b.state == HALF_OPEN
    b.record(1.5, True, 1.3)                                # the probe succeeds: closed
    assert b.state == CLOSED and changes == ["open", "half_open", "closed"]


def test_a_failed_probe_reopens_it() -> None:
    b = Breaker(0.5, 2, 10.0, 1.0, 1, lambda s: None)
    b.record(0.1, False, 0.1)
    b.record(0.2, False, 0.2)
    assert b.allow(1.3)
    b.record(1.6, False, 1.3)
    assert b.state == OPEN and not b.allow(2.5) and b.allow(2.7)
