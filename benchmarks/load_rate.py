"""How many entry requests per second can the live load generator send on this machine?

Against a fast local ``/work`` server (answers at once, keep-alive, its own process on
127.0.0.1), one standalone Locust process, then a master with 2 workers, each run at
rising target rates for a few seconds. A rate is *sustained* when the achieved rate
(requests started per second, first second excluded) is within 3% of the target,
fewer than 5% of arrivals left late (> 50 ms after their planned time), none was
dropped and every request succeeded. (A generator out of CPU falls behind for good:
nearly every arrival is late and the lag grows to seconds. A few percent late are the
stalls of a shared machine, which the per-second records report as they happen.)
Each mode stops at its first rate not sustained. CPU seconds per process show who was
the bottleneck (the server shares the machine).

    python benchmarks/load_rate.py [--seconds 4] [--start 1000] [--factor 1.5] [--max-rate 40000]

Bounded: at most 10 rates per mode, each run ``--seconds`` long plus start-up, and every
plan's request cap at its default.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chaos.live.load import LoadGenerator, plan_load  # noqa: E402
from chaos.model.distributions import Exponential  # noqa: E402
from chaos.model.load import Segment  # noqa: E402
from chaos.model.topology import Entrypoint, Service, Topology  # noqa: E402

MAX_STEPS = 10
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Step:
    target: float
    achieved: float
    late_share: float
    dropped: int
    failed: int
    max_lag_ms: float
    cpu_locust: float  # CPU seconds of all Locust processes during the run
    cpu_server: float

    @property
    def sustained(self) -> bool:
        return (self.achieved >= 0.97 * self.target and self.late_share < 0.05 and self.dropped == 0
                and self.failed == 0)


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def one_step(url: str, server_pid: int, target: float, seconds: int, workers: int, workdir: Path) -> Step:
    topo = Topology(name="bench", services=(Service(name="s", service_time=Exponential(mean_=0.001)),),
                    entrypoints=(Entrypoint(name="web", to="s", timeout=5.0),))
    plan = plan_load(topo, (Segment(0.0, seconds, target, target),), {"web": url}, duration_s=float(seconds),
                     drain_s=1.0, seed=1)
    with LoadGenerator(plan, workdir, workers=workers) as load:
        load.wait_started(timeout_s=60.0)
        before_server = cpu_seconds(server_pid)
        locust_cpu = {pid: cpu_seconds(pid) for pid in load.pids}
        last = dict(locust_cpu)
        deadline = time.monotonic() + seconds + 30.0
        while load.running and time.monotonic() < deadline:
            load.poll(timeout_s=0.5)
            last = {pid: cpu_seconds(pid) or last[pid] for pid in load.pids}
        server_cpu = cpu_seconds(server_pid) - before_server
        load.wait(timeout_s=max(1.0, deadline - time.monotonic()))
        series = [r for r in load.series("web") if 1 <= r.second < seconds]
    requests = sum(r.requests for r in series)
    return Step(target=target, achieved=requests / max(1, len(series)),
                late_share=sum(r.late for r in series) / max(1, requests),
                dropped=sum(r.dropped for r in series), failed=sum(r.failed + r.client_errors for r in series),
                max_lag_ms=1000 * max((r.max_lag_s for r in series), default=0.0),
                cpu_locust=sum(last[p] - locust_cpu[p] for p in locust_cpu), cpu_server=server_cpu)


def ramp(url: str, server_pid: int, workers: int, args: argparse.Namespace, workdir: Path) -> list[Step]:
    steps: list[Step] = []
    target = args.start
    for _ in range(MAX_STEPS):
        if target > args.max_rate:
            break
        step = one_step(url, server_pid, target, args.seconds, workers, workdir)
        steps.append(step)
        print(f"  target {step.target:8.0f}/s  achieved {step.achieved:8.0f}/s  late {100 * step.late_share:5.1f}%  "
              f"dropped {step.dropped:6d}  failed {step.failed:5d}  max lag {step.max_lag_ms:7.1f} ms  "
              f"cpu locust {step.cpu_locust:5.1f}s server {step.cpu_server:5.1f}s  "
              f"{'ok' if step.sustained else 'NOT sustained'}", flush=True)
        if not step.sustained:
            break
        target *= args.factor
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--start", type=float, default=1000.0)
    parser.add_argument("--factor", type=float, default=1.5)
    parser.add_argument("--max-rate", type=float, default=40000.0)
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-m", "chaos.live.load.workserver"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdin is not None
    try:
        url = server.stdout.readline().strip()
        print(f"server {url} (pid {server.pid}), {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        best = {}
        with tempfile.TemporaryDirectory(prefix="load-rate-") as tmp:
            for workers, label in ((0, "one Locust process"), (2, "master + 2 workers")):
                print(f"{label}:", flush=True)
                steps = ramp(url, server.pid, workers, args, Path(tmp) / label.replace(" ", "-"))
                best[label] = max((s.achieved for s in steps if s.sustained), default=0.0)
        for label, rate in best.items():
            print(f"max sustained rate, {label}: {rate:.0f} requests/s")
    finally:
        server.stdin.close()
        server.wait(timeout=10)
        server.stdout.close()


if __name__ == "__main__":
    main()
