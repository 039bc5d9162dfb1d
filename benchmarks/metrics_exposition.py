"""What one ``GET /metrics`` costs an emulator replica: the time to render its Prometheus text, and its size.

The render runs on the replica's event loop, so with a Prometheus scraping every second it is time
taken from the requests once a second. The worst case is rendered: every cause counted on the
server and on each of ``--callees`` edges (so every label set of both histograms is there), over
the run's bounds with ``--thresholds`` added. Prints the median of ``--repeat`` renders.

    python benchmarks/metrics_exposition.py
    python benchmarks/metrics_exposition.py --callees 6 --repeat 100
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, field

from chaos.core.latency import latency_bounds
from chaos.live.in_container.emulator.metrics import CallMetrics, Cause, ServerMetrics
from chaos.live.in_container.emulator.prometheus import exposition


@dataclass
class Service:
    name: str


@dataclass
class Pool:
    waiting: int = 0
    busy: int = 0


@dataclass
class Edge:
    metrics: CallMetrics

    def breaker_opens(self) -> int:
        return 0


@dataclass
class Replica:
    service: Service
    server: ServerMetrics
    edges: dict[str, Edge] = field(default_factory=dict)
    pool: Pool = field(default_factory=Pool)
    replica: int = 1
    in_flight: int = 0


def worst_case(callees: int, bounds: tuple[float, ...]) -> Replica:
    server = ServerMetrics(bounds)
    server.success(0.01)
    for cause in Cause:
        server.failure(cause, 0.1)
    replica = Replica(Service("svc"), server)
    for n in range(callees):
        calls = CallMetrics(bounds)
        calls.success(0.02)
        for cause in Cause:
            calls.failure(cause, 0.1)
        replica.edges[f"callee{n}"] = Edge(calls)
    return replica


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callees", type=int, default=3)
    parser.add_argument("--thresholds", default="0.3,0.8", help="latency thresholds added to the bounds (s)")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    bounds = latency_bounds([float(x) for x in args.thresholds.split(",") if x])
    replica = worst_case(args.callees, bounds)
    times, body = [], b""
    for _ in range(args.repeat):
        started = time.perf_counter()
        body = exposition(replica)  # type: ignore[arg-type]  # the fields it reads, without a running server
        times.append(time.perf_counter() - started)
    label_sets, lines = body.count(b'le="+Inf"'), body.count(b"\n")
    print(f"bounds: {len(bounds)}, callees: {args.callees}, label sets of histograms: {label_sets}")
    print(f"render: median {statistics.median(times) * 1000:.2f} ms, max {max(times) * 1000:.2f} ms "
          f"over {args.repeat}; {len(body)} bytes, {lines} lines")


if __name__ == "__main__":
    main()
