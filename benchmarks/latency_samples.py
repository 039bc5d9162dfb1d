"""What exact latency percentiles cost: the memory of the kept latencies, and analysis time.

The simulator keeps every successful request's latency (``chaos.run.LatencySamples``: 8
bytes a latency and 8 a second per scope) so that whole-run percentiles, SLO observations
and alert values are exact order statistics instead of interpolations in 12%-wide histogram
buckets. The bound: 8 bytes per successful attempt at any service or entrypoint, over the
whole run (warm-up included), plus 8 bytes per per-second sample; at the default limits
(50 million requests, a million per-second samples) that is at most 408 MB, against the
"about 2 GB" ``chaos.model.limits`` allows a run at its sample limit.

The workload is the simulator benchmark's 50-service graph (``sim_speed.py``) with a
latency SLO and a p99 alert (60-second window, evaluated every 10 s) on the entrypoint and
on every service of the first two layers. It prints the bytes the latencies take, what the
per-second histograms take beside them, the peak resident memory of this process, and the
time ``analyze`` takes with the latencies (exact) and without them (histogram estimates,
as in live mode), on the same run.

    python benchmarks/latency_samples.py [--seconds 120] [--rate 300] [--warmup 10]
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sim_speed import LAYERS, benchmark_topology, layered_names  # noqa: E402

from chaos.analysis import analyze  # noqa: E402
from chaos.model.alerts import AlertMetric, ThresholdRule  # noqa: E402
from chaos.model.experiment import Experiment  # noqa: E402
from chaos.model.load import Constant  # noqa: E402
from chaos.model.slos import LatencyObjective, Slo  # noqa: E402
from chaos.run import Run  # noqa: E402
from chaos.sim.simulation import simulate  # noqa: E402


def experiment(seconds: float, rate: float, warmup: float) -> Experiment:
    watched = [n for row in layered_names()[:2] for n in row]
    alerts = [ThresholdRule(name="web-p99", entrypoint="web", metric=AlertMetric.LATENCY_P99, threshold=0.05,
                            window=60.0, every=10.0)]
    alerts += [ThresholdRule(name=f"{n}-p99", service=n, metric=AlertMetric.LATENCY_P99, threshold=0.05,
                             window=60.0, every=10.0) for n in watched]
    slos = [Slo(entrypoint="web", latency=LatencyObjective(p99=0.1))]
    return Experiment(name="latency-samples", topology=benchmark_topology(), duration=seconds, warmup=warmup,
                      load=Constant(rate=rate), slos=tuple(slos), alerts=tuple(alerts), seed=1)


def sample_bytes(run: Run) -> tuple[int, int]:
    """(latencies kept, bytes they and their per-second offsets take)."""
    count = size = 0
    for series in run.series.values():
        if series.samples is not None:
            count += len(series.samples.values)
            size += (len(series.samples.values) * series.samples.values.itemsize
                     + len(series.samples.starts) * series.samples.starts.itemsize)
    return count, size


def hist_bytes(run: Run) -> int:
    return sum(sys.getsizeof(h) for series in run.series.values() for h in series.hist)


def timed_analysis(run: Run, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        analyze(run)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    t0 = time.perf_counter()
    run = simulate(experiment(args.seconds, args.rate, args.warmup))
    sim_s = time.perf_counter() - t0
    kept, size = sample_bytes(run)
    scope_seconds = sum(len(s) for s in run.series.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{len(run.series)} scopes ({sum(LAYERS)} services), {args.seconds:.0f} s at {args.rate:.0f} req/s, "
          f"simulated in {sim_s:.1f} s")
    print(f"latencies kept:        {kept:,} ({size / 1e6:.1f} MB, {size / kept:.2f} bytes a latency, "
          f"{scope_seconds:,} scope-seconds)")
    print(f"histograms beside:     {hist_bytes(run) / 1e6:.1f} MB (dicts alone)")
    print(f"peak resident memory:  {peak_mb:.0f} MB")
    estimated = dataclasses.replace(run, series={s: dataclasses.replace(ser, samples=None)
                                                 for s, ser in run.series.items()})
    exact_s = timed_analysis(run, args.repeat)
    hist_s = timed_analysis(estimated, args.repeat)
    print(f"analyze, exact:        {exact_s:.3f} s")
    print(f"analyze, histograms:   {hist_s:.3f} s (ratio exact/histograms {exact_s / hist_s:.2f})")


if __name__ == "__main__":
    main()
