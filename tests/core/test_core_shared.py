"""The rest of the core, and each engine's use of it: admission, cold starts, service times, streams.

The simulator's hot path keeps one inlined copy of core behaviour, the exponential
service-time draw; it is checked here against the core on the same stream.
"""

from __future__ import annotations

import math
import random

import pytest
import simpy

from chaos.core.admission import AdmissionBucket
from chaos.core.coldstart import cold_excess, cold_factor
from chaos.core.servicetime import TAIL_LEVELS, exponential_from_uniform, exponential_sampler, lognormal_sigma
from chaos.core.streams import stream
from chaos.live.in_container.emulator.faults import ColdStart
from chaos.live.in_container.emulator.servicetime import mean as emulator_mean
from chaos.live.in_container.emulator.servicetime import sampler as emulator_sampler
from chaos.live.in_container.stackspec import Dist, ServiceTime
from chaos.model.distributions import Constant, Exponential, LogNormal
from chaos.model.topology import Entrypoint, Service, Topology
from chaos.sim.kernel import EntryRequest, Kernel, Replica, Span
from chaos.sim.world import World

# --------------------------------------------------------------------------- admission


def test_admission_lets_in_a_second_s_worth_then_the_limit() -> None:
    bucket = AdmissionBucket()
    assert all(bucket.admit(t / 100) for t in range(50))  # no limit: everything
    bucket.set(10.0, 1.0)
    admitted = sum(bucket.admit(1.0 + i / 100) for i in range(500))  # 100/s offered for 5 s
    assert admitted == 10 + 49  # the full bucket, then 10/s over the 4.99 s that follow
    bucket.set(None, 6.0)
    assert bucket.admit(6.0) and bucket.limit is None


def test_a_zero_limit_admits_nothing() -> None:
    bucket = AdmissionBucket()
    bucket.set(0.0, 0.0)
    assert not any(bucket.admit(t / 10) for t in range(100))


# --------------------------------------------------------------------------- cold starts


def test_a_cold_start_decays_to_one_and_both_engines_read_it_alike() -> None:
    assert cold_factor(5.0, 2.0, 0.0) == 5.0
    assert cold_factor(5.0, 2.0, 2.0) == pytest.approx(1 + 4 / math.e)
    assert cold_factor(5.0, 2.0, 1e3) == pytest.approx(1.0)
    replica = Replica.__new__(Replica)
    replica.cold = [(10.0, 5.0, 2.0)]
    emulator = ColdStart(5.0, 2.0, 10.0)
    for now in (10.0, 10.5, 13.0, 40.0):
        assert replica.cold_factor(now) == emulator.factor_at(now) == 1.0 + cold_excess(5.0, 2.0, now - 10.0)


# --------------------------------------------------------------------------- service times


@pytest.mark.parametrize(("model", "spec"), [
    (Constant(0.02), ServiceTime(Dist.CONSTANT, value=0.02)),
    (Exponential(0.02), ServiceTime(Dist.EXPONENTIAL, mean=0.02)),
    (LogNormal(0.01, p99=0.08), ServiceTime(Dist.LOGNORMAL, median=0.01, tail="p99", tail_s=0.08)),
    (LogNormal(0.01, p90=0.03), ServiceTime(Dist.LOGNORMAL, median=0.01, tail="p90", tail_s=0.03)),
])
def test_the_model_and_the_emulator_draw_the_same_times_from_the_same_stream(model, spec) -> None:  # noqa: ANN001
    ours, theirs = model.sampler(stream(3, "service", "s")), emulator_sampler(spec, stream(3, "service", "s"))
    assert [ours() for _ in range(1000)] == [theirs() for _ in range(1000)]
    assert emulator_mean(spec) == model.mean


def test_a_lognormal_given_by_its_tail_has_that_tail() -> None:
    for level, q in TAIL_LEVELS.items():
        dist = LogNormal(0.01, **{level: 0.05})
        assert dist.quantile(q) == pytest.approx(0.05, rel=1e-12)
        assert dist.sigma == lognormal_sigma(0.01, 0.05, level)
        draw = dist.sampler(random.Random(level))
        xs = sorted(draw() for _ in range(20_000))
        assert xs[int(q * len(xs))] == pytest.approx(0.05, rel=0.05)


def test_the_kernels_inlined_exponential_draw_is_the_cores() -> None:
    """The kernel draws exponential service times inline (once per span); the same stream gives the core's times."""
    topo = Topology(name="t", services=(Service(name="s", service_time=Exponential(0.02), workers=400),),
                    entrypoints=(Entrypoint(name="web", to="s"),))
    kernel = Kernel(simpy.Environment(), None)  # type: ignore[arg-type]  (no arrivals: spans are admitted by hand)
    world = World.build(kernel, topo, 7, [])
    svc, entry = world.services["s"], world.entries["web"]
    assert svc.ops["default"].exp_rate == 50.0  # the inlined path is the one taken

    def span() -> Span:
        return Span(svc, entry.edge, EntryRequest(entry, 0.0), 0, 0.0)

    for _ in range(400):
        kernel.admit(span(), svc, svc.ops["default"], 0.0)  # a free worker each: drawn in admit()
    rep = svc.up[0]
    for _ in range(200):
        rep.busy = 0  # a worker frees up at once: drawn in start()
        kernel.start(span(), rep)
    drawn = [t for t, _, _, _ in sorted(kernel.heap, key=lambda item: item[2])]
    core = exponential_sampler(0.02, stream(7, "service", "s"))
    assert drawn == [core() for _ in range(600)]
    u = random.Random(1).random()
    assert exponential_from_uniform(u, 50.0) == random.Random(1).expovariate(50.0)


# --------------------------------------------------------------------------- streams


def test_streams_are_independent_by_name_and_stable() -> None:
    assert stream(1, "a").random() == stream(1, "a").random()
    assert stream(1, "a").random() != stream(1, "b").random() != stream(2, "a").random()
    assert stream(1, "service", "db").random() == random.Random("1/service/db").random()
