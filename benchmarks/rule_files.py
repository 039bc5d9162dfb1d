"""What does evaluating a team's rule files cost, next to the simulation they judge?

Two workloads on the bundled shop (12 services, 300 requests/s, 420 s with a slow database):

* ``handful``: five alerting rules in chaoslab's own names (error ratio per service, the
  entrypoints' p99 from the latency histogram, a traffic drop, a queue), evaluated every 15 s;
* ``team``: ``experiments/db-slow-team-alerts.yaml`` as bundled: Micrometer's names with its
  66 histogram buckets, a p99 over every service's buckets, recording rules, and a Sloth SLO
  whose burn-rate alerts read up to 3 days back (history included).

Each workload is simulated once, then its rules are evaluated on the finished run as the
analysis does (the series scraped under the mapping, every group evaluated from before the
run to its end, the SLO judged), several times; the best time is compared with the
simulation's, measured in the same process so that the ratio cancels machine noise.

The run-size check counts the same work before a run (``rule_samples``, limited by
``limits.max_rule_samples``); each line also gives the time per counted sample, which says
what the limit means in time. Four more workloads are the costliest shapes per counted sample
found, on the team example's topology and mapping over 5 minutes (``--shapes``):

* ``p99-every``: 100 alerts, each a p99 over every service's 66 buckets (``sum by (service, le)``);
* ``scan``: 1,000 alerts that each select nothing among the 800 bucket series one more rule keeps stored;
* ``empty``: 100 alerts reading a metric nobody exposes (the fixed cost of a rule);
* ``days``: 100 alerts averaging every service's request rate over 3 days (history included).

Measured on the project's 2-core machine on 2026-12-06 (under the bench lock, one run):
handful: 387 series read, 0.35 s of rules for 6.5 s of simulation (0.054 of it);
team: 913 series (66 buckets a service), 0.96 s for 7.2 s (0.132 of it), most of it PromQL
evaluation of the p99 over every service's buckets. Time per counted sample: handful 0.063 us,
team 0.026, p99-every 0.045 (28.7 s for 640 million), scan 0.058, empty 0.067, days 0.005: at
most about 0.07 us, so the default limit of a billion is about a minute of evaluation a run.

    flock /tmp/chaoslab-bench.lock python benchmarks/rule_files.py [--repeat 3] [--shapes]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chaos.analysis.prometheus_rules import RuleAlerts, evaluate, plan, rule_samples  # noqa: E402
from chaos.model.files import load_experiment  # noqa: E402
from chaos.sim.simulation import simulate  # noqa: E402

HANDFUL = """\
groups:
  - name: handful
    rules:
      - alert: ServiceErrors
        expr: |
          sum by (service) (rate(chaoslab_responses_total{outcome!="ok"}[1m]))
            / sum by (service) (rate(chaoslab_responses_total[1m])) > 0.05
        for: 1m
      - alert: BrowseSlow
        expr: |
          histogram_quantile(0.99,
            sum by (le) (rate(chaoslab_request_duration_seconds_bucket{entrypoint="browse"}[1m]))) > 1
        for: 1m
      - alert: BuySlow
        expr: |
          histogram_quantile(0.99,
            sum by (le) (rate(chaoslab_request_duration_seconds_bucket{entrypoint="buy"}[1m]))) > 3
        for: 1m
      - alert: TrafficDropped
        expr: |
          sum by (service) (rate(chaoslab_requests_total[1m]))
            < 0.5 * sum by (service) (rate(chaoslab_requests_total[1m] offset 5m))
        for: 1m
      - alert: DatabaseQueueing
        expr: max(chaoslab_queue_requests{service="db"}) > 50
        for: 30s
"""


def handful_experiment(directory: Path) -> Path:
    (directory / "handful.yaml").write_text(HANDFUL, encoding="utf-8")
    text = (ROOT / "experiments" / "db-slow-retry-cascade.yaml").read_text(encoding="utf-8")
    text = text.replace("topology: ../topologies/shop.yaml", f"topology: {ROOT / 'topologies' / 'shop.yaml'}")
    path = directory / "handful-experiment.yaml"
    path.write_text(text + "\nprometheus_rules: [handful.yaml]\nevaluation_interval: 15s\n", encoding="utf-8")
    return path


SHAPES = {
    "p99-every": 'histogram_quantile(0.99, sum by (service, le) '
                 '(rate(http_server_requests_seconds_bucket[1m]))) < -{i}',
    "scan": 'count(http_server_requests_seconds_bucket{{service="none{i}"}}) > 0',
    "empty": 'sum(rate(nobody_exposes_total[5m])) > {i}',
    "days": 'sum by (service) (rate(http_server_requests_seconds_count[3d])) < -{i}',
}


def shape_experiment(directory: Path, shape: str) -> Path:
    count = 1000 if shape == "scan" else 100
    lines = ["groups:", "  - name: shape", "    rules:"]
    if shape == "scan":  # one rule keeps every bucket series stored, so that the others look at them all
        lines += ["      - alert: KeepsBuckets", "        expr: count(http_server_requests_seconds_bucket) < 0"]
    for i in range(count):
        lines += [f"      - alert: Shape{i}", f"        expr: '{SHAPES[shape].format(i=i)}'"]
    (directory / f"{shape}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    text = (ROOT / "experiments" / "db-slow-team-alerts.yaml").read_text(encoding="utf-8")
    text = text.split("\nmetrics:")[0].replace("topology: ../topologies/shop.yaml",
                                                 f"topology: {ROOT / 'topologies' / 'shop.yaml'}")
    text = text.replace("duration: 7m", "duration: 5m").replace("rate: 300", "rate: 50")
    path = directory / f"{shape}-experiment.yaml"
    path.write_text(text + f"\nmetrics: {{preset: micrometer}}\nprometheus_rules: [{shape}.yaml]\n"
                           "evaluation_interval: 15s\n", encoding="utf-8")
    return path


def measure(name: str, path: Path, repeat: int) -> None:
    experiment = load_experiment(path)
    started = time.perf_counter()
    run = simulate(experiment)
    sim = time.perf_counter() - started
    rule_plan = plan(experiment)
    assert rule_plan is not None
    times, firings = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        outcome = evaluate(run, plan(experiment))
        times.append(time.perf_counter() - started)
        firings = len(outcome.firings)
    alerts = RuleAlerts(rule_plan, run.bounds)
    alerts.advance(run.series, run.seconds)
    series = len(alerts.store)
    samples = sum(len(s.times) for s in alerts.store.every())
    rules = sum(len(g.rules) for g in rule_plan.groups)
    best = min(times)
    counted = rule_samples(experiment)
    print(f"{name:9s} {rules:4d} rules, {series:5,d} series, {samples:9,d} samples; simulation {sim:6.2f} s; "
          f"rules {best:5.2f} s (median {statistics.median(times):.2f}), {best / sim:.3f} of the simulation; "
          f"{firings} firings; counted {counted:.3g} samples, {best / counted * 1e6:.3f} us each")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shapes", action="store_true", help="also the costliest shapes per counted sample")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        measure("handful", handful_experiment(Path(tmp)), args.repeat)
        measure("team", ROOT / "experiments" / "db-slow-team-alerts.yaml", args.repeat)
        if args.shapes:
            for shape in SHAPES:
                measure(shape, shape_experiment(Path(tmp), shape), 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
