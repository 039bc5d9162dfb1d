"""Alert timing against theory.

After a step from no errors to an error fraction e at t0, the error ratio averaged over a
trailing window of w seconds is e (t - t0) / w, so it crosses a threshold theta at
t0 + w theta / e. The alert is evaluated every E seconds: it becomes pending at the
first evaluation after the crossing and fires once it has been pending for ``for``,
that is ceil(for / E) evaluations later. Each case is chosen so the crossing falls
well inside an evaluation interval; the test checks that margin against the binomial
noise of the error count before asserting the exact slot.
"""

from __future__ import annotations

import math

import pytest
from simkit import experiment, fixed, run, svc, topology

from chaos.analysis import analyze
from chaos.model.alerts import AlertMetric, ThresholdRule
from chaos.model.faults import Errors

RATE = 400.0  # requests per second


def predicted_firing(e: float, theta: float, window: float, every: float, hold: float, t0: float) -> float:
    crossing = t0 + window * theta / e
    pending = every * (math.floor(crossing / every) + 1)  # first evaluation strictly after the crossing
    return pending + every * math.ceil(hold / every - 1e-9)


def ratio_and_noise(e: float, window: float, t0: float, t: float) -> tuple[float, float]:
    """The window's expected error ratio at evaluation time t, and its standard error."""
    faulted = max(0.0, min(t - t0, window))
    errors_sd = math.sqrt(RATE * faulted * e * (1 - e))
    return e * faulted / window, errors_sd / (RATE * window)


# (e, theta, window, every, for, t0)
CASES = [
    (0.5, 0.1, 60.0, 5.0, 20.0, 100.0),   # crosses at 112 s: pending at 115, fires at 135
    (0.2, 0.05, 30.0, 10.0, 0.0, 50.0),   # crosses at 57.5 s: fires at the 60 s evaluation
    (1.0, 0.5, 20.0, 3.0, 6.0, 40.0),     # crosses at 50 s: pending at 51, fires at 57
    (0.4, 0.2, 20.0, 4.0, 10.0, 72.0),    # crosses at 82 s: pending at 84, fires at 96
]


@pytest.mark.parametrize(("e", "theta", "window", "every", "hold", "t0"), CASES)
def test_error_ratio_alert_fires_in_the_predicted_evaluation(e: float, theta: float, window: float, every: float,
                                                             hold: float, t0: float) -> None:
    fire = predicted_firing(e, theta, window, every, hold, t0)
    pending = fire - every * math.ceil(hold / every - 1e-9)
    # The design margin: at the evaluation before the crossing the ratio is clearly
    # below theta, and at the first one after it clearly above (six standard errors).
    for t, above in ((pending - every, False), (pending, True)):
        ratio, se = ratio_and_noise(e, window, t0, t)
        assert (ratio - theta if above else theta - ratio) >= 6 * se, (t, ratio, theta, se)

    rule = ThresholdRule(name="errors", service="s", metric=AlertMetric.ERROR_RATIO, threshold=theta,
                         window=window, for_=hold, every=every)
    exp = experiment(topology(svc("s", fixed(0.001), workers=10_000)), rate=RATE, duration=fire + 30,
                     faults=[Errors(target="s", ratio=e, at=t0)], alerts=[rule])
    analysis = analyze(run(exp))
    assert [f.fired_at_s for f in analysis.firings] == [fire]
    assert analysis.firings[0].resolved_at_s is None  # the errors never stop
    assert analysis.time_to_detect_s == pytest.approx(fire - t0)


def test_alert_resolves_at_the_first_evaluation_below_threshold() -> None:
    # Errors at ratio 1 from 40 s to 60 s, a 10 s window, evaluated every 2 s: the
    # window's ratio is 0.2 at 42 s, 0.4 at 44 s and 0.6 at 46 s, where it fires (no
    # hold). After 60 s it falls back by 0.2 per evaluation: 0.6 at 64 s, 0.4 at 66 s,
    # where it resolves.
    rule = ThresholdRule(name="errors", service="s", metric=AlertMetric.ERROR_RATIO, threshold=0.5,
                         window=10.0, every=2.0)
    exp = experiment(topology(svc("s", fixed(0.001), workers=10_000)), rate=RATE, duration=90,
                     faults=[Errors(target="s", ratio=1.0, at=40, duration=20)], alerts=[rule])
    (firing,) = analyze(run(exp)).firings
    assert (firing.fired_at_s, firing.resolved_at_s) == (46.0, 66.0)
