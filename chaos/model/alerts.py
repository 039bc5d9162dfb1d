"""Alert rules, evaluated the same way on simulated and live measurements.

::

    alerts:
      - name: web-errors                    # a threshold rule
        entrypoint: web
        metric: error_ratio
        threshold: 0.05
        window: 30s                         # the metric is computed over this trailing window
        for: 15s                            # the condition must hold this long before firing
        every: 5s                           # evaluation interval
      - name: web-burn                      # a multi-window burn-rate rule (SRE workbook, ch. 5)
        kind: burn_rate
        entrypoint: web
        objective: 0.99                     # success objective: the error budget is 1%
        windows: [{long: 5m, short: 30s, factor: 14.4}, {long: 30m, short: 3m, factor: 6}]
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from chaos.model.bounds import MAX_FACTOR
from chaos.model.parsing import NAME, Model, Seconds, Tagged, fld
from chaos.model.quantities import count, duration, rate, share
from chaos.model.scope import Scope, ScopeKind


class AlertMetric(enum.Enum):
    """What an alert rule or a playbook condition measures over its trailing window."""

    ERROR_RATIO = "error_ratio"        # failed / answered over the window
    LATENCY_P50 = "latency_p50"        # seconds, over successful requests in the window
    LATENCY_P90 = "latency_p90"
    LATENCY_P95 = "latency_p95"
    LATENCY_P99 = "latency_p99"
    REQUEST_RATE = "request_rate"      # requests per second
    THROUGHPUT = "throughput"          # successful requests per second
    QUEUE = "queue"                    # waiting requests (mean of per-second samples)
    BUSY = "busy"                      # busy workers (mean of per-second samples)
    RETRY_RATE = "retry_rate"          # retries sent per second

    @property
    def percentile(self) -> float | None:
        return {"latency_p50": 50.0, "latency_p90": 90.0, "latency_p95": 95.0,
                "latency_p99": 99.0}.get(self.value)

    @property
    def label(self) -> str:
        """In words: ``p99 latency``, ``error ratio``, ``queue length``."""
        if self.percentile is not None:
            return f"p{self.percentile:g} latency"
        return _LABELS[self]

    def format(self, value: float | None) -> str:
        """A value of this metric with its unit: ``100 ms``, ``2%``, ``150 requests/s``, ``3 workers busy``."""
        if value is None:
            return "-"
        if self is AlertMetric.ERROR_RATIO:
            return share(value)
        if self.percentile is not None:
            return duration(value)
        return _FORMATS[self](value)


_LABELS = {AlertMetric.ERROR_RATIO: "error ratio", AlertMetric.REQUEST_RATE: "request rate",
           AlertMetric.THROUGHPUT: "throughput", AlertMetric.QUEUE: "queue length",
           AlertMetric.BUSY: "busy workers", AlertMetric.RETRY_RATE: "retry rate"}
_FORMATS: dict[AlertMetric, Callable[[float], str]] = {
    AlertMetric.REQUEST_RATE: rate, AlertMetric.THROUGHPUT: lambda x: rate(x, "successes"),
    AlertMetric.RETRY_RATE: lambda x: rate(x, "retries"),
    AlertMetric.QUEUE: lambda x: count(x, "requests") + " waiting",
    AlertMetric.BUSY: lambda x: count(x, "workers") + " busy"}


class Comparison(enum.Enum):
    ABOVE = "above"
    BELOW = "below"


class Scoped(Model):
    """Names exactly one service or entrypoint, or one operation of a service (alert rules, playbook conditions)."""

    WHAT = "an alert rule"

    service: str | None
    entrypoint: str | None
    operation: str | None

    @property
    def scope(self) -> Scope:
        if self.service is not None:
            if self.operation is not None:
                return Scope.operation(self.service, self.operation)
            return Scope(ScopeKind.SERVICE, self.service)
        return Scope(ScopeKind.ENTRYPOINT, self.entrypoint or "")

    @property
    def scope_field(self) -> str:
        return "service" if self.service is not None else "entrypoint"

    def validate(self) -> None:
        if (self.service is None) == (self.entrypoint is None):
            raise self.error(None, f"{self.WHAT} names exactly one of 'service' or 'entrypoint'")
        if self.operation is not None and self.service is None:
            raise self.error("operation", f"{self.WHAT} on an operation names its service ('service: NAME')")


@dataclass(frozen=True, kw_only=True)
class ThresholdRule(Scoped):
    """Fires when a metric over a trailing window crosses a threshold for a while."""

    TAG = "threshold"
    name: str = fld(doc="the alert's name (playbooks trigger on it)", text=NAME)
    service: str | None = fld(None)
    entrypoint: str | None = fld(None)
    operation: str | None = fld(None, text=NAME, doc="with 'service': one of its operations only")
    metric: AlertMetric = fld(doc="what is measured")
    threshold: Seconds = fld(doc="a number; for latency metrics a duration such as 500ms")
    op: Comparison = fld(Comparison.ABOVE, doc="fire when the metric is above or below the threshold")
    window: Seconds = fld(60.0, gt=0, doc="trailing window the metric is computed over")
    for_: Seconds = fld(0.0, key="for", doc="how long the condition must hold before the alert fires")
    every: Seconds = fld(10.0, ge=1, doc="evaluation interval (series are per second: at least 1s)")
    expect_within: Seconds | None = fld(None, doc="the alert should fire within this long of the first fault")


@dataclass(frozen=True)
class BurnWindow(Model):
    """Both windows must burn error budget faster than ``factor`` times the sustainable rate."""

    long: Seconds = fld(gt=0)
    short: Seconds = fld(gt=0)
    factor: float = fld(gt=0, le=MAX_FACTOR, doc="burn-rate multiple, e.g. 14.4 (2% of a 30-day budget in an hour)")

    def validate(self) -> None:
        if self.short > self.long:
            raise self.error("short", "the short window must not be longer than the long one")


@dataclass(frozen=True, kw_only=True)
class BurnRateRule(Scoped):
    """Multi-window, multi-burn-rate alert on the error budget of an objective."""

    TAG = "burn_rate"
    name: str = fld(text=NAME)
    service: str | None = fld(None)
    entrypoint: str | None = fld(None)
    operation: str | None = fld(None, text=NAME, doc="with 'service': one of its operations only")
    objective: float = fld(gt=0, lt=1, doc="success objective, e.g. 0.999; the error budget is 1 - objective")
    windows: tuple[BurnWindow, ...] = fld(max_items=10, doc="fires when any pair burns too fast")
    for_: Seconds = fld(0.0, key="for")
    every: Seconds = fld(10.0, ge=1, doc="evaluation interval (series are per second: at least 1s)")
    expect_within: Seconds | None = fld(None, doc="the alert should fire within this long of the first fault")

    def validate(self) -> None:
        super().validate()
        if not self.windows:
            raise self.error("windows", "give at least one window pair")

    @property
    def budget(self) -> float:
        return 1.0 - self.objective


class FiringMetric(enum.Enum):
    """What the value of an alert's firing measures (result.json's ``alerts[].metric``): a threshold rule's
    :class:`AlertMetric` (the same values), a burn-rate rule's worst long-window burn, or a rule-file alert's
    PromQL expression. Its own enum, not AlertMetric with two more members: a burn rate or an expression is
    nothing a threshold rule or a playbook condition can measure."""

    ERROR_RATIO = AlertMetric.ERROR_RATIO.value
    LATENCY_P50 = AlertMetric.LATENCY_P50.value
    LATENCY_P90 = AlertMetric.LATENCY_P90.value
    LATENCY_P95 = AlertMetric.LATENCY_P95.value
    LATENCY_P99 = AlertMetric.LATENCY_P99.value
    REQUEST_RATE = AlertMetric.REQUEST_RATE.value
    THROUGHPUT = AlertMetric.THROUGHPUT.value
    QUEUE = AlertMetric.QUEUE.value
    BUSY = AlertMetric.BUSY.value
    RETRY_RATE = AlertMetric.RETRY_RATE.value
    BURN_RATE = "burn_rate"  # a multiple of the rate that spends exactly the error budget
    PROMQL = "promql"        # a rule-file alert's expression, in whatever unit it has

    @classmethod
    def of(cls, metric: AlertMetric) -> FiringMetric:
        return cls(metric.value)

    @property
    def alert_metric(self) -> AlertMetric | None:
        """The threshold rules' metric of the same name; None for a burn rate or an expression."""
        return _ALERT_METRICS.get(self.value)


_ALERT_METRICS = {m.value: m for m in AlertMetric}


def format_value(metric: FiringMetric | None, value: float | None) -> str:
    """An alert's value in its metric's unit; a burn-rate rule's value is a multiple of the sustainable rate."""
    if value is None:
        return "-"
    if metric is FiringMetric.BURN_RATE:
        return f"{value:,.3g}× the sustainable burn rate"
    known = None if metric is None else metric.alert_metric
    return f"{value:,.4g}" if known is None else known.format(value)


AnyAlertRule = ThresholdRule | BurnRateRule
AlertRule = Annotated[AnyAlertRule, Tagged("kind", default=ThresholdRule)]
