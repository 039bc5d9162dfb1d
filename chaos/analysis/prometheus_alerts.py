"""Firings from the samples a Prometheus wrote for its alerts: its own answer, read back after a live run.

A Prometheus that evaluates an alerting rule writes a sample of ``ALERTS{alertstate="firing"}`` for
each instance at every evaluation at which it fires (after ``for``, and through ``keep_firing_for``),
timestamped with that evaluation, and stops at the evaluation that resolves it. So, per instance:

* it fired at its first sample of an episode: the evaluation at which Prometheus fired it;
* an episode ends where the next sample is more than 1.5 evaluation intervals later (a gap of one
  interval is the next evaluation; a missed evaluation is rare, two missed are a resolution);
* it resolved at the evaluation after its last sample (last sample + interval), unless that last
  sample is within one interval of the end of what was read: then it was still firing (None).

An episode that began before the run's second 0 is kept with its (negative) time: time to detect
counts only firings at or after a fault's start, so an alert already firing detects nothing, as in
the simulator. The firings carry :attr:`AlertSource.PROMETHEUS` (``evaluated_by`` in result.json).
"""

from __future__ import annotations

from chaos.analysis.alerts import Firing
from chaos.measurement import AlertSource
from chaos.metrics.mapping import resolve
from chaos.model.alerts import FiringMetric
from chaos.model.experiment import Experiment
from chaos.model.scope import Scope
from chaos.run import AlertSamples, EvaluatedAlerts

GAP = 1.5
"""Samples further apart than this many evaluation intervals belong to two episodes."""
METRIC = FiringMetric.PROMQL  # a rule-file alert: what its expression measures


def episodes(samples: AlertSamples, end_s: float) -> list[tuple[float, float | None]]:
    """(fired at, resolved at or None) of each firing episode of one instance."""
    times = sorted(samples.at_s)
    interval = samples.interval_s if samples.interval_s > 0 else 1.0
    out: list[tuple[float, float | None]] = []
    start = previous = None
    for t in times:
        if start is None:
            start = previous = t
            continue
        assert previous is not None
        if t - previous > GAP * interval + 1e-9:
            out.append((start, previous + interval))
            start = t
        previous = t
    if start is not None and previous is not None:
        still = previous + interval > end_s + 1e-9
        out.append((start, None if still else previous + interval))
    return out


def firings(read: EvaluatedAlerts, experiment: Experiment) -> list[Firing]:
    """Every firing the stack's Prometheus wrote for the experiment's alerts, in order of time."""
    mapping = resolve(experiment.metrics, experiment.topology)
    scopes = _alert_scopes(experiment)
    out = []
    for samples in read.samples:
        scope = mapping.scope_of(samples.labels) or scopes.get(samples.alert)
        for fired, resolved in episodes(samples, read.end_s):
            out.append(Firing(samples.alert, scope, fired, resolved, None, METRIC, samples.labels,
                              AlertSource.PROMETHEUS))
    return sorted(out, key=lambda f: (f.fired_at_s, f.name))


def _alert_scopes(experiment: Experiment) -> dict[str, Scope]:
    """The one scope each alert reads, where its rule names one (as the simulator's evaluation finds it)."""
    from chaos.analysis.prometheus_rules import plan

    rule_plan = plan(experiment)
    if rule_plan is None:
        return {}
    return {alert: scope for (_, alert), scope in rule_plan.alert_scopes.items()}


def note(read: EvaluatedAlerts, found: list[Firing]) -> str:
    """What the result's notes say of where its rule-file alerts' firing times came from."""
    return (f"rule-file alerts ({', '.join(read.alerts)}) evaluated by the stack's Prometheus at {read.url}: "
            f"{len(found)} firing(s) read back from its ALERTS series, not evaluated by chaoslab")
