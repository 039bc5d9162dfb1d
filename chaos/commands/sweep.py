"""``chaoslab sweep`` and ``chaoslab lint``: arguments and printing only.

Registration declares arguments; each handler imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from chaos.errors import InputError
from chaos.model.arguments import AMPLIFICATION, RUNS, WORKERS, WORKERS_PER_CORE, add_option
from chaos.model.quantities import plural
from chaos.terminal import redraw


def register(sub: argparse._SubParsersAction) -> None:
    _register_sweep(sub)
    _register_lint(sub)


# --------------------------------------------------------------------------- progress


class TaskProgress:
    """Runs done out of the total on stderr, with an estimate of the time left; only on a terminal."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.start = time.monotonic()
        self.first: int | None = None
        self.shown = False

    def __call__(self, done: int, reused: int, total: int) -> None:
        if not self.enabled:
            return
        if self.first is None:
            self.first = done
        frac = done / total if total else 1.0
        ran = done - self.first
        elapsed = time.monotonic() - self.start
        left = f"{(total - done) * elapsed / ran:,.0f} s left" if ran else "starting"
        bar = "#" * int(frac * 30)
        redraw(f"[{bar:<30}] {done}/{total} runs ({reused} reused)  {left}   ")
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


def executor_args(p: argparse.ArgumentParser) -> None:
    add_option(p, "--seeds", quantity=RUNS, default=3,
               help="seeds per variant, the same for every variant (default 3; bounds as an experiment's "
                    "'replications')")
    add_option(p, "--workers", quantity=WORKERS,
               help=f"local worker processes (default: one per core; at most {WORKERS_PER_CORE} per core)")
    p.add_argument("--executor", default="local", metavar="local|inline|dask://HOST:PORT",
                   help="where runs happen: local processes (default), this process, or a Dask scheduler")
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")


def variant_args(p: argparse.ArgumentParser, noun: str, set_help: str) -> None:
    """The options that make a sweep's variants (sweep's and coverage's): the fault axes, --set, --fault-mode."""
    p.add_argument("--each-service", action="append", default=[], metavar="KIND[=V][,SETTING=V...]",
                   help=f"one {noun} per service with this fault, e.g. crash, slowdown=5, latency=1s,at=60s")
    p.add_argument("--each-edge", action="append", default=[], metavar="KIND[=V][,SETTING=V...]",
                   help=f"one {noun} per call edge with this fault, e.g. latency=500ms, errors=0.5, partition")
    p.add_argument("--set", action="append", default=[], dest="sets", metavar="PATH=V1,V2,...", help=set_help)
    p.add_argument("--fault-mode", choices=["replace", "add"], default="replace",
                   help=f"a {noun}'s fault replaces the experiment's faults (default) or is added to them")


# --------------------------------------------------------------------------- sweep


def _register_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", help="run many variants of an experiment (each service faulted, parameter grids) over the same seeds",
        description="Variants are the product of the fault axis (--each-service / --each-edge) and every --set "
                    "list. Paths under services. and entrypoints. change the topology, others the experiment "
                    "(load.rate, duration, faults.0.at). Finished runs are kept in OUT/runs and skipped when the "
                    "sweep runs again.")
    p.add_argument("experiment", type=Path)
    variant_args(p, "variant", "a grid axis: e.g. load.rate=100,200 or services.db.replicas=1,2,3 (repeatable)")
    p.add_argument("--out", type=Path, help="results directory (default: runs/<experiment>-sweep)")
    executor_args(p)
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    from chaos.model.files import load_experiment
    from chaos.outdir import Mode, check_out, default_dir, staged
    from chaos.sweep.executors import parse_executor
    from chaos.sweep.grid import FaultMode, make_plan
    from chaos.sweep.report import SWEEP_FILES, write_report
    from chaos.sweep.runner import run_sweep, seeds_of
    from chaos.sweep.store import Store

    experiment = load_experiment(args.experiment)
    plan = make_plan(args.each_service, args.each_edge, args.sets, FaultMode(args.fault_mode))
    seeds = seeds_of(experiment, args.seeds)
    executor = parse_executor(args.executor, args.workers)
    # ADD: each run's file goes into OUT/runs as soon as it is done, so that a sweep resumes.
    out = check_out(args.out, default_dir(experiment.name, "-sweep"), Mode.ADD)
    progress = TaskProgress(enabled=not args.no_progress)
    started = time.monotonic()
    try:
        result = run_sweep(experiment, plan, seeds, executor, Store(out.path), progress)
    finally:
        progress.close()
    wall = time.monotonic() - started
    result.wall_s = round(wall, 3)
    if result.simulated:
        result.variants_per_minute = round(result.simulated / len(seeds) / wall * 60, 2)
    with staged(out, owns=SWEEP_FILES.values(), last=SWEEP_FILES["json"]) as stage:
        written = write_report(result, stage)
        summary = written["markdown"].read_text(encoding="utf-8")
    paths = {kind: out.file(p.name) for kind, p in written.items()}
    print(f"{plural(len(result.results), 'variant')} x {plural(len(seeds), 'seed')}: {result.simulated} simulated, "
          f"{result.reused} reused, {wall:.1f} s on {result.executor}")
    print(_shortened(summary))
    print("\n" + "\n".join(f"{k}: {v}" for k, v in paths.items()))
    return 0


def _shortened(markdown: str, limit: int = 40) -> str:
    """The summary for the terminal: all of it when short, else each table's first rows."""
    lines = markdown.rstrip().splitlines()
    if len(lines) <= limit:
        return "\n".join(lines)
    out: list[str] = []
    rows = 0
    for line in lines:
        rows = rows + 1 if line.startswith("|") else 0
        if rows == 13:
            out.append("| ... |")
        if rows <= 12:
            out.append(line)
    return "\n".join(out)


# --------------------------------------------------------------------------- lint


def _register_lint(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lint", help="static resilience checks of a topology: timeouts, retry amplification, single points "
                     "of failure, cycles",
        description="Exit 1 when any finding is an error. An experiment file is accepted too: its topology, "
                    "with its overrides, is checked.")
    p.add_argument("topology", type=Path)
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    add_option(p, "--max-amplification", quantity=AMPLIFICATION, default=None, metavar="X",
               help="worst-case attempts per entry request allowed on any path (default 10, at least 1)")
    p.set_defaults(func=cmd_lint)


def cmd_lint(args: argparse.Namespace) -> int:
    import json

    from chaos.lint import DEFAULT_MAX_AMPLIFICATION, Severity, lint, render_text, to_doc
    from chaos.model.experiment import Experiment
    from chaos.model.files import load_any
    from chaos.model.topology import Topology

    limit = DEFAULT_MAX_AMPLIFICATION if args.max_amplification is None else args.max_amplification
    model = load_any(args.topology)
    if isinstance(model, Experiment):
        model = model.topology
    if not isinstance(model, Topology):
        raise InputError("expected a topology or an experiment file", path=str(args.topology))
    findings = lint(model, limit)
    print(json.dumps(to_doc(model, findings), indent=1) if args.json else render_text(model, findings))
    return 1 if any(f.severity is Severity.ERROR for f in findings) else 0
