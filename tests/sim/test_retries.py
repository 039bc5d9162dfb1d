"""Retries, retry budgets and circuit breakers: counted attempts against arithmetic and theory."""

from __future__ import annotations

import math

import pytest
from scipy import stats
from simkit import (
    CONFIDENCE,
    call,
    entry_totals,
    experiment,
    fixed,
    run,
    service_series,
    service_totals,
    svc,
    topology,
)

from chaos.analysis import analyze
from chaos.model.faults import Crash, Errors
from chaos.model.load import Step
from chaos.model.scope import Scope
from chaos.model.topology import Call, CircuitBreaker, Entrypoint, Retries, Service, Topology
from chaos.run import Cause, Marker, Run

Z = stats.norm.ppf(0.5 + CONFIDENCE / 2)


def chain(depth: int, retries: int) -> list[Service]:
    """``depth`` retrying hops: web -> l1 -> ... -> l{depth-1} -> leaf, each retrying ``retries`` times."""
    names = [f"l{i}" for i in range(1, depth)] + ["leaf"]
    services = [svc(name, fixed(0.001), workers=10_000, calls=[call(nxt, retries=retries)])
                for name, nxt in zip(names, names[1:], strict=False)]
    services.append(svc("leaf", fixed(0.001), workers=10_000))
    return services


@pytest.mark.parametrize(("retries", "depth"), [(1, 1), (2, 3), (3, 2), (4, 3)])
def test_retries_amplify_to_r_plus_1_to_the_depth_when_the_leaf_always_fails(retries: int, depth: int) -> None:
    # Every leaf attempt fails at once, so every caller exhausts its retries: each hop
    # multiplies the attempts by r + 1, exactly. Arrivals stop at 20 s and the run goes
    # to 30 s, so every request has finished by the end and nothing is cut off.
    topo = topology(*chain(depth, retries), retries=retries)
    exp = experiment(topo, load=Step(rate=20, to=0, at=20), duration=30,
                     faults=[Errors(target="leaf", ratio=1.0)])
    r = run(exp)
    roots = entry_totals(r).requests
    assert roots > 300
    assert entry_totals(r).failed == roots
    names = [f"l{i}" for i in range(1, depth)] + ["leaf"]
    for hop, name in enumerate(names, start=1):
        assert service_totals(r, name).requests == (retries + 1) ** hop * roots, name
    assert service_totals(r, "leaf").errors[Cause.INJECTED] == (retries + 1) ** depth * roots


def truncated_geometric(p: float, retries: int) -> tuple[float, float]:
    """Mean and variance of attempts when each fails with probability p, at most retries + 1."""
    probs = {k: p ** (k - 1) * (1 - p) for k in range(1, retries + 1)}
    probs[retries + 1] = p ** retries  # the last attempt is made whatever its outcome
    mean = sum(k * q for k, q in probs.items())
    var = sum((k - mean) ** 2 * q for k, q in probs.items())
    return mean, var


@pytest.mark.parametrize(("p", "retries"), [(0.3, 3), (0.6, 2), (0.9, 4)])
def test_attempts_per_request_with_independent_failures(p: float, retries: int) -> None:
    # Attempts stop at the first success or after retries + 1: a truncated geometric,
    # with mean (1 - p^(r+1)) / (1 - p). Requests are independent, so the error of the
    # observed mean is sqrt(var / n).
    expected = (1 - p ** (retries + 1)) / (1 - p)
    mean, var = truncated_geometric(p, retries)
    assert mean == pytest.approx(expected, rel=1e-12)  # the closed form and the distribution agree
    topo = topology(svc("leaf", fixed(0.001), workers=10_000), retries=retries)
    r = run(experiment(topo, load=Step(rate=500, to=0, at=40), duration=45, faults=[Errors(target="leaf", ratio=p)]))
    roots = entry_totals(r).requests
    attempts = service_totals(r, "leaf").requests / roots
    assert abs(attempts - expected) <= Z * math.sqrt(var / roots), (attempts, expected)
    # A request fails only when all r + 1 attempts fail.
    q = p ** (retries + 1)
    failed = entry_totals(r).failed / roots
    assert abs(failed - q) <= Z * math.sqrt(q * (1 - q) / roots), (failed, q)


def test_retry_budget_caps_amplification_near_one_plus_budget() -> None:
    # front retries calls to back up to 4 times, and back always fails. Without a budget
    # that is 5 attempts per request; a budget of 0.2 earns a fifth of a retry per first
    # attempt, so retries are at most 0.2 * first attempts (the bucket starts empty).
    def amplification(budget: float | None) -> tuple[int, int]:
        edge = Call(to="back", retries=Retries(max=4, budget=budget))
        topo = topology(svc("front", fixed(0.001), workers=10_000, calls=[edge]),
                        svc("back", fixed(0.001), workers=10_000))
        r = run(experiment(topo, load=Step(rate=200, to=0, at=30), duration=35,
                           faults=[Errors(target="back", ratio=1.0)]))
        return service_totals(r, "front").requests, service_totals(r, "back").requests

    first, attempts = amplification(None)
    assert attempts == 5 * first
    budget = 0.2
    first, attempts = amplification(budget)
    retries = attempts - first
    assert first > 5000
    # Tokens are summed in floating point, so allow one token of rounding either way.
    assert budget * first - 2 <= retries <= budget * first + 1e-9, (retries, first)


def breaker_topology() -> list[Service]:
    cb = CircuitBreaker(failure_ratio=0.5, min_calls=20, window=10.0, open_for=5.0)
    edge = Call(to="back", circuit_breaker=cb)
    return [svc("front", fixed(0.001), workers=10_000, calls=[edge]), svc("back", fixed(0.001), workers=10_000)]


def markers(r: Run, kind: str) -> list[Marker]:
    return [m for m in r.markers if m.kind.value == kind and m.subject == "front->back"]


def test_circuit_breaker_stops_calls_to_a_dead_dependency() -> None:
    # back dies for good at 30 s (connections refused at once). Calls in the breaker's
    # 10 s window were all good before, so at a steady rate the failed share reaches 0.5
    # when half the window has passed: about 5 s after the crash, give or take one of the
    # window's ten buckets. From then on only the half-open probes reach back: one per
    # open_for (5 s), each failing and reopening the breaker.
    crash_at, rate = 30.0, 50.0
    r = run(experiment(topology(*breaker_topology()), rate=rate, duration=90,
                       faults=[Crash(target="back", at=crash_at)]))
    opened = markers(r, "breaker_open")
    assert opened, "the breaker never opened"
    t_open = opened[0].t_s
    assert crash_at + 0.5 * 10 - 1.0 <= t_open <= crash_at + 0.5 * 10 + 1.0, t_open
    assert not [m for m in r.markers if m.kind.value.startswith("breaker") and m.t_s < crash_at]

    probes = [m for m in markers(r, "breaker_half_open") if m.t_s >= math.floor(t_open) + 1]
    reached = sum(service_series(r, "back").requests[math.floor(t_open) + 1:])
    assert reached == len(probes), "calls other than probes reached the dead service"
    # Each probe goes out with the first call after open_for has passed (calls arrive 50
    # times a second, so within half a second), and fails, reopening the breaker.
    last_open = t_open
    for probe in markers(r, "breaker_half_open"):
        assert 5.0 <= probe.t_s - last_open < 5.5, (probe, last_open)
        reopen = [m for m in opened if m.t_s >= probe.t_s]
        assert reopen and reopen[0].t_s == probe.t_s  # a refused probe fails at once
        last_open = reopen[0].t_s
    assert len(probes) >= math.floor((90 - t_open) / 5.5)
    # Callers see their calls refused by the breaker instead of waiting on back.
    assert service_totals(r, "front").errors[Cause.CIRCUIT_OPEN] > 0.9 * rate * (90 - t_open - 1)


def test_circuit_breaker_closes_once_the_dependency_is_back() -> None:
    # back is down from 30 s to 50 s. The first probe after its restart succeeds and one
    # good probe (half_open_probes = 1) closes the breaker; calls flow again.
    r = run(experiment(topology(*breaker_topology()), rate=50, duration=80,
                       faults=[Crash(target="back", at=30, duration=20)]))
    closed = markers(r, "breaker_closed")
    assert len(closed) == 1
    # The breaker probes at most open_for after the restart, plus the wait for a call.
    assert 50.0 < closed[0].t_s < 50.0 + 5.0 + 0.5
    back = service_series(r, "back")
    after = math.ceil(closed[0].t_s)
    assert sum(back.requests[after:]) == sum(back.ok[after:]) > 0.9 * 50 * (80 - after)


def test_attempts_per_entry_request_count_only_the_entrypoints_that_reach_the_service() -> None:
    # Two entrypoints: 'shop' calls 'front', which calls 'leaf' with 2 retries; 'admin' (3 times the
    # load) calls 'back' alone. The leaf always fails at once, so each shop request makes exactly one
    # attempt at 'front' and (r+1)^1 = 3 at 'leaf' (retry amplification, one retrying layer), and each
    # admin request one at 'back'. Divided by both entrypoints' requests these would read 0.25 and 0.75.
    topo = Topology(name="two", services=(
        svc("front", fixed(0.001), workers=10_000, calls=[call("leaf", retries=2)]),
        svc("leaf", fixed(0.001), workers=10_000),
        svc("back", fixed(0.001), workers=10_000),
    ), entrypoints=(Entrypoint(name="shop", to="front", share=1.0), Entrypoint(name="admin", to="back", share=3.0)))
    exp = experiment(topo, load=Step(rate=40, to=0, at=20), duration=30, faults=[Errors(target="leaf", ratio=1.0)])
    r = run(exp)
    figures = analyze(r).services
    assert r.totals[Scope.entrypoint("shop")].requests > 150 and r.totals[Scope.entrypoint("admin")].requests > 450
    assert figures["front"].attempts_per_entry_request == 1.0
    assert figures["leaf"].attempts_per_entry_request == 3.0
    assert figures["back"].attempts_per_entry_request == 1.0
