"""Which stack a live run drives, and whether the run takes it down afterwards.

In order of precedence:

1. the experiment's ``live:`` section: the user's own Compose stack, already running; the
   run looks its containers up and never takes it down;
2. ``--stack-dir DIR`` holding a running chaoslab stack (``DIR/state.json``): used as it is
   and left running; it must have been generated from the same topology and latency bounds,
   or its figures would not be the experiment's;
3. otherwise a stack generated from the experiment's topology (overrides applied) in
   ``--stack-dir DIR`` or ``OUT/stack``, brought up and, unless ``--keep-stack``, taken
   down at the end.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chaos.errors import InputError, LiveError
from chaos.live.in_container.stackspec import StackSpec
from chaos.live.stack.scrape_choice import scrape_choice, team_step
from chaos.live.stack.state import STATE_FILE, StackState
from chaos.live_states import StackKind

if TYPE_CHECKING:
    from chaos.model.experiment import Experiment


@dataclass
class StackHandle:
    state: StackState
    spec: StackSpec | None   # the emulators' spec (None: a user's stack)
    directory: Path | None
    owned: bool              # brought up by this run: taken down by it unless kept
    allow_remote: bool = False

    def down(self) -> None:
        if self.owned and self.directory is not None:
            from chaos.live.stack.emulator_stack import down

            down(self.directory, allow_remote=self.allow_remote)


def planned_state(experiment: Experiment, directory: Path, scrape_interval: int | None = None) -> StackState:
    """The state a generated stack would have, without bringing it up (for validation and dry runs);
    ``scrape_interval``: ``--scrape-interval``, as ``open_stack`` takes it."""
    from chaos.live.stack import emulator_stack as stack
    from chaos.live.stack.mapped_scrape import stack_relabels

    topology = experiment.topology
    ports = list(range(20000, 20000 + len(stack.published_names(topology))))
    plan = stack.plan_stack(topology, runtime_image="chaoslab/runtime:planned", host_ports=ports,
                            relabels=stack_relabels(experiment), scrape=scrape_choice(experiment, scrape_interval))
    return stack.stack_state(plan, directory)


def scrape_words(experiment: Experiment | None, state: StackState, scrape_interval: int | None = None) -> str:
    """How often the Prometheus a run on this stack reads scrapes, and why (``scrape_choice``): a generated
    stack's as its state says, or as ``--scrape-interval`` and the experiment will set it; a team's as its
    ``live:`` mapping says. Followed by the simulation's interval where it differs."""
    if state.kind is StackKind.USER:
        if experiment is None or experiment.live is None or experiment.live.prometheus is None:
            return "none named (live: prometheus:): services read by chaoslab's own scrapes each second"
        step, source = team_step(experiment)
        words = f"read every {step} s ({source})" if step is not None else f"read at {source}"
    else:
        choice = scrape_choice(experiment, scrape_interval)
        words = f"scrapes every {state.scrape_interval_s} s ({state.scrape_interval_from.describe()})"
        if choice.seconds is not None and choice.seconds != state.scrape_interval_s:
            words += f"; set to {choice.seconds} s before the run ({choice.source.describe()})"
            step = choice.seconds
        else:
            step = state.scrape_interval_s
    if experiment is not None and step is not None and step != experiment.metrics.scrape_interval_s:
        words += (f"; a simulation of {experiment.name} scrapes every {experiment.metrics.scrape_interval_s} s "
                  f"(write metrics: scrape_interval: {step}s for both to scrape alike)")
    return words


def expected_spec(experiment: Experiment, bounds: tuple[float, ...]) -> StackSpec:
    """The spec a stack generated for this experiment has (urls as planned)."""
    from chaos.live.in_container.stackspec import from_dict
    from chaos.live.stack import emulator_stack as stack

    topology = experiment.topology
    ports = list(range(20000, 20000 + len(stack.published_names(topology))))
    plan = stack.plan_stack(topology, runtime_image="chaoslab/runtime:planned", host_ports=ports)
    return from_dict(json.loads(stack.stack_spec_json(plan, bounds)))


def user_state(experiment: Experiment, *, allow_remote: bool, resolve: bool = True) -> StackState:
    from chaos.live.stack.user_stack import resolve as resolve_containers
    from chaos.live.stack.user_stack import user_stack

    target = experiment.live
    if target is None:
        raise LiveError(f"experiment '{experiment.name}' names no stack of its own (no live: section)")
    state = user_stack(target, experiment.topology)
    return resolve_containers(state, target, allow_remote=allow_remote) if resolve else state


def open_stack(experiment: Experiment, bounds: tuple[float, ...], *, out: Path, stack_dir: Path | None,
               allow_remote: bool, source: str = "", say: Callable[[str], None] = print,
               ready_timeout: float = 120.0, traces: bool = False, scrape_interval: int | None = None) -> StackHandle:
    """The stack this run drives (brought up if need be); see the module's docstring. ``scrape_interval``: how often
    a generated stack's Prometheus scrapes (``--scrape-interval``; with the experiment's ``metrics: scrape_interval``
    by ``scrape_choice``'s rule): a running one is reconfigured to it, and keeps it; with neither, it scrapes as it
    does."""
    from chaos.live.in_container.stackspec import load
    from chaos.live.stack import emulator_stack as stack
    from chaos.live.stack.mapped_scrape import stack_relabels
    from chaos.live.stack.state import read_state

    if traces and (experiment.live is not None
                   or (stack_dir is not None and (stack_dir / STATE_FILE).is_file())):
        raise InputError("--traces needs a stack this run generates: its emulators are started with tracing on",
                         path="--traces", hint="leave out the experiment's 'live:' section or --stack-dir of a "
                                               "running stack, or run without --traces")
    if scrape_interval is not None and experiment.live is not None:
        raise InputError("--scrape-interval sets how often the Prometheus of a stack chaoslab generates scrapes; "
                         "your own Prometheus scrapes as it is configured to", path="--scrape-interval",
                         hint="leave it out (live: prometheus: scrape_interval says the step to read your "
                              "Prometheus at)")
    scrape = scrape_choice(experiment, scrape_interval)
    if experiment.live is not None:
        state = user_state(experiment, allow_remote=allow_remote)
        say(f"stack: your own Compose project '{state.name}' ({len(state.replicas)} container(s)); it stays up")
        return StackHandle(state, None, None, owned=False, allow_remote=allow_remote)
    if stack_dir is not None and (stack_dir / STATE_FILE).is_file():
        state = read_state(stack_dir)
        spec = load(stack_dir / stack.SPEC_FILE)
        check_same_stack(experiment, bounds, state, spec, stack_dir)
        say(f"stack: {state.name} from {stack_dir} (already running; it stays up)")
        if scrape.seconds is not None and scrape.seconds != state.scrape_interval_s:
            from chaos.live.gameday.rescrape import reconfigure

            was = state.scrape_interval_s
            state = reconfigure(state, scrape_interval_s=scrape.seconds, allow_remote=allow_remote,
                                scrape_source=scrape.source)
            say(f"stack: its Prometheus scrapes every {scrape.seconds} s from now on (was {was} s; "
                f"{scrape.source.describe()}: {stack.PROMETHEUS_FILE} rewritten and reloaded, state.json updated)")
        return StackHandle(state, spec, stack_dir, owned=False, allow_remote=allow_remote)
    directory = stack_dir or out / "stack"
    say(f"stack: bringing up {experiment.topology.name} in {directory} ...")
    result = stack.up(experiment.topology, directory, bounds=bounds, source=source,
                      ready_timeout=ready_timeout, allow_remote=allow_remote, traces=traces,
                      rule_files=stack.rule_files_of(experiment), relabels=stack_relabels(experiment),
                      evaluation_interval_s=stack.evaluation_interval_of(experiment), scrape=scrape)
    say(f"stack: {result.state.name} up and healthy in {result.timings['total_s']:.1f}s")
    return StackHandle(result.state, load(directory / stack.SPEC_FILE), directory, owned=True,
                       allow_remote=allow_remote)


def check_same_stack(experiment: Experiment, bounds: tuple[float, ...], state: StackState, spec: StackSpec,
                     directory: Path) -> None:
    """A running stack must emulate this experiment's topology with its latency buckets."""
    want = expected_spec(experiment, bounds)
    hint = (f"take it down (chaoslab stack down --dir {directory}) and let chaoslab run bring up its own, "
            "or bring it up from this experiment: chaoslab stack up EXPERIMENT --dir DIR")
    if tuple(spec.latency_bounds_s) != tuple(want.latency_bounds_s):
        raise InputError(f"the stack in {directory} buckets latencies differently from this experiment "
                         "(its SLO and alert thresholds are other histogram bounds)", hint=hint)
    if _shape(spec) != _shape(want):
        raise InputError(f"the stack in {directory} was generated from another topology than this experiment's "
                         f"('{state.topology}', or other settings)", hint=hint)
    if not state.has_admin:
        raise LiveError(f"{directory} holds a user's stack state, not a generated one")


def _shape(spec: StackSpec) -> dict[str, object]:
    """The spec without its urls (ports differ between two stacks of one topology)."""
    doc = spec.to_dict()
    for service in doc["services"].values():
        for call in service["calls"]:
            call.pop("urls", None)
    return doc
