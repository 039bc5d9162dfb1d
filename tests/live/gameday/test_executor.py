"""The Responder on the live executor, on a manual clock: unattended timing, operator prompts, failed actions."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest

from chaos.core.streams import stream
from chaos.errors import LiveError
from chaos.incident_states import StepStatus
from chaos.live.gameday.clock import RunClock, Scheduler
from chaos.live.gameday.executor import LiveExecutor, Operator, attach
from chaos.model.files import load, load_experiment
from chaos.model.playbook import AnyAction, Playbook, Step
from chaos.model.scope import Scope
from chaos.responder import Responder
from chaos.run import CAUSES, Cause, Series, latency_bounds

HERE = Path(__file__).parent


class Fake:
    t = 0.0


def make(tmp_path: Path, steps: str, roles: str = "{oncall: {respond: 3s}, automation: {respond: 0s}}"):
    exp_file = tmp_path / "exp.yaml"
    exp_file.write_text(textwrap.dedent(f"""\
        name: responder
        topology: {HERE / 'trio.yaml'}
        duration: 60s
        load: {{profile: constant, rate: 10}}
        faults: [{{name: boom, kind: errors, target: db, at: 5s, ratio: 1.0}}]
        alerts: [{{name: web-errors, entrypoint: web, metric: error_ratio, threshold: 0.5, window: 2s, for: 2s,
                   every: 1s}}]
        """))
    pb_file = tmp_path / "pb.yaml"
    pb_file.write_text(f"name: pb\ntrigger: {{alerts: [web-errors]}}\nroles: {roles}\nsteps:\n"
                       + textwrap.indent(textwrap.dedent(steps), "  "))
    return load_experiment(exp_file), load(pb_file, Playbook)


class Loop:
    """The game day's loop, reduced: whole seconds on a manual clock, errors from second 5 until fixed."""

    def __init__(self, tmp_path: Path, steps: str, operator_input: str | None = None,
                 act=None) -> None:  # noqa: ANN001
        self.exp, self.pb = make(tmp_path, steps)
        self.fake = Fake()
        self.clock = RunClock(monotonic=lambda: self.fake.t)
        self.clock.begin(0.0)
        self.scheduler = Scheduler()
        self.series = {Scope.entrypoint("web"): Series()}
        self.fixed_at: float | None = None
        self.out = io.StringIO()
        self.operator = None if operator_input is None else Operator(io.StringIO(operator_input), self.out, self.clock)
        self.confirm_at: list[float] = []
        self.executor = LiveExecutor(self.clock, self.scheduler, lambda: self.series, latency_bounds(),
                                     act or self._act, operator=self.operator, incident_start=lambda: 5.0)
        self.responder = Responder(self.executor, self.pb, self.exp.alert_rules, stream(1, "playbook", "pb"))
        attach(self.executor, self.responder)

    def _act(self, step: Step, action: AnyAction) -> str:
        if action.TAG == "remove_fault":
            self.fixed_at = self.clock.now()
        return "done"

    def second(self, k: int) -> None:
        s = self.series[Scope.entrypoint("web")]
        failing = k >= 5 and (self.fixed_at is None or k < self.fixed_at)
        s.requests.append(10)
        s.ok.append(0 if failing else 10)
        for c in CAUSES:
            s.errors[c].append(10 if failing and c is Cause.INJECTED else 0)
        for col in (s.p50_ms, s.p95_ms, s.p99_ms, s.mean_ms):
            col.append(None)
        s.hist.append({})
        for col in (s.queue, s.busy, s.retries, s.wasted, s.degraded):
            col.append(0)

    def run(self, seconds: int, confirm_at: tuple[float, ...] = ()) -> None:
        pending = list(confirm_at)
        for k in range(seconds):
            for tenth in range(10):
                self.fake.t = k + tenth / 10
                self.scheduler.run_due(self.fake.t)
                if self.operator is not None and pending and self.fake.t >= pending[0] and self.operator.pending:
                    pending.pop(0)
                    self.operator.poll()
            self.fake.t = k + 1
            self.second(k)
            self.responder.on_second(k)


def test_unattended_steps_take_their_sampled_times_on_the_run_clock(tmp_path: Path) -> None:
    loop = Loop(tmp_path, """\
        - {name: page, role: oncall, action: {kind: page}}
        - {name: fix, role: automation, action: {kind: remove_fault, fault: boom}, duration: 2s,
           verify: {entrypoint: web, metric: error_ratio, below: 0.1, window: 2s, for: 2s, within: 20s},
           mitigates: true}
        """)
    loop.run(30)
    rec = loop.responder.record
    # Errors from second 5; the 2 s window is over 0.5 at t=7 (seconds 5 and 6), for 2 s: fires at 9.
    assert rec.triggered_s == 9.0 and rec.trigger == "web-errors"
    page, fix = rec.steps
    assert (page.start_s, page.end_s, rec.acknowledged_s) == (9.0, 12.0, 12.0)  # oncall responds in 3 s
    assert (fix.start_s, fix.acted_s) == (12.0, 14.0) and loop.fixed_at == 14.0
    # Verified once the 2 s window holds only seconds after the fix, for 2 s: from 16, done at 18.
    assert (fix.verified_at_s, fix.status, fix.note) == (18.0, StepStatus.DONE, "done")


def test_on_a_game_day_people_confirm_their_steps_and_a_page_is_acknowledged_when_confirmed(tmp_path: Path) -> None:
    loop = Loop(tmp_path, """\
        - {name: page, role: oncall, action: {kind: page}, deadline: {within: 20s}}
        - {name: fix, role: oncall, action: {kind: remove_fault, fault: boom}, duration: 2s}
        - {name: note, role: automation, action: {kind: wait}, duration: 1s}
        """, operator_input="\n\n")
    loop.run(30, confirm_at=(15.0, 21.5))
    rec = loop.responder.record
    page, fix, note = rec.steps
    assert page.start_s == 9.0 and page.end_s == pytest.approx(15.0) and rec.acknowledged_s == pytest.approx(15.0)
    assert rec.engaged["oncall"] == pytest.approx(15.0)  # the person, not the sampled 3 s
    assert fix.start_s == pytest.approx(15.0) and fix.acted_s == pytest.approx(21.5) and loop.fixed_at == 21.5
    assert note.acted_s == pytest.approx(22.5)  # automation: its sampled second, no prompt
    prompts = loop.out.getvalue()
    assert "step 'page' (oncall): page oncall and confirm once they have acknowledged" in prompts
    assert "deadline 25s, 16s left" in prompts  # incident start 5 s (the fault) + 20 s; asked at 9 s
    assert "step 'note'" not in prompts


def test_an_action_that_fails_is_noted_on_its_step_and_the_response_goes_on(tmp_path: Path) -> None:
    def broken(step: Step, action: AnyAction) -> str:
        raise LiveError("docker restart chaoslab-x-api-1 failed: no such container")

    loop = Loop(tmp_path, """\
        - {name: bounce, role: automation, action: {kind: restart, service: api}}
        - {name: look, role: automation, action: {kind: wait}, duration: 1s}
        """, act=broken)
    loop.run(15)
    bounce, look = loop.responder.record.steps
    assert "action failed: docker restart chaoslab-x-api-1 failed" in bounce.note
    assert look.status is StepStatus.DONE
    assert [m.kind.value for m in loop.executor.markers if m.subject == "bounce"] == ["step_failed", "step"]


def test_the_run_clock_reads_zero_until_the_load_starts_and_the_scheduler_keeps_order() -> None:
    fake = Fake()
    fake.t = 100.0
    clock = RunClock(monotonic=lambda: fake.t)
    assert clock.now() == 0.0
    clock.begin(98.5)
    assert clock.now() == 1.5
    ran: list[str] = []
    sched = Scheduler()
    sched.at(2.0, lambda: ran.append("b"))
    sched.at(1.0, lambda: (ran.append("a"), sched.at(1.0, lambda: ran.append("a2"))))
    sched.at(2.0, lambda: ran.append("c"))
    assert sched.run_due(1.5) == 2 and ran == ["a", "a2"]
    assert sched.next_due() == 2.0
    assert sched.run_due(5.0) == 2 and ran == ["a", "a2", "b", "c"]
