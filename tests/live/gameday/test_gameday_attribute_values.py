"""A short game day on a generated stack whose store's service time depends on a categorical attribute
(``size``: small 50%, medium 30%, large 20%; 5 ms for small, 50 ms for large, its plain 20 ms for medium,
which the choices do not list). The load generator draws each entry request's value with its share and
carries it in ``X-Chaoslab-Attributes`` through the front service to the store, whose emulator picks the
time of that value: its measured own times fall into three bands, each with its value's share of the
requests (binomial) and its value's time (the band's median), as the simulation of the same experiment
has them.

Low rate (10 requests/s, two emulators) so that a busy 2-core machine adds little to the own times.
"""

from __future__ import annotations

import json
import math
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_gameday_operations import run_chaoslab

from chaos.live.stack import emulator_stack as stack
from chaos.live.stack.state import read_state
from chaos.model.files import load_topology
from chaos.run import latency_bounds

pytestmark = pytest.mark.live

RATE, DURATION = 10.0, 20
SHARES = {"small": 0.5, "medium": 0.3, "large": 0.2}
TIMES = {"small": 0.005, "medium": 0.02, "large": 0.05}
BANDS = {"small": (0.0, 0.0112), "medium": (0.0112, 0.0355), "large": (0.0355, math.inf)}  # between the times
TOPOLOGY = """\
name: sizes
attributes:
  size: {values: {small: 0.5, medium: 0.3, large: 0.2}}
entrypoints:
  web: {to: front, timeout: 10s}
services:
  front:
    workers: 16
    service_time: {dist: constant, value: 0ms}
    calls:
      - {to: store, timeout: 5s}
  store:
    workers: 16
    service_time: {dist: constant, value: 20ms}
    service_time_by:
      attribute: size
      values:
        small: {dist: constant, value: 5ms}
        large: {dist: constant, value: 50ms}
"""
EXPERIMENT = f"""\
name: sizes-short
topology: sizes.yaml
duration: {DURATION}s
warmup: 2s
seed: 5
load: {{profile: constant, rate: {RATE:g}}}
"""


@pytest.fixture(scope="module")
def sizes_stack(engine: Any, compose_tool: Any, run_id: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("sizes-stack")
    (directory / "sizes.yaml").write_text(TOPOLOGY)
    (directory / "sizes-short.yaml").write_text(EXPERIMENT)
    try:
        stack.up(load_topology(directory / "sizes.yaml"), directory, project=f"chaoslab-test-{run_id}-sz",
                 bounds=latency_bounds(), ready_timeout=120)
        yield directory
    finally:
        stack.down(directory)


def _bands(hist: list[int], bounds: tuple[float, ...]) -> dict[str, tuple[int, float]]:
    """Per value: how many own times fell in its band, and their median (the upper bound of its bucket)."""
    out = {}
    for value, (low, high) in BANDS.items():
        buckets = [(b, n) for b, n in zip((*bounds, math.inf), hist, strict=True) if low < b <= high and n]
        count = sum(n for _, n in buckets)
        acc, median = 0, math.nan
        for upper, n in buckets:
            acc += n
            if acc >= count / 2:
                median = upper
                break
        out[value] = (count, median)
    return out


def test_a_time_by_value_is_measured_per_value_live_as_the_model_gives_it(sizes_stack: Path,
                                                                          tmp_path: Path) -> None:
    live = tmp_path / "live"
    done = run_chaoslab("run", sizes_stack / "sizes-short.yaml", "--stack-dir", sizes_stack, "--out", live,
                     "--no-report")
    assert done.returncode == 0, done.stderr
    doc = json.loads((live / "result.json").read_text())
    kinds = {k["name"]: k for k in doc["live"]["load"]["entrypoints"]["web"]["kinds"]}
    assert set(kinds) == {f"GET /work size={v}" for v in SHARES}  # one kind per value, drawn once per request
    n = sum(k["requests"] for k in kinds.values())
    assert n > 0.8 * RATE * DURATION and all(k["failed"] == 0 for k in kinds.values())
    for value, share in SHARES.items():
        drawn = kinds[f"GET /work size={value}"]["requests"]
        assert abs(drawn - share * n) < 4 * math.sqrt(n * share * (1 - share)), (value, drawn, n)

    (store,) = [r for r in read_state(sizes_stack).replicas if r.service == "store"]
    with urllib.request.urlopen(f"{store.url}/admin/metrics", timeout=10) as answer:  # noqa: S310 (loopback)
        own = json.loads(answer.read())["server"]["own_time_hist"]
    bands = _bands(own, latency_bounds())
    served = sum(own)  # the run's requests and the preflight's few probes (no attribute: medium)
    assert served >= n
    for value, (count, median) in bands.items():
        share = SHARES[value]
        assert abs(count - share * served) < 4 * math.sqrt(served * share * (1 - share)) + (served - n), \
            (value, count, served)
        # the band's median is its value's time: within a bucket (12%) and the loaded machine's timer lateness
        assert median == pytest.approx(TIMES[value], rel=0.15, abs=0.002), (value, median)
