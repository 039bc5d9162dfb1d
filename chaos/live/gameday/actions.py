"""A playbook's actions done on a live stack, and the check, before anything runs, of what cannot be.

One function per action kind, chosen by a table, as the simulator's ``chaos.sim.actions``:
an action with no live form is a missing table entry (caught by a test), never a silent
fall-through. Every change goes through the FaultRunner (``FaultRunner.perform``), so it is
journaled before it is made and undone with the faults at the end of the run, on Ctrl-C and
by ``chaoslab recover``.

==============  ===========================================================================
action          live (chaoslab's generated stack; a user's stack: page, wait, remove_fault,
                restart only)
==============  ===========================================================================
page, wait      nothing: they only take time
remove_fault    the FaultRunner reverts the fault's journaled handle now and cancels its
                inject if it has not started (a load spike is in the load's plan: refused)
restart         ``docker restart`` of the service's replica containers (all, or the first
                N), then wait until healthy; faults, call policies and admission limits in
                effect are put back on them; a cold start through the emulator admin API.
                A crash whose every victim was restarted ends then (the runner reverts it)
restart         (user stack) ``docker restart`` of its containers; crashes end as above
scale           within the replicas the stack was generated with: callers re-pointed at the
                first N replicas (emulator admin ``urls``), the others stopped; scaling up
                starts them again. More than the stack has is refused at validation time
set_call        emulator admin ``POST /admin/calls/{callee}`` on every replica of the caller
shed_load       emulator admin ``POST /admin/admission`` on the entrypoint's target service:
                the limit split evenly over its replicas (a token bucket each)
rollback        every call policy back to the baseline topology's (no overrides), admission
                limits lifted, stopped replicas started, failovers undone, named faults removed
failover        every caller's calls to ``from`` re-pointed at ``to``'s replicas (through the
                caller's own proxies to ``to`` if it has some, else directly)
==============  ===========================================================================

Two differences from the simulator, both checked at validation time: the load generator's
targets are fixed, so ``scale`` and ``failover`` cannot act on a service the load reaches
directly; and ``shed_load`` rejects at the entry service (its clients see ``rejected`` and
may retry it), where the simulator rejects before sending.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from chaos.errors import InputError, LiveError
from chaos.live.faults.actions import (
    KEEP,
    Action,
    CallPolicy,
    ColdStart,
    DockerOp,
    DriverKind,
    Handle,
    Params,
    SetAdmission,
    SetCallPolicy,
    StartCold,
)
from chaos.live.faults.actions import Restart as DockerRestart
from chaos.live.faults.actions import Stop as DockerStop
from chaos.live.in_container.stackspec import StackSpec
from chaos.live.stack.emulator_stack import EMULATOR_PORT, replica_service
from chaos.live.stack.state import StackState
from chaos.model.experiment import Experiment
from chaos.model.faults import FaultKind
from chaos.model.playbook import (
    ActionKind,
    AnyAction,
    Failover,
    Page,
    Playbook,
    RemoveFault,
    Restart,
    Rollback,
    Scale,
    SetCall,
    ShedLoad,
    Step,
    Wait,
)
from chaos.model.scope import split_edge
from chaos.model.topology import Call, Topology

Redirect = Callable[[str, str, str], None]  # (caller, callee written, service reached)


class Runner(Protocol):
    """What a playbook's actions need of the FaultRunner: journaled changes, faults removed (and which are
    still applied), its drivers."""

    @property
    def drivers(self) -> Mapping[DriverKind, object]: ...

    def perform(self, action: Action) -> Handle: ...

    def remove(self, label: str) -> list[str]: ...

    def still_applied(self) -> list[Handle]: ...


@runtime_checkable
class WaitsHealthy(Protocol):
    """The Docker driver: waits until a (re)started container is healthy."""

    def wait_healthy(self, name: str, health_url: str | None = None) -> None: ...


@runtime_checkable
class Reasserts(Protocol):
    """The emulator driver: posts the faults in effect to replicas that started again."""

    def reassert(self, containers: Mapping[str, str]) -> None: ...


@dataclass
class LiveStack:
    """The live stack as the playbook changes it: which replicas run, which policies were changed."""

    runner: Runner
    state: StackState
    experiment: Experiment
    spec: StackSpec | None                  # the emulators' stack spec (None on a user's stack)
    redirect: Redirect = lambda caller, callee, service: None
    running: dict[str, list[int]] = field(default_factory=dict)          # service -> replica indexes running
    policies: dict[tuple[str, str], CallPolicy] = field(default_factory=dict)  # edge -> the keys changed
    admission: dict[str, float | None] = field(default_factory=dict)    # service -> limit per replica
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        if not self.running:
            for service in self.experiment.topology.services:
                self.running[service.name] = [r.index for r in self.state.replicas_of(service.name)]

    @property
    def topology(self) -> Topology:
        return self.experiment.topology

    def callers_of(self, service: str) -> list[str]:
        return [s.name for s in self.topology.services if any(c.to == service for c in s.calls)]

    def containers(self, service: str, indexes: list[int] | None = None) -> dict[str, str]:
        """{container: admin URL} of the service's replicas (running ones, or those given)."""
        wanted = self.running.get(service, []) if indexes is None else indexes
        return {r.container: r.admin_url or "" for r in self.state.replicas_of(service) if r.index in wanted}

    def urls(self, caller: str, callee: str, indexes: list[int] | None = None) -> tuple[str, ...]:
        """The URLs the caller's call to ``callee`` has in the stack spec (one per callee replica)."""
        assert self.spec is not None
        call = self.spec.service(caller).call(callee)
        chosen = range(1, len(call.urls) + 1) if indexes is None else indexes
        return tuple(call.urls[i - 1] for i in chosen)

    def change(self, step: Step, targets: Mapping[str, str] | tuple[str, ...], params: Params, summary: str) -> None:
        """One journaled change through the runner."""
        kind, target = ActionKind(step.act.TAG), _target(step.act)
        action = Action(f"p{next(self._ids)}", f"step '{step.name}'", kind, target, tuple(targets), params, summary)
        self.runner.perform(action)

    def set_policy(self, step: Step, caller: str, callee: str, policy: CallPolicy,
                   indexes: list[int] | None = None) -> None:
        admin = self.containers(caller, indexes)
        if not admin:
            return
        self.change(step, admin, SetCallPolicy(admin, callee, policy),
                    f"{caller}->{callee} policy {policy.json()} on {', '.join(admin)}")
        if indexes is None:
            self.policies[(caller, callee)] = self.policies.get((caller, callee), CallPolicy()).update(policy)

    def set_admission(self, step: Step, service: str, per_replica: float | None,
                      indexes: list[int] | None = None) -> None:
        admin = self.containers(service, indexes)
        if not admin:
            return
        self.change(step, admin, SetAdmission(admin, per_replica),
                    f"admission limit {per_replica} /s on each of {', '.join(admin)}")
        if indexes is None:
            self.admission[service] = per_replica

    def started_again(self, step: Step, service: str, indexes: list[int]) -> None:
        """Replicas that just (re)started run the stack's spec: wait until healthy, then give them back
        the faults, call policies and admission limit in effect."""
        replicas = [r for r in self.state.replicas_of(service) if r.index in indexes]
        docker = self.runner.drivers.get(DriverKind.DOCKER)
        for r in replicas:
            if isinstance(docker, WaitsHealthy):
                docker.wait_healthy(r.container, r.health_url)
        if not self.state.has_admin:
            return
        emulator = self.runner.drivers.get(DriverKind.EMULATOR)
        if isinstance(emulator, Reasserts):
            emulator.reassert({r.container: r.admin_url or "" for r in replicas})
        for (caller, callee), policy in list(self.policies.items()):
            if caller == service and policy.keys():
                self.set_policy(step, caller, callee, policy, indexes)
        limit = self.admission.get(service)
        if limit is not None:
            self.set_admission(step, service, limit, indexes)


def _target(action: AnyAction) -> str:
    from chaos.model.playbook import describe

    return describe(action)[1]


# --------------------------------------------------------------------------- one function per kind


def _nothing(live: LiveStack, step: Step, action: AnyAction) -> str:
    """Paging and waiting change nothing in the system; they only take time."""
    return ""


def _remove_fault(live: LiveStack, step: Step, action: RemoveFault) -> str:
    removed = live.runner.remove(action.fault)
    return f"reverted {', '.join(removed)}" if removed else "no such fault was applied"


def _restart(live: LiveStack, step: Step, action: Restart) -> str:
    running = live.running.get(action.service, [])
    chosen = running if action.replicas is None else running[: action.replicas]
    containers = tuple(live.containers(action.service, chosen)) if live.state.has_admin else tuple(
        r.container for r in live.state.replicas_of(action.service) if r.index in chosen)
    live.change(step, containers, DockerRestart(), f"docker restart {', '.join(containers)}")
    live.started_again(step, action.service, chosen)
    if action.cold_factor > 1.0 and live.state.has_admin:
        admin = live.containers(action.service, chosen)
        live.change(step, admin, StartCold(admin, ColdStart(action.cold_factor, action.cold_decay)),
                    f"cold start x{action.cold_factor:g} on {', '.join(admin)}")
    ended = end_crashes(live, containers)
    return f"restarted {', '.join(containers)}" + (f"; that ended {', '.join(ended)}" if ended else "")


def end_crashes(live: LiveStack, restarted: tuple[str, ...]) -> list[str]:
    """Crashes whose every victim was just restarted are over: the runner ends them now (their window
    ends and their markers are set at this moment, not at their scheduled end), as the simulator does."""
    over = [h.label for h in live.runner.still_applied()
            if h.action.op is DockerOp.KILL and h.victims and set(h.victims) <= set(restarted)]
    ended: list[str] = []
    for label in dict.fromkeys(over):
        ended += live.runner.remove(label)
    return ended


def _scale(live: LiveStack, step: Step, action: Scale) -> str:
    service, want = action.service, action.replicas
    running = sorted(live.running[service])
    generated = [r.index for r in live.state.replicas_of(service)]
    if want < len(running):
        keep, stop = running[:want], running[want:]
        for caller in live.callers_of(service):
            live.set_policy(step, caller, service, CallPolicy(urls=live.urls(caller, service, keep)))
        containers = tuple(live.containers(service, stop))
        live.change(step, containers, DockerStop(), f"docker stop {', '.join(containers)}")
        live.running[service] = keep
        return f"{service} down to {want} replica(s): stopped {', '.join(containers)}"
    if want > len(running):
        start = [i for i in generated if i not in running][: want - len(running)]
        containers = tuple(live.containers(service, start))
        live.change(step, containers, DockerRestart(), f"docker start {', '.join(containers)}")
        live.running[service] = sorted(running + start)
        live.started_again(step, service, start)
        for caller in live.callers_of(service):
            live.set_policy(step, caller, service, CallPolicy(urls=live.urls(caller, service, live.running[service])))
        return f"{service} up to {want} replica(s): started {', '.join(containers)}"
    return f"{service} already runs {want} replica(s)"


def _set_call(live: LiveStack, step: Step, action: SetCall) -> str:
    from chaos.live.stack.stackspec_build import breaker, retries

    caller, callee = split_edge(action.edge) or ("", "")
    policy = CallPolicy(
        timeout_s=KEEP if action.timeout is None else action.timeout,
        retries=KEEP if action.retries is None else retries(action.retries),  # type: ignore[arg-type]
        breaker=KEEP if action.circuit_breaker is None else breaker(action.circuit_breaker),  # type: ignore[arg-type]
        fallback=KEEP if action.fallback is None else action.fallback)
    live.set_policy(step, caller, callee, policy)
    return f"{action.edge}: {policy.json()}"


def _shed_load(live: LiveStack, step: Step, action: ShedLoad) -> str:
    service = live.topology.entrypoint_map[action.entrypoint].to
    replicas = max(1, len(live.running[service]))
    per_replica = None if action.limit is None else action.limit / replicas
    live.set_admission(step, service, per_replica)
    return f"admission limit on {service}: {'none' if per_replica is None else f'{per_replica:g}/s per replica'}"


def baseline_policy(call: Call) -> CallPolicy:
    from chaos.live.stack.stackspec_build import breaker, retries

    return CallPolicy(timeout_s=call.timeout, retries=retries(call.retries), breaker=breaker(call.circuit_breaker),
                      fallback=call.fallback, cancel_on_timeout=call.cancel_on_timeout)


def _rollback(live: LiveStack, step: Step, action: Rollback) -> str:
    done = []
    baseline = live.experiment.baseline
    for service in baseline.services:
        generated = [r.index for r in live.state.replicas_of(service.name)]
        want = min(service.replicas, len(generated))
        if len(live.running.get(service.name, [])) < want:
            done.append(_scale(live, step, Scale(service=service.name, replicas=want)))
    for service in baseline.services:
        for call in service.calls:
            current = live.topology.service(service.name).calls
            was = next((c for c in current if c.to == call.to), None)
            edge = (service.name, call.to)
            if was is None:
                continue
            if edge in live.policies or baseline_policy(was) != baseline_policy(call):
                policy = baseline_policy(call).update(
                    CallPolicy(urls=live.urls(service.name, call.to, sorted(live.running[call.to]))))
                live.set_policy(step, service.name, call.to, policy)
                live.redirect(service.name, call.to, call.to)
                done.append(f"{service.name}->{call.to} policy")
    for limited, limit in list(live.admission.items()):
        if limit is not None:
            live.set_admission(step, limited, None)
            done.append(f"admission on {limited} lifted")
    for name in action.faults:
        done += live.runner.remove(name)
    return "; ".join(done) or "nothing to roll back"


def _failover(live: LiveStack, step: Step, action: Failover) -> str:
    moved = []
    for caller in live.callers_of(action.from_):
        calls_to = {c.to for c in live.topology.service(caller).calls}
        if action.to in calls_to:
            urls = live.urls(caller, action.to, sorted(live.running[action.to]))
        else:
            urls = tuple(f"http://{replica_service(action.to, i)}:{EMULATOR_PORT}"
                         for i in sorted(live.running[action.to]))
        live.set_policy(step, caller, action.from_, CallPolicy(urls=urls))
        live.redirect(caller, action.from_, action.to)
        moved.append(caller)
    return f"calls of {', '.join(moved) or 'nobody'} to {action.from_} now go to {action.to}"


LIVE_ACTIONS: dict[type, Callable[..., str]] = {
    Page: _nothing,
    Wait: _nothing,
    RemoveFault: _remove_fault,
    Restart: _restart,
    Scale: _scale,
    SetCall: _set_call,
    ShedLoad: _shed_load,
    Rollback: _rollback,
    Failover: _failover,
}

USER_STACK_ACTIONS = (Page, Wait, RemoveFault, Restart)  # the others need chaoslab's emulator admin API


def perform(live: LiveStack, step: Step, action: AnyAction) -> str:
    """Do ``action`` on the live stack; a short note of what was done. Raises ChaosError if it could not be."""
    if not live.state.has_admin and not isinstance(action, USER_STACK_ACTIONS):
        raise LiveError(f"step '{step.name}': {action.TAG} needs chaoslab's emulator admin API")
    return LIVE_ACTIONS[type(action)](live, step, action)


# --------------------------------------------------------------------------- validation


def check_playbook(playbook: Playbook, experiment: Experiment, state: StackState) -> list[InputError]:
    """Every step that cannot be done live on ``state``, as InputErrors at the step's line."""
    topo = experiment.topology
    entry_targets = {e.to: e.name for e in topo.entrypoints}
    spikes = {f.label for f in experiment.fault_list if f.kind is FaultKind.LOAD_SPIKE}
    problems: list[InputError] = []
    for step in playbook.steps:
        act = step.act
        if not state.has_admin and not isinstance(act, USER_STACK_ACTIONS):
            problems.append(act.error(None, f"step '{step.name}': {act.TAG} cannot be done live on your own stack "
                                            f"'{state.name}': it needs chaoslab's emulator admin API",
                                      hint="live, a user's stack supports page, wait, remove_fault and restart"))
            continue
        if isinstance(act, RemoveFault) and act.fault in spikes:
            problems.append(act.error("fault", f"step '{step.name}': the load spike '{act.fault}' is part of the "
                                               "load generator's plan and cannot be removed live",
                                      hint="remove a fault of another kind, or shed load instead"))
        if isinstance(act, Scale):
            have = len(state.replicas_of(act.service)) or topo.service(act.service).replicas
            if act.replicas > have:
                problems.append(act.error("replicas", f"step '{step.name}': scale {act.service} to "
                                                      f"{act.replicas} replicas, but the live stack has only {have}",
                                          hint=f"live, scale works within the generated replicas: give "
                                               f"{act.service} at least {act.replicas} replicas in the topology "
                                               f"(overrides: services.{act.service}.replicas: {act.replicas})"))
            if act.service in entry_targets:
                problems.append(act.error("service", f"step '{step.name}': {act.service} receives entrypoint "
                                                     f"'{entry_targets[act.service]}''s load directly, and the load "
                                                     "generator's targets are fixed, so it cannot be scaled live"))
        if isinstance(act, Failover) and act.from_ in entry_targets:
            problems.append(act.error("from", f"step '{step.name}': {act.from_} receives entrypoint "
                                              f"'{entry_targets[act.from_]}''s load directly, and the load "
                                              "generator's targets are fixed, so it cannot fail over live"))
    return problems
