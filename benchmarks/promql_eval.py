"""How fast does chaoslab evaluate alerting rules? Evaluations per second for a burn-rate rule set.

The workload: the rules Sloth generates for one availability SLO (8 SLI recordings over
windows of 5 minutes to 30 days, 6 metadata recordings, a page and a ticket multiwindow
burn-rate alert) plus a RED group (an error-ratio recording and two threshold alerts),
evaluated every 10 s over one hour of per-second counters for 4 services (200 and 500
responses each). The errors step up halfway so the alerts fire.

The reference, run in the same process so that the ratio cancels machine noise: a loop
that reads, at every evaluation, every sample the rules' range selectors cover, once, with
the built-in ``sum`` over each window's slice (C speed per sample), which is about the least
any evaluator written in Python has to do. chaoslab's evaluator does that plus Prometheus's
semantics (extrapolation, counter resets, matching, the alert state machine).

Measured on the project's 2-core machine on 2026-12-06, busy (load about 6): 1,618 group
evaluations/s, 7,685 rule evaluations/s, 0.89 s for the hour, 2.3x the reference.

    python benchmarks/promql_eval.py [--services 4] [--hours 1] [--every 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from bisect import bisect_left, bisect_right
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chaos.promql.engine import Evaluator  # noqa: E402
from chaos.promql.rulefiles import load_rule_file  # noqa: E402
from chaos.promql.rules import RuleGroup, evaluate_rules  # noqa: E402
from chaos.promql.series import Series, Store, to_ms  # noqa: E402
from chaos.promql.syntax import Aggregate, Binary, Call, Expr, MatrixSelector, Negation  # noqa: E402

SLO_SPEC = """\
version: prometheus/v1
service: shop
slos:
  - name: requests-availability
    objective: 99.5
    sli:
      events:
        error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total[{{.window}}]))
    alerting:
      name: ShopErrorBudgetBurn
      page_alert: {labels: {severity: page}}
      ticket_alert: {labels: {severity: ticket}}
---
groups:
  - name: red
    rules:
      - record: service:errors:ratio_rate1m
        expr: |
          sum by (service) (rate(http_requests_total{code=~"5.."}[1m]))
          / sum by (service) (rate(http_requests_total[1m]))
      - alert: ServiceErrors
        expr: service:errors:ratio_rate1m > 0.05
        for: 1m
      - alert: ServiceTrafficLow
        expr: sum by (service) (rate(http_requests_total[5m])) < 1
"""


def workload(services: int, hours: float, seed: int = 1) -> list[Series]:
    rng = random.Random(seed)
    seconds = int(hours * 3600)
    out = []
    for i in range(services):
        ok, bad, oks, bads = 0.0, 0.0, [], []
        for t in range(seconds + 1):
            ok += rng.randint(15, 25)
            bad += rng.randint(0, 1) if t < seconds // 2 else rng.randint(1, 4)
            oks.append(ok)
            bads.append(bad)
        out.append(Series.regular("http_requests_total", {"service": f"s{i}", "code": "200"}, oks))
        out.append(Series.regular("http_requests_total", {"service": f"s{i}", "code": "500"}, bads))
    return out


def rules() -> list[RuleGroup]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "slo.yaml"
        path.write_text(SLO_SPEC)
        loaded = load_rule_file(path)
    return list(loaded.all_groups)


def ranges(expr: Expr) -> list[MatrixSelector]:
    """Every range selector in an expression."""
    if isinstance(expr, MatrixSelector):
        return [expr]
    children: tuple[Expr, ...] = ()
    if isinstance(expr, Call):
        children = expr.args
    elif isinstance(expr, Aggregate):
        children = (expr.expr,)
    elif isinstance(expr, Binary):
        children = (expr.lhs, expr.rhs)
    elif isinstance(expr, Negation):
        children = (expr.expr,)
    return [m for c in children for m in ranges(c)]


def reference(groups: list[RuleGroup], series: list[Series], end: float, every: float) -> tuple[float, int]:
    """Read every sample each evaluation's range selectors cover, once; returns (seconds, samples read)."""
    store = Store(series)
    evaluator = Evaluator(store)
    selections = [(m, evaluator.select(m.selector)) for g in groups for r in g.rules for m in ranges(r.expr)]
    t0 = time.perf_counter()
    total, read = 0.0, 0
    ts = 0
    while ts <= to_ms(end):
        for matrix, found in selections:
            for s in found:
                lo, hi = bisect_left(s.times, ts - matrix.range), bisect_right(s.times, ts)
                total += sum(s.values[lo:hi])
                read += hi - lo
        ts += to_ms(every)
    return time.perf_counter() - t0, read


def measure(groups: list[RuleGroup], series: list[Series], end: float, every: float) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    results = evaluate_rules(groups, series, 0.0, end, default_interval=every)
    elapsed = time.perf_counter() - t0
    evaluations = sum(len(times) for _, times in results.evaluations)
    rule_evaluations = sum(len(times) * len(g.rules) for g, (_, times) in zip(groups, results.evaluations,
                                                                            strict=True))
    assert results.first_firing("ShopErrorBudgetBurn") is not None, "the workload should fire the page alert"
    return elapsed, evaluations, rule_evaluations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=4)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--every", type=float, default=10.0, help="evaluation interval, seconds")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    series = workload(args.services, args.hours)
    groups = rules()
    end = args.hours * 3600
    n_rules = sum(len(g.rules) for g in groups)
    print(f"workload: {len(groups)} groups, {n_rules} rules, {len(series)} series x {int(end) + 1} samples, "
          f"evaluated every {args.every:g} s over {args.hours:g} h")
    ours, refs = [], []
    for _ in range(args.repeat):
        elapsed, evaluations, rule_evaluations = measure(groups, series, end, args.every)
        ref_elapsed, read = reference(groups, series, end, args.every)
        ours.append(elapsed)
        refs.append(ref_elapsed)
    best, ref = min(ours), min(refs)
    print(f"chaoslab:  {evaluations / best:,.0f} group evaluations/s, {rule_evaluations / best:,.0f} rule "
          f"evaluations/s ({best:.2f} s for the hour; median {statistics.median(ours):.2f} s)")
    print(f"reference: reads the {read:,} samples those evaluations cover once in {ref:.2f} s "
          f"({read / ref:,.0f} samples/s)")
    print(f"ratio: chaoslab takes {best / ref:.2f}x the reference's time; an hour of rules costs "
          f"{best / end * 1000:.2f} ms per simulated second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
