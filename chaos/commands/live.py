"""Live-mode subcommands: ``stack``, ``images``, ``toxiproxy``, ``faults``, ``recover``, ``topology from-compose``
(and ``topology from-traces``, registered here by ``chaos.commands.fidelity``).

Registration declares arguments only; each handler imports what it needs when it runs,
so ``chaoslab --help`` never imports Docker.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos.model.arguments import PORT, READY_TIMEOUT, SCRAPE_INTERVAL, SEED, add_option, whole_seconds

if TYPE_CHECKING:
    from chaos.model.experiment import Experiment
    from chaos.model.topology import Topology

LOG_LEVELS = ("debug", "info", "warning", "error")
REMOTE_HELP = "allow a Docker host that is not this machine (DOCKER_HOST); faults would hit its containers"


def register(sub: argparse._SubParsersAction) -> None:
    _stack(sub)
    _images(sub)
    _toxiproxy(sub)
    _faults(sub)
    _recover(sub)
    _topology(sub)


# --------------------------------------------------------------------------- stack


def _stack(sub: argparse._SubParsersAction) -> None:
    stack = sub.add_parser("stack", help="bring a live stack (emulators + Toxiproxy) up, inspect it, take it down")
    verbs = stack.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    up = verbs.add_parser("up", help="generate a Compose stack from a topology (or experiment) and start it")
    up.add_argument("topology", type=Path, help="a topology file, or an experiment (its overrides apply)")
    up.add_argument("--dir", type=Path, help="where the stack's files go (default: .chaoslab/stacks/<topology>)")
    up.add_argument("--name", help="Compose project name (default: chaoslab-<topology>)")
    up.add_argument("--toxiproxy-image", help="use this Toxiproxy image (e.g. the official one) instead of chaoslab's")
    up.add_argument("--prometheus-image", help="run the stack's Prometheus from this local image (default: "
                                               "prom/prometheus:latest if present, else one built from Debian's "
                                               "prometheus package)")
    add_option(up, "--scrape-interval", quantity=SCRAPE_INTERVAL, metavar="SECONDS",
               help="how often the stack's Prometheus scrapes, whole seconds up to 1m (default: the finest of 1, 2 "
                    "and 5 s that keeps it to 14 scrapes a second); game days read it at this step")
    add_option(up, "--timeout", quantity=READY_TIMEOUT, default=120.0,
               help="how long to wait for every container to be healthy (default 120s, at most 1h)")
    up.add_argument("--allow-remote", action="store_true", help=REMOTE_HELP)
    up.set_defaults(func=cmd_stack_up)
    down = verbs.add_parser("down", help="stop and remove the stack's containers (its files stay)")
    down.add_argument("--dir", type=Path, help="the stack's directory (default: the only one under .chaoslab/stacks)")
    down.add_argument("--allow-remote", action="store_true", help=REMOTE_HELP)
    down.set_defaults(func=cmd_stack_down)
    status = verbs.add_parser("status", help="containers, ports, proxies, and every fault or playbook change still "
                                             "applied")
    status.add_argument("--dir", type=Path, help="the stack's directory (default: the only one under .chaoslab/stacks)")
    status.add_argument("--experiment", type=Path, metavar="EXPERIMENT.yaml",
                        help="your own stack, through this experiment's live: mapping")
    status.add_argument("--run-dir", type=Path, action="append", default=[], metavar="DIR",
                        help="also read this run's fault journal (default: runs/*/ and, for a generated stack, the "
                             "run directory holding it)")
    status.add_argument("--allow-remote", action="store_true", help=REMOTE_HELP)
    status.set_defaults(func=cmd_stack_status)


def _load_topology_or_experiment(path: Path) -> tuple[Topology, tuple[float, ...] | None, Experiment | None]:
    from chaos.model.files import FileKind, detect_kind, load_experiment, load_topology
    from chaos.run import experiment_bounds

    if detect_kind(path) is FileKind.EXPERIMENT:
        experiment = load_experiment(path)
        return experiment.topology, experiment_bounds(experiment), experiment
    return load_topology(path), None, None


def cmd_stack_up(args: argparse.Namespace) -> int:
    from chaos.live.stack.emulator_stack import DEFAULT_STACKS_DIR, evaluation_interval_of, rule_files_of, up
    from chaos.live.stack.mapped_scrape import stack_relabels
    from chaos.live.stack.scrape_choice import scrape_choice
    from chaos.outdir import default_dir

    topology, bounds, experiment = _load_topology_or_experiment(args.topology)
    scrape = scrape_choice(experiment, whole_seconds(args.scrape_interval, "--scrape-interval"))
    directory = args.dir or default_dir(topology.name, root=DEFAULT_STACKS_DIR)
    result = up(topology, directory, project=args.name, toxiproxy_image=args.toxiproxy_image, bounds=bounds,
                source=str(args.topology), ready_timeout=args.timeout, allow_remote=args.allow_remote,
                prometheus_image=args.prometheus_image, rule_files=rule_files_of(experiment),
                relabels=stack_relabels(experiment), evaluation_interval_s=evaluation_interval_of(experiment),
                scrape=scrape)
    state = result.state
    t = result.timings
    print(f"stack {state.name} is up and healthy: {len(state.replicas)} emulator container(s), "
          f"{len(state.proxies)} proxies ({t['total_s']:.1f}s: images {t['images_s']:.1f}s, "
          f"compose up {t['up_s']:.1f}s, healthy after {t['healthy_s']:.1f}s)")
    print(f"  files:     {directory}/ (compose.yaml, stack.json, toxiproxy.json, prometheus.yml, state.json)")
    print(f"  toxiproxy: {state.toxiproxy_api}")
    scraped = "every emulator, the proxies" + (" and a game day's load generator" if state.load_metrics else "")
    print(f"  prometheus: {state.prometheus_url} (scrapes {scraped} every {state.scrape_interval_s} s, "
          f"{state.scrape_interval_from.describe()}; image {state.images.get('prometheus')})")
    for name, entry in state.entrypoints.items():
        print(f"  load for {name}: {', '.join(entry.urls)}")
    print(f"  take it down with: chaoslab stack down --dir {directory}")
    return 0


def cmd_stack_down(args: argparse.Namespace) -> int:
    import time

    from chaos.live.stack.emulator_stack import down, find_stack_dir

    directory = find_stack_dir(args.dir)
    started = time.monotonic()
    state = down(directory, allow_remote=args.allow_remote)
    print(f"stack {state.name} is down ({time.monotonic() - started:.1f}s); its files stay in {directory}")
    return 0


def cmd_stack_status(args: argparse.Namespace) -> int:
    from chaos.live.faults.preflight import by_kind, preflight

    if args.experiment is not None and args.dir is not None:
        from chaos.errors import InputError
        raise InputError("give --dir (a generated stack) or --experiment (your own stack), not both", path="--dir")
    state, where, experiment = _status_state(args)
    run_dirs = list(args.run_dir)
    if state.directory:
        run_dirs.append(Path(state.directory).parent)  # chaoslab run keeps its stack in OUT/stack
    from chaos.live.load.plan import probe_urls

    # What a game day's load would request: a generated stack's /work, or the experiment's requests.
    entries = probe_urls(experiment, {name: tuple(entry.urls) for name, entry in state.entrypoints.items()})
    found = preflight(state, run_dirs=run_dirs, allow_remote=args.allow_remote, entry_urls=entries, settle_s=0.0)
    print(f"stack {state.name} ({state.kind.value}, topology {state.topology}) {where}")
    for line in found.containers:
        print(f"  {line}")
    print(f"  toxiproxy API: {state.toxiproxy_api or 'none'}")
    print(_scrape_line(state, experiment))
    for name, entry in state.entrypoints.items():
        print(f"  load for {name}: {', '.join(entry.urls)}")
    if found.clean:
        print("clean: every container running and healthy, every entrypoint answering, no toxic, no disabled "
              "proxy, no CPU limit, no iptables rule, no emulator fault or playbook change, no journal with "
              "faults still applied")
        return 0
    print("not clean:")
    for kind, lines in by_kind(found).items():
        print(f"  {kind}:")
        print("\n".join(f"    - {line}" for line in lines))
    for run in found.open_runs:
        print(f"  still applied by a run: {run.describe()}\n    undo with: chaoslab recover {run.run_dir}")
    if found.unanswered:
        print("  not answering:")
        print("\n".join(f"    - {line}" for line in found.unanswered))
    return 1


def _scrape_line(state: Any, experiment: Experiment | None) -> str:
    """The Prometheus a game day on this stack reads, the interval in force and where it came from, and what
    that Prometheus itself reports for its targets (asked, so a state out of step with it shows)."""
    from chaos.live.gameday import prometheus as prom
    from chaos.live.gameday.stacks import scrape_words

    target = None if experiment is None or experiment.live is None else experiment.live.prometheus
    url = state.prometheus_url if target is None else target.url
    if url is None:
        return f"  prometheus: none ({scrape_words(experiment, state)})"
    try:
        found = prom.Prometheus(url, timeout_s=3.0).scrape_interval()
        reported = "it lists no target" if found is None else f"it reports {found} s for its targets"
    except prom.PrometheusUnusable as exc:
        reported = f"not answering: {exc}"
    return f"  prometheus: {url}: {scrape_words(experiment, state)}; {reported}"


def _status_state(args: argparse.Namespace) -> tuple[Any, str, Any]:
    if args.experiment is not None:
        from chaos.live.stack.user_stack import resolve, user_stack
        from chaos.model.files import load_experiment

        experiment = load_experiment(args.experiment)
        if experiment.live is None:
            from chaos.errors import InputError
            raise InputError("this experiment has no live: mapping: its stack is a generated one",
                             path=str(args.experiment), hint="give that stack's --dir instead")
        state = resolve(user_stack(experiment.live, experiment.topology), experiment.live,
                        allow_remote=args.allow_remote)
        return state, f"through the live: mapping of {args.experiment}", experiment
    from chaos.live.stack.emulator_stack import find_stack_dir
    from chaos.live.stack.state import read_state

    directory = find_stack_dir(args.dir)
    return read_state(directory), f"in {directory}", None


# --------------------------------------------------------------------------- images / toxiproxy


def _images(sub: argparse._SubParsersAction) -> None:
    images = sub.add_parser("images", help="build chaoslab's container images locally (never pulls)")
    verbs = images.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    build = verbs.add_parser("build", help="build the runtime image (and the Python base image if needed)")
    build.add_argument("--base", help="build on this local image (default: python:3.11-slim if present, "
                                      "else chaoslab's own base made from Debian packages)")
    build.set_defaults(func=cmd_images_build)


def cmd_images_build(args: argparse.Namespace) -> int:
    from chaos.live.stack.images import build_runtime_image

    image = build_runtime_image(args.base)
    print(f"{image.tag} on {image.base} ({'built' if image.built else 'already present'}, id {image.image_id[:19]})")
    return 0


def _toxiproxy(sub: argparse._SubParsersAction) -> None:
    toxi = sub.add_parser("toxiproxy", help="chaoslab's Toxiproxy-compatible server")
    verbs = toxi.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    serve = verbs.add_parser("serve", help="run the server until SIGTERM or Ctrl-C (flags as toxiproxy-server's)")
    serve.add_argument("--host", "-host", default="127.0.0.1", help="API listen host (default: 127.0.0.1)")
    add_option(serve, "--port", "-port", quantity=PORT, default=8474, help="API port (default: 8474; 0: any free port)")
    serve.add_argument("--config", "-config", help="JSON file of proxies to create before the API answers")
    add_option(serve, "--seed", "-seed", quantity=SEED, help="seed for toxicity and jitter (default: random)")
    serve.add_argument("--log-level", type=str.lower, choices=LOG_LEVELS,
                       help="debug, info, warning or error (default: $LOG_LEVEL or info)")
    serve.set_defaults(func=cmd_toxiproxy_serve)


def cmd_toxiproxy_serve(args: argparse.Namespace) -> int:
    from chaos.live.in_container.toxiproxy.server import main

    argv = ["--host", args.host, "--port", str(args.port)]
    for flag, value in (("--config", args.config), ("--seed", args.seed), ("--log-level", args.log_level)):
        if value is not None:
            argv += [flag, str(value)]
    return main(argv)


# --------------------------------------------------------------------------- faults / recover


def _faults(sub: argparse._SubParsersAction) -> None:
    faults = sub.add_parser("faults", help="run or check an experiment's faults against a live stack (no load)")
    verbs = faults.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    run = verbs.add_parser("run", help="apply the faults on schedule for the experiment's duration, then revert")
    check = verbs.add_parser("check", help="say which faults cannot be done live on the stack, with their lines")
    for p in (run, check):
        p.add_argument("experiment", type=Path)
        p.add_argument("--dir", type=Path, help="the stack's directory (default: the only one under .chaoslab/stacks)")
        p.add_argument("--allow-remote", action="store_true", help=REMOTE_HELP)
    run.add_argument("--run-dir", type=Path, help="where the fault journal goes (default: runs/<experiment>-live)")
    run.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    run.add_argument("--no-abort", action="store_true", help="never end early on an abort condition")
    run.add_argument("--force", action="store_true", help="start even if the stack is not clean (see stack status)")
    run.set_defaults(func=cmd_faults_run)
    check.set_defaults(func=cmd_faults_check)


def _experiment_and_stack(args: argparse.Namespace) -> tuple[Any, Any]:
    from chaos.live.stack.emulator_stack import find_stack_dir
    from chaos.live.stack.state import read_state
    from chaos.model.files import load_experiment

    experiment = load_experiment(args.experiment)
    target = getattr(experiment, "live", None)
    if target is not None:
        from chaos.live.stack.user_stack import resolve, user_stack
        state = user_stack(target, experiment.topology)
        if args.func is cmd_faults_run and not getattr(args, "dry_run", False):
            state = resolve(state, target, allow_remote=args.allow_remote)
        return experiment, state
    return experiment, read_state(find_stack_dir(args.dir))


def cmd_faults_check(args: argparse.Namespace) -> int:
    from chaos.live.faults.drivers.routes import check_live, plan

    experiment, state = _experiment_and_stack(args)
    problems = check_live(experiment, state, with_load=False)
    for problem in problems:
        print(str(problem), file=sys.stderr)
    for index, fault in enumerate(experiment.fault_list):
        if not any(p.path.startswith(f"faults[{index}]") for p in problems):
            print(plan(fault, index, experiment, state, with_load=False).describe())
    return 2 if problems else 0


def cmd_faults_run(args: argparse.Namespace) -> int:
    from chaos.live.faults.runner import DEFAULT_ABORT, run_fault_schedule
    from chaos.outdir import Mode, check_out, default_dir

    experiment, state = _experiment_and_stack(args)
    run_dir = check_out(args.run_dir, default_dir(experiment.name, "-live"), Mode.ADD, "--run-dir").path
    if not args.dry_run:
        from chaos.live.faults.preflight import preflight, require_clean, stack_status_command

        found = preflight(state, run_dirs=(run_dir,), allow_remote=args.allow_remote, entry_urls={})  # no load
        if not (found.clean or args.force):
            require_clean(found, status_command=stack_status_command(state, str(args.experiment)))
        print(f"fault journal: {run_dir}/faults.jsonl (after a kill: chaoslab recover {run_dir})")
    result = run_fault_schedule(experiment, state, run_dir, dry_run=args.dry_run, allow_remote=args.allow_remote,
                                abort=() if args.no_abort else DEFAULT_ABORT)
    print(f"{result.reason.value}: {len(result.windows)} fault(s) applied and reverted")
    return 0


def _recover(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recover", help="revert every fault a live run left applied (after a crash or kill -9)")
    p.add_argument("run_dir", type=Path, help="the run's directory (it holds faults.jsonl)")
    p.add_argument("--allow-remote", action="store_true", help=REMOTE_HELP)
    p.set_defaults(func=cmd_recover)


def cmd_recover(args: argparse.Namespace) -> int:
    from chaos.live.faults.runner import recover

    done = recover(args.run_dir, allow_remote=args.allow_remote)
    if done.reverted:
        print(f"reverted {len(done.reverted)} fault(s): {', '.join(done.reverted)}")
    else:
        print(f"nothing to revert: {done.journal} shows no fault still applied")
    return 0


# --------------------------------------------------------------------------- topology from-compose


def _topology(sub: argparse._SubParsersAction) -> None:
    topo = sub.add_parser("topology", help="work with topology files")
    verbs = topo.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    draft = verbs.add_parser("from-compose", help="draft a topology, and the live: mapping of an experiment, from a "
                                                  "Compose file (Toxiproxy's proxies become the edges)")
    draft.add_argument("compose_file", type=Path)
    draft.add_argument("--name", help="the topology's name (default: the Compose file's directory)")
    draft.add_argument("--out", type=Path, help="write the topology here instead of printing it")
    draft.add_argument("--experiment", type=Path, metavar="EXPERIMENT.yaml",
                       help="also write an experiment on this stack, with the drafted live: mapping (needs --out)")
    draft.add_argument("--no-api", action="store_true",
                       help="never ask a running Toxiproxy for its proxies (default: asked when its config file "
                            "cannot be read and its API port is published)")
    draft.set_defaults(func=cmd_topology_from_compose)
    from chaos.commands.fidelity import register_from_traces  # the traces' command, beside its sibling

    register_from_traces(verbs)


def cmd_topology_from_compose(args: argparse.Namespace) -> int:
    from chaos.errors import InputError
    from chaos.live.stack.from_compose import from_compose
    from chaos.outdir import check_out_file
    from chaos.result import write_atomic

    if args.experiment is not None and args.out is None:
        raise InputError("--experiment needs --out: the experiment refers to the topology by its file",
                         path="--experiment", hint="add --out topologies/NAME.yaml")
    for given, argument in ((args.out, "--out"), (args.experiment, "--experiment")):
        if given is not None:
            check_out_file(given, overwrite=False, hint="choose another path", argument=argument)
    drafted = from_compose(args.compose_file, args.name, topology_out=args.out, experiment_out=args.experiment,
                           ask_api=not args.no_api)
    if args.out is None:
        sys.stdout.write(drafted.topology)
        return 0
    for given in (args.out, args.experiment):  # as --out of every other command: its directory is made
        if given is not None:
            given.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out, drafted.topology)
    if args.experiment is not None and drafted.experiment is not None:
        write_atomic(args.experiment, drafted.experiment)
        print(f"wrote {args.out} and {args.experiment}: confirm the '# guessed:' lines and fill in the TODOs, then "
              f"chaoslab validate {args.experiment}")
        return 0
    print(f"wrote {args.out}: confirm the '# guessed:' lines and fill in the TODOs, then chaoslab validate {args.out}")
    return 0
