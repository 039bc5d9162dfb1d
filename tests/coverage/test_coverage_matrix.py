"""The coverage rules on hand-made run summaries: what counts as a detection, as noise, and each status."""

from __future__ import annotations

import dataclasses

import pytest

from chaos.coverage.document import Status
from chaos.coverage.matrix import detect_times, first_detection, noise_firings, seed_status
from chaos.recovery import CountsFrom, judge_recovery
from chaos.sweep.summary import AlertFiring, RunSummary

RUN = RunSummary(seed=1, duration_s=60.0, warmup_s=5.0, slo_met=True, entry_requests=1000, entry_failed=0,
                 entry_failed_ratio=0.0, services_hurt=(), time_to_detect_s=None, detected_by=None, faults_end_s=40.0,
                 recovery=judge_recovery(0.0, CountsFrom.FAULT_END, 20.0, 30.0), objectives=(), services={},
                 entrypoints={}, faults_start_s=20.0)


def with_firings(*firings: tuple[str, float, float | None], **changes: object) -> RunSummary:
    return dataclasses.replace(RUN, firings=tuple(AlertFiring(n, None, a, r) for n, a, r in firings), **changes)


def test_an_alert_already_firing_at_the_fault_detects_nothing_its_next_firing_does() -> None:
    run = with_firings(("a", 12.0, None), ("b", 19.0, 21.0), ("b", 26.5, None), ("c", 20.0, 22.0))
    assert detect_times(run) == {"b": 6.5, "c": 0.0}  # a never fired after 20 s; c fired at the fault's start
    assert detect_times(dataclasses.replace(run, faults_start_s=None)) == {}


def test_noise_is_what_fired_or_was_firing_after_the_warm_up() -> None:
    run = with_firings(("history", -30.0, 3.0), ("through", -10.0, None), ("late", 58.0, 59.0),
                       ("warmup", 2.0, 5.0), ("measured", 7.0, 9.0), ("measured", 30.0, None))
    assert noise_firings(run) == {"through": -10.0, "late": 58.0, "measured": 7.0}


@pytest.mark.parametrize(("slo_met", "detected", "deadline", "status"), [
    (False, None, 30.0, Status.UNDETECTED),
    (True, None, 30.0, Status.QUIET),
    (False, 31.0, 30.0, Status.LATE),
    (True, 31.0, 30.0, Status.LATE),       # late whether or not an SLO was missed
    (False, 30.0, 30.0, Status.DETECTED),  # on the deadline is in time
    (False, 500.0, None, Status.DETECTED),  # no deadline: nothing is late
])
def test_a_seeds_status(slo_met: bool, detected: float | None, deadline: float | None, status: Status) -> None:
    assert seed_status(dataclasses.replace(RUN, slo_met=slo_met), deadline, detected) is status


def test_a_noisy_alert_detects_only_where_its_fault_free_twin_was_not_firing() -> None:
    # The twin (same seed, no fault) has "flappy" firing 18-22 s and 48-52 s, and "steady" 35-38 s.
    twin = with_firings(("flappy", 18.0, 22.0), ("flappy", 48.0, 52.0), ("steady", 35.0, 38.0),
                        faults_start_s=None)
    # The faulted run: flappy refires at 48 s as its twin did (noise), and at 30 s where the twin was quiet;
    # steady fires at 35 s as its twin did; quiet fires at 26 s where the twin never fired.
    run = with_firings(("flappy", 18.0, 22.0), ("flappy", 30.0, 32.0), ("flappy", 48.0, 52.0),
                       ("steady", 35.0, 38.0), ("quiet", 26.0, None))
    assert detect_times(run) == {"flappy": 10.0, "steady": 15.0, "quiet": 6.0}  # no twin: every later firing
    assert detect_times(run, twin) == {"flappy": 10.0, "quiet": 6.0}
    only_noise = with_firings(("flappy", 48.0, 52.0), ("steady", 35.0, 38.0))
    assert detect_times(only_noise, twin) == {}
    assert first_detection(detect_times(only_noise, twin)) == (None, None)
    assert first_detection({"b": 4.0, "a": 4.0, "c": 1.0}) == (1.0, "c")
    assert first_detection({"b": 4.0, "a": 4.0}) == (4.0, "a")  # a tie goes by name, as the analysis orders it
