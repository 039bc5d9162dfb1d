"""What a live stack cannot run of an experiment: the one place that says so, before anything runs.

chaoslab's generated stack (emulators) runs every operation, router, fallback call and request
attribute of a topology, up to ``MAX_LIVE_KINDS`` combinations of the attributes' values (its load
sends one kind of request per combination).

On a team's own stack (an experiment with ``live:``) the services run their own code: chaoslab drives
the entrypoints, injects faults at proxies and containers, and measures. There a topology's
operations, routers and fallback calls describe what the stack does by itself (nginx routes by path,
a client reads the database on a cache miss): they are accepted as descriptions, and what follows
from that is checked here:

* an entrypoint whose service declares operations calls one of them: the mapping gives that
  operation's route (``live: services: S: operations: {read: /home}``) and every request the load
  sends to the entrypoint is one the route matches, so the load exercises the operation the
  simulation sends it to;
* an operation is measured when the team's Prometheus reads its service under a preset whose series
  carry the route (``MetricsPreset.route_label``: OpenTelemetry's ``http_route``, Micrometer's
  ``uri``) and the mapping gives its route (:func:`operation_unmeasured`); otherwise it is
  unmeasured, never shown healthy, and an SLO, an alert rule or a playbook's verify step scoped to it
  is refused (a fault on one operation is refused by ``check_live``: the proxies and containers
  chaoslab acts on see every operation of a service alike);
* request attributes are refused: the team's services would not read the header chaoslab carries
  them in, so an attribute would decide nothing there and the game day would test another plan than
  the simulation's.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from chaos.errors import InputError
from chaos.model.experiment import Experiment
from chaos.model.live_target import LiveTarget
from chaos.model.parsing import Model, where_of
from chaos.model.playbook import Playbook
from chaos.model.scope import OPERATION_DOT, Scope, ScopeKind
from chaos.model.topology import Topology

MAX_LIVE_KINDS = 64
"""A generated stack's load sends one kind of request per combination of the attributes' values: at most this
many (six yes-or-no attributes, or an 8-valued one with three yes-or-no ones)."""
GENERATED_STACK = "the emulated live stack"


def live_problems(experiment: Experiment, engine: str, playbook: Playbook | None = None) -> list[InputError]:
    """Everything of ``experiment`` (and ``playbook``) that ``engine`` cannot run on its stack, each at its line."""
    target = experiment.live
    if target is None:
        return generated_problems(experiment.topology, engine)
    topology = experiment.topology
    return [*_attribute_problems(experiment, engine), *_entry_problems(topology, target),
            *_scope_problems(topology, target, engine, scoped_operations(experiment, playbook))]


def generated_problems(topology: Topology, engine: str = GENERATED_STACK) -> list[InputError]:
    """What a generated stack cannot carry: more combinations of attribute values than its load sends."""
    kinds = topology.attribute_combinations
    if kinds <= MAX_LIVE_KINDS:
        return []
    return [topology.error("attributes", f"{len(topology.attributes)} request attributes make {kinds} combinations "
                                         f"of values: {engine} carries at most {MAX_LIVE_KINDS} (its load sends one "
                                         "kind of request per combination)",
                           hint="simulate this topology, or merge attributes")]


def operation_unmeasured(target: LiveTarget, service: str, operation: str) -> str | None:
    """Why a team's Prometheus cannot read ``service``'s ``operation`` (None: it can, through the route label)."""
    prometheus = target.prometheus
    if prometheus is None:
        return "the live: section names no Prometheus"
    if service not in {s.name for s in prometheus.services}:
        return f"its Prometheus does not read '{service}' (live: prometheus: services)"
    if service in {q.name for q in prometheus.queries}:
        return f"'{service}' is read with PromQL of its own (live: prometheus: queries), which selects no route"
    if prometheus.preset.route_label is None:
        return f"the {prometheus.preset.value} preset's series carry no route label"
    if operation not in target.service_target(service).route_map:
        return f"the mapping gives no route for it (live: services: {service}: operations: {{{operation}: /PATH}})"
    return None


def scoped_operations(experiment: Experiment, playbook: Playbook | None = None
                      ) -> Iterator[tuple[Model, str, Scope, str]]:
    """What is scoped to one operation (SLOs, alert rules, playbook verify steps): the object, the field naming
    the operation, the scope, and how a message names the object."""
    for slo in experiment.slos:
        if slo.operation is not None:
            yield slo, "operation", Scope(slo.scope_kind, slo.scope_name), "an SLO"
    for rule in experiment.alert_rules:
        if rule.operation is not None:
            yield rule, "operation", rule.scope, f"alert '{rule.name}'"
    for step in playbook.steps if playbook is not None else ():
        if step.verify is not None and step.verify.operation is not None:
            yield step.verify, "operation", step.verify.scope, f"the verify of step '{step.name}'"


def _attribute_problems(experiment: Experiment, engine: str) -> list[InputError]:
    topology = experiment.topology
    if not topology.attributes:
        return []
    # The topology's line says what cannot run; the experiment's 'live:' is what made the stack a team's own,
    # and leaving it out is how to run the same game day on a stack that runs it.
    live_at, _ = where_of(experiment).of("live")
    return [topology.error("attributes", f"request attributes are not carried by {engine} on a team's own stack: "
                                         "its services would not read the header chaoslab carries them in",
                           hint=f"simulate it, or run the experiment without its 'live:' section ({live_at}): "
                                "chaoslab run then generates a stack of emulators that carries them")]


def _entry_problems(topology: Topology, target: LiveTarget) -> list[InputError]:
    """An entrypoint calling one of several operations sends only requests that operation's route matches."""
    problems = []
    for entry in topology.entrypoints:
        service = topology.service(entry.to)
        mapped = target.entrypoint_map.get(entry.name)
        if not service.operations or mapped is None:
            continue
        op = service.operation_of(entry.operation).name
        route = target.service_target(service.name).route_map.get(op)
        if route is None:
            problems.append(entry.error("operation", f"entrypoint '{entry.name}' calls '{service.name}{OPERATION_DOT}"
                                                     f"{op}': the mapping does not say which requests that is",
                                        hint=f"give the operation's route under live: services: {service.name}: "
                                             f"operations: {{{op}: /PATH}}"))
            continue
        base = urlsplit(mapped.url).path.rstrip("/")
        sent: list[tuple[Model, str, str, str]] = [
            (k, "path", k.method.value, base + k.path if k.path else base or "/") for k in mapped.requests]
        for obj, field_name, method, path in sent or [(mapped, "url", "GET", base or "/")]:
            if not route.matches(path):
                problems.append(obj.error(field_name, f"{method} {path} is not operation '{service.name}"
                                                      f"{OPERATION_DOT}{op}' that entrypoint '{entry.name}' calls "
                                                      f"(its route: {route.route})",
                                          hint="send that operation's requests to this entrypoint, or give its "
                                               "other operations entrypoints of their own"))
    return problems


def _scope_problems(topology: Topology, target: LiveTarget, engine: str,
                    scoped: Iterator[tuple[Model, str, Scope, str]]) -> list[InputError]:
    problems = []
    for obj, field_name, scope, what in scoped:
        if scope.kind is not ScopeKind.OPERATION:
            continue
        service, _, operation = scope.name.partition(OPERATION_DOT)
        why = operation_unmeasured(target, service, operation)
        if why is not None:
            problems.append(obj.error(field_name, f"{what} on operation '{scope.name}', which {engine} on a team's "
                                                  f"own stack cannot measure: {why}",
                                      hint="scope it to the service, or have the team's Prometheus read the "
                                           "operation (a preset with a route label, and the operation's route)"))
    return problems


def refuse(problems: list[InputError]) -> None:
    """Raise the problems found as one InputError (none: nothing to refuse)."""
    if problems:
        raise combined(problems)


def combined(problems: list[InputError]) -> InputError:
    """One InputError listing every problem, each at its file:line with its own hint."""
    if len(problems) == 1:
        return problems[0]
    first = problems[0]
    head = first.detail + (f"\n  hint: {first.hint}" if first.hint else "")
    rest = "\n".join(str(p) for p in problems[1:])
    return InputError(f"{head}\n{rest}", first.location, first.path,
                      hint=f"{len(problems)} problems, each at its line above; nothing was run")
