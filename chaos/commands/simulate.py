"""``chaoslab simulate`` and ``chaoslab drill``: the simulator's commands, with their progress bars."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from chaos.model.arguments import RUNS, SEED, WALL_CLOCK, WORKERS, WORKERS_PER_CORE, add_option
from chaos.terminal import redraw


def register(sub: argparse._SubParsersAction) -> None:
    _simulate(sub)
    _drill(sub)


class Progress:
    """A progress bar on stderr for runs that take more than a couple of wall seconds."""

    def __init__(self, total_s: float, replications: int = 1, enabled: bool = True) -> None:
        self.total = total_s * replications
        self.per_rep = total_s
        self.enabled = enabled and sys.stderr.isatty()
        self.start = time.monotonic()
        self.shown = False

    def __call__(self, rep: int, second: int) -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.start
        if elapsed < 2.0 and not self.shown:
            return
        done = rep * self.per_rep + second + 1
        frac = min(1.0, done / self.total) if self.total else 1.0
        bar = "#" * int(frac * 30)
        speed = done / elapsed if elapsed > 0 else 0.0
        redraw(f"[{bar:<30}] {frac * 100:5.1f}%  {done:,.0f}/{self.total:,.0f} simulated s  "
               f"({speed:,.1f}x real time)")
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def _simulate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate an experiment offline and write its results")
    p.add_argument("experiment", type=Path)
    add_option(p, "--seed", quantity=SEED, help="random seed (default: the experiment's; bounds as its 'seed')")
    add_option(p, "--replications", quantity=RUNS,
               help="independent runs (default: the experiment's; bounds as its 'replications')")
    p.add_argument("--out", type=Path, help="results directory, replaced as a whole (default: runs/<experiment name>)")
    p.add_argument("--playbook", type=Path, help="carry out this incident playbook in the run")
    p.add_argument("--quiet", action="store_true", help="print no summary")
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    p.add_argument("--no-report", action="store_true", help="write no report.html, summary.md or junit.xml")
    p.add_argument("--openmetrics", type=Path, metavar="FILE",
                   help="also write the run's series as OpenMetrics text under the experiment's metric names "
                        "(for promtool tsdb create-blocks-from openmetrics); a file outside the results directory")
    p.add_argument("--annotations", type=Path, metavar="FILE",
                   help="also write the faults and playbook steps as Grafana annotations (JSON); a file outside "
                        "the results directory")
    add_option(p, "--origin", quantity=WALL_CLOCK, metavar="TIME",
               help="wall-clock time of the run's second 0 in those files: 2026-12-01T10:00:00Z or seconds since "
                    "1970 (default: three hours ago, on the minute)")
    p.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    from chaos.audit import audit, now_iso
    from chaos.commands.report import reports_for_run
    from chaos.document import read
    from chaos.model.files import load_experiment, load_playbook
    from chaos.model.sources import source_files
    from chaos.outdir import Mode, check_out, default_dir, staged
    from chaos.report.checks import verdict
    from chaos.report.summary import render
    from chaos.result import result_paths, write
    from chaos.sim.replications import simulate_replications

    experiment = load_experiment(args.experiment)
    playbook = load_playbook(args.playbook, experiment) if args.playbook else None
    out = check_out(args.out, default_dir(experiment.name), Mode.REPLACE)
    exports = check_exports(args.openmetrics, args.annotations, args.origin, out.path)
    started = now_iso()
    reps = 1 if playbook else (args.replications or experiment.replications)
    progress = Progress(experiment.duration, reps, enabled=not args.no_progress)
    try:
        if playbook is not None:
            from chaos.drill import incident_result
            result = incident_result(experiment, playbook, experiment.seed if args.seed is None else args.seed)
        else:
            result = simulate_replications(experiment, args.seed, args.replications, progress)
    finally:
        progress.close()
    seeds = [r.seed for r, _ in result.all_runs]
    result.audit = audit(source_files(experiment) + ([str(args.playbook)] if playbook else []), seeds, started)
    doc = result.to_dict()
    with staged(out) as stage:
        write(result, stage, doc)
        reports = reports_for_run(args, doc, stage, out.path)
    if not args.quiet:
        print(render(doc, result_paths(out.path)))
        if reports:
            print(reports)
    if exports is not None:
        from chaos.metrics.export import export_run
        for written in export_run(result.run, exports):
            if not args.quiet:
                print(f"Exported: {written.path} ({written.what})")
    return verdict(read(doc)).exit_code


def check_exports(openmetrics: Path | None, annotations: Path | None, origin: float | None, out: Path) -> Any:
    """--openmetrics and --annotations, checked before the run; None when neither is asked for."""
    if openmetrics is None and annotations is None and origin is None:
        return None  # the export code (and the metric mapping) is imported only for an export
    from chaos.metrics.export import check_exports as check
    return check(openmetrics, annotations, origin, out)


# --------------------------------------------------------------------------- drill


def _drill(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("drill", help="run a playbook against many simulated incidents (Monte Carlo)")
    p.add_argument("experiment", type=Path)
    p.add_argument("--playbook", type=Path, required=True)
    add_option(p, "--runs", quantity=RUNS, default=100,
               help="simulated incidents (default 100; bounds as an experiment's 'replications')")
    add_option(p, "--workers", quantity=WORKERS,
               help=f"local worker processes (default: one per core; at most {WORKERS_PER_CORE} per core)")
    p.add_argument("--executor", default="local", metavar="local|inline|dask://HOST:PORT",
                   help="where runs happen, as for a sweep: local processes (default), this process, or a Dask "
                        "scheduler")
    add_option(p, "--seed", quantity=SEED, help="seed of the first run; run i uses seed+i")
    p.add_argument("--out", type=Path, help="results directory, replaced as a whole (default: runs/<experiment>-drill)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-report", action="store_true", help="write no report.html, summary.md or junit.xml")
    p.set_defaults(func=cmd_drill)


def cmd_drill(args: argparse.Namespace) -> int:
    from chaos.audit import audit, now_iso
    from chaos.commands.report import reports_for_run
    from chaos.document import read
    from chaos.drill import drill
    from chaos.model.files import load_experiment, load_playbook
    from chaos.model.sources import source_files
    from chaos.outdir import Mode, check_out, default_dir, staged
    from chaos.report.checks import verdict
    from chaos.report.summary import render_drill
    from chaos.result import result_paths, write
    from chaos.sweep.executors import parse_executor

    experiment = load_experiment(args.experiment)
    playbook = load_playbook(args.playbook, experiment)
    executor = parse_executor(args.executor, args.workers)
    out = check_out(args.out, default_dir(experiment.name, "-drill"), Mode.REPLACE)
    started = now_iso()
    progress = RunCounter(args.runs, enabled=not args.no_progress)
    try:
        result = drill(experiment, playbook, args.runs, args.seed, executor, progress)
    finally:
        progress.close()
    seeds = list(result.drill.seeds) if result.drill else [result.run.seed]
    result.audit = audit(source_files(experiment) + [str(args.playbook)], seeds, started)
    doc = result.to_dict()
    with staged(out) as stage:
        write(result, stage, doc)
        reports = reports_for_run(args, doc, stage, out.path)
    if not args.quiet:
        print(render_drill(doc, result_paths(out.path)))
        if reports:
            print(reports)
    return verdict(read(doc)).exit_code


class RunCounter:
    """Progress of a drill, in runs."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self.start = time.monotonic()
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or (time.monotonic() - self.start < 2.0 and not self.shown):
            return
        bar = "#" * int(30 * done / total)
        redraw(f"[{bar:<30}] {done}/{total} runs")
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
