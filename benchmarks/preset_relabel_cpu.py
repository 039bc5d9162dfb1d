"""What a metric preset's renaming (chaos.live.stack.mapped_scrape) costs the generated stack's Prometheus, per scrape:
the CPU of a real Prometheus (Debian's ``/usr/bin/prometheus``, on loopback) scraping the emulators with the preset's
``metric_relabel_configs``, over the CPU of one scraping the same targets without them, as a ratio.

It serves, on 127.0.0.1, one scrape target per service of the experiment's topology (the shop's 12 by default), each
answering what an emulator replica with that service's callees exports (``chaos.live.in_container.emulator.
prometheus``: its histograms with the run's ~120 latency bounds, a label set per cause, the counters the counter
presets are renamed from), a few more requests counted before each scrape so every series moves as during a run. Two
Prometheus processes scrape every target every second *at the same time*, one with the preset's relabelling (each
job's rules as the stack writes them) and one without: both see the same machine, so their ratio holds when the
machine's speed does not (it varies 3x from day to day here). Each one's CPU is read from /proc over ``--rounds``
windows of ``--seconds`` after ``--warm``, and divided by the scrapes it took in that window (one ``up`` sample
each); the ratio is the median of the rounds' (a single window's varies by 10-20 % on this loaded machine).
Bounded: one local server, two local Prometheus, stopped at the end; no traffic leaves 127.0.0.1.

    flock /tmp/chaoslab-bench.lock python benchmarks/preset_relabel_cpu.py --presets control haproxy chaoslab
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

from scrape_target import cpu_s, serve_metrics

from chaos.core.causes import Cause
from chaos.core.latency import latency_bounds
from chaos.live.in_container.emulator.metrics import CallMetrics, ServerMetrics
from chaos.live.in_container.emulator.prometheus import exposition
from chaos.live.stack.mapped_scrape import job_relabels
from chaos.metrics.mapping import resolve
from chaos.model.files import load_experiment
from chaos.model.metrics import MetricsPreset, MetricsSpec
from chaos.model.topology import Topology

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class _Edge:
    """What the exposition reads of a call edge (``calls.Peer``)."""

    metrics: CallMetrics

    def breaker_opens(self) -> int:
        return 0


@dataclass
class _Replica:
    """What the exposition reads of a replica (``prometheus.Exposed``), counting a few requests of each outcome."""

    service: SimpleNamespace
    server: ServerMetrics
    edges: dict[str, _Edge]
    replica: int = 1
    in_flight: int = 0
    pools: tuple[SimpleNamespace, ...] = field(default_factory=lambda: (SimpleNamespace(waiting=0, busy=1),))

    def operation_metrics(self) -> dict[str, ServerMetrics]:
        return {}

    def count(self, step: int) -> None:
        """One success and one failure of every cause, at the server and at each callee: every label set moves."""
        for i, cause in enumerate(Cause):
            seconds = 0.001 * (1 + (step + i) % 40)
            self.server.requests += 2
            self.server.success(seconds)
            self.server.failure(cause, seconds)
            for edge in self.edges.values():
                edge.metrics.attempts += 2
                edge.metrics.success(seconds)
                edge.metrics.failure(cause, seconds)


def replicas(topology: Topology) -> dict[str, _Replica]:
    bounds = latency_bounds()
    out = {}
    for service in topology.services:
        callees = dict.fromkeys(c.to for c in service.all_calls)
        out[service.name] = _Replica(SimpleNamespace(name=service.name), ServerMetrics(bounds),
                                     {c: _Edge(CallMetrics(bounds)) for c in callees})
        out[service.name].count(0)
    return out


def serve(replica: _Replica) -> ThreadingHTTPServer:
    step = [0]

    def render() -> bytes:
        step[0] += 1
        replica.count(step[0])
        return exposition(replica)  # type: ignore[arg-type]

    return serve_metrics(render)


def value(port: int, expr: str) -> float:
    url = f"http://127.0.0.1:{port}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - our own Prometheus on loopback
        result = json.load(answer)["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def start_prometheus(directory: Path, port: int, targets: dict[str, int],
                     relabels: dict[str, list[dict[str, object]]]) -> subprocess.Popen[bytes]:
    directory.mkdir()
    jobs = [{"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{p}"]}],
             **({"metric_relabel_configs": relabels[job]} if relabels.get(job) else {})}
            for job, p in targets.items()]
    config = {"global": {"scrape_interval": "1s", "scrape_timeout": "900ms"}, "scrape_configs": jobs}
    (directory / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    return subprocess.Popen(["/usr/bin/prometheus", f"--config.file={directory / 'prometheus.yml'}",
                             f"--storage.tsdb.path={directory / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(preset: MetricsPreset | None, topology: Topology, warm_s: float, seconds: float, rounds: int,
            base_port: int) -> None:
    """``preset`` None: the control, neither Prometheus renaming (their ratio is the method's own bias)."""
    rules: dict[str, list[dict[str, object]]] = {}
    if preset is not None:
        mapping = resolve(MetricsSpec(preset=preset), topology)
        rules = {job: [r.config() for r in rs] for job, rs in job_relabels(mapping, topology).items()}
    servers = {name: serve(r) for name, r in replicas(topology).items()}
    targets = {name: s.server_address[1] for name, s in servers.items()}
    tmp = Path(tempfile.mkdtemp(prefix="chaoslab-bench-"))
    ports = {"renamed": base_port, "plain": base_port + 1}
    running = {"renamed": start_prometheus(tmp / "renamed", ports["renamed"], targets, rules),
               "plain": start_prometheus(tmp / "plain", ports["plain"], targets, {})}
    try:
        time.sleep(warm_s)
        rounds_ms: dict[str, list[float]] = {k: [] for k in running}
        for _ in range(rounds):
            before = {k: cpu_s(p.pid) for k, p in running.items()}
            time.sleep(seconds)
            for k, p in running.items():
                used = cpu_s(p.pid) - before[k]
                scrapes = value(ports[k], f"sum(count_over_time(up[{seconds:.0f}s]))")  # one up sample a scrape
                rounds_ms[k].append(used / max(scrapes, 1.0) * 1e3)
        ratios = sorted(r / p for r, p in zip(rounds_ms["renamed"], rounds_ms["plain"], strict=True))
        samples = value(ports["plain"], "sum(scrape_samples_scraped)")
        rule_count = sum(len(r) for r in rules.values())
        name = preset.value if preset else "control"
        print(f"{name:13s} {len(targets)} targets, {samples:,.0f} samples a round, {rule_count} relabel rules: "
              f"Prometheus CPU per scrape {statistics.median(rounds_ms['renamed']):5.2f} ms renamed, "
              f"{statistics.median(rounds_ms['plain']):5.2f} ms plain (medians of {rounds}); ratio "
              f"{statistics.median(ratios):.2f} (rounds {ratios[0]:.2f} to {ratios[-1]:.2f})", flush=True)
    finally:
        for p in running.values():
            p.terminate()
        for p in running.values():
            p.wait(timeout=30)
        for s in servers.values():
            s.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=str(ROOT / "experiments" / "shop-coverage.yaml"))
    parser.add_argument("--presets", nargs="+", default=["control", "haproxy"],
                        choices=["control", *(p.value for p in MetricsPreset)],
                        help="control: neither Prometheus renames (the method's bias); default control haproxy")
    parser.add_argument("--warm", type=float, default=10.0, help="seconds before the window (default 10)")
    parser.add_argument("--seconds", type=float, default=20.0, help="one round's window, seconds (default 20)")
    parser.add_argument("--rounds", type=int, default=5, help="windows measured one after another (default 5)")
    parser.add_argument("--port", type=int, default=29300, help="the first of two Prometheus ports (default 29300)")
    args = parser.parse_args()
    topology = load_experiment(args.experiment).topology
    for preset in args.presets:
        measure(None if preset == "control" else MetricsPreset(preset), topology, args.warm, args.seconds,
                args.rounds, args.port)


if __name__ == "__main__":
    main()
