"""``chaoslab rules check FILE...``: read rule files and SLO specs, print what they define.

Arguments and printing only; reading and checking is :mod:`chaos.promql.rulefiles`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from chaos.promql.documents import format_duration
from chaos.promql.rulefiles import RuleFile, load_rule_file
from chaos.promql.rules import AlertingRule, RuleGroup
from chaos.promql.slo import SLO, burn_windows


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="Prometheus rule files and SLO specs",
                       description="Read Prometheus rule files, Kubernetes PrometheusRule documents and SLO specs "
                                   "(Sloth prometheus/v1, OpenSLO v1) as they are.")
    rules_sub = p.add_subparsers(dest="rules_command", metavar="COMMAND", required=True)
    check = rules_sub.add_parser("check", help="check rule files and SLO specs; print the alerts they define",
                                 description="Exit code 0 when every file is valid, 2 with the first mistake "
                                             "at file:line:col.")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    check.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    files = [load_rule_file(path) for path in args.files]  # every file is read before anything is printed
    for rule_file in files:
        print("\n".join(describe_file(rule_file)))
    return 0


def describe_file(rule_file: RuleFile) -> list[str]:
    alerts = sum(len(g.alerting_rules) for g in rule_file.all_groups)
    records = sum(len(g.rules) for g in rule_file.all_groups) - alerts
    head = f"{rule_file.path}: {_count(len(rule_file.all_groups), 'group')}, {_count(alerts, 'alert')}, " \
           f"{_count(records, 'recording rule')}"
    if rule_file.slos:
        head += f", from {_count(len(rule_file.slos), 'SLO')}"
    lines = [head]
    for group in rule_file.groups:
        lines.extend(_describe_group(group))
    for slo in rule_file.slos:
        lines.extend(_describe_slo(slo))
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _describe_group(group: RuleGroup) -> list[str]:
    every = f"every {format_duration(group.interval)}" if group.interval else "at the global evaluation interval"
    lines = [f"  group {group.name} ({every})"]
    for rule in group.rules:
        if isinstance(rule, AlertingRule):
            lines.append(f"    alert  {rule.name}{_timing(rule)}{_labels(rule.labels)}")
            lines.append(f"           {' '.join(rule.query.split())}")
        else:
            lines.append(f"    record {rule.record}")
    return lines


def _timing(rule: AlertingRule) -> str:
    parts = []
    if rule.for_:
        parts.append(f"for {format_duration(rule.for_)}")
    if rule.keep_firing_for:
        parts.append(f"keep firing {format_duration(rule.keep_firing_for)}")
    return f"  ({', '.join(parts)})" if parts else ""


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    return "  {" + ", ".join(f'{k}="{v}"' for k, v in labels) + "}" if labels else ""


def _describe_slo(slo: SLO) -> list[str]:
    sli = "events SLI" if slo.error_query is not None else "error-ratio SLI"
    lines = [f"  SLO {slo.service}/{slo.name}: {slo.objective_percent:g}% over {format_duration(slo.period)} ({sli}); "
             f"error budget {slo.error_budget:.4g}"]
    windows = burn_windows(slo.period)
    for meta, severity in ((slo.page_alert, "page"), (slo.ticket_alert, "ticket")):
        if meta is None:
            continue
        quick, slow = (w for w in windows if w.severity.value == severity)
        lines.append(f"    alert  {meta.name} ({severity}): {format_duration(quick.short)} and "
                     f"{format_duration(quick.long)} above {quick.factor:.4g}x the budget, or "
                     f"{format_duration(slow.short)} and {format_duration(slow.long)} above {slow.factor:.4g}x")
    recordings = sum(len(g.rules) for g in slo.groups) - sum(len(g.alerting_rules) for g in slo.groups)
    lines.append(f"    generated: {', '.join(g.name for g in slo.groups)} ({_count(recordings, 'recording rule')})")
    return lines
