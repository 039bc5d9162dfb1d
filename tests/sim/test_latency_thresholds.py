"""Latency thresholds of SLOs and alerts are exact histogram bounds: 'slower than 9ms' is counted, not guessed."""

from __future__ import annotations

import math

import pytest
from simkit import ENTRY, experiment, fixed, run, svc, topology

from chaos.analysis import analyze
from chaos.core.latency import bucketize
from chaos.model.parsing import parse_duration
from chaos.model.slos import LatencyObjective, Slo
from chaos.run import count_above, latency_bounds

# Durations as YAML gives them. Several are not exact in binary: 9 * 0.001 is
# 0.009000000000000001, and 36ms, 1.3s... likewise; ln(100)/2 has more digits than a bound keeps.
THRESHOLDS = ["9ms", "36ms", "300ms", "800ms", "1.3s", math.log(100) / 2]


@pytest.mark.parametrize("threshold", THRESHOLDS, ids=str)
def test_a_latency_just_above_the_threshold_counts_as_slow(threshold: str | float) -> None:
    limit = parse_duration(threshold) if isinstance(threshold, str) else threshold
    bounds = latency_bounds((limit,))
    # Buckets are 12% wide: without an exact bound at the threshold, latencies a hair
    # either side of it would share a bucket. A relative nanosecond must tell them apart.
    for factor, slow in ((1.001, 1), (1 + 1e-9, 1), (1 - 1e-9, 0), (0.999, 0)):
        latency = limit * factor
        assert count_above(bucketize([latency], bounds), bounds, limit) == slow, (limit, latency)


def test_slo_counts_every_request_slower_than_its_threshold() -> None:
    # Every request takes exactly 9.5 ms (constant service time, one worker per request,
    # no queueing at 10 requests/s), so every one of them breaks a 9 ms p99 objective.
    topo = topology(svc("s", fixed(0.0095), workers=50))
    slo = Slo(entrypoint=ENTRY, latency=LatencyObjective(p99=parse_duration("9ms")))
    result = analyze(run(experiment(topo, rate=10, duration=30, slos=[slo])))
    (verdict,) = [o for o in result.objectives if not o.implied]
    assert verdict.total > 200
    assert verdict.bad == verdict.total
    assert not verdict.met
