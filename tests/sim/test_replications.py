"""The replications block: a 95% half-width from Student's t with n-1 degrees of freedom, as sweeps use."""

from __future__ import annotations

import math
import statistics

import pytest
from simkit import experiment, exponential, svc, topology

from chaos.analysis.stats import t975
from chaos.sim.replications import simulate_replications


def test_known_t_quantiles() -> None:
    assert t975(2) == pytest.approx(4.303, abs=5e-4)
    assert t975(4) == pytest.approx(2.776, abs=5e-4)


@pytest.mark.parametrize(("count", "t"), [(3, 4.303), (5, 2.776)])
def test_replications_half_width_uses_student_t(count: int, t: float) -> None:
    # M/M/1 at 80% load for 20 s: the p99 differs from seed to seed, so the half-width is not 0.
    exp = experiment(topology(svc("s", exponential(0.01))), rate=80, duration=20)
    doc = simulate_replications(exp, seed=7, replications=count).to_dict()
    p99 = doc["replications"]["services"]["s"]["p99_ms"]
    values = p99["values"]
    assert len(values) == count and statistics.stdev(values) > 0
    # With 1.96 in place of t, three replications would claim an interval 2.2 times too narrow.
    expected = t * statistics.stdev(values) / math.sqrt(count)
    assert p99["ci95"] == pytest.approx(expected, rel=1e-3)
