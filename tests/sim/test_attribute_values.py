"""Categorical request attributes (one value per request, by share) and service times chosen by a value.

Theory: each entry request draws one value of ``tenant`` with its share, so the requests that make a
call conditioned on a value are a binomial count of the entry requests with that share, and the calls
conditioned on the values of one attribute add up to the entry requests exactly. A service whose
time depends on ``size`` has the attribute-weighted mixture of the values' times as its mean.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from scipy import stats
from simkit import CONFIDENCE, experiment, run

from chaos.errors import InputError
from chaos.model.files import load_topology
from chaos.model.live_limits import generated_problems
from chaos.model.load import Step
from chaos.model.scope import Scope

Z = stats.norm.ppf(0.5 + CONFIDENCE / 2)

TOPOLOGY = """\
name: t
attributes:
  tenant: {values: {free: 0.7, paid: 0.3}}
  size: {values: {small: 0.5, medium: 0.3, large: 0.2}}
entrypoints: {web: {to: front}}
services:
  front:
    workers: 10000
    service_time: 0ms
    calls:
      - {to: premium, when: tenant=paid}
      - {to: basic, unless: tenant=paid}
      - {to: store}
  premium: {workers: 10000, service_time: 1ms}
  basic: {workers: 10000, service_time: 1ms}
  store:
    workers: 10000
    service_time: 5ms                      # medium, which the choices below do not list
    service_time_by:
      attribute: size
      values:
        small: 1ms
        large: {dist: constant, value: 11ms}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_each_request_has_one_value_drawn_with_its_share(tmp_path: Path) -> None:
    r = run(experiment(load_topology(write(tmp_path, TOPOLOGY)), load=Step(rate=500, to=0, at=38), duration=40))
    n = r.totals[Scope.entrypoint("web")].requests
    paid = r.totals[Scope.service("premium")].requests
    free = r.totals[Scope.service("basic")].requests
    assert paid + free == n  # exactly one value per request
    assert abs(paid - 0.3 * n) <= Z * math.sqrt(n * 0.3 * 0.7), (paid, n)


def test_a_service_time_by_value_has_the_attribute_weighted_mixture_as_its_mean(tmp_path: Path) -> None:
    r = run(experiment(load_topology(write(tmp_path, TOPOLOGY)), load=Step(rate=500, to=0, at=38), duration=40))
    store = r.totals[Scope.service("store")]
    mix = {1.0: 0.5, 5.0: 0.3, 11.0: 0.2}  # ms by value: small, medium (the service_time), large
    mean = sum(t * p for t, p in mix.items())                          # 4.2 ms
    sd = math.sqrt(sum(t * t * p for t, p in mix.items()) - mean ** 2)  # 3.8 ms
    assert abs(store.mean_ms - mean) <= Z * sd / math.sqrt(store.requests), (store.mean_ms, mean)
    assert store.p50_ms == pytest.approx(1.0, abs=1e-6) and store.p99_ms == pytest.approx(11.0, abs=1e-6)
    # the mean alone would not tell a mixture from a constant 4.2 ms: the times are exactly the three given


@pytest.mark.parametrize(("old", "new", "line", "message"), [
    ("{to: premium, when: tenant=paid}", "{to: premium, when: tenant=pad}", 11,
     "calls[0].when: unknown attribute 'tenant=pad' (did you mean 'tenant=paid'?)"),
    ("{to: premium, when: tenant=paid}", "{to: premium, when: tenant}", 11, "unknown attribute 'tenant'"),
    ("free: 0.7, paid: 0.3", "free: 0.7, paid: 0.2", 3, "the shares of the values add up to 0.9, not 1"),
    ("        large: {dist", "        huge: {dist", 23, "'size' has no value 'huge' (it has large, medium, small)"),
    ("attribute: size", "attribute: tenantt", 20, "'tenantt' is not a categorical attribute"),
])
def test_a_wrong_value_is_refused_with_file_line_and_field(tmp_path: Path, old: str, new: str, line: int,
                                                           message: str) -> None:
    with pytest.raises(InputError) as info:
        load_topology(write(tmp_path, TOPOLOGY.replace(old, new)))
    assert f"t.yaml:{line}:" in str(info.value) and message in str(info.value), str(info.value)


def test_a_generated_stack_carries_the_values_and_times_by_value_and_sends_one_kind_per_combination(
        tmp_path: Path) -> None:
    from chaos.live.in_container import stackspec
    from chaos.live.load.plan import generated_requests
    from chaos.live.stack.stackspec_build import build

    topo = load_topology(write(tmp_path, TOPOLOGY))
    assert generated_problems(topo) == []
    spec = stackspec.from_dict(build(topo, (0.1,), lambda a, b, n: (f"http://{b}:8080", f"{a}-{b}")).to_dict())
    tenant, size = spec.attributes
    assert tenant.conditions == ("tenant=free", "tenant=paid") and dict(size.values)["large"] == 0.2
    by = spec.service("store").ops[None].service_time_by
    assert by is not None and by.attribute == "size" and sorted(by.conditions()) == ["size=large", "size=small"]
    assert spec.service("front").calls[0].when == "tenant=paid"
    kinds = generated_requests(topo, topo.entrypoint_map["web"])
    assert len(kinds) == 2 * 3 and sum(k.weight for k in kinds) == pytest.approx(1.0)
    paid_large = next(k for k in kinds if k.headers == ((stackspec.ATTRIBUTES_HEADER, "tenant=paid,size=large"),))
    assert paid_large.weight == pytest.approx(0.3 * 0.2) and paid_large.name == "GET /work tenant=paid size=large"


def test_more_combinations_of_values_than_a_generated_stack_sends_are_refused(tmp_path: Path) -> None:
    values = "{values: {a: 0.2, b: 0.2, c: 0.2, d: 0.2, e: 0.2}}"
    extra = f"  x: {values}\n  y: {values}\n  z: {values}\n"  # 5 x 5 x 5 = 125 kinds of request
    topo = load_topology(write(tmp_path, TOPOLOGY.replace("attributes:\n", "attributes:\n" + extra)))
    assert topo.attribute_combinations == 125 * 2 * 3
    (problem,) = generated_problems(topo)
    assert "t.yaml:3:" in str(problem) and "750 combinations" in str(problem) and "at most 64" in str(problem)


def test_the_docs_example_is_a_valid_topology_that_runs(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
    block = doc.split("### Categorical attributes", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    text = ("name: d\nentrypoints: {web: {to: front}}\n" + block
            + "  premium: {service_time: 1ms, workers: 100}\n  basic: {service_time: 1ms, workers: 100}\n")
    topo = load_topology(write(tmp_path, text))
    r = run(experiment(topo, load=Step(rate=50, to=0, at=18), duration=20))
    n = r.totals[Scope.entrypoint("web")].requests
    assert r.totals[Scope.service("premium")].requests + r.totals[Scope.service("basic")].requests == n
