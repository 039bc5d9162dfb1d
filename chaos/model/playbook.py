"""Incident playbooks: who does what, how long it takes, how we know it worked, and by when.

::

    name: db-slow-runbook
    trigger: {alerts: [browse-errors, browse-burn]}      # or {at: 2m} for a drill at a fixed time
    roles:
      oncall: {respond: {dist: lognormal, median: 3m, p90: 10m}}
      automation: {respond: 0s}
    recovery_window: 60s          # recovered: every SLO within target over this trailing window
    steps:
      - name: page on-call
        role: oncall
        action: {kind: page}                           # the role's response time, nothing else
        deadline: {within: 15m}                        # from the incident start (the first fault)
      - name: shed browse load
        role: oncall
        action: {kind: shed_load, entrypoint: browse, limit: 150}
        duration: {dist: lognormal, median: 1m, p90: 3m}
        verify: {entrypoint: browse, metric: error_ratio, below: 0.02, for: 60s, within: 5m}
        deadline: {within: 10m, after: page on-call}
        on_failure: {escalate: roll back}
        mitigates: true
    objectives:
      - {phase: recover, within: 30m, probability: 0.9}   # drills gate on these

Steps run one after another. A step starts when the one before it has ended and its role
has responded (a role responds once per incident: when paged, or when the incident is
triggered if nobody pages it). The action takes effect at the end of the step's
duration; then ``verify`` must hold for its ``for`` within its ``within``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated

from chaos.errors import InputError
from chaos.model.alerts import AlertMetric, Scoped
from chaos.model.bounds import MAX_FACTOR, MAX_RATE, MAX_REPLICAS
from chaos.model.distributions import AnyDistribution, Constant, Distribution
from chaos.model.parsing import (
    LABEL,
    NAME,
    Model,
    Seconds,
    Tagged,
    did_you_mean,
    fld,
    join,
    model_fields,
    one_of,
    where_of,
)
from chaos.model.quantities import duration
from chaos.model.scope import split_edge
from chaos.model.topology import CircuitBreaker, Retries, check_operation_scope


@dataclass(frozen=True)
class Trigger(Model):
    """What starts the response: the first firing of any of these alerts, or a fixed time."""

    alerts: tuple[str, ...] = fld((), doc="alert names from the experiment's rules")
    at: Seconds | None = fld(None, doc="start the response at this time instead (a drill)")

    def validate(self) -> None:
        if bool(self.alerts) == (self.at is not None):
            raise self.error(None, "a trigger names alerts or a time ('at'), exactly one of them")


@dataclass(frozen=True)
class Role(Model):
    """Someone (or something) that does steps, and how long they take to respond when paged."""

    name: str = fld(doc="taken from the key under 'roles'", text=NAME)
    respond: Distribution = fld(Constant(0.0), doc="time from being paged to acting")


class Phase(enum.Enum):
    DETECT = "detect"
    ACKNOWLEDGE = "acknowledge"
    MITIGATE = "mitigate"
    RECOVER = "recover"


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Page(Model):
    """Page the step's role (or another): the step lasts the role's response time."""

    TAG = "page"
    role: str | None = fld(None, doc="the role paged (default: the step's own)")


@dataclass(frozen=True)
class Wait(Model):
    """Do nothing for the step's duration (look at dashboards, wait for a rollout)."""

    TAG = "wait"


@dataclass(frozen=True)
class RemoveFault(Model):
    """Remove a fault of the experiment (fix the config, kill the bad query): by name, or all."""

    TAG = "remove_fault"
    fault: str = fld(doc="a fault's name (or label kind:target), or '*' for every fault")


@dataclass(frozen=True)
class Restart(Model):
    """Restart a service's replicas: what they hold fails, they come back at once (optionally cold)."""

    TAG = "restart"
    service: str = fld()
    replicas: int | None = fld(None, ge=1, le=MAX_REPLICAS, doc="how many (default: all)")
    cold_factor: float = fld(1.0, ge=1, le=MAX_FACTOR, doc="service-time multiplier right after the restart")
    cold_decay: Seconds = fld(30.0, gt=0)


@dataclass(frozen=True)
class Scale(Model):
    """Run a service with this many replicas from now on."""

    TAG = "scale"
    service: str = fld()
    replicas: int = fld(ge=1, le=MAX_REPLICAS)


@dataclass(frozen=True)
class SetCall(Model):
    """Change one edge's call policy: its timeout, retries or circuit breaker."""

    TAG = "set_call"
    edge: str = fld(doc="'caller->callee'")
    timeout: Seconds | None = fld(None, gt=0)
    retries: Retries | None = fld(None)
    circuit_breaker: CircuitBreaker | None = fld(None)
    fallback: bool | None = fld(None)

    def validate(self) -> None:
        if (self.timeout, self.retries, self.circuit_breaker, self.fallback) == (None, None, None, None):
            raise self.error(None, "a set_call changes nothing: give at least one of 'timeout', 'retries', "
                                   "'circuit_breaker' or 'fallback'")


@dataclass(frozen=True)
class ShedLoad(Model):
    """Admit at most ``limit`` requests per second at an entrypoint; the rest are rejected at once."""

    TAG = "shed_load"
    entrypoint: str = fld()
    limit: float | None = fld(gt=0, le=MAX_RATE, doc="requests per second; null lifts the limit")


@dataclass(frozen=True)
class Rollback(Model):
    """Roll back to the baseline: the topology file without the experiment's overrides or this playbook's changes.

    ``faults`` names the faults the bad release caused: the rollback removes them too."""

    TAG = "rollback"
    faults: tuple[str, ...] = fld((), doc="faults that the rollback removes")


@dataclass(frozen=True)
class Failover(Model):
    """Send every call meant for one service to another from now on (a standby, another region)."""

    TAG = "failover"
    from_: str = fld(key="from")
    to: str = fld()

    def validate(self) -> None:
        if self.from_ == self.to:
            raise self.error("to", f"a failover from '{self.from_}' to itself changes nothing",
                             hint="fail over to another service (a standby, another region)")


AnyAction = Page | Wait | RemoveFault | Restart | Scale | SetCall | ShedLoad | Rollback | Failover
Action = Annotated[AnyAction, Tagged("kind")]
ACTION_CLASSES = (Page, Wait, RemoveFault, Restart, Scale, SetCall, ShedLoad, Rollback, Failover)
REMEDIES = (RemoveFault, Restart, Scale, SetCall, ShedLoad, Rollback, Failover)




class ActionKind(enum.Enum):
    """What a playbook step does, as the record, result.json (a step's ``action``) and the reports name it:
    each action class's ``kind`` in the playbook file."""

    PAGE = Page.TAG
    WAIT = Wait.TAG
    REMOVE_FAULT = RemoveFault.TAG
    RESTART = Restart.TAG
    SCALE = Scale.TAG
    SET_CALL = SetCall.TAG
    SHED_LOAD = ShedLoad.TAG
    ROLLBACK = Rollback.TAG
    FAILOVER = Failover.TAG


def describe(action: AnyAction) -> tuple[ActionKind, str]:
    """(kind, target) of an action, for records and reports."""
    kind = ActionKind(action.TAG)
    if isinstance(action, Failover):
        return kind, f"{action.from_}->{action.to}"
    if isinstance(action, Rollback):
        return kind, ", ".join(action.faults)
    for name in ("fault", "service", "edge", "entrypoint", "role"):
        value = getattr(action, name, None)
        if isinstance(value, str):
            return kind, value
    return kind, ""


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Condition(Scoped):
    """A metric of a scope below or above a value, holding for a while, within a time limit."""

    WHAT = "a condition"

    service: str | None = fld(None)
    entrypoint: str | None = fld(None)
    operation: str | None = fld(None, text=NAME, doc="with 'service': one of its operations only")
    metric: AlertMetric = fld(AlertMetric.ERROR_RATIO)
    below: Seconds | None = fld(None, doc="a number; for latency metrics a duration")
    above: Seconds | None = fld(None)
    window: Seconds = fld(10.0, gt=0, doc="the metric is computed over this trailing window")
    for_: Seconds = fld(60.0, key="for", doc="it must hold this long without a break")
    within: Seconds = fld(300.0, gt=0, doc="give up (the step fails) if it has not held by then")

    def validate(self) -> None:
        super().validate()
        if (self.below is None) == (self.above is None):
            raise self.error(None, "a condition gives exactly one of 'below' or 'above'")

    def describe(self) -> str:
        """``p99 latency of service:db < 100 ms for 20 s``: the value in the metric's unit."""
        op, value = ("<", self.below) if self.below is not None else (">", self.above)
        return f"{self.metric.label} of {self.scope} {op} {self.metric.format(value)} for {duration(self.for_)}"


@dataclass(frozen=True)
class Deadline(Model):
    """By when a step must be over: ``within`` from the incident start, or from the end of step ``after``."""

    within: Seconds = fld(gt=0)
    after: str | None = fld(None, doc="an earlier step's name (default: the incident start)")


class OnFailure(enum.Enum):
    CONTINUE = "continue"
    ABORT = "abort"


class OnSuccess(enum.Enum):
    CONTINUE = "continue"
    STOP = "stop"        # the response is complete: later steps are only escalation targets


@dataclass(frozen=True)
class Escalate(Model):
    """On failure, jump to the named step (an earlier one runs again) instead of going on to the next."""

    escalate: str = fld(doc="the step to jump to")


@dataclass(frozen=True)
class Step(Model):
    """One step of the response: a role does one action, then a condition must hold, before a deadline."""

    name: str = fld(text=LABEL, doc="what the step is called (free text)")
    role: str = fld(doc="who does it")
    action: Action = fld(doc="what it does (a closed catalogue)")
    duration: Distribution = fld(Constant(0.0), doc="how long the action itself takes")
    verify: Condition | None = fld(None, doc="what must hold afterwards for the step to count as done")
    deadline: Deadline | None = fld(None)
    on_failure: OnFailure | Escalate = fld(OnFailure.CONTINUE, doc="continue, abort, or {escalate: step}")
    on_success: OnSuccess = fld(OnSuccess.CONTINUE, doc="continue with the next step, or stop (response complete)")
    mitigates: bool = fld(False, doc="its verify holding is the moment the incident counts as mitigated")

    @property
    def act(self) -> AnyAction:
        return self.action

    @property
    def takes(self) -> AnyDistribution:
        return self.duration


@dataclass(frozen=True)
class PhaseObjective(Model):
    """A promise about a phase: e.g. recover within 30 minutes in 90% of incidents."""

    phase: Phase = fld()
    within: Seconds = fld(gt=0, doc="from the incident start")
    probability: float | None = fld(None, gt=0, le=1, doc="share of drill runs that must meet it")

    @property
    def name(self) -> str:
        p = f" in {self.probability:.0%} of runs" if self.probability is not None else ""
        return f"{self.phase.value} within {self.within:g}s{p}"


@dataclass(frozen=True)
class Playbook(Model):
    """An incident playbook: what triggers the response, who responds, its ordered steps and its phase deadlines."""

    name: str = fld(text=NAME)
    trigger: Trigger = fld()
    steps: tuple[Step, ...] = fld()
    roles: tuple[Role, ...] = fld((), keyed="name", doc="roles by name")
    recovery_window: Seconds = fld(60.0, gt=0, doc="SLOs must hold this long for the incident to count as recovered")
    objectives: tuple[PhaseObjective, ...] = fld((), doc="phase deadlines, with the probability drills must reach")
    description: str = fld("")

    @cached_property
    def role_map(self) -> dict[str, Role]:
        return {r.name: r for r in self.roles}

    def step_index(self, name: str) -> int:
        return [s.name for s in self.steps].index(name)

    def validate(self) -> None:
        if not self.steps:
            raise self.error("steps", "a playbook needs at least one step")
        names: list[str] = []
        for step in self.steps:
            if step.name in names:
                raise step.error("name", f"duplicate step name '{step.name}'")
            if step.role not in self.role_map:
                hint = f"roles: {one_of(self.role_map)}" if self.role_map else "declare it under 'roles'"
                raise step.error("role", f"unknown role '{step.role}'{did_you_mean(step.role, self.role_map)}",
                                 hint=hint)
            act = step.act
            if isinstance(act, Page) and act.role is not None and act.role not in self.role_map:
                raise act.error("role", f"unknown role '{act.role}'{did_you_mean(act.role, self.role_map)}")
            if step.deadline is not None and step.deadline.after is not None and step.deadline.after not in names:
                raise step.deadline.error("after", f"'{step.deadline.after}' is not an earlier step"
                                                   f"{did_you_mean(step.deadline.after, names)}")
            names.append(step.name)
        for step in self.steps:
            if isinstance(step.on_failure, Escalate) and step.on_failure.escalate not in names:
                target = step.on_failure.escalate
                raise step.on_failure.error("escalate", f"unknown step '{target}'{did_you_mean(target, names)}")
            if isinstance(step.on_failure, Escalate) and step.on_failure.escalate == step.name:
                raise step.on_failure.error("escalate", "a step cannot escalate to itself")
        self._check_escalation_cycles()
        self._check_lifted_limits()

    def _check_escalation_cycles(self) -> None:
        """Escalations must end: A -> B -> A would hand a failing response back and forth until the run ends."""
        to = {s.name: s.on_failure.escalate for s in self.steps if isinstance(s.on_failure, Escalate)}
        by_name = {s.name: s for s in self.steps}
        for step in self.steps:  # in file order, so the cycle is reported from its first step
            chain = [step.name]
            while chain[-1] in to and to[chain[-1]] not in chain:
                chain.append(to[chain[-1]])
            if chain[-1] in to and to[chain[-1]] == step.name:
                route = " -> ".join(f"'{n}' ({where_of(by_name[n]).location})" for n in chain)
                policy = step.on_failure
                assert isinstance(policy, Escalate)
                raise policy.error("escalate", f"escalation cycle: {route} -> '{step.name}': a failing step "
                                               "would hand the response back and forth until the run ends",
                                   hint="let the last escalation continue or abort instead")

    def _check_lifted_limits(self) -> None:
        limited = {a.entrypoint for s in self.steps for a in [s.act] if isinstance(a, ShedLoad) and a.limit}
        for step in self.steps:
            act = step.act
            if isinstance(act, ShedLoad) and act.limit is None and act.entrypoint not in limited:
                raise act.error("limit", f"lifts the limit on '{act.entrypoint}', but no step sets one")


def bind(playbook: Playbook, experiment: object) -> None:
    """Check every name the playbook uses against the experiment; errors point into the playbook."""
    from chaos.model.experiment import Experiment
    assert isinstance(experiment, Experiment)
    topo = experiment.topology
    alerts = list(experiment.alert_names)  # chaoslab's own and the rule files'
    for name in playbook.trigger.alerts:
        if name not in alerts:
            raise playbook.trigger.error("alerts", f"unknown alert '{name}'{did_you_mean(name, alerts)}",
                                         hint=f"the experiment's alerts: {one_of(alerts)}" if alerts else
                                         "the experiment has no alert rules")
    if playbook.trigger.at is not None and playbook.trigger.at >= experiment.duration:
        raise playbook.trigger.error("at", f"the response would start at {playbook.trigger.at:g}s, when the run "
                                           f"is over ({experiment.duration:g}s)")
    labels = [f.label for f in experiment.fault_list]
    for step in playbook.steps:
        act = step.act
        if isinstance(act, RemoveFault) and act.fault != "*" and act.fault not in labels:
            raise act.error("fault", f"unknown fault '{act.fault}'{did_you_mean(act.fault, labels)}",
                            hint=f"the experiment's faults: {one_of(labels)}" if labels else
                            "the experiment has no faults")
        if isinstance(act, RemoveFault) and act.fault == "*" and not labels:
            raise act.error("fault", "the experiment has no faults to remove")
        if isinstance(act, Rollback):
            for name in act.faults:
                if name not in labels:
                    raise act.error("faults", f"unknown fault '{name}'{did_you_mean(name, labels)}")
        for field_name in ("service", "from_", "to"):
            value = getattr(act, field_name, None)
            if isinstance(value, str) and value not in topo.service_map:
                raise _error(act, field_name, f"unknown service '{value}'{did_you_mean(value, topo.service_map)}")
        _check_effect(playbook, experiment, act)
        if isinstance(act, ShedLoad) and act.entrypoint not in topo.entrypoint_map:
            raise act.error("entrypoint", f"unknown entrypoint '{act.entrypoint}'"
                                          f"{did_you_mean(act.entrypoint, topo.entrypoint_map)}")
        if isinstance(act, SetCall):
            edge = split_edge(act.edge)
            if edge is None or edge not in topo.edges:
                raise act.error("edge", f"no edge '{act.edge}' in the topology (write 'caller->callee')")
        cond = step.verify
        if cond is not None:
            known = topo.service_map if cond.service is not None else topo.entrypoint_map
            name = cond.service if cond.service is not None else cond.scope.name
            if name not in known:
                raise cond.error(cond.scope_field, f"unknown {cond.scope_field} '{name}'{did_you_mean(name, known)}")
            if cond.operation is not None:
                check_operation_scope(cond, topo.service(name), cond.operation)


# Actions whose effect a rollback undoes: the settings of services, edges and entrypoints.
CHANGES_SETTINGS = (Scale, SetCall, ShedLoad, Failover)


def _check_effect(playbook: Playbook, experiment: object, act: AnyAction) -> None:
    """Refuse an action that names only existing things and still cannot do anything in this experiment."""
    from chaos.model.experiment import Experiment
    assert isinstance(experiment, Experiment)
    topo = experiment.topology
    scaled = {a.replicas for s in playbook.steps for a in [s.act] if isinstance(a, Scale) and a.service ==
              getattr(act, "service", None)}
    if isinstance(act, Restart) and act.replicas is not None:
        most = max({topo.service(act.service).replicas} | scaled)
        if act.replicas > most:
            raise act.error("replicas", f"restarts {act.replicas} replicas, but '{act.service}' has "
                                        f"{topo.service(act.service).replicas}"
                                        + (f" and this playbook scales it to at most {most}" if scaled else ""))
    if isinstance(act, Scale) and act.replicas == topo.service(act.service).replicas and scaled == {act.replicas} \
            and not any(isinstance(s.act, Rollback) for s in playbook.steps):
        raise act.error("replicas", f"'{act.service}' runs {act.replicas} replica(s) already and no other step "
                                    "changes that: this scale does nothing")
    if isinstance(act, Failover):
        callers = [s.name for s in topo.services if any(c.to == act.from_ for c in s.all_calls)]
        callers += [e.name for e in topo.entrypoints if e.to == act.from_]
        if not callers:
            raise _error(act, "from_", f"nothing calls '{act.from_}', so there is nothing to fail over")
    if isinstance(act, Rollback) and not act.faults and experiment.baseline_topology is None \
            and not any(isinstance(s.act, CHANGES_SETTINGS) for s in playbook.steps):
        raise act.error(None, "nothing to roll back: the experiment has no overrides, no step of this playbook "
                              "changes a setting, and the rollback names no faults",
                        hint="name the faults the bad release caused: {kind: rollback, faults: [...]}")


def _error(obj: Model, attribute: str, message: str) -> InputError:
    """An error at a field's value, named by its YAML key (``from``, not the attribute ``from_``)."""
    where = where_of(obj)
    key = {f.name: f.key for f in model_fields(type(obj))}.get(attribute, attribute)
    return InputError(message, where.fields.get(attribute, where.location), join(where.path, key))
