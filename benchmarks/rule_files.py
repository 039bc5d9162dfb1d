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

Measured on the project's 2-core machine on 2026-12-06 (under the bench lock, one run):
handful: 387 series read, 0.29 s of rules for 8.9 s of simulation (0.032 of it);
team: 913 series (66 buckets a service), 1.03 s for 7.6 s (0.135 of it), most of it PromQL
evaluation of the p99 over every service's buckets.

    flock /tmp/chaoslab-bench.lock python benchmarks/rule_files.py [--repeat 3]
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

from chaos.analysis.prometheus_rules import RuleAlerts, evaluate, plan  # noqa: E402
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
    print(f"{name:8s} {rules:3d} rules, {series:5,d} series, {samples:9,d} samples; simulation {sim:6.2f} s; "
          f"rules {best:5.2f} s (median {statistics.median(times):.2f}), {best / sim:.3f} of the simulation; "
          f"{firings} firings")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        measure("handful", handful_experiment(Path(tmp)), args.repeat)
    measure("team", ROOT / "experiments" / "db-slow-team-alerts.yaml", args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
