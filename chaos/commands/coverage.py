"""``chaoslab coverage``: arguments and printing only; the runs are a sweep's, the analysis is chaos.coverage.matrix."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from chaos.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    from chaos.commands.sweep import executor_args, variant_args

    p = sub.add_parser(
        "coverage", help="which alerts catch which single faults, how soon; which faults no alert catches",
        description="Runs a sweep of single faults (--each-service, --each-edge; without them the experiment's own "
                    "faults) plus a fault-free baseline, and maps which of the experiment's alerts (its own and "
                    "its rule files' and SLO specs') fired in each, and how soon after the fault. Exit 1 when a "
                    "failure mode that misses an SLO goes undetected, 0 otherwise, 2 for bad input. Finished runs "
                    "are kept in OUT/runs and reused when the command runs again.")
    p.add_argument("experiment", type=Path)
    variant_args(p, "failure mode", "a grid axis, as for sweep: every failure mode (and the baseline) once per value")
    p.add_argument("--out", type=Path, help="results directory (default: runs/<experiment>-coverage)")
    p.add_argument("--quiet", action="store_true", help="print no summary")
    executor_args(p)
    p.set_defaults(func=cmd_coverage)


def cmd_coverage(args: argparse.Namespace) -> int:
    from chaos.commands.sweep import TaskProgress
    from chaos.coverage.matrix import coverage
    from chaos.coverage.report import COVERAGE_FILES, headline, write_report
    from chaos.model.files import load_experiment
    from chaos.outdir import Mode, check_out, default_dir, staged
    from chaos.sweep.executors import parse_executor
    from chaos.sweep.grid import FaultMode, make_plan
    from chaos.sweep.runner import run_sweep, seeds_of
    from chaos.sweep.store import Store

    experiment = load_experiment(args.experiment)
    plan = make_plan(args.each_service, args.each_edge, args.sets, FaultMode(args.fault_mode), baseline=True)
    if not plan.templates and not experiment.fault_list:
        raise InputError("nothing to cover: the experiment has no faults and no --each-service or --each-edge "
                         "was given", path=str(args.experiment),
                         hint="e.g. --each-service crash, or --each-edge latency=500ms")
    seeds = seeds_of(experiment, args.seeds)
    executor = parse_executor(args.executor, args.workers)
    # ADD: each run's file goes into OUT/runs as soon as it is done, so that a coverage run resumes.
    out = check_out(args.out, default_dir(experiment.name, "-coverage"), Mode.ADD)
    progress = TaskProgress(enabled=not args.no_progress)
    started = time.monotonic()
    try:
        result = run_sweep(experiment, plan, seeds, executor, Store(out.path), progress)
    finally:
        progress.close()
    doc = coverage(result)
    with staged(out, owns=COVERAGE_FILES.values(), last=COVERAGE_FILES["json"]) as stage:
        written = write_report(doc, stage)
    if not args.quiet:
        print(f"{headline(doc)} ({result.simulated} runs simulated, {result.reused} reused, "
              f"{time.monotonic() - started:.1f} s on {result.executor})")
        for mode in doc.failure_modes:
            if mode.variant in doc.undetected:
                print(f"UNDETECTED  {mode.variant}: missed {', '.join(mode.slos_missed)}; no alert fired")
            elif mode.variant in doc.late:
                print(f"LATE        {mode.variant}: first alert {', '.join(mode.detected_by)} after "
                      f"{mode.time_to_detect_mean_s:.0f} s (deadline {doc.deadline_s:g} s)")
        if doc.noise:
            print(f"Noise (fired without a fault): {', '.join(doc.noise)}")
        if doc.never_useful:
            print(f"Never useful here: {', '.join(doc.never_useful)}")
        print("\n".join(f"{kind}: {out.file(p.name)}" for kind, p in written.items()))
    return doc.exit_code
