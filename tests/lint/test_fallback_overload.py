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
