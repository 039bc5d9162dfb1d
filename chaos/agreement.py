"""Agreement bounds: when a predicted figure and an observed one count as the same. Pure.

One set of bounds for every comparison of a simulation with reality: ``chaoslab compare``
(a simulation against a live run, ``chaos.live.gameday.compare``) and the fidelity report of
a model derived from traces (``chaos.traces.fidelity``). Each bound says, in words, how far
the observed figure may lie from the predicted one:

=================  ============  =====================================================
figure             agrees when   why this bound
=================  ============  =====================================================
throughput_rps     within 10%    Poisson noise of a minute at tens per second is a few percent
mean_ms, p50_ms    within 10%    central figures of thousands of requests
p90_ms, p99_ms     within 25%    tail quantiles from a few dozen requests and 12%-wide buckets
error_ratio        within 0.05   ratios near 0 make relative bounds meaningless (absolute)
=================  ============  =====================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Bound:
    figure: str
    words: str
    agrees: Callable[[float, float], bool]


def _relative(tol: float) -> Callable[[float, float], bool]:
    def check(sim: float, live: float) -> bool:
        if sim == 0:
            return abs(live) <= 1e-9
        return abs(live - sim) <= tol * abs(sim) + 1e-12
    return check


def _absolute(tol: float) -> Callable[[float, float], bool]:
    return lambda sim, live: abs(live - sim) <= tol + 1e-12


THROUGHPUT = Bound("throughput_rps", "10%", _relative(0.10))
MEAN = Bound("mean_ms", "10%", _relative(0.10))
P99 = Bound("p99_ms", "25%", _relative(0.25))
ERROR_RATIO = Bound("error_ratio", "0.05", _absolute(0.05))

BOUNDS = (THROUGHPUT, MEAN, P99, ERROR_RATIO)
"""What ``chaoslab compare`` judges: a simulation against a live run."""

P50 = Bound("p50_ms", MEAN.words, MEAN.agrees)   # a central figure of thousands of requests, as the mean
P90 = Bound("p90_ms", P99.words, P99.agrees)     # a tail figure, read from the same 12%-wide buckets as the p99

TRACE_BOUNDS = (THROUGHPUT, ERROR_RATIO, P50, P90, P99)
"""What the fidelity report of a model derived from traces judges: the traces carry every request's
latency, so the quantiles replace the mean; the bounds are compare's."""


@dataclass(frozen=True)
class Check:
    scope: str
    figure: str
    sim: float | None
    live: float | None
    bound: str
    ok: bool | None  # None: neither engine has the figure (no successful request)

    def difference(self) -> str:
        if self.sim is None or self.live is None:
            return "-"
        if self.figure == "error_ratio":
            return f"{self.live - self.sim:+.3f}"
        if self.sim == 0:
            return "-" if self.live == 0 else "+inf"
        return f"{(self.live - self.sim) / abs(self.sim):+.1%}"


def judge(scope: str, bound: Bound, sim: float | None, live: float | None) -> Check:
    if sim is None and live is None:
        return Check(scope, bound.figure, sim, live, bound.words, None)
    if sim is None or live is None:
        return Check(scope, bound.figure, sim, live, bound.words, False)
    return Check(scope, bound.figure, sim, live, bound.words, bound.agrees(sim, live))
