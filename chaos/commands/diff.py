"""``chaoslab diff``: arguments and printing only.

Registration declares arguments; the handler imports what it needs when it runs. A module of its
own, apart from ``chaos.commands.sweep``: the release gate (``chaos.diff``) runs on the sweep's
executors, so it imports the sweep, and the sweep must not import it back.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chaos.commands.sweep import TaskProgress, executor_args
from chaos.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diff", help="release gate: run experiments against two topology versions and report regressions",
        description="Each experiment in DIR runs against BASE and CANDIDATE (its own topology replaced by each, "
                    "its overrides applied to both) with the same seeds. Exit 1 when the candidate is worse "
                    "than the base by more than a tolerance.")
    p.add_argument("base", type=Path, metavar="BASE_TOPOLOGY")
    p.add_argument("candidate", type=Path, metavar="CANDIDATE_TOPOLOGY")
    p.add_argument("--experiments", type=Path, required=True, metavar="DIR", help="directory of experiment files")
    p.add_argument("--tolerance", action="append", default=[], metavar="METRIC=VALUE",
                   help="how much worse a metric may get (repeatable); see docs/sweeps.md for metrics and defaults")
    p.add_argument("--out", type=Path, help="also write diff.md and diff.json into this directory")
    executor_args(p)
    p.set_defaults(func=cmd_diff)


def cmd_diff(args: argparse.Namespace) -> int:
    from chaos.diff import DIFF_FILES, Tolerances, load_experiments, render_markdown, run_diff, write_diff, written_for
    from chaos.model.files import load_topology
    from chaos.outdir import Mode, check_out, staged
    from chaos.sweep.executors import parse_executor

    # ADD: diff.md and diff.json join whatever the directory holds.
    out = check_out(args.out, args.out, Mode.ADD) if args.out is not None else None
    tolerances = Tolerances.parse(args.tolerance)
    base, candidate = load_topology(args.base), load_topology(args.candidate)
    experiments, others = written_for(load_experiments(args.experiments), base, candidate)
    skipped = [e.name for e in others]
    if not experiments:
        raise InputError(f"no experiment in {args.experiments} is written for topology '{base.name}'",
                         hint="an experiment runs in the diff when its own topology has the base's or the "
                              "candidate's name")
    executor = parse_executor(args.executor, args.workers)  # a missing extra is said first, and alone
    if skipped:
        print(f"skipped (written for another topology): {', '.join(skipped)}", file=sys.stderr)
    progress = TaskProgress(enabled=not args.no_progress)
    try:
        report = run_diff(base, candidate, experiments, args.seeds, executor, tolerances,
                          names=(str(args.base), str(args.candidate)), progress=progress)
    finally:
        progress.close()
    print(render_markdown(report))
    if out is not None:
        with staged(out, owns=DIFF_FILES.values(), last=DIFF_FILES["json"]) as stage:
            write_diff(report, stage)
    return 1 if report.worse else 0
