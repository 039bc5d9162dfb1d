"""How fast is a sweep, and how well does it use the cores? Variants per minute and parallel efficiency.

The workload is the issue's goal: every single-service crash on the 50-service benchmark
topology (``benchmark_topology()`` from ``sim_speed.py``), 60 simulated seconds at 200
entry requests per second, 3 seeds each: 150 runs and about 72 million spans. The goal
is to finish in under 2 minutes on a 2-core machine.

Parallel efficiency is measured on a fixed set of similar tasks (crashes of leaf
services, one seed) run once with 1 local worker process and once with 2:
efficiency = T1 / (2 x T2). Two figures explain it, independent of how fast the kernel is:

* busy: the time the workers spent in tasks / (workers x wall time); what is missing
  was lost to process start-up, task hand-off, the parent and the last task's tail;
* on CPU: the CPU time of those tasks / their wall time; below 100% other processes on
  the machine took the cores, and no executor can win that back.

On a shared machine the benchmark also measures what the machine allows at that moment:
the speedup two processes that only count get over one (2.0 on two free cores), right
before and after the 1-versus-2 comparison. The sweep's speedup divided by that is the
executor's efficiency with the machine's contention taken out.

The goal was set for this machine at the speed ``../shared/MACHINE-NOTES.md`` records,
where the straightforward SimPy model of ``sim_speed.py`` ran about 46,000 spans per
second. The benchmark runs that model briefly as a yardstick and also prints the
sweep's time scaled to that speed.

    python benchmarks/sweep_speed.py [--seconds 60] [--rate 200] [--seeds 3] [--efficiency-tasks 12]
                                     [--workers 2] [--skip-goal] [--skip-efficiency] [--skip-yardstick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sim_speed import benchmark_topology, run_straightforward  # noqa: E402

from chaos.model.alerts import AlertMetric, ThresholdRule  # noqa: E402
from chaos.model.experiment import Experiment  # noqa: E402
from chaos.model.load import Constant  # noqa: E402
from chaos.model.slos import Slo  # noqa: E402
from chaos.sweep.executors import ProcessExecutor, encode  # noqa: E402
from chaos.sweep.grid import FaultTemplate, Plan, TargetSet  # noqa: E402
from chaos.sweep.runner import run_sweep  # noqa: E402
from chaos.sweep.store import Store  # noqa: E402
from chaos.sweep.worker import Task  # noqa: E402

GOAL_S = 120.0
NOTES_STRAIGHTFORWARD = 46_000  # spans/s of the straightforward SimPy model in MACHINE-NOTES.md


def yardstick(seconds: float = 2.0, rate: float = 2000.0) -> float:
    """Spans per second of the straightforward SimPy model on this machine now."""
    spans, wall = run_straightforward(seconds, rate, seed=1)
    return spans / wall


def experiment(seconds: float, rate: float) -> Experiment:
    return Experiment(
        name="sweep-speed", topology=benchmark_topology(), duration=seconds, warmup=min(5.0, seconds / 4),
        load=Constant(rate=rate), seed=1,
        slos=(Slo(entrypoint="web", error_ratio=0.01, window=10.0),),
        alerts=(ThresholdRule(name="web-errors", entrypoint="web", metric=AlertMetric.ERROR_RATIO, threshold=0.05,
                              window=10.0, every=1.0),))


def crash_plan() -> Plan:
    return Plan(templates=(FaultTemplate.parse("crash", TargetSet.SERVICES),))


@dataclass(frozen=True)
class Timing:
    wall_s: float
    worker_s: float
    cpu_s: float
    runs: int
    spans: int
    workers: int

    @property
    def busy(self) -> float:
        return self.worker_s / (self.workers * self.wall_s)

    @property
    def on_cpu(self) -> float:
        return self.cpu_s / self.worker_s

    def line(self) -> str:
        return (f"{self.runs} runs in {self.wall_s:6.1f} s ({self.spans / self.wall_s:9,.0f} spans/s), "
                f"busy {self.busy:.1%}, on CPU {self.on_cpu:.1%}, {self.cpu_s / self.runs:.2f} CPU s per run")


def timed(exp: Experiment, tasks: list[Task], workers: int) -> Timing:
    """Run ``tasks`` on ``workers`` fresh local processes, start-up included."""
    base = encode(exp)
    tasks = [Task(base.key, t.variant, t.seed) for t in tasks]
    started = time.perf_counter()
    outcomes = list(ProcessExecutor(workers).run([base], tasks))
    wall = time.perf_counter() - started
    spans = sum(s.requests for o in outcomes for s in o.summary.services.values())
    return Timing(wall, sum(o.wall_s for o in outcomes), sum(o.cpu_s for o in outcomes), len(outcomes), spans,
                  workers)


def spin(processes: int, loops: int) -> float:
    """Wall seconds for ``processes`` processes each counting to ``loops``: pure CPU, nothing shared."""
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", f"x = 0\nfor _ in range({loops}): x += 1"])
             for _ in range(processes)]
    for proc in procs:
        proc.wait()
    return time.perf_counter() - started


def machine_speedup(loops: int = 40_000_000) -> float:
    """How much faster two CPU-bound processes finish two jobs than one does one after the other."""
    return 2 * spin(1, loops) / spin(2, loops)


def efficiency(exp: Experiment, count: int) -> tuple[Timing, Timing]:
    leaves = [v for v in crash_plan().variants(exp) if v.target is not None and v.target.startswith("l3")]
    tasks = [Task("", v, exp.seed) for v in leaves[:count]]
    return timed(exp, tasks, 1), timed(exp, tasks, 2)


def goal(exp: Experiment, seeds: int, workers: int) -> tuple[Timing, int]:
    """The whole sweep through the runner, as ``chaoslab sweep`` runs it (results written to a scratch dir)."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = run_sweep(exp, crash_plan(), tuple(exp.seed + i for i in range(seeds)), ProcessExecutor(workers),
                           Store(Path(tmp)))
        wall = time.perf_counter() - started
    spans = sum(s.requests for runs in result.results.values() for r in runs for s in r.services.values())
    return Timing(wall, result.worker_s, result.worker_cpu_s, result.simulated, spans, workers), len(result.results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="simulated seconds per run")
    parser.add_argument("--rate", type=float, default=200.0, help="entry requests per second")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per variant")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the goal run")
    parser.add_argument("--efficiency-tasks", type=int, default=12, help="tasks in the 1-versus-2-worker comparison")
    parser.add_argument("--skip-efficiency", action="store_true")
    parser.add_argument("--skip-goal", action="store_true")
    parser.add_argument("--skip-yardstick", action="store_true")
    args = parser.parse_args(argv)

    exp = experiment(args.seconds, args.rate)
    print(f"workload: crash of each of {len(exp.topology.services)} services, {args.seconds:g} simulated s at "
          f"{args.rate:g} req/s, {args.seeds} seeds")
    if not args.skip_efficiency:
        before = machine_speedup()
        one, two = efficiency(exp, args.efficiency_tasks)
        allowed = (before + machine_speedup()) / 2
        speedup = one.wall_s / two.wall_s
        print(f"1 worker:  {one.line()}")
        print(f"2 workers: {two.line()}")
        print(f"parallel efficiency 1 -> 2 workers: {speedup / 2:.1%} (speedup {speedup:.2f})")
        print(f"this machine gave two counting processes a speedup of {allowed:.2f} meanwhile (2.00 on two free "
              f"cores): the sweep reached {speedup / allowed:.1%} of what the machine allowed")
    if not args.skip_goal:
        timing, variants = goal(exp, args.seeds, args.workers)
        wall = timing.wall_s
        print(f"sweep: {variants} variants x {args.seeds} seeds, {timing.spans:,} spans on {args.workers} workers: "
              f"{timing.line()}; {variants / wall * 60:.1f} variants/min")
        print(f"goal: {variants} variants x {args.seeds} seeds in under {GOAL_S:g} s: "
              f"{'MET' if wall < GOAL_S else 'NOT MET'} ({wall:.1f} s)")
        if not args.skip_yardstick:
            speed = yardstick()
            print(f"yardstick: the straightforward SimPy model runs {speed:,.0f} spans/s here now "
                  f"({NOTES_STRAIGHTFORWARD:,} in MACHINE-NOTES, when the goal was set): at that speed this "
                  f"sweep would take about {wall * speed / NOTES_STRAIGHTFORWARD:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
