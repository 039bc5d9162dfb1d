"""A real Prometheus (Debian's package) scrapes two emulator replicas and the Toxiproxy-compatible server on
loopback every second; what it stores agrees with the emulators' own JSON counters.

This is the check that the hand-written exposition is what Prometheus itself accepts: a scrape it
cannot parse leaves ``up`` at 0 and stores nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.live.in_container.toxiproxy.server import serve_in_thread
from chaos.metrics.mapping import resolve
from chaos.model.files import load_topology
from chaos.model.metrics import MetricsPreset, MetricsSpec
from chaos.model.scope import Scope
from chaos.run import percentile_from_hist

READY_S = 60.0


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        reason = "prometheus (Debian's prometheus package) is not installed"
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Prometheus:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, **params: str) -> dict:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback, our own server
            body = json.load(answer)
        assert body["status"] == "success", body
        return body["data"]  # type: ignore[no-any-return]

    def value(self, query: str) -> float | None:
        result = self.get("/api/v1/query", query=query)["result"]
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None


@pytest.fixture
def prometheus_at(tmp_path: Path) -> Iterator:
    """``prometheus_at(jobs, rules=(), relabels=None)`` starts Prometheus scraping ``jobs`` (job name -> host:port)
    every second (``relabels``: a job's metric_relabel_configs), evaluating the rule files ``rules`` every second."""
    binary = prometheus_binary()
    started: list[subprocess.Popen] = []
    log_path = tmp_path / "prometheus.log"

    def start(jobs: dict[str, str], rules: tuple[Path, ...] = (), relabels: dict[str, list] | None = None
              ) -> Prometheus:
        scrape = "".join(f"  - job_name: {job}\n    static_configs: [{{targets: ['{target}']}}]\n"
                         + (f"    metric_relabel_configs: {json.dumps(relabels[job])}\n"
                            if relabels and relabels.get(job) else "")
                         for job, target in jobs.items())
        files = f"rule_files: [{', '.join(repr(str(r)) for r in rules)}]\n" if rules else ""
        config = tmp_path / "prometheus.yml"
        config.write_text(f"global: {{scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}}\n"
                          f"{files}scrape_configs:\n{scrape}")
        port = free_port()
        log = log_path.open("wb")
        server = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                                   f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
        log.close()
        started.append(server)
        deadline = time.monotonic() + READY_S
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return Prometheus(port)
            except OSError:
                pass
            assert server.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, f"Prometheus was not ready within {READY_S:.0f} s"
            time.sleep(0.2)

    yield start
    for server in started:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)


def post_json(url: str, body: object) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback
        return json.load(answer)  # type: ignore[no-any-return]


TOPOLOGY = """\
name: pair
entrypoints:
  web: {to: a}
services:
  a:
    service_time: {dist: constant, value: 2ms}
    calls: [{to: b, timeout: 1s}]
  b:
    service_time: {dist: exponential, mean: 10ms}
"""


def test_prometheus_scrapes_the_emulators_and_the_proxy_and_holds_what_they_counted(launch, helpers, prometheus_at,
                                                                                   tmp_path):
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0.002), "calls": [{"to": "b", "timeout_s": 1}]},
                    "b": {"workers": 4, "service_time": {"dist": "exponential", "mean": 0.01}}})
    with serve_in_thread("127.0.0.1", 0) as toxiproxy:
        proxy = post_json(f"{toxiproxy.url}/proxies",
                          {"name": "to_a", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{stack.port('a')}"})
        front = int(proxy["listen"].rsplit(":", 1)[1])
        prometheus = prometheus_at({"a": f"127.0.0.1:{stack.port('a')}", "b": f"127.0.0.1:{stack.port('b')}",
                                    "toxiproxy": toxiproxy.url.removeprefix("http://")})
        # Every target scraped once before the load: the success label sets start at zero in Prometheus.
        assert helpers.wait_for(lambda: prometheus.value("count(up == 1)") == 3, 10.0, step=0.25)
        answers = [helpers.request(front)[0] for _ in range(30)]
        assert helpers.wait_for(lambda: prometheus.value('sum(chaoslab_server_requests_total{job="b"})') == 30,
                                10.0, step=0.25)
        # The opentelemetry preset's own query (chaos.metrics.mapping, what the simulator's exposition is read
        # with) reads an emulator as it is: job is the service, the histogram is OpenTelemetry's. Over a window
        # holding the whole run, every bucket's rate has the same factor, so the quantile is the JSON's median.
        # Asked before any failure: the preset sums every status label set, and the emulator times failures too.
        (tmp_path / "pair.yaml").write_text(TOPOLOGY)
        mapping = resolve(MetricsSpec(preset=MetricsPreset.OPENTELEMETRY), load_topology(tmp_path / "pair.yaml"))
        preset_median = prometheus.value(mapping.queries(Scope.service("b")).latency_quantile(0.5, "5m"))
        successes = {k: v for k, v in enumerate(stack.metrics("b")["server"]["latency_hist"]) if v}
        assert preset_median == pytest.approx(percentile_from_hist(successes, helpers.BOUNDS, 0.5), rel=1e-6)
        stack.faults("b", errors=1.0)
        answers += [helpers.request(front)[0] for _ in range(10)]
        assert answers == [200] * 30 + [503] * 10

        def scraped_all() -> bool:
            return (prometheus.value('sum(chaoslab_server_requests_total{job="a"})') == 40
                    and prometheus.value('sum(chaoslab_server_requests_total{job="b"})') == 40
                    and prometheus.value('sum(chaoslab_proxy_connections_total{job="toxiproxy"})') == 40)

        assert helpers.wait_for(scraped_all, 10.0, step=0.25)
        targets = prometheus.get("/api/v1/targets")["activeTargets"]
        assert {(t["labels"]["job"], t["health"], t["lastError"]) for t in targets} == {
            ("a", "up", ""), ("b", "up", ""), ("toxiproxy", "up", "")}

        jb, ja = stack.metrics("b"), stack.metrics("a")
        count = 'sum(http_server_request_duration_seconds_count{{job="{}", {}}})'
        assert prometheus.value(count.format("b", 'http_response_status_code="200"')) == jb["server"]["ok"] == 30
        assert prometheus.value(count.format("b", 'error_type="injected"')) == 10
        assert prometheus.value(count.format("a", 'error_type="dependency", http_response_status_code="503"')) == 10
        client = 'sum(http_client_request_duration_seconds_count{job="a", server_address="b", error_type!=""})'
        assert prometheus.value(client) == ja["calls"]["b"]["errors"]["injected"] == 10
        assert prometheus.value('chaoslab_proxy_connections_total{job="toxiproxy", proxy="to_a"}') == 40

        # The median of b's successes, by Prometheus's histogram_quantile and by chaoslab's own estimate of the
        # JSON histogram: both interpolate linearly in the same buckets, so they agree to rounding.
        median = prometheus.value('histogram_quantile(0.5, sum by (le) (http_server_request_duration_seconds_bucket'
                                  '{job="b", http_response_status_code="200"}))')
        hist = dict(enumerate(jb["server"]["latency_hist"]))
        ours = percentile_from_hist({k: v for k, v in hist.items() if v}, helpers.BOUNDS, 0.5)
        assert median is not None and ours is not None and median == pytest.approx(ours, rel=1e-9)

