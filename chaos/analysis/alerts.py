"""Alert rules evaluated over per-second series, the way Prometheus evaluates them.

At every evaluation time (multiples of ``every``) the rule's condition is computed over
the complete seconds of its trailing window. A true condition makes the alert
*pending*; once it has been true for ``for`` it *fires*; the first false evaluation
*resolves* it. The same :class:`AlertEvaluator` runs after a simulation, during one
(playbooks trigger on firings), and during a live run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from chaos.analysis import windows
from chaos.measurement import AlertSource
from chaos.model.alerts import AlertMetric, AnyAlertRule, BurnRateRule, Comparison, FiringMetric
from chaos.model.scope import Scope
from chaos.run import Series


@dataclass
class Firing:
    """One period during which an alert fired: one of chaoslab's rules, or an instance of a rule-file alert."""

    name: str
    scope: Scope | None         # None: a rule-file alert whose labels name no single service or entrypoint
    fired_at_s: float
    resolved_at_s: float | None = None
    value: float | None = None  # the metric when it fired, in the unit of ``metric``
    metric: FiringMetric | None = None  # what ``value`` measures (None: unknown)
    labels: tuple[tuple[str, str], ...] = ()  # a rule-file alert instance's labels, alertname aside
    evaluated_by: AlertSource | None = None   # PROMETHEUS: the stack's Prometheus fired it (None: chaoslab)


@dataclass
class _RuleState:
    rule: AnyAlertRule
    next_eval: float
    pending_since: float | None = None
    open: Firing | None = None


def metric_value(metric: AlertMetric, window: float, series: Series, bounds: tuple[float, ...],
                 end: int) -> float | None:
    """A metric of one scope over the trailing ``window`` seconds that end before second ``end``."""
    lo, hi = windows.span(end, window)
    width = hi - lo
    if metric is AlertMetric.ERROR_RATIO:
        return windows.error_ratio(series, lo, hi)
    q = metric.percentile
    if q is not None:
        return windows.latency_quantile(series, bounds, lo, hi, q / 100.0)
    if width == 0:
        return None
    per_second = {AlertMetric.REQUEST_RATE: series.requests, AlertMetric.THROUGHPUT: series.ok,
                  AlertMetric.RETRY_RATE: series.retries}
    if metric in per_second:
        return windows.total(per_second[metric], lo, hi) / width
    gauges = {AlertMetric.QUEUE: series.queue, AlertMetric.BUSY: series.busy}
    return windows.mean(gauges[metric], lo, hi)


def burn_condition(rule: BurnRateRule, series: Series, end: int) -> tuple[bool, float | None]:
    """True when any window pair burns the error budget faster than its factor; also the worst long burn."""
    worst: float | None = None
    hit = False
    for pair in rule.windows:
        burns = []
        for width in (pair.long, pair.short):
            ratio = windows.error_ratio(series, *windows.span(end, width))
            burns.append(None if ratio is None else ratio / rule.budget)
        long_burn, short_burn = burns
        if long_burn is not None:
            worst = long_burn if worst is None else max(worst, long_burn)
        if long_burn is not None and short_burn is not None and long_burn > pair.factor and short_burn > pair.factor:
            hit = True
    return hit, worst


def condition(rule: AnyAlertRule, series: Series, bounds: tuple[float, ...], end: int) -> tuple[bool, float | None]:
    if isinstance(rule, BurnRateRule):
        return burn_condition(rule, series, end)
    value = metric_value(rule.metric, rule.window, series, bounds, end)
    if value is None:
        return False, None
    above = value > rule.threshold
    return (above if rule.op is Comparison.ABOVE else value < rule.threshold), value


def rule_metric(rule: AnyAlertRule) -> FiringMetric:
    return FiringMetric.BURN_RATE if isinstance(rule, BurnRateRule) else FiringMetric.of(rule.metric)


class AlertEvaluator:
    """Evaluates a set of rules as seconds of data complete; keeps every firing."""

    def __init__(self, rules: tuple[AnyAlertRule, ...], bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.states = [_RuleState(r, r.every) for r in rules]
        self.firings: list[Firing] = []

    def advance(self, series: dict[Scope, Series], complete: int) -> list[Firing]:
        """Evaluate every due time up to ``complete`` (the number of complete seconds); return new firings."""
        new: list[Firing] = []
        for st in self.states:
            rule = st.rule
            while st.next_eval <= complete + 1e-9:
                t = st.next_eval
                st.next_eval = round(t + rule.every, 9)
                end = min(complete, math.floor(t + 1e-9))
                hit, value = condition(rule, series[rule.scope], self.bounds, end)
                fired = self._step(st, t, hit, value)
                if fired is not None:
                    new.append(fired)
        return new

    def _step(self, st: _RuleState, t: float, hit: bool, value: float | None) -> Firing | None:
        if not hit:
            st.pending_since = None
            if st.open is not None:
                st.open.resolved_at_s = t
                st.open = None
            return None
        if st.open is not None:
            return None
        if st.pending_since is None:
            st.pending_since = t
        if t - st.pending_since + 1e-9 >= st.rule.for_:
            st.open = Firing(st.rule.name, st.rule.scope, t, None, value, rule_metric(st.rule))
            self.firings.append(st.open)
            return st.open
        return None

    def firing(self, name: str) -> bool:
        return any(st.open is not None for st in self.states if st.rule.name == name)


def evaluate(rules: tuple[AnyAlertRule, ...], series: dict[Scope, Series], bounds: tuple[float, ...],
             seconds: int) -> list[Firing]:
    """Every firing of every rule over a finished run, in order of time."""
    ev = AlertEvaluator(rules, bounds)
    ev.advance(series, seconds)
    return sorted(ev.firings, key=lambda f: (f.fired_at_s, f.name))


@dataclass
class Detection:
    """How fast a fault was noticed."""

    fault: str
    start_s: float
    alert: str | None = None
    detected_at_s: float | None = None
    time_to_detect_s: float | None = None
    other_alerts: list[str] = field(default_factory=list)
