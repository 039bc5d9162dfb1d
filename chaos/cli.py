"""The ``chaoslab`` command: argument parsing and printing only; the work happens elsewhere.

Exit codes: 0 every SLO (and deadline) held, 1 one was missed, 2 bad input,
3 a run could not complete, 4 a fault could not be reverted (act now), 130 interrupted,
141 the reader of the output went away (``chaoslab ... | head``), as a shell reports a SIGPIPE.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import select
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from chaos import __version__
from chaos.errors import ChaosError, InputError
from chaos.model.arguments import RUNS, SEED, WALL_CLOCK, WORKERS, WORKERS_PER_CORE, add_option
from chaos.terminal import redraw, shown_streams

Handler = Callable[[argparse.Namespace], int]
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []

# Each area registers its subcommands from a module of its own with ``register(sub)``. Registration
# only declares arguments; handlers import what they need when they run, so ``chaoslab --help``
# stays fast and never imports Docker, Locust or matplotlib.
COMMAND_MODULES: tuple[str, ...] = (
    "chaos.commands.live",
    "chaos.commands.gameday",
    "chaos.commands.promql",
    "chaos.commands.traces",
    "chaos.commands.report",
    "chaos.commands.sweep",
    "chaos.commands.coverage",
    "chaos.commands.diff",
)


def command(register: Callable[[argparse._SubParsersAction], None]) -> Callable[[argparse._SubParsersAction], None]:
    COMMANDS.append(register)
    return register


def eprint(*args: Any) -> None:
    print(*args, file=sys.stderr)


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


# --------------------------------------------------------------------------- validate / schema


@command
def _validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check topology, experiment and playbook files",
                       description="Check each file on its own; with --playbook, also check the playbook against "
                                   "each experiment given (its alerts, faults, services, edges and replicas), as "
                                   "simulate, drill and run do before they start.")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--kind", choices=["topology", "experiment", "playbook"], help="skip detecting the kind")
    p.add_argument("--playbook", type=Path, help="check this playbook against every experiment among FILES")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    from chaos.model.files import FileKind, load_any
    failures = 0
    loaded: list[tuple[Path, Any]] = []
    for path in args.files:
        try:
            obj = load_any(path, FileKind(args.kind) if args.kind else None)
        except InputError as exc:
            eprint(str(exc))
            failures += 1
            continue
        loaded.append((path, obj))
        print(f"{path}: ok ({type(obj).__name__.lower()} '{getattr(obj, 'name', '')}')")
    if args.playbook is not None:
        failures += validate_playbook(args.playbook, loaded)
    return 2 if failures else 0


def validate_playbook(path: Path, loaded: list[tuple[Path, Any]]) -> int:
    """Check the playbook at ``path`` against every experiment in ``loaded``; the number of problems found."""
    from chaos.errors import Location
    from chaos.model.experiment import Experiment
    from chaos.model.files import load
    from chaos.model.playbook import Playbook, bind

    try:
        playbook = load(path, Playbook)
    except InputError as exc:
        eprint(str(exc))
        return 1
    failures = 0
    for source, obj in loaded:
        if not isinstance(obj, Experiment):
            eprint(InputError(f"a {type(obj).__name__.lower()}, not an experiment: --playbook is checked against "
                              "an experiment", Location(str(source))))
            failures += 1
            continue
        try:
            bind(playbook, obj)
        except InputError as exc:
            against = f"checked against {source}"
            eprint(InputError(exc.detail, exc.location, exc.path, f"{exc.hint}; {against}" if exc.hint else against))
            failures += 1
            continue
        print(f"{path}: ok (playbook '{playbook.name}' against experiment '{obj.name}')")
    if not loaded:
        print(f"{path}: ok on its own (playbook '{playbook.name}'; no experiment to check it against)")
    return failures


# The documents chaoslab writes: result.json, sweep.json, diff.json, compare.json, coverage.json.
OUTPUT_KINDS = ("result", "sweep", "diff", "compare", "coverage")


def output_documents() -> dict[str, type]:
    """Each written document's class: its types are the document's format and give its schema."""
    from chaos.compare_document import CompareDocument
    from chaos.coverage.document import CoverageDocument
    from chaos.diff import DiffDocument
    from chaos.document import ResultDocument
    from chaos.sweep.document import SweepDocument
    return {"result": ResultDocument, "sweep": SweepDocument, "diff": DiffDocument, "compare": CompareDocument,
            "coverage": CoverageDocument}


@command
def _schema(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of a file kind (for editors), or of a document "
                                      "chaoslab writes (result.json, sweep.json, diff.json, compare.json, "
                                      "coverage.json)",
                       description="The input files' schemas come from the parser's types; the written documents' "
                                   "(as this version writes them) from the documents' types.")
    p.add_argument("kind", choices=["topology", "experiment", "playbook", *OUTPUT_KINDS])
    p.set_defaults(func=cmd_schema)


def cmd_schema(args: argparse.Namespace) -> int:
    if args.kind in OUTPUT_KINDS:
        from chaos.codec import json_schema
        schema = json_schema(output_documents()[args.kind], f"chaoslab {args.kind}")
    else:
        from chaos.model.files import FileKind, model_class
        from chaos.model.schema import schema_for
        schema = schema_for(model_class(FileKind(args.kind)), f"chaoslab {args.kind}")
    print(json.dumps(schema, indent=2))
    return 0


# --------------------------------------------------------------------------- simulate


@command
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


@command
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


# --------------------------------------------------------------------------- main


class Parser(argparse.ArgumentParser):
    """argparse, with its errors reported as every other bad input is: one line, exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise InputError(message, path=self.prog, hint=f"see {self.prog} --help")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="chaoslab", description="Rehearse cascading failures: simulate offline, or run game days live.",
        epilog="exit codes: 0 held, 1 an SLO or deadline missed, 2 bad input, 3 run failed, "
               "4 a fault could not be reverted, 5 nothing missed but an SLO or alert expectation unmeasured, "
               "130 interrupted, 141 the output's reader closed it")
    parser.add_argument("--version", action="version", version=f"chaoslab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for register in COMMANDS:
        register(sub)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        gone = [stream for stream in (sys.stdout, sys.stderr) if _reader_closed(stream)]
        if not gone:
            raise  # a pipe of chaoslab's own broke (a worker, a connection): not the reader's doing
        _quiet(gone)
        return SIGPIPE_EXIT


def _main(argv: Sequence[str] | None) -> int:
    # Everything printed from here on, argparse's own errors included, may quote a file's or an
    # argument's text: it reaches the terminal with its control characters shown, never obeyed.
    with shown_streams():
        parser = build_parser()
        try:
            args = parser.parse_args(argv)  # an option's value is checked as it is read (chaos.model.arguments)
            handler: Handler = args.func
            code = handler(args)
        except ChaosError as exc:
            eprint(f"chaoslab: {exc}" if not isinstance(exc, InputError) else str(exc))
            code = exc.exit_code
        except KeyboardInterrupt:
            eprint("chaoslab: interrupted")
            code = 130
        # Flushed here, not by the interpreter at exit, so that a reader who closed the pipe
        # (``| head``) is noticed where it can be handled.
        sys.stdout.flush()
        return code


SIGPIPE_EXIT = 128 + 13  # what a shell reports for a command ended by SIGPIPE, as 130 is for SIGINT


def _reader_closed(stream: Any) -> bool:
    """Whether ``stream`` is a pipe (or socket) whose reader has gone, as after ``chaoslab ... | head``."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):  # not a file (a test's capture): nobody closed it
        return False
    if not hasattr(select, "poll"):
        return True
    poller = select.poll()
    poller.register(fd, 0)  # no events asked for: an error or a hang-up is reported regardless
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _quiet(streams: list[Any]) -> None:
    """Stop writing to ``streams``, quietly: whoever read them has what they wanted.

    Python ignores SIGPIPE, so a write to a closed pipe raises instead of ending the process as
    it ends a C program. What is still buffered would raise again when the interpreter flushes at
    exit ("Exception ignored ... BrokenPipeError"), so the streams' descriptors are pointed at the
    null device, as the Python docs' note on SIGPIPE recommends.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in streams:
            os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
