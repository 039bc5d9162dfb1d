"""Request attributes: decided once at the entrypoint, seen identically by every attempt of the request.

The theory: a database behind a 28% cache-miss ratio crashes. When the miss is a property of the
request (an attribute), exactly the requests that miss need the database, and no retry changes
that: 28% of entry requests fail (a binomial proportion, checked within its confidence bound),
whether the clients retry or not. When the miss is drawn per attempt (``probability``), every retry
draws again, and with r retries only 0.28^(r+1) of requests keep missing: the difference the
issue's Social Network sweep stumbled on.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from scipy import stats
from simkit import CONFIDENCE, experiment, fixed, run, svc, topology

from chaos.errors import InputError
from chaos.model.faults import Crash
from chaos.model.files import load_topology
from chaos.model.load import Step
from chaos.model.scope import Scope
from chaos.model.topology import Attribute, Call, Topology

Z = stats.norm.ppf(0.5 + CONFIDENCE / 2)
MISS = 0.28


def _cache_aside(*, sticky: bool, retries: int) -> Topology:
    db_call = (Call(to="db", unless="cache_hit", timeout=0.1) if sticky
               else Call(to="db", probability=MISS, timeout=0.1))
    api = svc("api", fixed(0.001), workers=10_000, calls=[Call(to="cache", timeout=0.1), db_call])
    topo = topology(api, svc("cache", fixed(0.0005), workers=10_000), svc("db", fixed(0.002), workers=10_000),
                    timeout=1.0, retries=retries)
    if sticky:
        topo = Topology(name=topo.name, services=topo.services, entrypoints=topo.entrypoints,
                        attributes=(Attribute(name="cache_hit", probability=1 - MISS),))
    return topo


def _failed_share(topo: Topology, seed: int) -> tuple[float, int]:
    crash = Crash(name="db-down", target="db", at=0.0)
    r = run(experiment(topo, load=Step(rate=300, to=0, at=28), duration=30, seed=seed, faults=[crash]))
    web = r.totals[Scope.entrypoint("web")]
    return web.failed / web.answered, web.answered


@pytest.mark.parametrize("retries", [0, 3])
def test_a_miss_decided_at_the_entry_fails_the_same_share_whatever_the_retries(retries: int) -> None:
    share, n = _failed_share(_cache_aside(sticky=True, retries=retries), seed=11)
    assert abs(share - MISS) <= Z * math.sqrt(MISS * (1 - MISS) / n), (share, n)


def test_a_miss_drawn_per_attempt_is_redrawn_by_every_retry() -> None:
    retries = 3
    share, n = _failed_share(_cache_aside(sticky=False, retries=retries), seed=11)
    p = MISS ** (retries + 1)  # every attempt must miss for the request to fail
    assert abs(share - p) <= Z * math.sqrt(p * (1 - p) / n), (share, p, n)
    assert share < MISS / 10  # the per-attempt model hides the outage almost entirely


def test_every_attempt_sees_the_attribute_its_request_drew() -> None:
    """Requests with the attribute never reach the 'when' side; retried requests keep their side."""
    api = svc("api", fixed(0.001), workers=10_000,
              calls=[Call(to="premium", when="paid", timeout=0.1), Call(to="free", unless="paid", timeout=0.1)])
    topo = topology(api, svc("premium", fixed(0.001), workers=10_000), svc("free", fixed(0.001), workers=10_000),
                    timeout=1.0, retries=2)
    topo = Topology(name="t", services=topo.services, entrypoints=topo.entrypoints,
                    attributes=(Attribute(name="paid", probability=0.1),))
    r = run(experiment(topo, load=Step(rate=300, to=0, at=18), duration=20, seed=3))
    api_n = r.totals[Scope.service("api")].requests
    premium, free = r.totals[Scope.service("premium")].requests, r.totals[Scope.service("free")].requests
    assert premium + free == api_n  # exactly one of the two per request: the attribute is yes or no
    p = 0.1
    assert abs(premium - api_n * p) <= Z * math.sqrt(api_n * p * (1 - p))


def test_attributes_parse_and_a_wrong_one_is_refused_with_its_line(tmp_path: Path) -> None:
    text = """\
name: t
attributes:
  cache_hit: {probability: 0.72}
entrypoints: {web: {to: api}}
services:
  api:
    service_time: 1ms
    calls:
      - {to: cache}
      - {to: db, unless: cache_hit}
  cache: {service_time: 1ms}
  db: {service_time: 1ms}
"""
    path = tmp_path / "t.yaml"
    path.write_text(text)
    topo = load_topology(path)
    shares = {c.to: s for c, s in topo.service("api").call_shares_given(topo.attribute_shares)}
    assert shares["db"] == pytest.approx(0.28)
    path.write_text(text.replace("unless: cache_hit", "unless: cache_hits"))
    with pytest.raises(InputError) as info:
        load_topology(path)
    assert "t.yaml:10:" in str(info.value) and "unknown attribute 'cache_hits' (did you mean 'cache_hit'?)" \
        in str(info.value)
    path.write_text(text.replace("unless: cache_hit", "when: cache_hit, unless: cache_hit"))
    with pytest.raises(InputError, match="give a call 'when' or 'unless', not both"):
        load_topology(path)


def test_the_docs_attribute_example_parses_with_the_stated_share(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    block = doc.split("## Request attributes that stick", 1)[1].split("```yaml\n")[1].split("```", 1)[0]
    path = tmp_path / "t.yaml"
    path.write_text("name: t\nentrypoints: {web: {to: post-storage}}\n" + block
                    + "  memcached: {service_time: 1ms}\n  mongodb: {service_time: 2ms}\n")
    topo = load_topology(path)
    shares = {c.to: s for c, s in topo.service("post-storage").call_shares_given(topo.attribute_shares)}
    assert shares == {"memcached": 1.0, "mongodb": pytest.approx(0.28)}
