"""Load profiles: arrivals per second follow the written rate, within Poisson error.

The expected count of each second is the integral of the rate over it, computed here
from the profile's plain meaning (not from the model's own segment code), so the test
checks both the profile's arithmetic and the kernel's arrival process.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from scipy import integrate, stats
from simkit import CONFIDENCE, entry_series, experiment, fixed, run, svc, topology

from chaos.model.experiment import Experiment
from chaos.model.faults import LoadSpike
from chaos.model.load import AnyLoadProfile, Constant, Ramp, Spike, Stage, Stages, Step
from chaos.model.scope import Scope
from chaos.model.topology import Entrypoint, Topology

Z = stats.norm.ppf(0.5 + CONFIDENCE / 2)
DURATION = 60
Rate = Callable[[float], float]


def ramp(t: float) -> float:  # 50/s until 10 s, up to 450/s at 50 s, then 450/s
    return 50.0 if t < 10 else 50 + 400 * (t - 10) / 40 if t < 50 else 450.0


def ramp_to_end(t: float) -> float:  # 0 to 300/s over the whole run
    return 300 * t / DURATION


def step(t: float) -> float:  # 100/s, then 400/s from 30.5 s (mid-second)
    return 100.0 if t < 30.5 else 400.0


def spike(t: float) -> float:  # 100/s with 500/s from 20 s for 5.5 s
    return 500.0 if 20 <= t < 25.5 else 100.0


def stages(t: float) -> float:  # 10 s at 100/s, 20 s from 100/s to 300/s, 10 s at 0; the last rate holds
    return 100.0 if t < 10 else 100 + 200 * (t - 10) / 20 if t < 30 else 0.0


def spiked(t: float) -> float:  # a constant 100/s, times 3 from 20 s to 30 s by a load_spike fault
    return 300.0 if 20 <= t < 30 else 100.0


CASES: list[tuple[str, AnyLoadProfile, Rate, tuple[LoadSpike, ...]]] = [
    ("ramp", Ramp(from_=50, to=450, start=10, over=40), ramp, ()),
    ("ramp to the end", Ramp(from_=0, to=300), ramp_to_end, ()),
    ("step", Step(rate=100, to=400, at=30.5), step, ()),
    ("spike", Spike(rate=100, peak=500, at=20, for_=5.5), spike, ()),
    ("stages", Stages(stages=(Stage(for_=10, rate=100), Stage(for_=20, rate=100, to=300), Stage(for_=10, rate=0))),
     stages, ()),
    ("load_spike fault", Constant(rate=100), spiked, (LoadSpike(target="*", factor=3, at=20, duration=10),)),
]


def expected_counts(rate: Rate, seconds: int) -> list[float]:
    # Integrate piece by piece: quad is exact on linear pieces, but must not straddle a kink.
    kinks = [10, 20, 25.5, 30, 30.5, 50]
    out = []
    for i in range(seconds):
        cuts = [i] + [k for k in kinks if i < k < i + 1] + [i + 1]
        out.append(sum(integrate.quad(rate, a, b)[0] for a, b in zip(cuts, cuts[1:], strict=False)))
    return out


def assert_poisson(observed: list[int], expected: list[float], label: str) -> None:
    for i, (o, e) in enumerate(zip(observed, expected, strict=True)):
        if e == 0:
            assert o == 0, f"{label}: {o} arrivals in second {i} at rate 0"
    pairs = [(o, e) for o, e in zip(observed, expected, strict=True) if e > 0]
    if not pairs:
        return
    # Seconds are independent Poisson counts: Pearson's statistic is chi-square.
    chi2 = sum((o - e) ** 2 / e for o, e in pairs)
    assert chi2 <= stats.chi2.ppf(CONFIDENCE, len(pairs)), f"{label}: chi2 {chi2:.1f} over {len(pairs)} seconds"
    total_o, total_e = sum(observed), sum(expected)
    assert abs(total_o - total_e) <= Z * math.sqrt(total_e), f"{label}: {total_o} arrivals, expected {total_e:.0f}"


@pytest.mark.parametrize(("label", "profile", "rate", "faults"), CASES, ids=[c[0] for c in CASES])
def test_arrivals_per_second_follow_the_profile(label: str, profile: AnyLoadProfile, rate: Rate,
                                                faults: tuple[LoadSpike, ...]) -> None:
    exp = experiment(topology(svc("s", fixed(0.001), workers=10_000)), load=profile, duration=DURATION,
                     faults=faults)
    observed = entry_series(run(exp)).requests
    assert len(observed) == DURATION
    expected = expected_counts(rate, DURATION)
    assert_poisson(observed, expected, label)
    # The sharp edges are where a wrong boundary would show: compare the seconds either
    # side of each kink on their own (a few hundred arrivals each).
    for kink in (10, 20, 30, 50):
        lo, hi = kink - 3, kink + 3
        assert_poisson(observed[lo:hi], expected[lo:hi], f"{label} around {kink}s")


def test_entrypoints_split_the_load_by_their_relative_shares() -> None:
    # Shares are relative: 3 and 1 split 400/s into 300/s and 100/s, whatever they sum to.
    services = (svc("s", fixed(0.001), workers=10_000),)
    topo = Topology(name="t", services=services, entrypoints=(Entrypoint(name="a", to="s", share=3.0),
                                                              Entrypoint(name="b", to="s", share=1.0)))
    r = run(Experiment(name="x", topology=topo, duration=DURATION, load=Constant(rate=400)))
    for name, rate in (("a", 300.0), ("b", 100.0)):
        observed = r.series[Scope.entrypoint(name)].requests
        assert_poisson(observed, [rate] * DURATION, name)
