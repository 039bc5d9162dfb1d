"""Calibration on synthetic measurements whose true distribution and hop overhead are known."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from chaos.core.latency import bucketize
from chaos.live.gameday.calibrate import (
    calibrate_run,
    declared_mean,
    hop_offsets,
    lognormal_for,
    quiet_seconds,
    shifted,
    topology_yaml,
)
from chaos.live.gameday.measure import hist_mean
from chaos.model.files import load_experiment, load_topology
from chaos.run import latency_bounds

HERE = Path(__file__).parent
BOUNDS = latency_bounds((0.25,))
MEDIAN, P99, HOP = 0.012, 0.040, 0.004
SIGMA = math.log(P99 / MEDIAN) / 2.3263479


def synthetic_run(tmp_path: Path, seconds: int = 40, per_second: int = 200,
                  fault: tuple[float, float] = (15.0, 25.0)) -> tuple[Path, dict[str, Any]]:
    """A run dir whose db did lognormal(12 ms, p99 40 ms) work, seen 4 ms later by its callers; during the
    fault its work took ten times longer (which calibration must ignore)."""
    rng = random.Random(7)
    own, server, ok, mean_ms = [], [], [], []
    for k in range(seconds):
        slow = 10.0 if fault[0] <= k < fault[1] else 1.0
        xs = sorted(rng.lognormvariate(math.log(MEDIAN), SIGMA) * slow for _ in range(per_second))
        own.append({str(i): n for i, n in bucketize(xs, BOUNDS).items()})
        server.append({str(i): n for i, n in bucketize([x + 0.0003 for x in xs], BOUNDS).items()})
        served = hist_mean(bucketize([x + 0.0003 for x in xs], BOUNDS), BOUNDS)
        ok.append(per_second)
        mean_ms.append((served + HOP) * 1000)
    declared = {"dist": "lognormal", "median": MEDIAN, "p99": P99}
    live = {"version": 1, "bounds_s": list(BOUNDS), "warmup_s": 5.0, "experiment_file": str(HERE / "compare.yaml"),
            "topology_file": str(HERE / "trio.yaml"),
            "faults": [{"label": "f", "start_s": fault[0], "end_s": fault[1]}],
            "services": {"db": {"declared": declared, "own": own, "server": server}}}
    doc = {"engine": "live", "series": {"t_s": list(range(seconds)),
                                        "scopes": {"service:db": {"ok": ok, "mean_ms": mean_ms}}}}
    (tmp_path / "live.json").write_text(json.dumps(live))
    return tmp_path, doc


def test_quiet_seconds_leave_out_warm_up_faults_and_their_aftermath() -> None:
    quiet = quiet_seconds([{"start_s": 10.2, "end_s": 20.0}], 5.0, 40)
    assert quiet == [5, 6, 7, 8, 9] + list(range(25, 40))
    assert quiet_seconds([{"start_s": 10.0, "end_s": None}], 0.0, 20) == list(range(10))


def test_the_fit_recovers_median_p99_and_the_hop_from_quiet_seconds(tmp_path: Path) -> None:
    run_dir, doc = synthetic_run(tmp_path)
    fit = calibrate_run(run_dir, doc)["db"]
    assert fit.samples == 200 * 20
    assert fit.median_s == pytest.approx(MEDIAN, rel=0.04)
    assert fit.p99_s == pytest.approx(P99, rel=0.10)
    assert fit.hop_s == pytest.approx(HOP, abs=1e-6)  # the callers' mean minus the server's
    assert fit.service_time() == {"dist": "lognormal", "median": f"{(fit.median_s + fit.hop_s) * 1000:.3f}ms",
                                  "p99": f"{(fit.p99_s + fit.hop_s) * 1000:.3f}ms"}


def test_compare_offsets_add_the_hop_and_the_overrun_of_the_declared_mean(tmp_path: Path) -> None:
    run_dir, doc = synthetic_run(tmp_path)
    from chaos.live.gameday.calibrate import read_live
    offsets = hop_offsets(read_live(run_dir), doc)
    # The synthetic own times are the declared distribution itself: the offset is the hop alone.
    assert offsets["db"] == pytest.approx(HOP * 1000, abs=0.6)


def test_a_lognormal_is_found_for_a_mean_and_p99_and_shifting_keeps_both() -> None:
    median, p99 = lognormal_for(0.020, 0.070)  # type: ignore[misc]
    sigma = math.log(p99 / median) / 2.3263479
    assert median * math.exp(sigma * sigma / 2) == pytest.approx(0.020)
    assert lognormal_for(0.050, 0.040) is None  # a p99 below the mean: no lognormal
    exp = load_experiment(HERE / "compare.yaml")
    moved = shifted(exp, {"db": 5.0, "front": 0.0})
    before, after = exp.topology.service("db").service_time, moved.topology.service("db").service_time
    assert after.mean == pytest.approx(before.mean + 0.005, rel=1e-6)
    assert after.quantile(0.99) == pytest.approx(before.quantile(0.99) + 0.005, rel=1e-6)
    assert moved.topology.service("front").service_time == exp.topology.service("front").service_time
    assert declared_mean({"dist": "lognormal", "median": before.median, "p99": before.p99}) == pytest.approx(
        before.mean)


def test_the_calibrated_topology_is_a_valid_topology_with_the_fitted_times(tmp_path: Path) -> None:
    run_dir, doc = synthetic_run(tmp_path)
    fits = calibrate_run(run_dir, doc)
    out = tmp_path / "calibrated.yaml"
    out.write_text(topology_yaml(run_dir, fits))
    topo = load_topology(out)
    db = topo.service("db").service_time
    assert db.median == pytest.approx(fits["db"].median_s + fits["db"].hop_s, abs=1e-6)
    assert topo.service("api").service_time == load_topology(HERE / "trio.yaml").service("api").service_time
    assert out.read_text().startswith("# Calibrated by chaoslab calibrate")
