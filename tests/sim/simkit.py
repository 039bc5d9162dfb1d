"""Small builders and statistics shared by the simulator tests.

Experiments are built in code from the frozen model classes, so each test states the
whole scenario it checks. Nothing here asserts; the tests do.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

from chaos.model.alerts import ThresholdRule
from chaos.model.distributions import Constant as Fixed
from chaos.model.distributions import Exponential
from chaos.model.experiment import Experiment
from chaos.model.faults import AnyFault
from chaos.model.load import AnyLoadProfile, Constant
from chaos.model.scope import Scope
from chaos.model.slos import Slo
from chaos.model.topology import Call, Entrypoint, Queue, Retries, Service, Topology
from chaos.run import Run, Series, Totals
from chaos.sim.simulation import simulate

ENTRY = "web"

# A z (or t) this far out is crossed by chance about once in 10,000 two-sided tests:
# the runs are seeded, so a failure means the simulator changed, not bad luck, and the
# bound still stays within a few standard errors of the truth.
CONFIDENCE = 0.9999


def fixed(seconds: float) -> Fixed:
    return Fixed(seconds)


def exponential(mean: float) -> Exponential:
    return Exponential(mean)


def svc(name: str, service_time: Fixed | Exponential, *, workers: int = 1, replicas: int = 1,
        queue: int = 100_000, calls: Sequence[Call] = (), **extra: object) -> Service:
    """A service with a queue deep enough to be the unbounded queue of textbook models."""
    return Service(name=name, service_time=service_time, workers=workers, replicas=replicas,
                   queue=Queue(limit=queue), calls=tuple(calls), **extra)  # type: ignore[arg-type]


def call(to: str, *, timeout: float | None = None, retries: int = 0, **extra: object) -> Call:
    return Call(to=to, timeout=timeout, retries=Retries(max=retries), **extra)  # type: ignore[arg-type]


def topology(*services: Service, to: str | None = None, timeout: float | None = None, retries: int = 0,
             **entry: object) -> Topology:
    """Services plus one entrypoint ``web`` calling ``to`` (default: the first service)."""
    ep = Entrypoint(name=ENTRY, to=to or services[0].name, timeout=timeout,
                    retries=Retries(max=retries), **entry)  # type: ignore[arg-type]
    return Topology(name="t", services=tuple(services), entrypoints=(ep,))


def experiment(topo: Topology, *, duration: float, rate: float | None = None, load: AnyLoadProfile | None = None,
               warmup: float = 0.0, faults: Sequence[AnyFault] = (), slos: Sequence[Slo] = (),
               alerts: Sequence[ThresholdRule] = (), seed: int = 1) -> Experiment:
    profile = load if load is not None else Constant(rate=rate)
    return Experiment(name="x", topology=topo, duration=duration, load=profile, warmup=warmup,
                      faults=tuple(faults), slos=tuple(slos), alerts=tuple(alerts), seed=seed)


def run(exp: Experiment, seed: int | None = None) -> Run:
    return simulate(exp, seed)


def service_totals(r: Run, name: str) -> Totals:
    return r.totals[Scope.service(name)]


def service_series(r: Run, name: str) -> Series:
    return r.series[Scope.service(name)]


def entry_totals(r: Run) -> Totals:
    return r.totals[Scope.entrypoint(ENTRY)]


def entry_series(r: Run) -> Series:
    return r.series[Scope.entrypoint(ENTRY)]


# --------------------------------------------------------------------------- theory


def erlang_c(c: int, offered: float) -> float:
    """Probability that an arrival waits in an M/M/c queue with offered load a = lambda/mu < c."""
    below = sum(offered ** k / math.factorial(k) for k in range(c))
    top = offered ** c / math.factorial(c) * c / (c - offered)
    return top / (below + top)


def mmc_wait(c: int, lam: float, mu: float) -> float:
    """Mean time in queue of M/M/c (Erlang C): P(wait) / (c mu - lambda)."""
    return erlang_c(c, lam / mu) / (c * mu - lam)


# --------------------------------------------------------------------------- estimates


@dataclass(frozen=True)
class Estimate:
    """A mean with the half-width of its CONFIDENCE interval (Student t on batch means)."""

    mean: float
    se: float
    batches: int

    @property
    def half_width(self) -> float:
        return self.se * stats.t.ppf(0.5 + CONFIDENCE / 2, self.batches - 1)

    def covers(self, value: float) -> bool:
        return abs(self.mean - value) <= self.half_width

    def __str__(self) -> str:
        return f"{self.mean:.6g} +- {self.half_width:.3g} ({self.batches} batches)"


def ratio_estimate(numerators: Sequence[float], denominators: Sequence[float]) -> Estimate:
    """Sum(num)/sum(den) with its standard error from batches (the ratio estimator's delta method).

    Batches long compared with the run's autocorrelation time are nearly independent, so
    the spread of their ratios measures the error of the whole-run ratio honestly even when
    consecutive customers are strongly correlated (heavy traffic).
    """
    n = len(numerators)
    big_r = sum(numerators) / sum(denominators)
    mean_den = sum(denominators) / n
    resid = [(x - big_r * y) for x, y in zip(numerators, denominators, strict=True)]
    se = statistics.stdev(resid) / mean_den / math.sqrt(n)
    return Estimate(big_r, se, n)


def mean_estimate(values: Sequence[float]) -> Estimate:
    return Estimate(statistics.fmean(values), statistics.stdev(values) / math.sqrt(len(values)), len(values))


def batches(values: Sequence[float], count: int) -> list[float]:
    """Sums of ``count`` consecutive equal slices of ``values`` (a remainder is dropped)."""
    size = len(values) // count
    return [float(sum(values[i * size:(i + 1) * size])) for i in range(count)]


def latency_sums(series: Series) -> list[float]:
    """Per second: the sum of the latencies (s) of the successful attempts answered in it."""
    return [0.0 if m is None else m / 1000.0 * ok for m, ok in zip(series.mean_ms, series.ok, strict=True)]
