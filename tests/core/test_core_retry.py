"""The retry rules both engines share: backoff and jitter, and the budget with its one rounding rule.

The last tests run the simulator's kernel and the emulator's call loop on the same sequence
of attempt outcomes and check that they send exactly the same retries.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator, Sequence

import pytest
import simpy

from chaos.core.choices import Jitter
from chaos.core.retry import TOKEN_CAP, UNITS, RetryBudget, backoff_delay, budget_units
from chaos.live.in_container.emulator.calls import Attributes
from chaos.live.in_container.emulator.calls import Edge as EmulatorEdge
from chaos.live.in_container.emulator.metrics import Cause
from chaos.live.in_container.stackspec import CallSpec, LoadBalancing
from chaos.live.in_container.stackspec import Retries as SpecRetries
from chaos.model.distributions import Constant
from chaos.model.topology import Entrypoint, Retries, Service, Topology
from chaos.sim.kernel import INJECTED, OK, EntryRequest, Kernel, Op, Span, Svc
from chaos.sim.world import World

# --------------------------------------------------------------------------- backoff


def test_backoff_doubles_up_to_the_cap_with_each_jitter() -> None:
    assert [backoff_delay(n, 0.1, 0.3, Jitter.NONE, lambda: 0.5) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.3, 0.3]
    assert backoff_delay(2, 0.1, 0.3, Jitter.FULL, lambda: 0.25) == pytest.approx(0.05)
    assert backoff_delay(2, 0.1, 0.3, Jitter.EQUAL, lambda: 0.25) == pytest.approx(0.125)
    assert backoff_delay(3, 0.0, 0.3, Jitter.FULL, lambda: 0.5) == 0.0


def test_backoff_draws_only_when_jittered() -> None:
    draws: list[float] = []

    def rand() -> float:
        draws.append(0.5)
        return 0.5

    backoff_delay(1, 0.1, 1.0, Jitter.NONE, rand)
    backoff_delay(1, 0.0, 1.0, Jitter.FULL, rand)
    assert draws == []
    backoff_delay(1, 0.1, 1.0, Jitter.FULL, rand)
    assert draws == [0.5]


# --------------------------------------------------------------------------- the budget


def test_ten_deposits_of_a_tenth_earn_exactly_one_retry() -> None:
    """The issue's case: in floating point 0.1 ten times is 0.9999999999999999, less than a token."""
    assert sum([0.1] * 10) < 1.0  # what the rule is for
    budget = RetryBudget()
    for _ in range(9):
        budget.deposit(0.1)
    assert not budget.try_spend(0.1)
    budget.deposit(0.1)
    assert budget.try_spend(0.1)
    assert budget.units == 0 and not budget.try_spend(0.1)


@pytest.mark.parametrize(("budget", "per_retry"), [(0.1, 10), (0.2, 5), (0.25, 4), (0.05, 20), (0.01, 100), (1.0, 1)])
def test_a_budget_allows_its_share_of_first_attempts_exactly(budget: float, per_retry: int) -> None:
    bucket = RetryBudget()
    retries = 0
    for i in range(1, 10 * per_retry + 1):
        bucket.deposit(budget)
        while bucket.try_spend(budget):  # every request would retry as often as allowed
            retries += 1
            assert i % per_retry == 0, f"a retry after {i} first attempts"
    assert retries == 10


def test_tokens_are_capped_and_no_budget_allows_everything() -> None:
    bucket = RetryBudget()
    for _ in range(100):
        bucket.deposit(0.5)
    assert bucket.tokens == TOKEN_CAP
    assert sum(bucket.try_spend(0.5) for _ in range(20)) == 10
    assert all(RetryBudget().try_spend(None) for _ in range(5))
    bucket.deposit(None)
    assert bucket.units == 0


def test_a_budget_is_rounded_to_the_nearest_billionth() -> None:
    assert budget_units(0.1) == UNITS // 10
    assert budget_units(1 / 3) == 333_333_333
    bucket = RetryBudget()
    for _ in range(3):
        bucket.deposit(1 / 3)
    assert not bucket.try_spend(1 / 3)  # three thirds are a billionth short of a token, and stay so
    bucket.deposit(1 / 3)
    assert bucket.try_spend(1 / 3)


# --------------------------------------------------------------------------- both engines, same events


def _sim_attempts(budget: float | None, max_retries: int, outcomes: Sequence[Sequence[bool]]) -> list[int]:
    """Attempts the simulator's kernel sends per call, each attempt answered as ``outcomes`` says."""
    script: Iterator[bool] = iter([])
    sent: list[int] = []

    class Scripted(Kernel):
        def admit(self, span: Span, svc: Svc, op: Op, now: float) -> None:
            sent[-1] += 1
            self.answer(span, OK if next(script) else INJECTED)

    topo = Topology(name="t", services=(Service(name="s", service_time=Constant(0.01)),),
                    entrypoints=(Entrypoint(name="web", to="s", retries=Retries(max=max_retries, budget=budget)),))
    kernel = Scripted(simpy.Environment(), None)  # type: ignore[arg-type]  (no arrivals: requests are sent by hand)
    world = World.build(kernel, topo, 1, [])
    entry = world.entries["web"]
    for call in outcomes:
        script = iter(call)
        sent.append(0)
        kernel.send(entry.edge, EntryRequest(entry, 0.0), 0)
    return sent


def _emulator_attempts(budget: float | None, max_retries: int, outcomes: Sequence[Sequence[bool]]) -> list[int]:
    """Attempts the emulator's call loop sends per call, each attempt answered as ``outcomes`` says."""
    script: Iterator[bool] = iter([])

    class Scripted(EmulatorEdge):
        async def _exchange(self, spec: CallSpec, sent: float, attributes: Attributes) -> Cause | None:
            return None if next(script) else Cause.INJECTED

    spec = CallSpec(to="s", urls=("http://s:8080",), retries=SpecRetries(max=max_retries, base_s=0.0, budget=budget))

    async def run() -> list[int]:
        nonlocal script
        edge = Scripted(spec, LoadBalancing.ROUND_ROBIN, (0.1,), random.Random(1), lambda: 0.0, set(),
                        random.Random(2))
        sent: list[int] = []
        for call in outcomes:
            script = iter(call)
            before = edge.metrics.attempts
            await edge.call()
            sent.append(edge.metrics.attempts - before)
        return sent

    return asyncio.run(run())


def _outcomes(rng: random.Random, calls: int, fail: float, max_retries: int) -> list[list[bool]]:
    """Each call's attempt outcomes, long enough for every retry the policy could send."""
    return [[rng.random() >= fail for _ in range(max_retries + 1)] for _ in range(calls)]


def test_both_engines_send_the_retry_the_tenth_deposit_of_a_tenth_earns() -> None:
    outcomes = [[True]] * 9 + [[False, True]]
    assert _sim_attempts(0.1, 3, outcomes) == _emulator_attempts(0.1, 3, outcomes) == [1] * 9 + [2]


@pytest.mark.parametrize("budget", [None, 0.1, 0.2, 0.05, 1 / 3, 0.7, 2.5])
def test_both_engines_decide_every_retry_alike(budget: float | None) -> None:
    rng = random.Random(f"budget/{budget}")
    outcomes: list[list[bool]] = []
    for fail in (0.05, 0.6, 0.95, 0.2, 1.0, 0.0):  # calm, bad and dead spells drain and refill the bucket
        outcomes += _outcomes(rng, 150, fail, 3)
    sim = _sim_attempts(budget, 3, outcomes)
    assert sim == _emulator_attempts(budget, 3, outcomes)
    retries = sum(sim) - len(outcomes)
    if budget is None:
        assert retries > 400
        return
    assert retries <= budget * len(outcomes) + TOKEN_CAP  # no more than the budget allows
    if budget < 1:  # and it is the limit in the bad spells
        assert retries < sum(_sim_attempts(None, 3, outcomes)) - len(outcomes)
