"""A simulated run exported as OpenMetrics, backfilled with promtool into a real Prometheus, queried over HTTP.

``chaoslab simulate --openmetrics`` writes the run under the experiment's metric names;
``promtool tsdb create-blocks-from openmetrics`` turns it into TSDB blocks; a Prometheus
server (Debian's ``prometheus`` 2.42) started on them on loopback answers ``query_range``
with the run's own figures: requests per second, the error ratio, and a latency quantile
within the resolution of the histogram's buckets. The Grafana annotations are checked
against the format Grafana's ``POST /api/annotations`` takes.
"""

from __future__ import annotations

import bisect
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from metrickit import write

from chaos.analysis import windows
from chaos.cli import main
from chaos.metrics.buckets import OTEL_BUCKETS
from chaos.model.files import load_experiment
from chaos.model.scope import Scope
from chaos.sim.simulation import simulate

ORIGIN = 1_796_119_200  # 2026-12-01T10:00:00Z
EXTRA = "metrics: {preset: opentelemetry}\n"


def tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if found is None:
        reason = f"{name} (Debian's prometheus package) is not installed"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (loopback only)
        return json.loads(answer.read())


def query_range(base: str, query: str, start: float, end: float) -> dict[float, float]:
    params = urllib.parse.urlencode({"query": query, "start": start, "end": end, "step": "1s"})
    doc = get(f"{base}/api/v1/query_range?{params}")
    assert doc["status"] == "success", doc
    (series,) = doc["data"]["result"]
    return {float(t): float(v) for t, v in series["values"]}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The run exported, backfilled and served: (Prometheus's URL, the Run, the export's directory)."""
    promtool, prometheus = tool("promtool"), tool("prometheus")
    directory = tmp_path_factory.mktemp("backfill")
    path = write(directory, EXTRA, duration="150s", fault_at="60s", fault_for="45s")
    om, annotations = directory / "run.om", directory / "annotations.json"
    assert main(["simulate", str(path), "--out", str(directory / "out"), "--no-report", "--no-progress", "--quiet",
                 "--openmetrics", str(om), "--annotations", str(annotations),
                 "--origin", "2026-12-01T10:00:00Z"]) == 0
    data = directory / "tsdb"
    done = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(data)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    config = directory / "prometheus.yml"
    config.write_text("global: {}\n", encoding="utf-8")
    port = free_port()
    log = (directory / "prometheus.log").open("wb")
    server = subprocess.Popen([prometheus, f"--storage.tsdb.path={data}", f"--config.file={config}",
                               f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, (directory / "prometheus.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "Prometheus did not become ready within 60 s"
            time.sleep(0.2)
        result = simulate(load_experiment(path))  # the same inputs and seed: the same run
        yield base, result, directory
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        log.close()


def test_requests_per_second_are_the_runs(served: Any) -> None:
    base, result, _ = served
    front = result.series[Scope.service("front")]
    answered = query_range(base, 'sum(http_server_request_duration_seconds_count{job="front"})',
                           ORIGIN + 1, ORIGIN + result.seconds)
    for t in range(2, result.seconds + 1):  # a scrape at t holds everything answered before t
        assert answered[ORIGIN + t] - answered[ORIGIN + t - 1] == front.ok[t - 1] + front.failed(t - 1)


def test_the_error_ratio_is_the_runs(served: Any) -> None:
    base, result, _ = served
    back = result.series[Scope.service("back")]
    query = ('sum(rate(http_server_request_duration_seconds_count{job="back",http_response_status_code=~"5.."}[30s]))'
             ' / sum(rate(http_server_request_duration_seconds_count{job="back"}[30s]))')
    ratio = query_range(base, query, ORIGIN + 91, ORIGIN + 105)  # windows after the first failure, in the fault
    assert len(ratio) == 15
    for stamp, value in ratio.items():
        t = int(stamp - ORIGIN)
        assert value == pytest.approx(windows.error_ratio(back, t - 30, t), rel=1e-9)
        assert 0.3 < value < 0.5  # the fault fails 40%


def test_a_latency_quantile_is_within_its_bucket(served: Any) -> None:
    base, result, _ = served
    front = result.series[Scope.service("front")]
    query = ('histogram_quantile(0.95, sum by (le) '
             '(rate(http_server_request_duration_seconds_bucket{job="front"}[1m])))')
    served_q = query_range(base, query, ORIGIN + 60, ORIGIN + 150)
    bounds = sorted(b for b in OTEL_BUCKETS if b > 0)
    for stamp, value in served_q.items():
        t = int(stamp - ORIGIN)
        ours = windows.latency_quantile(front, result.bounds, t - 60, t, 0.95)
        assert ours is not None
        i = bisect.bisect_left(bounds, ours)
        assert (bounds[i - 1] if i else 0.0) <= value <= bounds[i], (t, ours, value)


def test_the_annotations_are_grafana_api_bodies_on_the_same_clock(served: Any) -> None:
    _, result, directory = served
    notes = json.loads((directory / "annotations.json").read_text())
    (fault,) = [n for n in notes if "fault" in n["tags"]]
    assert set(fault) == {"time", "timeEnd", "tags", "text"}
    assert (fault["time"], fault["timeEnd"]) == ((ORIGIN + 60) * 1000, (ORIGIN + 105) * 1000)
    assert fault["tags"][0] == "chaoslab" and all(isinstance(t, str) for t in fault["tags"])
    assert "back-errors" in fault["text"] and "errors on back" in fault["text"]


def test_the_file_is_openmetrics_as_promtool_reads_it(served: Any) -> None:
    _, _, directory = served
    lines = (directory / "run.om").read_text().splitlines()
    assert lines[-1] == "# EOF" and lines.count("# EOF") == 1
    types = [line.split()[2] for line in lines if line.startswith("# TYPE ")]
    assert len(types) == len(set(types))  # each family once, in one block
    assert "http_server_request_duration_seconds" in types and "http_client_request_duration_seconds" in types
    samples = [line for line in lines if not line.startswith("#")]
    assert all(line.rsplit(" ", 1)[1].isdigit() for line in samples)  # timestamps in whole seconds here
    first = min(int(line.rsplit(" ", 1)[1]) for line in samples)
    assert first == ORIGIN + 1  # second 0 at the origin; label sets created on first use appear at 1 s


def test_a_counter_family_is_named_without_total(tmp_path: Path) -> None:
    path = write(tmp_path, "", duration="30s", fault_at="10s")
    om = tmp_path / "run.om"
    assert main(["simulate", str(path), "--out", str(tmp_path / "out"), "--no-report", "--no-progress", "--quiet",
                 "--openmetrics", str(om), "--origin", "1796119200"]) == 0
    text = om.read_text()
    assert "# TYPE chaoslab_requests counter\n" in text
    assert 'chaoslab_requests_total{service="back"} 0 1796119200\n' in text
    histogram = "chaoslab_request_duration_seconds"
    assert f"# TYPE {histogram} histogram\n# UNIT {histogram} seconds\n" in text
