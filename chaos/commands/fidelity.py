"""``chaoslab topology from-traces`` and ``chaoslab traces fidelity``: a topology from traces, and how well it
reproduces them.

from-traces reads the traces, writes the topology (checked by the topology parser before it
takes the place of ``--out``), prints what it had to guess or blend and what it could not
use, then simulates the topology at the traced load and judges it against the traces
(:mod:`chaos.traces.fidelity`). ``traces fidelity`` does the second half for any topology, so
that a hand-edited or calibrated one can be judged against the same traces.

The fidelity files go next to ``--out`` (``NAME.fidelity.md``, ``.json``, and the experiment
that was simulated, ``NAME.fidelity-experiment.yaml``, for ``chaoslab simulate``), or into
``--report-dir`` as ``fidelity.md``, ``fidelity.json`` and ``fidelity-experiment.yaml``.
Exit code 0 when every judged figure agrees, 1 when one diverges, 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chaos.errors import InputError
from chaos.model.arguments import OPEN_TRACES, SEED, TRACE_WINDOW, add_option, of_field
from chaos.terminal import visible
from chaos.traces.observed import ObservedModel
from chaos.traces.spans import TraceFormat

if TYPE_CHECKING:
    from chaos.model.topology import Topology

SIM_DURATION = of_field("chaos.model.experiment:Experiment.duration")
MIN_SIM_S, MAX_SIM_S = 60.0, 3600.0
SIM_REQUESTS = 20_000  # entry requests the simulation runs at least (within MAX_SIM_S): its own noise stays small


def trace_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=[f.value for f in TraceFormat], help="skip detecting the format")
    add_option(p, "--window", quantity=TRACE_WINDOW, default=10.0, metavar="SECONDS",
               help="a trace is complete when the stream has moved this far past its last span (10)")
    add_option(p, "--max-open", quantity=OPEN_TRACES, default=100_000, metavar="TRACES",
               help="traces held open at once; beyond it the oldest is closed early (100000)")


def fidelity_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--report-dir", type=Path, metavar="DIR",
                   help="write fidelity.md, fidelity.json and fidelity-experiment.yaml here (default: next to the "
                        "topology, as NAME.fidelity.md ...)")
    add_option(p, "--sim-duration", quantity=SIM_DURATION, metavar="SECONDS",
               help=f"simulated seconds (default: {MIN_SIM_S:g}, or as long as {SIM_REQUESTS:,} entry requests "
                    f"take at the traced rate, at most {MAX_SIM_S:g})")
    add_option(p, "--seed", quantity=SEED, default=1, help="the simulation's seed (1)")


def register_from_traces(verbs: argparse._SubParsersAction) -> None:
    p = verbs.add_parser(
        "from-traces", help="write a topology from distributed traces (OTLP, Jaeger, Zipkin JSON), and measure "
                            "how well its simulation reproduces them",
        description="Derive services, entrypoints, calls, stages, work times, retries, timeouts and worker pools "
                    "from the traces and write them as a topology, every guessed setting marked '# guessed:'. "
                    "Then simulate it at the traced load and judge it against the traces per service and "
                    "entrypoint (throughput, error ratio, p50, p90, p99) with chaoslab compare's bounds. "
                    "Exit code 0 when every figure agrees, 1 when one diverges, 2 for bad input.")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--out", type=Path, default=Path("topology.yaml"), metavar="TOPOLOGY.yaml",
                   help="where the topology goes (default: topology.yaml)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--name", help="the topology's name (default: --out's file name)")
    p.add_argument("--no-fidelity", action="store_true", help="write the topology only; simulate nothing")
    trace_options(p)
    fidelity_options(p)
    p.set_defaults(func=cmd_from_traces)


def register_fidelity(verbs: argparse._SubParsersAction) -> None:
    p = verbs.add_parser(
        "fidelity", help="simulate a topology at the traced load and judge it against the traces",
        description="Per service and entrypoint (names as from-traces writes them): throughput, error ratio, p50, "
                    "p90 and p99, with chaoslab compare's bounds. Exit code 0 when every figure agrees, 1 when "
                    "one diverges, 2 for bad input.")
    p.add_argument("topology", type=Path, metavar="TOPOLOGY.yaml")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    trace_options(p)
    fidelity_options(p)
    p.set_defaults(func=cmd_fidelity)


# --------------------------------------------------------------------------- handlers


def observe(args: argparse.Namespace) -> ObservedModel:
    from chaos.traces.observe import DEFAULT_SETTINGS, observe_files
    from chaos.traces.observed import Settings

    settings = Settings(args.window, args.max_open, DEFAULT_SETTINGS.skew_tolerance_s)
    model = observe_files(args.files, TraceFormat(args.format) if args.format else None, settings)
    if not model.spans_read:
        raise InputError("no spans in the files given", hint="check that they are trace exports")
    if not model.entrypoints:
        raise InputError("the traces hold no usable entry request (a root server span)",
                         hint="chaoslab traces inspect FILE says what was left out and why")
    return model


def cmd_from_traces(args: argparse.Namespace) -> int:
    from chaos.outdir import check_out_file
    from chaos.traces.topology import draft_topology

    check_out_file(args.out, overwrite=args.force, hint="choose another --out, or --force")
    reports = _report_paths(args, args.out)
    model = observe(args)
    if not args.no_fidelity and model.traced_rate <= 0:
        raise InputError("the traces show one entry request or none: no rate to simulate the topology at",
                         hint="use traces of a stretch of traffic, or --no-fidelity to write the topology only")
    draft = draft_topology(model, args.name or args.out.stem)
    _write_checked(args.out, draft.text)
    from chaos.model.quantities import plural

    print(visible(f"wrote {args.out}: {plural(len(draft.services), 'service')}, "
                  f"{plural(len(draft.entrypoints), 'entrypoint')}, traced load {draft.rate:.4g} requests/s; "
                  f"{plural(draft.guesses, 'setting')} guessed (marked '# guessed:' in the file)"))
    if model.flaws:
        print("Not used, or used with a caveat:")
        for f in model.flaws:
            print(f"  {f.count:,} {f.flaw.value}")
    if draft.notes:
        print("What the topology cannot say as the traces show it (operations, routing and request attributes come "
              "with issue 16); blended as it can:")
        for note in draft.notes:
            print(visible(f"  - {note}"))
    if args.no_fidelity:
        return 0
    return _fidelity(args, args.out, model, draft.services, draft.entrypoints, draft.notes, reports)


def cmd_fidelity(args: argparse.Namespace) -> int:
    from chaos.model.files import load_topology
    from chaos.traces.topology import safe_name

    topology = load_topology(args.topology)  # bad input stops here, before the traces are read
    reports = _report_paths(args, args.topology)
    model = observe(args)
    taken: set[str] = set()
    services = {s.name: safe_name(s.name, taken) for s in model.services}
    taken = set()
    entrypoints = {(e.service, e.operation): safe_name(e.operation, taken, "entry") for e in model.entrypoints}
    known = {s.name for s in topology.services}
    services = {k: v for k, v in services.items() if v in known}
    entrypoints = _paired_entrypoints(entrypoints, services, topology)
    if not services and not entrypoints:
        raise InputError(f"{args.topology}: none of its services or entrypoints is named as the traces name them",
                         hint="fidelity pairs names as chaoslab topology from-traces writes them")
    timeouts = {e.name: e.timeout for e in topology.entrypoints if e.timeout is not None}
    return _fidelity(args, args.topology, model, services, entrypoints, (), reports, timeouts)


def _paired_entrypoints(traced: dict[tuple[str, str], str], services: dict[str, str],
                        topology: Topology) -> dict[tuple[str, str], str]:
    """Each traced entrypoint with the topology's of the same name; one that has none is paired with the one
    entrypoint left into the same service, when that service has exactly one left on each side (a team's
    ``web: {to: front}`` is the traces' ``GET /work`` at front)."""
    paired = {k: v for k, v in traced.items() if v in topology.entrypoint_map}
    taken = set(paired.values())
    for service, name in services.items():
        left = [k for k in traced if k[0] == service and k not in paired]
        theirs = [e.name for e in topology.entrypoints if e.to == name and e.name not in taken]
        if len(left) == 1 and len(theirs) == 1:
            paired[left[0]] = theirs[0]
    return paired


@dataclass(frozen=True)
class _Reports:
    markdown: Path
    json: Path
    experiment: Path


def _report_paths(args: argparse.Namespace, topology: Path) -> _Reports:
    from chaos.outdir import check_out_file

    if args.report_dir is not None:
        if args.report_dir.exists() and not args.report_dir.is_dir():
            raise InputError("not a directory", path=f"--report-dir {args.report_dir}")
        base = args.report_dir
        paths = _Reports(base / "fidelity.md", base / "fidelity.json", base / "fidelity-experiment.yaml")
    else:
        stem = topology.with_suffix("")
        paths = _Reports(Path(f"{stem}.fidelity.md"), Path(f"{stem}.fidelity.json"),
                         Path(f"{stem}.fidelity-experiment.yaml"))
    if not getattr(args, "no_fidelity", False):
        for path in (paths.markdown, paths.json, paths.experiment):
            if path.exists():
                check_out_file(path, overwrite=True, hint="choose another --report-dir", argument="fidelity report")
    return paths


def _write_checked(path: Path, text: str) -> None:
    """Write the topology under a temporary name, parse it as ``chaoslab validate`` would, then rename it."""
    from chaos.errors import ChaosError
    from chaos.model.files import load_topology

    tmp = path.with_name(f".{path.name}.from-traces.yaml")
    try:
        tmp.write_text(text, encoding="utf-8")
        try:
            load_topology(tmp)
        except InputError as exc:
            raise ChaosError(f"the topology derived from the traces does not validate ({exc}); this is a bug in "
                             "chaoslab, please report it with the traces") from None
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def sim_seconds(rate: float) -> float:
    """Long enough for the simulation's own noise to stay well inside the bounds, whatever the traced period:
    the load is constant, so a longer run would only repeat itself."""
    wanted = max(MIN_SIM_S, SIM_REQUESTS / rate if rate > 0 else 0.0)
    return float(math.ceil(min(MAX_SIM_S, wanted)))


def experiment_text(topology: Path, experiment: Path, name: str, rate: float, duration: float, seed: int) -> str:
    ref = os.path.relpath(topology.resolve(), experiment.resolve().parent)
    warmup = min(30.0, duration / 10)
    return (f"# The load the traces showed, as chaoslab topology from-traces simulated it to judge {topology.name}.\n"
            f"name: {name}\n"
            f"topology: {json.dumps(ref)}\n"
            f"duration: {duration:g}s\n"
            f"warmup: {warmup:g}s\n"
            f"seed: {seed}\n"
            f"load: {{profile: constant, rate: {rate!r}}}\n")


def _fidelity(args: argparse.Namespace, topology_path: Path, model: ObservedModel, services: dict[str, str],
              entrypoints: dict[tuple[str, str], str], notes: tuple[str, ...], reports: _Reports,
              timeouts: dict[str, float] | None = None) -> int:
    """Simulate the topology at the traced load and judge it; ``timeouts``: its entrypoints' client timeouts."""
    from chaos.model.files import load_experiment
    from chaos.result import write_atomic
    from chaos.sim.simulation import simulate
    from chaos.traces.fidelity import (
        entry_caveats,
        judge_fidelity,
        render_markdown,
        render_text,
        simulated_figures,
        to_json_doc,
        traced_figures,
    )
    from chaos.traces.topology import safe_name

    rate = model.traced_rate
    if rate <= 0:
        raise InputError("the traces show one entry request or none: no rate to simulate",
                         hint="fidelity needs traces of a stretch of traffic")
    duration = args.sim_duration or sim_seconds(rate)
    reports.experiment.parent.mkdir(parents=True, exist_ok=True)
    name = safe_name(f"{topology_path.stem}-fidelity", set(), "fidelity")
    write_atomic(reports.experiment, experiment_text(topology_path, reports.experiment, name, rate, duration,
                                                     args.seed))
    experiment = load_experiment(reports.experiment)
    run = simulate(experiment, args.seed)
    fidelity = judge_fidelity(simulated_figures(run), traced_figures(model, services, entrypoints), rate,
                              duration, args.seed, entry_caveats(model, entrypoints, timeouts or {}))
    write_atomic(reports.markdown, render_markdown(fidelity, notes))
    write_atomic(reports.json, json.dumps(to_json_doc(fidelity, notes), indent=1) + "\n")
    print(visible(render_text(fidelity)))
    print(f"Fidelity report: {reports.markdown} ({reports.json.name} and the simulated experiment, "
          f"{reports.experiment.name}, beside it)")
    return 0 if fidelity.agrees else 1


# --------------------------------------------------------------------------- chaoslab calibrate TRACES...


def cmd_calibrate_traces(args: argparse.Namespace) -> int:
    """``chaoslab calibrate FILE... --topology T --out OUT``: T with each traced service's time replaced by the
    one ``from-traces`` would write (the same derivation: its time as its callers waited on it, and where the
    hops of a request stall together, its times by the request's pace)."""
    import yaml

    from chaos.model.files import load_topology
    from chaos.model.inputs import MODEL_FILE_LIMIT, read_input
    from chaos.traces.calibrate import Calibration
    from chaos.traces.topology import PACE_ATTRIBUTE, calibrations, pace_attribute

    if args.topology is None:
        raise InputError("calibrating from traces needs --topology, the topology whose service times to replace",
                         path="calibrate", hint="or write one from the traces: chaoslab topology from-traces FILE...")
    load_topology(args.topology)  # a bad topology is reported at its line, before the traces are read
    data = yaml.safe_load(read_input(args.topology, str(args.topology), MODEL_FILE_LIMIT))
    model = observe(args)
    fits = calibrations(model)
    pace = pace_attribute(model)
    edit = Calibration(str(args.topology), data, pace is not None)
    if pace is not None:
        edit.declare_pace(yaml.safe_load(pace.yaml))
    edit.apply(fits)
    header = [f"# Calibrated by chaoslab calibrate from the traces in {', '.join(str(f) for f in args.files)} "
              f"(topology {args.topology}).",
              "# Each service_time below that the traces show, as chaoslab topology from-traces writes it: its own",
              "# work (server span minus waiting on calls) and its per-hop overhead (what callers waited beyond its",
              "# server span), fitted together call by call where callers were seen waiting on it:"]
    if pace is not None:
        header.append(f"# attributes.{PACE_ATTRIBUTE}: {pace.why}")
    header += [f"#   {line}" for line in edit.done]
    if edit.kept:
        header.append(f"# Not in the traces, left as they were (an operation: none or several traced operations "
                      f"end in its name): {', '.join(edit.kept)}")
    header += [f"# {line}" for line in edit.notes]
    text = "\n".join(header) + "\n" + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=110)
    _write_checked(args.out, text)
    for line in edit.done:
        print(visible(line))
    if edit.kept:
        print(visible(f"not in the traces, left as they were: {', '.join(edit.kept)}"))
    for line in edit.notes:
        print(visible(line))
    print(f"wrote {args.out}")
    return 0
