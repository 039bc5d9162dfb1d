"""Routers: adjacent calls with ``mode: route`` make exactly one call per request, chosen by weight.

The split is checked against the binomial: with n requests routed and a call's share p, its count
lies within z * sqrt(n p (1 - p)) of n p (z two-sided at CONFIDENCE), and the counts add up to n
exactly, since every request makes exactly one of the calls.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from scipy import stats
from simkit import CONFIDENCE, experiment, fixed, run, svc, topology

from chaos.errors import InputError
from chaos.model.files import load_topology
from chaos.model.load import Step
from chaos.model.scope import Scope
from chaos.model.topology import Call, CallMode, Retries

Z = stats.norm.ppf(0.5 + CONFIDENCE / 2)


def routed(to: str, weight: float | None, **extra: object) -> Call:
    return Call(to=to, mode=CallMode.ROUTE, weight=weight, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [1, 2])
def test_a_router_splits_requests_by_weight_and_makes_exactly_one_call(seed: int) -> None:
    weights = {"a": 1.0, "b": 2.0, "c": 5.0}
    front = svc("front", fixed(0.001), workers=10_000,
                calls=[Call(to="pre"), *(routed(n, w) for n, w in weights.items()), Call(to="post")])
    leaves = [svc(n, fixed(0.001), workers=10_000) for n in ("pre", *weights, "post")]
    # arrivals stop two seconds before the end, so every request has made its calls when it ends
    r = run(experiment(topology(front, *leaves), load=Step(rate=400, to=0, at=28), duration=30, seed=seed))
    n = r.totals[Scope.service("front")].requests
    counts = {name: r.totals[Scope.service(name)].requests for name in weights}
    assert sum(counts.values()) == n  # exactly one routed call per request (no retries, nothing lost)
    # the calls before and after the router are made by every request
    assert r.totals[Scope.service("pre")].requests == r.totals[Scope.service("post")].requests == n
    total = sum(weights.values())
    for name, w in weights.items():
        p = w / total
        assert abs(counts[name] - n * p) <= Z * math.sqrt(n * p * (1 - p)), (name, counts[name], n * p)


def test_routed_calls_take_weights_not_probabilities(tmp_path: Path) -> None:
    base = """\
name: t
entrypoints: {web: {to: front}}
services:
  front:
    service_time: 1ms
    calls:
      - {to: a, mode: route, weight: 3}
      - {to: b, mode: route, probability: 0.5}
  a: {service_time: 1ms}
  b: {service_time: 1ms}
"""
    path = tmp_path / "t.yaml"
    path.write_text(base)
    with pytest.raises(InputError) as info:
        load_topology(path)
    assert "t.yaml:8:" in str(info.value) and "calls[1].probability: a routed call is made" in str(info.value)
    path.write_text(base.replace("mode: route, probability: 0.5", "weight: 2"))
    with pytest.raises(InputError) as info:
        load_topology(path)
    assert "calls[1].weight: a weight shares a router's requests" in str(info.value)
    path.write_text(base.replace("mode: route, probability: 0.5", "mode: route"))
    topo = load_topology(path)
    shares = {c.to: share for c, share in topo.service("front").call_shares}
    assert shares == {"a": 0.75, "b": 0.25}  # the default weight is 1


def test_routed_calls_keep_their_own_policy() -> None:
    """A routed call to a failing service is retried by its own policy; the other route never is."""
    from chaos.model.faults import Errors
    front = svc("front", fixed(0.001), workers=10_000,
                calls=[routed("bad", 1, retries=Retries(max=2)), routed("good", 3)])
    topo = topology(front, svc("bad", fixed(0.001), workers=10_000), svc("good", fixed(0.001), workers=10_000))
    r = run(experiment(topo, load=Step(rate=200, to=0, at=18), duration=20, seed=4,
                       faults=[Errors(name="e", target="bad", ratio=1.0, at=0.0)]))
    bad, good = r.totals[Scope.service("bad")], r.totals[Scope.service("good")]
    front_t = r.totals[Scope.service("front")]
    routed_bad = bad.requests / 3  # every request routed to bad tried three times, all failed
    assert bad.requests % 3 == 0 and bad.ok == 0
    assert routed_bad + good.requests == front_t.requests
    assert front_t.failed == routed_bad  # exactly the requests routed to bad failed


def test_the_docs_router_parses_with_the_shares_it_states(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    block = doc.split("## Routing", 1)[1].split("```yaml\n")[1].split("```", 1)[0]
    leaves = "".join(f"  {n}: {{service_time: 1ms}}\n" for n in ("compose-post", "home-timeline", "user-timeline"))
    path = tmp_path / "t.yaml"
    path.write_text("name: t\nentrypoints: {web: {to: nginx}}\n" + block + leaves)
    shares = {c.to: share for c, share in load_topology(path).service("nginx").call_shares}
    assert shares == {"compose-post": 0.1, "home-timeline": 0.8, "user-timeline": 0.1}


def test_a_router_over_two_operations_of_one_service() -> None:
    """A front end routing by request type to two endpoints of one backend: each operation gets its share."""
    from chaos.model.topology import Entrypoint, Operation, Queue, Service, Topology
    nginx = svc("nginx", fixed(0.0005), workers=10_000,
                calls=[routed("timeline", 9, operation="read"), routed("timeline", 1, operation="write")])
    timeline = Service(name="timeline", service_time=fixed(0.001), workers=10_000, queue=Queue(limit=10_000),
                       operations=(Operation(name="read"), Operation(name="write", service_time=fixed(0.004))))
    topo = Topology(name="t", services=(nginx, timeline), entrypoints=(Entrypoint(name="web", to="nginx"),))
    r = run(experiment(topo, load=Step(rate=400, to=0, at=18), duration=20, seed=8))
    n = r.totals[Scope.service("nginx")].requests
    reads = r.totals[Scope.operation("timeline", "read")].requests
    writes = r.totals[Scope.operation("timeline", "write")].requests
    assert reads + writes == n == r.totals[Scope.service("timeline")].requests
    assert abs(reads - 0.9 * n) <= Z * math.sqrt(n * 0.9 * 0.1)
    assert r.totals[Scope.operation("timeline", "write")].p50_ms == pytest.approx(4.0, abs=1e-6)
