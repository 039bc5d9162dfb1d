"""``chaoslab run`` (a live game day), ``chaoslab compare`` (simulation against reality), ``chaoslab calibrate``.

Registration declares arguments only; handlers import Docker, Locust and matplotlib when they run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from chaos.errors import InputError
from chaos.model.arguments import LOAD_WORKERS, SCRAPE_INTERVAL, SEED, WORKERS_PER_CORE, add_option, whole_seconds
from chaos.outdir import OutDir

REMOTE_HELP = "allow a Docker host that is not this machine (DOCKER_HOST); faults would hit its containers"


def register(sub: argparse._SubParsersAction) -> None:
    _run(sub)
    _compare(sub)
    _calibrate(sub)


# --------------------------------------------------------------------------- run


def _live_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack-dir", type=Path, help="a running stack's directory to use (left running), or where to "
                                                  "generate one (default: OUT/stack)")
    p.add_argument("--keep-stack", action="store_true", help="leave the generated stack running afterwards")
    p.add_argument("--traces", action="store_true",
                   help="the generated stack's emulators record distributed traces (W3C trace context), written to "
                        "OUT/traces/*.jsonl as OTLP JSON for chaoslab topology from-traces")
    add_option(p, "--scrape-interval", quantity=SCRAPE_INTERVAL, metavar="SECONDS",
               help="how often the generated stack's Prometheus scrapes, whole seconds up to 1m (default: as chosen "
                    "at stack up, by the stack's size); a running --stack-dir stack is reloaded with it and keeps it")
    add_option(p, "--load-workers", quantity=LOAD_WORKERS, default=0,
               help=f"Locust worker processes (default 0: one process sends all the load; at most "
                    f"{WORKERS_PER_CORE} per core)")
    add_option(p, "--seed", quantity=SEED, help="random seed (default: the experiment's; bounds as its 'seed')")
    p.add_argument("--automated", action="append", default=[], metavar="ROLE",
                   help="a playbook role done by machines (besides 'automation'): its steps are never prompted")
    p.add_argument("--no-abort", action="store_true",
                   help="never end early (default: end when users fail on more than half their requests for 30 s)")
    p.add_argument("--allow-remote", action="store_true", help=REMOTE_HELP)
    p.add_argument("--force", action="store_true",
                   help="start even if the preflight finds the stack unhealthy or still holding faults or playbook "
                        "changes (by default it refuses, exit code 3, and says what to run)")


def _run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run an experiment live: a game day on a real stack, with load, faults and the "
                                   "playbook; writes the same result.json and report as a simulation",
                       description="Bring up the experiment's stack (or use the experiment's own 'live:' stack, "
                                   "or a running one with --stack-dir), send its load with Locust, inject its "
                                   "faults on schedule (journaled, always reverted, also on Ctrl-C), measure every "
                                   "service each second, evaluate its alerts and abort conditions, carry out the "
                                   "playbook, then take the stack down. Exit codes as for simulate; 3 also: the "
                                   "stack is not ready (unhealthy, or still holding faults: the message says what to "
                                   "run); 4: a fault could not be reverted (run chaoslab recover OUT).")
    p.add_argument("experiment", type=Path)
    p.add_argument("--playbook", type=Path, help="carry out this incident playbook for real")
    p.add_argument("--out", type=Path, help="results directory, and the fault journal (default: runs/<name>-live)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--game-day", action="store_true",
                      help="people confirm their playbook steps on the terminal (Enter), with the deadline and "
                           "time left shown")
    mode.add_argument("--unattended", action="store_true",
                      help="people's steps take sampled delays, as in a simulation (the default; for CI)")
    p.add_argument("--dry-run", action="store_true", help="print the stack, load, faults and playbook actions "
                                                          "that would run; touch nothing")
    _live_arguments(p)
    p.add_argument("--quiet", action="store_true", help="print no summary")
    p.add_argument("--no-report", action="store_true", help="write no report.html, summary.md or junit.xml")
    p.set_defaults(func=cmd_run)


def _options(args: argparse.Namespace, out: Path) -> Any:
    from chaos.live.gameday.run import RunOptions
    from chaos.live_states import RunMode

    return RunOptions(out=out, stack_dir=args.stack_dir, keep_stack=args.keep_stack, load_workers=args.load_workers,
                      mode=RunMode.GAME_DAY if getattr(args, "game_day", False) else RunMode.UNATTENDED,
                      allow_remote=args.allow_remote, abort=() if args.no_abort else _default_abort(),
                      automated=frozenset(args.automated), seed=args.seed, source=str(args.experiment),
                      force=args.force, traces=args.traces,
                      scrape_interval=whole_seconds(args.scrape_interval, "--scrape-interval"))


def check_scrape_interval(args: argparse.Namespace, experiment: Any) -> None:
    """``--scrape-interval`` sets a stack chaoslab generates: refused with an experiment's own stack (``live:``),
    and where the experiment's ``metrics: scrape_interval`` says another (``scrape_choice``)."""
    from chaos.live.stack.scrape_choice import scrape_choice

    if args.scrape_interval is not None and experiment.live is not None:
        raise InputError("sets how often the Prometheus of a stack chaoslab generates scrapes; your own Prometheus "
                         "scrapes as it is configured to", path="--scrape-interval",
                         hint="leave it out (live: prometheus: scrape_interval is the step your Prometheus is read at)")
    scrape_choice(experiment, whole_seconds(args.scrape_interval, "--scrape-interval"))


def _default_abort() -> tuple[Any, ...]:
    from chaos.live.faults.runner import DEFAULT_ABORT

    return tuple(DEFAULT_ABORT)


def cmd_run(args: argparse.Namespace) -> int:
    from chaos.audit import now_iso
    from chaos.model.files import load_experiment, load_playbook
    from chaos.outdir import Mode, check_out, default_dir

    experiment = load_experiment(args.experiment)
    playbook = load_playbook(args.playbook, experiment) if args.playbook else None
    check_automated(args.automated, playbook)
    check_scrape_interval(args, experiment)
    # ADD, not REPLACE: the fault journal is written into this directory while the run goes on.
    out = check_out(args.out, default_dir(experiment.name, "-live"), Mode.ADD)
    options = _options(args, out.path)
    if args.dry_run:
        from chaos.live.gameday.plan import describe_run

        print(describe_run(experiment, playbook, options))
        return 0
    require_live()
    started = now_iso()
    say = (lambda text: None) if args.quiet else print
    from chaos.live.gameday.run import run_game_day

    outcome = run_game_day(experiment, playbook, options, say=say)
    doc, reports = publish_outcome(outcome, args, out, started)
    if not args.quiet:
        from chaos.report.summary import render
        from chaos.result import result_paths

        print(render(doc, result_paths(out.path)))
        if reports:
            print(reports)
    if outcome.error is not None:
        raise outcome.error
    from chaos.document import read
    from chaos.report.checks import verdict

    return verdict(read(doc)).exit_code


def check_automated(roles: list[str], playbook: Any) -> None:
    """``--automated ROLE`` names a role of the playbook, as a step's ``role`` must."""
    from chaos.model.parsing import did_you_mean, one_of

    known = [r.name for r in playbook.roles] if playbook is not None else []
    for role in roles:
        if role not in known:
            raise InputError(f"'{role}' is not a role of the playbook{did_you_mean(role, known)}", path="--automated",
                             hint=f"roles: {one_of(known)}" if known else "--automated needs --playbook")


def require_live() -> None:
    """A game day needs the Docker SDK and Locust: said before anything starts, not half-way."""
    from chaos.extras import DOCKER, LOCUST, check, require

    require(DOCKER)
    check(LOCUST)  # asked, not imported: Locust patches the standard library when imported


LIVE_JSON = "live.json"


def live_results() -> tuple[str, ...]:
    """What a live run writes when it ends, besides the journal, stack and load files it wrote during it."""
    from chaos.commands.report import FIGURES
    from chaos.report import REPORT_FILES
    from chaos.result import RESULT_FILES

    return (*RESULT_FILES.values(), LIVE_JSON, *REPORT_FILES.values(), FIGURES)


def publish_outcome(outcome: Any, args: argparse.Namespace, out: OutDir,
                    started: str) -> tuple[dict[str, Any], str | None]:
    """A live run's results into ``out`` as a whole, result.json last; its journal and stack stay where they are.

    Returns the result document and the line saying where its reports are.
    """
    from chaos.commands.report import reports_for_run
    from chaos.outdir import staged
    from chaos.result import RESULT_FILES

    with staged(out, owns=live_results(), last=RESULT_FILES["result"]) as stage:
        doc = write_outcome(outcome, args, stage, started)
        reports = reports_for_run(args, doc, stage, out.path)
    return doc, reports


def write_outcome(outcome: Any, args: argparse.Namespace, out: Path, started: str) -> dict[str, Any]:
    """result.json, series.csv and live.json (what calibration needs) into ``out``."""
    from chaos.audit import audit
    from chaos.model.sources import source_files
    from chaos.result import to_json, write, write_atomic

    result = outcome.result
    inputs = source_files(result.run.experiment) + ([str(args.playbook)] if getattr(args, "playbook", None) else [])
    result.audit = audit(inputs, [result.run.seed], started)
    doc = result.to_dict()
    write(result, out, doc)
    write_atomic(out / LIVE_JSON, to_json(outcome.calibration))
    return doc


# --------------------------------------------------------------------------- compare


def _compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="simulation against reality: run an experiment in both engines (or take two "
                                       "run directories) and judge the predicted figures against the observed ones",
                       description="With one EXPERIMENT: run it live (as chaoslab run --unattended), then simulate "
                                   "it with each service's per-hop overhead measured in the live run added to its "
                                   "service time, and compare. With EXPERIMENT and LIVE_RUN_DIR (a live run of that "
                                   "experiment, a game day for instance): the same without running it live again. "
                                   "With two run directories: compare their "
                                   "result.json. Per service and entrypoint: throughput and mean latency within "
                                   "10%, p99 within 25%, error ratio within 0.05, and the same breach order. "
                                   "Exit code 0 when every figure agrees, 1 when one diverges.")
    p.add_argument("inputs", nargs="+", type=Path,
                   metavar="EXPERIMENT [LIVE_RUN_DIR] | RUN_DIR_A RUN_DIR_B")
    p.add_argument("--playbook", type=Path, help="carry out this playbook in both engines")
    p.add_argument("--out", type=Path, help="where the runs and the comparison go (default: runs/<name>-compare)")
    p.add_argument("--no-calibrate", action="store_true",
                   help="simulate the topology as written, without the live run's per-hop overheads")
    _live_arguments(p)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--no-report", action="store_true", help="write no report for each run")
    p.set_defaults(func=cmd_compare)


COMPARE_FILES = {"json": "compare.json", "markdown": "compare.md", "png": "compare.png"}


def cmd_compare(args: argparse.Namespace) -> int:
    from chaos.codec import encode
    from chaos.commands.report import load_result, result_path
    from chaos.live.gameday.compare import compare_docs, compare_document, render_markdown, render_text
    from chaos.live.gameday.compare_plot import overlay
    from chaos.outdir import Mode, check_out, staged
    from chaos.result import write_atomic

    offsets: dict[str, float] = {}
    if len(args.inputs) == 2 and is_experiment_file(args.inputs[0]):
        sim_doc, live_doc, out, offsets = _against_live_run(args)
    elif len(args.inputs) == 2:
        # The comparison joins the second run's directory (by default): ADD, nothing there is replaced.
        out = check_out(args.out, args.inputs[1], Mode.ADD)
        sim_doc, live_doc = (load_result(result_path(p)) for p in args.inputs)
    elif len(args.inputs) == 1:
        sim_doc, live_doc, out, offsets = _both_engines(args)
    else:
        raise InputError(f"compare takes an experiment, an experiment and a live run directory, or two run "
                         f"directories (got {len(args.inputs)} arguments)")
    comparison = compare_docs(sim_doc, live_doc, offsets)
    image = overlay(sim_doc, live_doc)
    with staged(out, owns=COMPARE_FILES.values(), last=COMPARE_FILES["json"]) as stage:
        write_atomic(stage / COMPARE_FILES["markdown"], render_markdown(comparison))
        (stage / COMPARE_FILES["png"]).write_bytes(image.png)
        write_atomic(stage / COMPARE_FILES["json"], json.dumps(encode(compare_document(comparison)), indent=1) + "\n")
    if not args.quiet:
        print(render_text(comparison))
        print(f"Comparison: {out.file(COMPARE_FILES['markdown'])}  (compare.json, compare.png beside it)")
    return 0 if comparison.agrees else 1


def _both_engines(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any], OutDir, dict[str, float]]:
    from chaos.audit import now_iso
    from chaos.live.gameday.run import run_game_day
    from chaos.model.files import load_experiment, load_playbook
    from chaos.outdir import Mode, check_out, default_dir

    args.experiment = args.inputs[0]
    experiment = load_experiment(args.experiment)
    playbook = load_playbook(args.playbook, experiment) if args.playbook else None
    check_automated(args.automated, playbook)
    check_scrape_interval(args, experiment)
    out = check_out(args.out, default_dir(experiment.name, "-compare"), Mode.ADD)
    live_out = check_out(out.path / "live", out.path / "live", Mode.ADD, out.argument)
    sim_out = check_out(out.path / "sim", out.path / "sim", Mode.REPLACE, out.argument)
    require_live()
    say = (lambda text: None) if args.quiet else print
    started = now_iso()
    outcome = run_game_day(experiment, playbook, _options(args, live_out.path), say=say)
    live_doc, reports = publish_outcome(outcome, args, live_out, started)
    if reports:
        print(reports)
    if outcome.error is not None:
        raise outcome.error
    sim_doc, offsets = _simulate_against(experiment, playbook, live_doc, outcome.calibration, sim_out, args)
    return sim_doc, live_doc, out, offsets


def is_experiment_file(path: Path) -> bool:
    """``compare EXPERIMENT LIVE_RUN_DIR`` rather than ``compare RUN_DIR_A RUN_DIR_B``: a run is a directory
    or its result.json, an experiment a YAML file."""
    return not path.is_dir() and path.suffix in (".yaml", ".yml")


def _against_live_run(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any], OutDir, dict[str, float]]:
    """The simulation of an experiment against a live run of it that already exists (a game day just run):
    what ``compare EXPERIMENT`` does after its own live run, from that run's result.json and live.json."""
    from chaos.commands.report import load_result, result_path
    from chaos.live.gameday.calibrate import read_live
    from chaos.model.files import load_experiment, load_playbook
    from chaos.outdir import Mode, check_out, default_dir

    args.experiment, given = args.inputs
    experiment = load_experiment(args.experiment)
    playbook = load_playbook(args.playbook, experiment) if args.playbook else None
    live_path = result_path(given)
    live_doc = load_result(live_path)
    if live_doc["engine"] != "live":
        raise InputError(f"{given} holds a {live_doc['engine']} run, not a live one",
                         hint="compare two run directories: chaoslab compare RUN_DIR_A RUN_DIR_B")
    if live_doc["experiment"] != experiment.name:
        raise InputError(f"{given} is a run of '{live_doc['experiment']}', not of {args.experiment} "
                         f"('{experiment.name}')", hint="name the experiment that the live run ran")
    ran = (live_doc.get("playbook") or {}).get("name")
    if (playbook.name if playbook else None) != ran:
        raise InputError(f"{given} carried out {f'playbook {ran!r}' if ran else 'no playbook'}, "
                         f"{f'not {playbook.name!r}' if playbook else 'but --playbook is not given'}",
                         hint="simulate the response the live run had: pass its playbook with --playbook, or none")
    # read before the simulation, so that a run without live.json is refused at once
    live = {} if args.no_calibrate else read_live(live_path.parent)
    out = check_out(args.out, default_dir(experiment.name, "-compare"), Mode.ADD)
    sim_out = check_out(out.path / "sim", out.path / "sim", Mode.REPLACE, out.argument)
    sim_doc, offsets = _simulate_against(experiment, playbook, live_doc, live, sim_out, args)
    return sim_doc, live_doc, out, offsets


def _simulate_against(experiment: Any, playbook: Any, live_doc: dict[str, Any], live: dict[str, Any], out: OutDir,
                      args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, float]]:
    """The experiment simulated with the live run's seed and, unless --no-calibrate, each service's
    per-hop overhead measured in it (``live``: its live.json) added to its service time, scraping at the step
    the live run read its Prometheus at (``at_step``)."""
    from chaos.live.gameday.calibrate import at_step, hop_offsets, shifted

    offsets = {} if args.no_calibrate else hop_offsets(live, live_doc)
    simulated = shifted(experiment, offsets) if offsets else experiment
    if offsets and not args.quiet:
        print("simulating with each service's measured per-hop overhead added to its service time: "
              + ", ".join(f"{name} +{ms:.2f} ms" for name, ms in offsets.items()))
    step = (live_doc.get("live") or {}).get("resolution_s")
    stepped = at_step(simulated, step)
    if stepped is not simulated and not args.quiet:
        print(f"simulating with scrapes every {step} s, the step the live run read its Prometheus at (the "
              f"experiment writes no metrics: scrape_interval)")
    simulated = stepped
    return _simulate(simulated, playbook, live_doc["seed"], out, args), offsets


def _simulate(experiment: Any, playbook: Any, seed: int, out: OutDir, args: argparse.Namespace) -> dict[str, Any]:
    from chaos.analysis import analyze
    from chaos.audit import audit, now_iso
    from chaos.commands.report import reports_for_run
    from chaos.model.sources import source_files
    from chaos.outdir import staged
    from chaos.result import Result, write
    from chaos.sim.simulation import simulate

    started = now_iso()
    if playbook is not None:
        from chaos.drill import incident_result
        result = incident_result(experiment, playbook, seed)
    else:
        run = simulate(experiment, seed)
        result = Result(run, analyze(run))
    result.audit = audit(source_files(experiment), [seed], started)
    doc = result.to_dict()
    with staged(out) as stage:
        write(result, stage, doc)
        reports = reports_for_run(args, doc, stage, out.path)
    if reports:
        print(reports)
    return doc


# --------------------------------------------------------------------------- calibrate


def _calibrate(sub: argparse._SubParsersAction) -> None:
    from chaos.commands.fidelity import trace_options

    p = sub.add_parser("calibrate", help="fit each service's service time from a live run, or from distributed "
                                         "traces, and write a topology the simulator can use",
                       description="From a live run, RUN_DIR/live.json (written by chaoslab run on a generated "
                                   "stack): each service's own work time (the emulators' own_time histograms) over "
                                   "the measured seconds outside any fault window, plus the per-hop overhead its "
                                   "callers saw (their latency minus the service's own server latency); writes the "
                                   "run's topology with every service_time replaced. From trace FILEs (OTLP, "
                                   "Jaeger, Zipkin JSON): each traced service's time as topology from-traces writes "
                                   "it (what its callers waited on it, fitted or as measured) and, where the "
                                   "traces show a request's hops slow together, the request's pace attribute with "
                                   "times by pace, replacing the service times of --topology.")
    p.add_argument("sources", nargs="+", type=Path, metavar="RUN_DIR | FILE")
    p.add_argument("--out", type=Path, required=True, metavar="TOPOLOGY.yaml")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.add_argument("--topology", type=Path, help="with trace files: the topology whose service times to replace")
    trace_options(p)
    p.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from chaos.commands.report import load_result, result_path
    from chaos.live.gameday.calibrate import calibrate_run, topology_yaml
    from chaos.outdir import check_out_file
    from chaos.result import write_atomic

    check_out_file(args.out, overwrite=args.force, hint="choose another --out, or --force")
    if not (len(args.sources) == 1 and args.sources[0].is_dir()):
        from chaos.commands.fidelity import cmd_calibrate_traces

        args.files = args.sources
        return cmd_calibrate_traces(args)
    args.run_dir = args.sources[0]
    doc = load_result(result_path(args.run_dir))
    if doc.get("engine") != "live":
        raise InputError(f"{args.run_dir} holds a {doc.get('engine')} run; calibration needs a live one",
                         hint="run it live first: chaoslab run EXPERIMENT --out RUN_DIR")
    fits = calibrate_run(args.run_dir, doc)
    write_atomic(args.out, topology_yaml(args.run_dir, fits))
    for fit in fits.values():
        for f in (fit, *fit.operations):
            print(f.describe())
    print(f"wrote {args.out}")
    return 0


def eprint(*parts: object) -> None:
    print(*parts, file=sys.stderr)
