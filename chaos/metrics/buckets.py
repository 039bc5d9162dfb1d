"""The latency bounds the metric mapping adds to a run's histogram: the presets' buckets, the le values rules select.

Apart from :mod:`chaos.metrics.mapping` because the run's own bounds need them
(``chaos.run.experiment_bounds``, used by both engines), and the mapping is built on the run's
record: this module reads only the experiment's model, so ``chaos.run`` can import it without a
circle.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from chaos.model.metrics import MetricsPreset

if TYPE_CHECKING:
    from chaos.model.experiment import Experiment


def micrometer_buckets(low: float = 0.001, high: float = 30.0) -> tuple[float, ...]:
    """Micrometer's percentile-histogram bounds between a timer's minimum and maximum expected values.

    Micrometer generates them in nanoseconds: 1, 2, 3, then from each power of 4 upwards in
    steps of a third of it, while below the next power of 4 less one step; a timer publishes
    those between its minimum and maximum expected value (1 ms and 30 s unless configured).
    """
    values = {1, 2, 3}
    exponent = 2
    while exponent < 64:
        current = 1 << exponent
        step = current // 3
        stop = (current << 2) - step
        while current < stop:
            values.add(current)
            current += step
        exponent += 2
    return tuple(v / 1e9 for v in sorted(values) if low * 1e9 <= v <= high * 1e9)


OTEL_BUCKETS = (0.0, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
"""The bounds the OpenTelemetry semantic conventions advise for ``http.server.request.duration``."""

PRESET_BUCKETS: dict[MetricsPreset, tuple[float, ...] | None] = {
    MetricsPreset.CHAOSLAB: None,  # the run's own latency bounds
    MetricsPreset.OPENTELEMETRY: OTEL_BUCKETS,
    MetricsPreset.MICROMETER: micrometer_buckets(),
    MetricsPreset.HAPROXY: (),     # no histogram, only an average
}
"""Each preset's default le bounds (``metrics: {buckets: ...}`` replaces them)."""


def exact_bounds(experiment: Experiment) -> tuple[float, ...]:
    """Latency bounds a simulation of ``experiment`` counts exactly (added to its histogram's bounds).

    The mapping's le bounds, and every ``le="..."`` a rule file selects, so that a bucket's
    count is counted, not interpolated. An experiment that names neither a preset's buckets
    nor rule files adds nothing (chaoslab's own preset uses the run's bounds as they are).
    Finite and above zero, not yet rounded (``chaos.run.latency_bounds`` rounds them all alike).
    """
    from chaos.promql.syntax import MatchOp, selectors
    spec = experiment.metrics
    buckets = spec.buckets if spec.buckets is not None else PRESET_BUCKETS[spec.preset]
    named = []
    for ref in (*experiment.prometheus_rules, *experiment.slo_specs):
        for group in ref.rules.all_groups:
            for rule in group.rules:
                named += [m.value for s in selectors(rule.expr) for m in s.matchers
                          if m.name == "le" and m.op is MatchOp.EQ]
    out = [float(b) for b in buckets or ()]
    for text in named:
        try:
            out.append(float(text))
        except ValueError:
            continue  # le="+Inf" and the like: not a bound to add
    return tuple(sorted({b for b in out if 0 < b < math.inf}))
