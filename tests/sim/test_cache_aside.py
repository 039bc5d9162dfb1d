"""Cache-aside: a call that falls back to another call, on a miss, an error or an open breaker.

The theory: reads arrive as a Poisson stream at rate lambda; a share h hit the cache (an attribute
of the request), the rest miss and read the database. While the cache is up the database sees a
thinned Poisson stream at (1 - h) lambda; when the cache crashes, every read falls back to the
database, whose arrival rate rises by h * lambda to lambda, and its queue is then an M/M/c at the
new rate: its mean response time is Erlang C's.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from scipy import stats
from simkit import CONFIDENCE, experiment, exponential, fixed, run, svc, topology

from chaos.errors import InputError
from chaos.model.faults import Crash
from chaos.model.files import load_topology
from chaos.model.load import Step
from chaos.model.scope import Scope
from chaos.model.topology import Attribute, Call, Topology

Z = stats.norm.ppf(0.5 + CONFIDENCE / 2)
HIT = 0.8
RATE = 200.0
C, MU = 4, 1 / 0.015  # the database: 4 workers, 15 ms exponential service (capacity 267/s)


def shop(db_service: object = None) -> Topology:
    read = Call(to="cache", hit="cache_hit", timeout=0.05, fallback_to=Call(to="db", timeout=5.0))
    api = svc("api", fixed(0.0005), workers=10_000, calls=[read])
    db = svc("db", db_service or exponential(1 / MU), workers=C)  # type: ignore[arg-type]
    topo = topology(api, svc("cache", fixed(0.0005), workers=10_000), db, timeout=10.0)
    return Topology(name="t", services=topo.services, entrypoints=topo.entrypoints,
                    attributes=(Attribute(name="cache_hit", probability=HIT),))


def erlang_c_response(lam: float, c: int, mu: float) -> float:
    a = lam / mu
    tail = a ** c / math.factorial(c) / (1 - a / c)
    p_wait = tail / (sum(a ** k / math.factorial(k) for k in range(c)) + tail)
    return p_wait / (c * mu - lam) + 1 / mu


def test_misses_read_the_database_as_a_thinned_poisson_stream() -> None:
    r = run(experiment(shop(fixed(0.001)), load=Step(rate=RATE, to=0, at=58), duration=60, seed=2))
    n = r.totals[Scope.entrypoint("web")].requests
    db = r.totals[Scope.service("db")].requests
    p = 1 - HIT
    assert abs(db - n * p) <= Z * math.sqrt(n * p * (1 - p))
    assert r.totals[Scope.service("cache")].requests == n  # every read asks the cache first
    assert r.totals[Scope.entrypoint("web")].failed == 0


def test_when_the_cache_dies_the_database_takes_every_read_and_queues_as_mmc_at_the_new_rate() -> None:
    crash = Crash(name="cache-down", target="cache", at=0.0)
    means, rates = [], []
    for seed in range(1, 5):
        r = run(experiment(shop(), rate=RATE, duration=300, warmup=20, seed=seed, faults=[crash]))
        db = r.totals[Scope.service("db")]
        rates.append(db.requests / 280)
        means.append(db.mean_ms)
        assert r.totals[Scope.entrypoint("web")].failed == 0  # the fallback answers every read
    # rate: (1 - h) lambda of misses plus h lambda of hits that fell back, i.e. lambda (Poisson count over 4 x 280 s)
    n_expected = RATE * 280 * 4
    assert abs(sum(rates) * 280 - n_expected) <= Z * math.sqrt(n_expected)
    # queueing: M/M/4 at lambda = 200/s, mu = 66.7/s (rho 0.75); 4 seeds, t with 3 dof at 0.9999 is 22.2
    w_ms = erlang_c_response(RATE, C, MU) * 1000
    mean = sum(means) / len(means)
    sd = math.sqrt(sum((m - mean) ** 2 for m in means) / (len(means) - 1))
    assert abs(mean - w_ms) <= 22.2 * sd / 2 and abs(mean - w_ms) / w_ms < 0.08, (mean, w_ms, means)


def test_a_fallback_call_is_parsed_with_its_own_policy_and_checked(tmp_path: Path) -> None:
    text = """\
name: t
attributes: {cache_hit: {probability: 0.9}}
entrypoints: {web: {to: api}}
services:
  api:
    service_time: 1ms
    calls:
      - to: cache
        timeout: 50ms
        hit: cache_hit
        fallback_to: {to: db, timeout: 300ms, retries: {max: 1}}
  cache: {service_time: 1ms}
  db: {service_time: 2ms}
"""
    path = tmp_path / "t.yaml"
    path.write_text(text)
    topo = load_topology(path)
    fb = topo.service("api").calls[0].fallback_to
    assert fb is not None and fb.timeout == 0.3 and fb.retries.max == 1
    assert topo.edges == (("api", "cache"), ("api", "db"))  # the fallback is an edge of the graph
    path.write_text(text.replace("fallback_to: {to: db,", "fallback_to: {to: dbb,"))
    with pytest.raises(InputError) as info:
        load_topology(path)
    assert "t.yaml:11:" in str(info.value) and "unknown service 'dbb'" in str(info.value)
    path.write_text(text.replace("fallback_to: {to: db, timeout: 300ms, retries: {max: 1}}", "fallback: true"))
    with pytest.raises(InputError, match="hit: a miss falls back to another call"):
        load_topology(path)
