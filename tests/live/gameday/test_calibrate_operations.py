"""Calibration per operation, on synthetic measurements whose true distributions and hop are known.

A database whose ``find`` works lognormal(2 ms, p99 8 ms) and whose ``insert`` works lognormal(20 ms,
p99 60 ms), one request in four an insert, seen 3 ms later by its callers: what its emulators report
per operation (``/admin/metrics``' ``operations``, kept per second in live.json) must give each
operation back its own service time, where one fit over the service blends the two.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from chaos.core.latency import bucketize
from chaos.live.gameday.calibrate import calibrate_run, hop_offsets, read_live, shifted, topology_yaml
from chaos.live.gameday.measure import hist_mean
from chaos.model.experiment import Experiment
from chaos.model.files import load_topology
from chaos.model.load import Constant
from chaos.run import latency_bounds

BOUNDS = latency_bounds((0.25,))
TRUE = {"find": (0.002, 0.008), "insert": (0.020, 0.060)}
INSERTS = 0.25
HOP = 0.003
Z99 = 2.3263479

TOPOLOGY = """\
name: ops
entrypoints: {web: {to: api}}
services:
  api:
    service_time: 1ms
    calls:
      - {to: db, operation: find, timeout: 1s}
      - {to: db, operation: insert, timeout: 1s, probability: 0.25}
  db:
    workers: 8
    service_time: {dist: exponential, mean: 5ms}
    operations:
      find: {}
      insert: {service_time: {dist: lognormal, median: 20ms, p99: 60ms}}
"""


def draw(rng: random.Random, op: str) -> float:
    median, p99 = TRUE[op]
    return rng.lognormvariate(math.log(median), math.log(p99 / median) / Z99)


def synthetic_run(tmp_path: Path, seconds: int = 30, per_second: int = 400) -> tuple[Path, dict[str, Any]]:
    rng = random.Random(3)
    topology = tmp_path / "ops.yaml"
    topology.write_text(TOPOLOGY)
    own: dict[str, list[dict[str, int]]] = {"find": [], "insert": []}
    service_own, server, ok, mean_ms = [], [], [], []
    for _ in range(seconds):
        xs = {op: [] for op in TRUE}  # type: dict[str, list[float]]
        for _ in range(per_second):
            op = "insert" if rng.random() < INSERTS else "find"
            xs[op].append(draw(rng, op))
        every = sorted(xs["find"] + xs["insert"])
        for op in TRUE:
            own[op].append({str(i): n for i, n in bucketize(sorted(xs[op]), BOUNDS).items()})
        service_own.append({str(i): n for i, n in bucketize(every, BOUNDS).items()})
        served = bucketize([x + 0.0002 for x in every], BOUNDS)
        server.append({str(i): n for i, n in served.items()})
        ok.append(len(every))
        mean_ms.append((hist_mean(served, BOUNDS) + HOP) * 1000)
    declared = {"find": {"dist": "exponential", "mean": 0.005},
                "insert": {"dist": "lognormal", "median": 0.020, "p99": 0.060}}
    live = {"version": 1, "bounds_s": list(BOUNDS), "warmup_s": 5.0, "experiment_file": "",
            "topology_file": str(topology), "faults": [],
            "services": {"db": {"declared": {"dist": "exponential", "mean": 0.005}, "own": service_own,
                                "server": server,
                                "operations": {op: {"declared": declared[op], "own": own[op]} for op in TRUE}}}}
    doc = {"engine": "live", "series": {"t_s": list(range(seconds)),
                                        "scopes": {"service:db": {"ok": ok, "mean_ms": mean_ms}}}}
    (tmp_path / "live.json").write_text(json.dumps(live))
    return tmp_path, doc


def test_each_operation_gets_its_own_service_time_back(tmp_path: Path) -> None:
    run_dir, doc = synthetic_run(tmp_path)
    db = calibrate_run(run_dir, doc)["db"]
    fits = {f.operation: f for f in db.operations}
    assert set(fits) == {"find", "insert"}
    assert fits["find"].samples + fits["insert"].samples == db.samples == 400 * 25  # 25 quiet seconds
    for op, (median, p99) in TRUE.items():
        assert fits[op].median_s == pytest.approx(median, rel=0.05), op
        assert fits[op].p99_s == pytest.approx(p99, rel=0.12), op
        assert fits[op].hop_s == pytest.approx(HOP, abs=1e-6)  # the service's hop, the same for each
    # the service's one fit blends them: its median is a find's, its p99 an insert's
    assert db.median_s < 0.006 and db.p99_s > 0.03
    assert fits["insert"].describe().startswith("db.insert: own time median ")


def test_the_calibrated_topology_gives_each_operation_its_fitted_time(tmp_path: Path) -> None:
    run_dir, doc = synthetic_run(tmp_path)
    fits = calibrate_run(run_dir, doc)
    out = tmp_path / "calibrated.yaml"
    out.write_text(topology_yaml(run_dir, fits))
    db = load_topology(out).service("db")
    by = {f.operation: f for f in fits["db"].operations}
    for op in TRUE:
        written = db.operation_of(op).service_time
        assert written.median == pytest.approx(by[op].median_s + HOP, abs=2e-6)
        assert written.quantile(0.99) == pytest.approx(by[op].p99_s + HOP, rel=1e-3)
    assert "#   db.find: own time median" in out.read_text()


def test_compare_shifts_an_operation_with_a_service_time_of_its_own(tmp_path: Path) -> None:
    run_dir, doc = synthetic_run(tmp_path)
    offsets = hop_offsets(read_live(run_dir), doc)
    # insert's own times are its declared distribution: its offset is the hop alone
    assert offsets["db.insert"] == pytest.approx(HOP * 1000, abs=0.6)
    exp = Experiment(name="x", topology=load_topology(tmp_path / "ops.yaml"), duration=10, load=Constant(rate=1))
    moved = shifted(exp, {"db.insert": 5.0})
    before = exp.topology.service("db").operation_of("insert").service_time
    after = moved.topology.service("db").operation_of("insert").service_time
    assert after.mean == pytest.approx(before.mean + 0.005, rel=1e-6)
    assert moved.topology.service("db").service_time == exp.topology.service("db").service_time
