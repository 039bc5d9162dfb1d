"""How fast is the simulator? Spans (service visits) per wall second, on one core.

The workload: a 50-service call graph in layers of 1, 3, 10 and 36 services, each
service fanning out to 3 services of the next layer in parallel, with per-call
timeouts and 2 retries with full-jitter backoff, exponential service times, at 2,000
entry requests per second.

The same workload also runs on a *straightforward* SimPy model, written the way the
SimPy documentation teaches: one generator process per hop, ``simpy.Resource`` for
workers, ``env.any_of`` for each timeout and ``env.all_of`` for the fan-out. Both run
in this process, one after the other, so the ratio between them cancels most machine
noise. The goal is a ratio of at least 5 and at least 250,000 spans per second.

    python benchmarks/sim_speed.py [--seconds 10] [--rate 2000] [--repeat 3]

Issue 13's redesign against the code before it (b3afdbf), instructions and the cache and
branch model of cachegrind (deterministic: a 1.5 s run less a 0.5 s run of the kernel case,
per simulated second; --cache-sim=yes --branch-sim=yes), 2026-12-07:

    what                       b3afdbf    main d46c85c    after wt/perf13c    after/b3afdbf
    instructions               1,944 M    1,968 M         1,907 M             -1.9%
    branches mispredicted         42.4 M     43.1 M          42.0 M           -1.0%
    I1 misses                     26.3 M     26.6 M          23.1 M           -12%
    D1 misses                     23.8 M     23.5 M          24.2 M           +1.9%

Two fixes: (1) CPython 3.11 specialises a comparison only when its conditional jump follows it
directly; two hot tests (answer's outcome, run_stages' loop) had grown bodies over 255 code
units, so an EXTENDED_ARG sat between and about two comparisons per span ran generic
(PyObject_RichCompare; 7.5 M of main's 24 M extra instructions; tests/sim/test_kernel_specialised.py);
(2) Kernel.send sets a span's fields on a bare instance instead of calling Span(...), whose
Python __init__ costs about 800 instructions per span through the type's call slot. The
reference (run_straightforward) is the same code at b3afdbf and now (10 lines of this
docstring differ) and simulates the same spans (804,309 at 10 s, 243,663 at 3 s).
The benchmark's own ratio, each checkout's script alternating (base first), --seconds 3
--repeat 1, one python, under the bench lock, 2026-12-07 10:51-11:05 UTC on a machine that
other helpers loaded (load average 10.7 falling to 1.5; single runs scatter 5x-18x):

    series 1 (load 3.7-10.7)   b3afdbf  9.50 11.87 10.74 12.56 18.12 15.04
                               after    5.12 11.30 11.80 13.83 17.42  8.28
    series 2 (load 1.5-2.5)    b3afdbf  9.10 13.54 15.00  9.49  6.99
                               after    9.75 13.50  8.68 13.44 11.75
    median of the 11 pairs     b3afdbf 11.87x, after 11.75x: 0.99 (median of the pairs' own ratios 1.00)

The kernel case's CPU seconds (process time, 2 s runs, 8 alternating pairs) gave the same
answer: median of the pairs' after/b3afdbf 1.00.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from pathlib import Path

import simpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chaos.model.distributions import Exponential  # noqa: E402
from chaos.model.experiment import Experiment  # noqa: E402
from chaos.model.load import Constant  # noqa: E402
from chaos.model.scope import ScopeKind  # noqa: E402
from chaos.model.topology import Backoff, Call, CallMode, Entrypoint, Jitter, Queue, Retries, Service, Topology  # noqa: E402
from chaos.sim.simulation import simulate  # noqa: E402

LAYERS = (1, 3, 10, 36)
WORKERS = (128, 64, 32, 8)
FAN_OUT = 3
SERVICE_MEAN = 0.002
TIMEOUT = 0.5
RETRIES = 2
BACKOFF_BASE, BACKOFF_CAP = 0.005, 0.05


def layered_names() -> list[list[str]]:
    return [[f"l{i}s{j}" for j in range(n)] for i, n in enumerate(LAYERS)]


def callees(names: list[list[str]], layer: int, j: int) -> list[str]:
    if layer + 1 >= len(names):
        return []
    nxt = names[layer + 1]
    return [nxt[(j * FAN_OUT + c) % len(nxt)] for c in range(FAN_OUT)]


def benchmark_topology() -> Topology:
    """The 50-service graph in chaoslab's model (also used by the sweep benchmark)."""
    names = layered_names()
    retries = Retries(max=RETRIES, backoff=Backoff(base=BACKOFF_BASE, cap=BACKOFF_CAP, jitter=Jitter.FULL))
    services = []
    for layer, row in enumerate(names):
        for j, name in enumerate(row):
            calls = tuple(Call(to=c, mode=CallMode.PARALLEL, timeout=TIMEOUT, retries=retries)
                          for c in callees(names, layer, j))
            services.append(Service(name=name, service_time=Exponential(SERVICE_MEAN), workers=WORKERS[layer],
                                    queue=Queue(limit=1000), calls=calls))
    entry = Entrypoint(name="web", to=names[0][0], timeout=2.0)
    return Topology(name="bench50", services=tuple(services), entrypoints=(entry,))


def run_chaoslab(seconds: float, rate: float, seed: int) -> tuple[int, float]:
    exp = Experiment(name="sim-speed", topology=benchmark_topology(), duration=seconds, load=Constant(rate=rate),
                     seed=seed)
    t0 = time.perf_counter()
    run = simulate(exp)
    wall = time.perf_counter() - t0
    spans = sum(t.requests for s, t in run.totals.items() if s.kind is ScopeKind.SERVICE)
    return spans, wall


def run_straightforward(seconds: float, rate: float, seed: int) -> tuple[int, float]:
    """The textbook SimPy model of the same graph: a process per hop."""
    rng = random.Random(seed)
    env = simpy.Environment()
    names = layered_names()
    workers = {n: simpy.Resource(env, capacity=WORKERS[i]) for i, row in enumerate(names) for n in row}
    children = {n: callees(names, i, j) for i, row in enumerate(names) for j, n in enumerate(row)}
    spans = [0]

    def visit(name: str):  # one service visit; returns True on success
        spans[0] += 1
        with workers[name].request() as req:
            yield req
            yield env.timeout(rng.expovariate(1 / SERVICE_MEAN))
            calls = [env.process(call(c)) for c in children[name]]
            if calls:
                results = yield env.all_of(calls)
                return all(results.values())
            return True

    def call(name: str):  # one call with timeout and retries
        for attempt in range(RETRIES + 1):
            proc = env.process(visit(name))
            timer = env.timeout(TIMEOUT)
            done = yield env.any_of([proc, timer])
            if proc in done and done[proc]:
                return True
            if attempt < RETRIES:
                delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** attempt)
                yield env.timeout(rng.random() * delay)
        return False

    def arrivals():
        while True:
            yield env.timeout(rng.expovariate(rate))
            env.process(call(names[0][0]))

    env.process(arrivals())
    gc.disable()
    t0 = time.perf_counter()
    try:
        env.run(until=seconds)
    finally:
        gc.enable()
    return spans[0], time.perf_counter() - t0


def bare_event_rate(n: int = 200_000) -> float:
    """SimPy timeout events per wall second: a yardstick of how fast this machine is right now."""
    env = simpy.Environment()
    gc.disable()
    t0 = time.perf_counter()
    try:
        for i in range(n):
            env.timeout(i * 1e-6)
        env.run()
    finally:
        gc.enable()
    return n / (time.perf_counter() - t0)


QUIET_BARE_RATE = 1_300_000  # bare SimPy events/s measured on this project's machines when idle (MACHINE-NOTES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="simulated seconds per run")
    parser.add_argument("--rate", type=float, default=2000.0, help="entry requests per second")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each model; the median is reported")
    args = parser.parse_args(argv)

    fast, slow, bare = [], [], []
    for i in range(args.repeat):
        bare.append(bare_event_rate())
        spans, wall = run_chaoslab(args.seconds, args.rate, seed=i + 1)
        fast.append((spans / wall, args.seconds / wall, spans))
        spans, wall = run_straightforward(args.seconds, args.rate, seed=i + 1)
        slow.append((spans / wall, args.seconds / wall, spans))
    f_rate = statistics.median(x[0] for x in fast)
    s_rate = statistics.median(x[0] for x in slow)
    print(f"workload: {sum(LAYERS)} services in layers {'/'.join(map(str, LAYERS))}, fan-out {FAN_OUT}, "
          f"{args.rate:g} req/s, {args.seconds:g} simulated s, median of {args.repeat}")
    print(f"chaoslab kernel:       {f_rate:12,.0f} spans/s   "
          f"{statistics.median(x[1] for x in fast):6.2f} simulated s per wall s   ({fast[0][2]:,} spans per run)")
    print(f"straightforward SimPy: {s_rate:12,.0f} spans/s   "
          f"{statistics.median(x[1] for x in slow):6.2f} simulated s per wall s   ({slow[0][2]:,} spans per run)")
    ratio = f_rate / s_rate
    yardstick = statistics.median(bare)
    scaled = f_rate * QUIET_BARE_RATE / yardstick
    print(f"ratio: {ratio:.2f}x   goal: >= 5x and >= 250,000 spans/s   "
          f"{'MET' if ratio >= 5 and f_rate >= 250_000 else 'NOT MET'}")
    print(f"machine now: {yardstick:,.0f} bare SimPy events/s (idle here: about {QUIET_BARE_RATE:,});"
          f" the kernel's rate scaled to an idle machine: about {scaled:,.0f} spans/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
