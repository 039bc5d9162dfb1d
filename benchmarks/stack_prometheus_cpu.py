"""What the generated stack's Prometheus costs in CPU on the shop stack: with and without the renaming to the
experiment's metric names (chaos.live.stack.mapped_scrape) and with its rules evaluated every second or at the
experiment's evaluation_interval.

For each variant it brings the shop stack up (24 emulators), sends light load to its entrypoints for the
window (bounded: ``--rate`` requests a second to 127.0.0.1 only, for ``--seconds``), and reads the Prometheus
container's CPU time from the engine's stats (cgroup usage, as ``docker stats`` shows it) at the start and the
end of the window: the figure is the share of one core it used. The stack is taken down after each variant.

    flock /tmp/chaoslab-live.lock python benchmarks/stack_prometheus_cpu.py
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from chaos.errors import DockerError
from chaos.live.stack import emulator_stack as stack
from chaos.live.stack.docker_env import connect
from chaos.live.stack.mapped_scrape import stack_relabels
from chaos.model.files import load_experiment
from chaos.run import experiment_bounds

ROOT = Path(__file__).resolve().parents[1]


def cpu_ns(container: object) -> int:
    stats = container.stats(stream=False)  # type: ignore[attr-defined]
    return int(stats["cpu_stats"]["cpu_usage"]["total_usage"])


def load(urls: list[str], rate: float, seconds: float, stop: threading.Event) -> int:
    """``rate`` GETs a second over ``urls`` in turn, for at most ``seconds``; returns how many answered."""
    answered, start, n = 0, time.monotonic(), 0
    while not stop.is_set() and time.monotonic() - start < seconds:
        try:
            with urllib.request.urlopen(urls[n % len(urls)], timeout=2) as answer:  # noqa: S310 - loopback stack
                answer.read()
                answered += 1
        except OSError:
            pass
        n += 1
        time.sleep(max(0.0, start + n / rate - time.monotonic()))
    return answered


def measure(name: str, experiment: object, *, relabel: bool, evaluation_s: int, warm_s: float, seconds: float,
            rate: float) -> None:
    with tempfile.TemporaryDirectory(prefix="chaoslab-bench-") as tmp:
        directory = Path(tmp)
        result = stack.up(experiment.topology, directory, bounds=experiment_bounds(experiment),  # type: ignore[attr-defined]
                          rule_files=stack.rule_files_of(experiment),
                          relabels=stack_relabels(experiment) if relabel else None, evaluation_interval_s=evaluation_s,
                          ready_timeout=180)
        try:
            urls = [u for e in result.state.entrypoints.values() for u in e.urls]
            with connect() as engine:
                container = engine.client.containers.get(f"{result.state.name}-{stack.PROMETHEUS_SERVICE}")
                time.sleep(warm_s)
                stop = threading.Event()
                worker = threading.Thread(target=load, args=(urls, rate, seconds + 5, stop), daemon=True)
                worker.start()
                time.sleep(2)
                t0, c0 = time.monotonic(), cpu_ns(container)
                time.sleep(seconds)
                t1, c1 = time.monotonic(), cpu_ns(container)
                stop.set()
                worker.join(timeout=10)
            share = (c1 - c0) / ((t1 - t0) * 1e9)
            print(f"{name:40s} Prometheus CPU {share * 100:5.1f}% of one core over {t1 - t0:.0f} s", flush=True)
        finally:
            stack.down(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=str(ROOT / "experiments" / "shop-coverage.yaml"))
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warm", type=float, default=20.0, help="seconds after the stack is healthy, unmeasured")
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--variants", default="renamed,main,renamed-1s", help="which of renamed, main, renamed-1s")
    args = parser.parse_args()
    experiment = load_experiment(args.experiment)
    every = stack.evaluation_interval_of(experiment)
    variants = {"main": ("rules every 1s, emulators' names (main)", False, 1),
                "renamed-1s": ("rules every 1s, renamed", True, 1),
                "renamed": (f"rules every {every}s, renamed (this stack)", True, every)}
    for key in args.variants.split(","):
        name, relabel, evaluation = variants[key]
        try:
            measure(name, experiment, relabel=relabel, evaluation_s=evaluation, warm_s=args.warm,
                    seconds=args.seconds, rate=args.rate)
        except DockerError as exc:
            print(f"{name:40s} the stack did not come up healthy: {str(exc).splitlines()[0]}", flush=True)


if __name__ == "__main__":
    main()
