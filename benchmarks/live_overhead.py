"""What the live harness costs on this machine: the latency one Toxiproxy hop adds, and the rate Locust sustains.

1. Per-hop latency. An emulator (one service, no work) and chaoslab's built-in Toxiproxy
   (one proxy, no toxic) run as processes on 127.0.0.1; requests alternate between a
   direct connection to the emulator and one through the proxy, each on a new connection
   as the emulators' calls are. The difference of the two is what a hop through
   Toxiproxy adds. With ``--docker`` the same is measured inside a generated one-service
   stack: the emulator's published port against its entrypoint proxy (both through
   Docker's port proxy, so the difference is again the Toxiproxy hop).
2. Load. ``benchmarks/load_rate.py`` (the load generator's own benchmark) is run with a
   short ramp: the highest rate one Locust process, and a master with two workers, sustain.

    python benchmarks/live_overhead.py [--requests 400] [--docker] [--no-load] [--load-args "..."]

Bounded: ``--requests`` requests per path (at most 5,000), each with a 5 s timeout; the load
benchmark's ramp is at most 10 steps per mode of a few seconds each. Traffic stays on
127.0.0.1 and the stack's own containers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chaos.live.stack.toxiproxy_client import ToxiproxyClient  # noqa: E402
from chaos.run import latency_bounds  # noqa: E402

MAX_REQUESTS = 5000
TIMEOUT_S = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str = "/work") -> float:
    """One request on a new connection; its latency in seconds."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"127.0.0.1:{port}{path} answered {response.status}")
    finally:
        conn.close()
    return time.perf_counter() - started


def wait_up(check: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except (OSError, RuntimeError, http.client.HTTPException, Exception) as exc:  # noqa: BLE001 - retried
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not come up within {timeout:g}s: {exc}") from exc
            time.sleep(0.1)


@contextmanager
def process(argv: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def summary(xs: list[float]) -> str:
    ordered = sorted(xs)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return (f"mean {statistics.fmean(xs) * 1000:6.2f} ms  p50 {statistics.median(xs) * 1000:6.2f} ms  "
            f"p99 {p99 * 1000:6.2f} ms")


def compare_paths(direct: int, proxied: int, n: int) -> tuple[list[float], list[float]]:
    for _ in range(20):  # warm both paths (imports, first connections)
        get(direct)
        get(proxied)
    a, b = [], []
    for i in range(n):  # alternate, so drift in the machine's load hits both alike
        if i % 2:
            a.append(get(direct))
            b.append(get(proxied))
        else:
            b.append(get(proxied))
            a.append(get(direct))
    return a, b


def report(label: str, direct: list[float], proxied: list[float]) -> None:
    print(f"{label}:")
    print(f"  direct to the emulator   {summary(direct)}")
    print(f"  through Toxiproxy        {summary(proxied)}")
    print(f"  added per hop            mean {(statistics.fmean(proxied) - statistics.fmean(direct)) * 1000:+.2f} ms, "
          f"p50 {(statistics.median(proxied) - statistics.median(direct)) * 1000:+.2f} ms")


def loopback(n: int) -> None:
    spec = {"version": 1, "latency_bounds_s": list(latency_bounds()),
            "services": {"s": {"workers": 64, "service_time": {"dist": "constant", "value": 0.0}}}}
    with tempfile.TemporaryDirectory(prefix="live-overhead-") as tmp:
        spec_file = Path(tmp) / "stack.json"
        spec_file.write_text(json.dumps(spec))
        app, api = free_port(), free_port()
        emulator = [sys.executable, "-m", "chaos.live.in_container.emulator", "--stack", str(spec_file),
                    "--service", "s", "--host", "127.0.0.1", "--port", str(app), "--log-level", "warning"]
        toxiproxy = [sys.executable, "-m", "chaos.live.in_container.toxiproxy", "--host", "127.0.0.1",
                     "--port", str(api), "--log-level", "warning"]
        with process(emulator), process(toxiproxy):
            wait_up(lambda: get(app, "/health"), "the emulator")
            client = ToxiproxyClient(f"http://127.0.0.1:{api}")
            wait_up(client.version, "Toxiproxy")
            proxy = client.create_proxy("bench", f"127.0.0.1:{app}", "127.0.0.1:0")
            port = int(proxy.listen.rsplit(":", 1)[1])
            direct, proxied = compare_paths(app, port, n)
    report(f"loopback, {n} sequential requests per path, a new connection each", direct, proxied)


def in_docker(n: int) -> None:
    from chaos.live.stack import emulator_stack as stack
    from chaos.model.distributions import Constant
    from chaos.model.topology import Entrypoint, Service, Topology

    topology = Topology(name="overhead", services=(Service(name="s", workers=64, service_time=Constant(value=0.0)),),
                        entrypoints=(Entrypoint(name="web", to="s"),))
    with tempfile.TemporaryDirectory(prefix="live-overhead-stack-") as tmp:
        result = stack.up(topology, Path(tmp), project=f"chaoslab-bench-{os.getpid()}")
        try:
            state = result.state
            (replica,) = state.replicas
            direct = int(str(replica.url).rsplit(":", 1)[1])
            proxied = int(state.entrypoints["web"].urls[0].rsplit(":", 1)[1].split("/")[0])
            a, b = compare_paths(direct, proxied, n)
        finally:
            stack.down(Path(tmp))
    report(f"Docker stack, {n} sequential requests per path (both through Docker's port proxy)", a, b)


def load_rate(extra: str) -> None:
    script = Path(__file__).with_name("load_rate.py")
    print(f"Locust: {script.name} {extra}", flush=True)
    subprocess.run([sys.executable, str(script), *shlex.split(extra)], check=True, timeout=900)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400, help="requests per path (default 400)")
    parser.add_argument("--docker", action="store_true", help="also measure inside a generated Docker stack")
    parser.add_argument("--no-load", action="store_true", help="skip the Locust rate benchmark")
    parser.add_argument("--load-args", default="--seconds 3 --start 2000 --factor 2 --max-rate 32000",
                        help="arguments for load_rate.py")
    args = parser.parse_args()
    n = max(10, min(MAX_REQUESTS, args.requests))
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    loopback(n)
    if args.docker:
        in_docker(n)
    if not args.no_load:
        load_rate(args.load_args)


if __name__ == "__main__":
    main()
