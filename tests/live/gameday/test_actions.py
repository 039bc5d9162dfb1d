"""Playbook actions planned on a live stack (a recording runner stands in for the FaultRunner), and refused ones."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from chaos.errors import InputError, LiveError
from chaos.live.faults.actions import (
    Action,
    CallPolicy,
    ColdStart,
    DockerOp,
    DriverKind,
    EmulatorOp,
    Handle,
    Killed,
    SetAdmission,
    SetCallPolicy,
    StartCold,
)
from chaos.live.faults.drivers.base import InjectContext
from chaos.live.faults.drivers.fake import Call, FakeCall, FakeDriver
from chaos.live.faults.runner import FaultRunner, ManualClock
from chaos.live.gameday.actions import LIVE_ACTIONS, LiveStack, check_playbook, perform
from chaos.live.gameday.stacks import expected_spec, planned_state
from chaos.live.in_container.stackspec import Breaker, Jitter, Retries
from chaos.live.stack.user_stack import user_stack
from chaos.model.experiment import Experiment
from chaos.model.files import load, load_experiment
from chaos.model.live_target import LiveTarget
from chaos.model.playbook import ACTION_CLASSES, Playbook, Step
from chaos.run import latency_bounds

HERE = Path(__file__).parent


class Recorder:
    """The runner's side of actions, recorded: what was performed and removed, drivers that wait and reassert."""

    def __init__(self) -> None:
        self.performed: list[Action] = []
        self.removed: list[str] = []
        self.events: list[tuple[str, Any]] = []
        recorder = self

        class Docker:
            def wait_healthy(self, name: str, url: str | None = None) -> None:
                recorder.events.append(("healthy", name))

        class Emulator:
            def reassert(self, containers: dict[str, str]) -> None:
                recorder.events.append(("reassert", tuple(containers)))

        self.drivers = {DriverKind.DOCKER: Docker(), DriverKind.EMULATOR: Emulator()}

    def perform(self, action: Action) -> Handle:
        self.performed.append(action)
        self.events.append(("perform", action.op))
        return action.handle()

    def remove(self, label: str) -> list[str]:
        self.removed.append(label)
        return [label]

    def still_applied(self) -> list[Handle]:
        return []


def experiment_file(tmp_path: Path, faults: str = "", topology: str = str(HERE / "trio.yaml")) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: actions
        topology: {topology}
        duration: 60s
        load: {{profile: constant, rate: 10}}
        faults: [{faults}]
        """))
    return path


def playbook(tmp_path: Path, steps: str) -> Playbook:
    path = tmp_path / "pb.yaml"
    path.write_text("name: pb\ntrigger: {at: 1s}\nroles: {automation: {respond: 0s}}\nsteps:\n"
                    + textwrap.indent(textwrap.dedent(steps), "  "))
    return load(path, Playbook)


def live_stack(exp: Experiment, tmp_path: Path) -> tuple[LiveStack, Recorder]:
    runner = Recorder()
    redirects: list[tuple[str, str, str]] = []
    live = LiveStack(runner, planned_state(exp, tmp_path), exp, expected_spec(exp, latency_bounds()),
                     redirect=lambda *r: redirects.append(r))
    live.redirects = redirects  # type: ignore[attr-defined]
    return live, runner


def policy_change(action: Action) -> SetCallPolicy:
    assert isinstance(action.params, SetCallPolicy), action
    return action.params


def limit_of(action: Action) -> float | None:
    assert isinstance(action.params, SetAdmission), action
    return action.params.limit


def do(live: LiveStack, pb: Playbook, index: int = 0) -> str:
    step: Step = pb.steps[index]
    return perform(live, step, step.act)


def test_every_action_of_the_catalogue_has_a_live_form() -> None:
    assert set(LIVE_ACTIONS) == set(ACTION_CLASSES)


def test_set_call_changes_the_policy_on_every_replica_of_the_caller(tmp_path: Path) -> None:
    exp = load_experiment(experiment_file(tmp_path))
    live, runner = live_stack(exp, tmp_path)
    pb = playbook(tmp_path, """\
        - {name: tighten, role: automation, action: {kind: set_call, edge: api->db, timeout: 200ms,
           retries: {max: 2, backoff: {base: 10ms, cap: 1s}}, circuit_breaker: {failure_ratio: 0.5}}}
        """)
    do(live, pb)
    (action,) = runner.performed
    assert (action.driver, action.op) == (DriverKind.EMULATOR, EmulatorOp.CALLS)
    assert action.targets == ("chaoslab-gameday-trio-api-1", "chaoslab-gameday-trio-api-2")
    change = policy_change(action)
    assert change.callee == "db" and change.policy == CallPolicy(
        timeout_s=0.2, retries=Retries(2, 0.01, 1.0, Jitter.FULL, None), breaker=Breaker(failure_ratio=0.5))
    assert live.policies[("api", "db")] == change.policy


def test_scale_down_repoints_the_callers_then_stops_and_scale_up_starts_and_repoints(tmp_path: Path) -> None:
    exp = load_experiment(experiment_file(tmp_path))
    live, runner = live_stack(exp, tmp_path)
    pb = playbook(tmp_path, """\
        - {name: down, role: automation, action: {kind: scale, service: api, replicas: 1}}
        - {name: up, role: automation, action: {kind: scale, service: api, replicas: 2}}
        """)
    spec = live.spec
    assert spec is not None
    front_urls = spec.service("front").call("api").urls
    do(live, pb, 0)
    repoint, stop = runner.performed
    assert policy_change(repoint).policy == CallPolicy(urls=(front_urls[0],))
    assert (stop.driver, stop.op, stop.targets) == (DriverKind.DOCKER, DockerOp.STOP, ("chaoslab-gameday-trio-api-2",))
    assert live.running["api"] == [1]
    runner.events.clear()
    do(live, pb, 1)
    start, back = runner.performed[2:]
    assert (start.op, start.targets) == (DockerOp.RESTART, ("chaoslab-gameday-trio-api-2",))
    assert policy_change(back).policy == CallPolicy(urls=tuple(front_urls))
    # Started, healthy and given back the faults in effect before the callers are pointed at it again.
    assert runner.events[:3] == [("perform", DockerOp.RESTART), ("healthy", "chaoslab-gameday-trio-api-2"),
                                 ("reassert", ("chaoslab-gameday-trio-api-2",))]


def test_shed_load_splits_the_limit_over_the_entry_services_replicas_and_rollback_lifts_it(tmp_path: Path) -> None:
    exp = load_experiment(experiment_file(tmp_path))
    live, runner = live_stack(exp, tmp_path)
    pb = playbook(tmp_path, """\
        - {name: shed, role: automation, action: {kind: shed_load, entrypoint: web, limit: 30}}
        - {name: tighten, role: automation, action: {kind: set_call, edge: front->api, timeout: 100ms}}
        - {name: back, role: automation, action: {kind: rollback}}
        """)
    do(live, pb, 0)
    assert limit_of(runner.performed[0]) == 30.0
    do(live, pb, 1)
    do(live, pb, 2)
    restored = [policy_change(a) for a in runner.performed[2:] if a.op is EmulatorOp.CALLS]
    assert [change.callee for change in restored] == ["api"]
    assert restored[0].policy.timeout_s == 1.0  # the topology's own timeout again
    assert [limit_of(a) for a in runner.performed[2:] if a.op is EmulatorOp.ADMISSION] == [None]


def test_failover_repoints_the_callers_and_moves_their_calls_in_the_measurement(tmp_path: Path) -> None:
    topo = tmp_path / "standby.yaml"
    topo.write_text(textwrap.dedent("""\
        name: standby
        entrypoints: {web: {to: front}}
        services:
          front: {service_time: 1ms, calls: [{to: primary, timeout: 1s}]}
          primary: {service_time: 1ms}
          standby: {replicas: 2, service_time: 1ms}
        """))
    exp = load_experiment(experiment_file(tmp_path, topology=str(topo)))
    live, runner = live_stack(exp, tmp_path)
    do(live, playbook(tmp_path, "- {name: move, role: automation, action: {kind: failover, from: primary, "
                                "to: standby}}\n"))
    (action,) = runner.performed
    assert policy_change(action).policy == CallPolicy(urls=("http://standby-1:8080", "http://standby-2:8080"))
    assert live.redirects == [("front", "primary", "standby")]  # type: ignore[attr-defined]


def test_restart_waits_for_health_and_starts_cold_and_remove_fault_goes_to_the_runner(tmp_path: Path) -> None:
    exp = load_experiment(experiment_file(tmp_path, "{name: slow, kind: latency, target: db, at: 1s, delay: 1s}"))
    live, runner = live_stack(exp, tmp_path)
    pb = playbook(tmp_path, """\
        - {name: bounce, role: automation, action: {kind: restart, service: api, replicas: 1, cold_factor: 3}}
        - {name: fix, role: automation, action: {kind: remove_fault, fault: slow}}
        """)
    do(live, pb, 0)
    assert [(a.op, a.targets) for a in runner.performed] == [
        (DockerOp.RESTART, ("chaoslab-gameday-trio-api-1",)), (EmulatorOp.COLD_START, ("chaoslab-gameday-trio-api-1",))]
    cold = runner.performed[1].params
    assert isinstance(cold, StartCold) and cold.cold_start == ColdStart(3.0, 30.0)
    assert ("healthy", "chaoslab-gameday-trio-api-1") in runner.events
    assert do(live, pb, 1) == "reverted slow" and runner.removed == ["slow"]


def test_what_cannot_be_done_live_is_refused_before_the_run_at_the_steps_line(tmp_path: Path) -> None:
    exp = load_experiment(experiment_file(tmp_path, "{name: surge, kind: load_spike, target: web, at: 1s, factor: 2}"))
    pb = playbook(tmp_path, """\
        - {name: more, role: automation, action: {kind: scale, service: api, replicas: 3}}
        - {name: entry, role: automation, action: {kind: scale, service: front, replicas: 1}}
        - {name: away, role: automation, action: {kind: failover, from: front, to: api}}
        - {name: calm, role: automation, action: {kind: remove_fault, fault: surge}}
        """)
    problems = check_playbook(pb, exp, planned_state(exp, tmp_path))
    messages = [str(p) for p in problems]
    assert len(problems) == 4
    assert "scale api to 3 replicas, but the live stack has only 2" in messages[0]
    assert "pb.yaml:5:" in messages[0]  # the step's own line
    assert "front receives entrypoint 'web''s load directly" in messages[1]
    assert "cannot fail over live" in messages[2]
    assert "load spike 'surge'" in messages[3]


def test_a_users_stack_refuses_what_needs_the_emulator_admin_api(tmp_path: Path) -> None:
    exp = load_experiment(experiment_file(tmp_path))
    compose = tmp_path / "compose.yaml"
    compose.write_text("services: {}\n")
    target_file = tmp_path / "target.yaml"
    target_file.write_text(f"compose: {compose}\nentrypoints: {{web: 'http://127.0.0.1:8080'}}\n")
    state = user_stack(load(target_file, LiveTarget), exp.topology)
    pb = playbook(tmp_path, """\
        - {name: tighten, role: automation, action: {kind: set_call, edge: api->db, timeout: 1s}}
        - {name: bounce, role: automation, action: {kind: restart, service: db}}
        """)
    (problem,) = check_playbook(pb, exp, state)
    assert isinstance(problem, InputError) and "set_call cannot be done live on your own stack" in str(problem)
    live = LiveStack(Recorder(), state, exp, None)
    with pytest.raises(LiveError, match="needs chaoslab's emulator admin API"):
        perform(live, pb.steps[0], pb.steps[0].act)


class Killing(FakeDriver):
    """A FakeDriver whose kills pick every target as a victim, as the Docker driver's do, and that waits and
    reasserts as the Docker and emulator drivers do (instantly)."""

    def inject(self, action: Action, ctx: InjectContext) -> Handle:
        if action.op is not DockerOp.KILL:
            return super().inject(action, ctx)
        handle = action.handle(Killed(action.targets))
        ctx.record(handle)
        self.calls.append(FakeCall(Call.INJECT, action.id, handle))
        return handle

    def wait_healthy(self, name: str, url: str | None = None) -> None:
        pass

    def reassert(self, containers: dict[str, str]) -> None:
        pass


def test_a_restart_of_every_crashed_replica_ends_the_crash_in_the_runners_record(tmp_path: Path) -> None:
    exp = load_experiment(experiment_file(tmp_path, "{name: api-down, kind: crash, target: api, at: 5s, "
                                                    "duration: 40s}"))
    state = planned_state(exp, tmp_path)
    clock = ManualClock()
    runner = FaultRunner(exp, state, None, drivers={k: Killing(k) for k in DriverKind}, clock=clock,
                         handle_signals=False)
    live = LiveStack(runner, state, exp, expected_spec(exp, latency_bounds()))
    pb = playbook(tmp_path, """\
        - {name: one, role: automation, action: {kind: restart, service: api, replicas: 1}}
        - {name: all, role: automation, action: {kind: restart, service: api}}
        """)
    runner.start()
    clock.sleep(5.0)
    runner.tick()
    clock.sleep(7.0)
    assert do(live, pb, 0) == "restarted chaoslab-gameday-trio-api-1"    # the other replica is still down
    assert [w.end_s for w in runner.windows] == [None]
    clock.sleep(3.0)
    assert do(live, pb, 1) == ("restarted chaoslab-gameday-trio-api-1, chaoslab-gameday-trio-api-2; "
                               "that ended api-down")
    (window,) = runner.windows
    assert (window.start_s, window.end_s) == (5.0, 15.0)   # ended by the restart, not at 45 s
    marks = [(m.t_s, m.kind.value, m.detail) for m in runner.markers if m.kind.value in ("restart", "fault_off")]
    assert marks == [(15.0, "fault_off", "api-down"), (15.0, "restart", "replica 1"), (15.0, "restart", "replica 2")]
    clock.sleep(40.0)
    runner.tick()   # the scheduled end finds nothing left to revert
    runner.stop()
    assert (runner.windows[0].start_s, runner.windows[0].end_s) == (5.0, 15.0)
    assert [m for m in runner.markers if m.kind.value == "fault_off"] == [m for m in runner.markers
                                                                    if m.kind.value == "fault_off" and m.t_s == 15.0]
