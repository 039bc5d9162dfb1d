"""SLOs judged over a run: did each objective hold, and when was each scope in breach."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.analysis import windows
from chaos.model.scope import Scope
from chaos.model.slos import Objective, ObjectiveKind
from chaos.run import Run, Series, count_above, merge_hists


@dataclass
class ObjectiveResult:
    """One objective of one scope, judged over the measured part of a run."""

    objective: Objective
    observed: float | None        # error ratio, or the latency percentile in seconds
    bad: int                      # failed requests, or successful ones slower than the threshold
    total: int                    # requests, or successful requests
    met: bool
    breach_seconds: list[int]     # seconds whose trailing window failed the test
    implied: bool = False         # not in the experiment: the default used for blast radius only
    measured: bool = True         # False: nothing measured its scope, so it is unmeasured, never met

    @property
    def first_breach_s(self) -> float | None:
        return float(self.breach_seconds[0]) if self.breach_seconds else None

    @property
    def bad_ratio(self) -> float:
        return self.bad / self.total if self.total else 0.0


def bad_and_total(obj: Objective, series: Series, bounds: tuple[float, ...], lo: int, hi: int) -> tuple[int, int]:
    if obj.kind is ObjectiveKind.ERROR_RATIO:
        return windows.failed(series, lo, hi), windows.answered(series, lo, hi)
    hist = merge_hists(series.hist[lo:hi])
    return count_above(hist, bounds, obj.threshold or 0.0), windows.total(series.ok, lo, hi)


def measured_latency_s(run: Run, scope: Scope, percentile: float) -> float | None:
    """A latency percentile (0-100) of a scope's successful requests over the measured window, in seconds.

    The one definition of a whole-run latency percentile, so the p99 in a service's row and the p99
    its SLO objective observed are the same number: exact where the series kept its latencies (the
    simulator), else interpolated in the merged histogram of the measured seconds (live mode)."""
    series = run.series[scope]
    return windows.latency_quantile(series, run.bounds, run.first_measured, len(series), percentile / 100.0)


def unmeasured(obj: Objective, implied: bool = False) -> ObjectiveResult:
    """The verdict on an objective whose scope nothing measured: not met, never in breach, nothing observed.

    Not met, because a release gate must not pass on figures nobody took (``chaos.report.checks``
    turns it into its own exit code); never in breach, because no second of it was seen."""
    return ObjectiveResult(obj, None, 0, 0, False, [], implied, measured=False)


def judge(obj: Objective, run: Run, implied: bool = False) -> ObjectiveResult:
    if not run.measured(obj.scope):
        return unmeasured(obj, implied)
    if obj.kind is ObjectiveKind.LATENCY and not run.latency_measured(obj.scope):
        return unmeasured(obj, implied)  # its requests were counted, their latency was not: unknown, never met
    series = run.series[obj.scope]
    start, end = run.first_measured, len(series)
    bad, total = bad_and_total(obj, series, run.bounds, start, end)
    met = total == 0 or bad <= obj.target * total + 1e-9
    if obj.kind is ObjectiveKind.ERROR_RATIO:
        observed = bad / total if total else None
    else:
        observed = measured_latency_s(run, obj.scope, obj.percentile or 99.0)
    breaches = []
    for t in range(start, end):
        lo, hi = windows.span(t + 1, obj.window)
        w_bad, w_total = bad_and_total(obj, series, run.bounds, max(lo, start), hi)
        if w_total and w_bad > obj.target * w_total + 1e-9:
            breaches.append(t)
    return ObjectiveResult(obj, observed, bad, total, met, breaches, implied)
