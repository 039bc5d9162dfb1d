"""What the load generator's metrics cost with many request kinds (a generated stack's categorical attributes give an
entrypoint up to 64): the size of one scrape, the time the load process takes to render it, and the CPU a real
Prometheus (Debian's ``/usr/bin/prometheus``, on loopback) spends scraping and storing it every second.

For each number of kinds it fills a :class:`chaos.live.load.metrics.LoadMetrics` of one entrypoint with every
outcome counted for every kind (the worst case a game day with faults reaches), serves it on 127.0.0.1 with a few
more requests counted before each scrape (so every series moves, as during a run), has Prometheus scrape it every
second, and reads Prometheus's own CPU time (/proc) over ``--seconds`` after a warm-up. Bounded: one local server,
one local Prometheus, stopped after each case.

    flock /tmp/chaoslab-bench.lock python benchmarks/load_metrics_kinds.py

On 2026-12-07 (2 cores, load average 8 to 15; ``--warm 8 --seconds 20``), before and after the histogram went
from one per request kind and outcome to one per entrypoint and outcome:

    per kind     1 kind(s): 0.15 MB,  1129 lines; render   1.8 ms; Prometheus 0.2% of a core, scrape   3.7 ms
                64 kind(s): 8.17 MB, 63688 lines; render 143.3 ms; Prometheus 9.4% of a core, scrape 376.0 ms
    per entry    1 kind(s): 0.13 MB,  1139 lines; render   0.9 ms; Prometheus 0.2% of a core, scrape   4.3 ms
                64 kind(s): 0.18 MB,  1706 lines; render   9.1 ms; Prometheus 0.3% of a core, scrape  14.3 ms
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path

from scrape_target import cpu_s, serve_metrics

from chaos.live.load.metrics import LoadMetrics
from chaos.run import latency_bounds

OUTCOMES = ("ok", "timeout", "crashed", "rejected", "injected", "dependency", "circuit_open", "client_error")


def filled(kinds: int) -> LoadMetrics:
    metrics = LoadMetrics.of(latency_bounds(), [("web", "front", [(f"GET /work k{i}", "GET") for i in range(kinds)])])
    count(metrics, kinds)
    return metrics


def count(metrics: LoadMetrics, kinds: int) -> None:
    for k in range(kinds):
        for i, outcome in enumerate(OUTCOMES):
            metrics.request_started(0, k)
            metrics.request_ended(0, k, outcome, 0.002 * (1 + i + k % 7))


def serve(metrics: LoadMetrics, kinds: int) -> ThreadingHTTPServer:
    def render() -> bytes:
        count(metrics, kinds)
        return metrics.render()

    return serve_metrics(render)


def query(port: int, expr: str) -> str:
    url = f"http://127.0.0.1:{port}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - our own Prometheus on loopback
        return answer.read().decode()


def measure(kinds: int, warm_s: float, seconds: float) -> None:
    metrics = filled(kinds)
    started = time.perf_counter()
    body = metrics.render()
    render_ms = (time.perf_counter() - started) * 1000
    server = serve(metrics, kinds)
    tmp = Path(tempfile.mkdtemp(prefix="chaoslab-bench-"))
    port = server.server_address[1]
    web = 29000 + kinds
    (tmp / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 900ms}\n"
        f"scrape_configs: [{{job_name: load, static_configs: [{{targets: ['127.0.0.1:{port}']}}]}}]\n")
    prometheus = subprocess.Popen(["/usr/bin/prometheus", f"--config.file={tmp / 'prometheus.yml'}",
                                   f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{web}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(warm_s)
        before, at = cpu_s(prometheus.pid), time.monotonic()
        time.sleep(seconds)
        used = (cpu_s(prometheus.pid) - before) / (time.monotonic() - at)
        scraped = query(web, "scrape_samples_scraped")
        took = query(web, "scrape_duration_seconds")
        samples = scraped.split('"value":[')[1].split(",")[1].strip('"]}')
        duration = float(took.split('"value":[')[1].split(",")[1].strip('"]}'))
        lines = body.count(b"\n")
        print(f"{kinds:3d} kind(s): scrape {len(body) / 1e6:6.2f} MB, {lines:6d} lines, "
              f"{samples:>6} samples; render {render_ms:5.1f} ms; Prometheus {used:6.1%} of a core, "
              f"scrape took {duration * 1000:6.1f} ms", flush=True)
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=30)
        server.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--warm", type=float, default=10.0, help="seconds before the window (default 10)")
    parser.add_argument("--seconds", type=float, default=30.0, help="the window, seconds (default 30)")
    args = parser.parse_args()
    for kinds in args.kinds:
        measure(kinds, args.warm, args.seconds)


if __name__ == "__main__":
    main()
