"""How many requests per second one service emulator serves on this machine with a sane p99.

Starts ``python3 -m chaos.live.in_container.emulator`` as its own process on 127.0.0.1 (and, with
``--hop``, a second one it calls, to price one call), then offers open-loop Poisson
load from this process at increasing rates, a few seconds per step, each request on a
new connection as live mode makes them. For each step it prints the rate offered and
achieved, errors, and the p50/p99 seen by the client and by the emulator itself (from
its /admin/metrics histograms), and the CPU time the emulator process spent per request
(from /proc: unlike the rates, this does not depend on what else the machine runs).
The answer is the highest rate that was served in full with a p99 under
``--p99-limit``, and the rate one core would serve at the measured CPU cost. Loopback
only; every step is bounded in requests and in time.

    python benchmarks/emulator_throughput.py
    python benchmarks/emulator_throughput.py --hop --rates 200,400,800,1200
    python benchmarks/emulator_throughput.py --hop --attributes   # attributes carried, time by value
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from chaos.live.in_container.http import Target, fetch
from chaos.run import latency_bounds, percentile_from_hist

REPO = Path(__file__).resolve().parents[1]
REQUEST_TIMEOUT = 2.0
MAX_IN_FLIGHT = 2000  # the generator sends no more than this at once; beyond it, arrivals are skipped


@dataclass(frozen=True)
class Step:
    offered: float
    sent: int
    skipped: int
    ok: int
    errors: int
    seconds: float
    client_p50: float | None
    client_p99: float | None
    server_p99: float | None
    cpu_per_request: float | None  # seconds of the emulator processes' CPU per answered request

    @property
    def achieved(self) -> float:
        return self.ok / self.seconds

    def sane(self, p99_limit: float) -> bool:
        served = self.ok >= 0.98 * (self.sent + self.skipped) and self.achieved >= 0.95 * self.offered
        return served and self.client_p99 is not None and self.client_p99 <= p99_limit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SIZES = {"small": 0.5, "medium": 0.3, "large": 0.2}  # --attributes: a categorical attribute, the leaf's time by it
HEADER = "cache_hit,size=small"  # what every request then carries (small: the same constant time)


def write_stack(path: Path, service_time: float, workers: int, ports: dict[str, int], hop: bool,
                attributes: bool = False) -> None:
    time = {"dist": "constant", "value": service_time}
    leaf: dict[str, object] = {"workers": workers, "queue_limit": 2000, "service_time": time}
    services: dict[str, object] = {"leaf": leaf}
    if hop:
        services["front"] = {**leaf, "calls": [{"to": "leaf", "urls": [f"http://127.0.0.1:{ports['leaf']}"],
                                                "timeout_s": REQUEST_TIMEOUT}]}
    spec: dict[str, object] = {"version": 1, "latency_bounds_s": list(latency_bounds()), "services": services}
    if attributes:  # the header carried and parsed at every hop, the leaf's time chosen by the value
        leaf["service_time_by"] = {"attribute": "size", "values": {v: time for v in SIZES}}
        spec["attributes"] = {"cache_hit": 0.9, "size": SIZES}
    path.write_text(json.dumps(spec))


def start(stack: Path, service: str, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "chaos.live.in_container.emulator", "--stack", str(stack), "--service", service,
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(command, cwd=REPO)


async def wait_healthy(target: Target, deadline_s: float = 15.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            async with asyncio.timeout(1.0):
                if (await fetch(target, "/health")).status == 200:
                    return
        except (OSError, TimeoutError):
            await asyncio.sleep(0.05)
    raise SystemExit(f"the emulator on port {target.port} did not become healthy in {deadline_s} s")


async def server_hist(target: Target) -> list[int]:
    async with asyncio.timeout(REQUEST_TIMEOUT):
        answer = await fetch(target, "/admin/metrics")
    return list(json.loads(answer.body)["server"]["latency_hist"])


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return total / os.sysconf("SC_CLK_TCK")


async def run_step(target: Target, rate: float, seconds: float, rng: random.Random, pids: list[int],
                   headers: dict[str, str] | None = None) -> Step:
    latencies: list[float] = []
    errors = 0
    in_flight = 0

    async def one() -> None:
        nonlocal errors, in_flight
        started = time.perf_counter()
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                answer = await fetch(target, "/work", headers)
            if answer.status == 200:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1
        except (OSError, TimeoutError):
            errors += 1
        finally:
            in_flight -= 1

    before = await server_hist(target)
    cpu_before = cpu_seconds(pids)
    total = int(rate * seconds)
    arrivals = []
    t = 0.0
    for _ in range(total):
        t += rng.expovariate(rate)
        arrivals.append(t)
    tasks = []
    skipped = 0
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    k = 0
    while k < total:  # bounded: total arrivals, each sent at its time or skipped
        now = loop.time() - t0
        while k < total and arrivals[k] <= now:
            if in_flight < MAX_IN_FLIGHT:
                in_flight += 1
                tasks.append(asyncio.create_task(one()))
            else:
                skipped += 1
            k += 1
        await asyncio.sleep(0.0005)
    await asyncio.gather(*tasks)
    elapsed = max(loop.time() - t0, seconds)
    cpu = cpu_seconds(pids) - cpu_before
    after = await server_hist(target)
    bounds = latency_bounds()
    diff = {i: a - b for i, (a, b) in enumerate(zip(after, before, strict=True)) if a - b}
    latencies.sort()
    n = len(latencies)
    return Step(rate, len(tasks), skipped, n, errors, elapsed,
                latencies[n // 2] if n else None, latencies[min(n - 1, int(0.99 * n))] if n else None,
                percentile_from_hist(diff, bounds, 0.99), cpu / n if n else None)


def ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1e3:.1f}"


async def measure(args: argparse.Namespace, target: Target, pids: list[int]) -> list[Step]:
    rng = random.Random(args.seed)
    await wait_healthy(target)
    steps = []
    print(f"{'offered/s':>10} {'achieved/s':>10} {'errors':>7} {'skipped':>7} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'server p99':>10} {'CPU ms/req':>10}")
    for rate in args.rates:
        step = await run_step(target, rate, args.step_seconds, rng, pids,
                              {"X-Chaoslab-Attributes": HEADER} if args.attributes else None)
        steps.append(step)
        print(f"{rate:>10.0f} {step.achieved:>10.0f} {step.errors:>7} {step.skipped:>7} "
              f"{ms(step.client_p50):>7} {ms(step.client_p99):>7} {ms(step.server_p99):>10} "
              f"{ms(step.cpu_per_request):>10}", flush=True)
        if not step.sane(args.p99_limit) and step.achieved < 0.8 * rate:
            break  # saturated: higher rates only queue up
        await asyncio.sleep(1.0)  # let the previous step's connections drain
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")],
                        default=[250, 500, 750, 1000, 1250, 1500, 2000])
    parser.add_argument("--step-seconds", type=float, default=3.0)
    parser.add_argument("--service-time", type=float, default=0.001, help="constant service time, seconds")
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--p99-limit", type=float, default=0.05, help="p99 (seconds) still called sane")
    parser.add_argument("--hop", action="store_true", help="measure a service that calls another emulator")
    parser.add_argument("--attributes", action="store_true",
                        help=f"requests carry X-Chaoslab-Attributes: {HEADER}; the leaf's time is chosen by size")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    ports = {"leaf": free_port(), "front": free_port()}
    entry = "front" if args.hop else "leaf"
    with tempfile.TemporaryDirectory() as tmp:
        stack = Path(tmp) / "stack.json"
        write_stack(stack, args.service_time, args.workers, ports, args.hop, args.attributes)
        procs = [start(stack, name, ports[name]) for name in (["leaf", "front"] if args.hop else ["leaf"])]
        try:
            if args.hop:
                asyncio.run(wait_healthy(Target("127.0.0.1", ports["leaf"])))
            steps = asyncio.run(measure(args, Target("127.0.0.1", ports[entry]), [p.pid for p in procs]))
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                if proc.wait(10) != 0:
                    print(f"warning: an emulator exited with {proc.returncode}", file=sys.stderr)
    sane = [s.offered for s in steps if s.sane(args.p99_limit)]
    what = "a service calling another emulator (both processes)" if args.hop else "one emulator"
    what += f", requests carrying {HEADER}" if args.attributes else ""
    print(f"\n{what}, {args.service_time * 1e3:g} ms constant service time, {args.workers} workers, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores:")
    print(f"  highest rate served in full with p99 <= {args.p99_limit * 1e3:g} ms: "
          + (f"{max(sane):.0f} requests/s" if sane else "none of the steps"))
    costs = sorted(s.cpu_per_request for s in steps if s.cpu_per_request)
    if costs:
        cost = costs[len(costs) // 2]
        print(f"  CPU per request: {cost * 1e3:.2f} ms (median over steps), "
              f"so one full core serves about {1 / cost:.0f} requests/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
