"""Lint's fallback-overload: a cache whose fallback cannot carry the cache's load when the cache dies.

The figures are checked by arithmetic and against the simulator: below the rate lint gives, a
crashed cache leaves every read answered by the database; well above it, the database drowns.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.lint import Rule, lint
from chaos.model.experiment import Experiment
from chaos.model.faults import Crash
from chaos.model.files import load_topology
from chaos.model.load import Constant
from chaos.model.scope import Scope
from chaos.sim.simulation import simulate

TOPOLOGY = """\
name: t
attributes: {cache_hit: {probability: 0.9}}
entrypoints: {web: {to: api, timeout: 2s}}
services:
  api:
    service_time: 1ms
    workers: 1000
    calls:
      - to: cache
        timeout: 50ms
        hit: cache_hit
        fallback_to: {to: db, timeout: 1s}
  cache: {service_time: {dist: exponential, mean: 1ms}, workers: 8, queue: {limit: 100}}
  db: {service_time: {dist: exponential, mean: 10ms}, workers: 4, queue: {limit: 50}}
"""


def test_the_finding_gives_the_rates_the_database_carries(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(TOPOLOGY)
    found = [f for f in lint(load_topology(path)) if f.rule is Rule.FALLBACK_OVERLOAD]
    assert len(found) == 1
    msg = found[0].message
    # db: 4 workers / 10 ms = 400/s; 0.10 db requests per api request with the cache up, 1.00 with it down
    assert "db then gets 1.00 requests per api request instead of 0.10" in msg
    assert "carries at most 400 api requests/s (against 4,000/s with cache up)" in msg
    assert "cache (8,000/s) carried 8,000/s" in msg
    assert found[0].path == ("api", "cache", "db") and str(found[0].location).endswith("t.yaml:12:22")
    path.write_text(TOPOLOGY.replace("workers: 4, queue", "workers: 100, queue"))  # 10,000/s: enough
    assert not [f for f in lint(load_topology(path)) if f.rule is Rule.FALLBACK_OVERLOAD]


@pytest.mark.parametrize(("rate", "drowns"), [(300.0, False), (600.0, True)])
def test_the_simulator_agrees_on_either_side_of_the_rate(tmp_path: Path, rate: float, drowns: bool) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(TOPOLOGY)
    exp = Experiment(name="x", topology=load_topology(path), duration=40, warmup=10, load=Constant(rate=rate),
                     faults=(Crash(name="cache-down", target="cache", at=0.0),), seed=5)
    web = simulate(exp).totals[Scope.entrypoint("web")]
    ratio = web.failed / web.answered
    assert (ratio > 0.2) if drowns else (ratio == 0.0), ratio


def test_the_docs_example_gives_the_figures_the_docs_quote(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    block = doc.split("## Fallback to another call", 1)[1].split("```yaml\n")[1].split("```", 1)[0]
    path = tmp_path / "t.yaml"
    path.write_text("name: t\nentrypoints: {web: {to: api}}\n" + block
                    + "  cache: {service_time: 1ms, workers: 8}\n  db: {service_time: 10ms, workers: 4}\n")
    (found,) = [f for f in lint(load_topology(path)) if f.rule is Rule.FALLBACK_OVERLOAD]
    assert "db gets 1.00 requests per api request instead of 0.10" in " ".join(doc.split())
    assert "db then gets 1.00 requests per api request instead of 0.10" in found.message
    assert "at most 400 api requests/s" in found.message and "carried 8,000/s" in found.message


POOLS = """\
name: t
attributes: {cache_hit: {probability: 0.8}}
entrypoints: {web: {to: api, timeout: 2s}}
services:
  api:
    service_time: 1ms
    workers: 1000
    calls:
      - {to: db, operation: find, timeout: 1s, probability: 0.5}
      - {to: db, operation: scan, timeout: 1s, probability: 0.1}
      - to: cache
        timeout: 50ms
        hit: cache_hit
        fallback_to: {to: db, operation: FALLBACK, timeout: 1s}
  cache: {service_time: {dist: exponential, mean: 1ms}, workers: 8, queue: {limit: 100}}
  db:
    replicas: 2
    workers: 8
    service_time: {dist: exponential, mean: 2ms}
    operations:
      find: {}
      scan: {workers: SCAN_WORKERS, service_time: {dist: exponential, mean: 20ms}}
"""


def pools(tmp_path: Path, fallback: str, scan_workers: int = 2) -> list[str]:
    path = tmp_path / "t.yaml"
    path.write_text(POOLS.replace("FALLBACK", fallback).replace("SCAN_WORKERS", str(scan_workers)))
    return [f.message for f in lint(load_topology(path)) if f.rule is Rule.FALLBACK_OVERLOAD]


def test_a_fallback_to_an_operation_with_its_own_pool_is_carried_by_that_pool(tmp_path: Path) -> None:
    (msg,) = pools(tmp_path, "scan")
    # scan's pool: 2 replicas x 2 workers = 4 worker-seconds a second, 20 ms a scan. Per api request,
    # scans: 0.1 direct + 0.2 misses = 0.30 with the cache up, 0.1 + 1.0 = 1.10 with it down; find's
    # 0.5 go to the shared pool and do not count. 4 / (1.10 x 20 ms) = 182 api requests/s (200 scans/s),
    # 4 / (0.30 x 20 ms) = 667 with the cache up; the cache (8 workers / 1 ms) carried 8,000/s, at which
    # scan's pool would be 8,000 x 1.10 x 20 ms / 4 = 44.00 utilised.
    assert "db's pool of scan (2 workers a replica) then gets 1.10 requests per api request instead of 0.30" in msg
    assert "its capacity (200/s) carries at most 182 api requests/s (against 667/s with cache up)" in msg
    assert "cache (8,000/s) carried 8,000/s, at which the utilisation of db's pool of scan (2 workers a " \
           "replica) would be 44.00" in msg
    assert not pools(tmp_path, "scan", scan_workers=100)  # 200 / 22 ms = 9,091 api requests/s: enough


def test_a_fallback_to_the_shared_pool_counts_what_else_the_caller_sends_there(tmp_path: Path) -> None:
    (msg,) = pools(tmp_path, "find")
    # the shared pool: 2 x 8 = 16 worker-seconds a second, 2 ms a find; scan's 0.1 have their own pool.
    # finds: 0.5 + 0.2 = 0.70 up, 0.5 + 1.0 = 1.50 down: 16 / (1.5 x 2 ms) = 5,333 api requests/s
    # (8,000 finds/s); 16 / (0.7 x 2 ms) = 11,429 up; at the cache's 8,000/s: 8,000 x 3 ms / 16 = 1.50.
    assert "db's shared pool (8 workers a replica) then gets 1.50 requests per api request instead of 0.70" in msg
    assert "its capacity (8,000/s) carries at most 5,333 api requests/s (against 11,429/s with cache up)" in msg
    assert "would be 1.50:" in msg
