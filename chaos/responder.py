"""The incident responder: one playbook carried out against a running system, in either engine.

The responder watches the experiment's alerts as each second of measurements completes
(the same ``AlertEvaluator`` that judges a finished run), starts the response when a
trigger alert fires, and walks the steps: each waits for its role to respond, takes its
duration, acts through the engine, and is then verified against the series as they are
recorded. Human delays and durations come from a random stream of their own, so a
playbook does not disturb the system's draws.

An engine supplies an :class:`Executor`: its clock, a way to call back later, the
series so far, and how to perform an action. The simulator's executor runs on simulated
time (``chaos.sim.responder``); the live driver's on the wall clock, where a human step
may also wait for the operator to confirm it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Protocol

from chaos.analysis.alerts import AlertEvaluator, Firing, metric_value
from chaos.incident_states import MarkerKind, StepStatus
from chaos.model.alerts import AlertMetric, AnyAlertRule
from chaos.model.playbook import AnyAction, Condition, Escalate, OnFailure, OnSuccess, Page, Playbook, Step, describe
from chaos.model.scope import Scope
from chaos.run import IncidentRecord, Marker, Series, StepRecord


class FiringSource(Protocol):
    """What tells a responder of rule-file alerts that started firing: chaoslab's evaluation of the rule files
    (``chaos.analysis.prometheus_rules.RuleAlerts``), or, on a stack whose Prometheus evaluates them, that
    Prometheus (``chaos.live.gameday.prometheus_alerts.FiringFeed``)."""

    def advance(self, series: dict[Scope, Series], complete: int) -> list[Firing]: ...


class Executor(Protocol):
    """What the responder needs from an engine."""

    bounds: tuple[float, ...]

    def now(self) -> float: ...

    def at(self, t: float, fn: Callable[[], None]) -> None: ...

    def series(self) -> dict[Scope, Series]: ...

    def perform(self, step: Step, action: AnyAction) -> None: ...

    def mark(self, marker: Marker) -> None: ...

    def carry_out(self, step: Step, start: float, duration: float, done: Callable[[], None]) -> None:
        """Let ``step`` take its time, then call ``done`` (at start + duration, or when a human confirms)."""
        ...


def condition_holds(cond: Condition, series: dict[Scope, Series], bounds: tuple[float, ...], complete: int) -> bool:
    value = metric_value(cond.metric, cond.window, series[cond.scope], bounds, complete)
    if value is None:
        # No traffic to judge. An error ratio with no requests has nothing failing; anything else is unknown.
        return cond.below is not None and cond.metric is AlertMetric.ERROR_RATIO
    return value < cond.below if cond.below is not None else value > (cond.above or 0.0)


class Responder:
    """Runs one playbook against one system; ``record`` is what happened. Call ``on_second`` each second."""

    def __init__(self, engine: Executor, playbook: Playbook, rules: tuple[AnyAlertRule, ...],
                 rng: random.Random, rule_files: FiringSource | None = None) -> None:
        self.engine = engine
        self.playbook = playbook
        self.rng = rng
        self.alerts = AlertEvaluator(rules, engine.bounds)
        self.rule_files = rule_files  # the experiment's own rule files, evaluated as seconds complete
        self.record = IncidentRecord(playbook.name, steps=[
            StepRecord(s.name, s.role, *describe(s.act)) for s in playbook.steps])
        self.responses = {r.name: r.respond.sampler(self.rng)() for r in playbook.roles}
        self.paged = {a.role or s.role for s in playbook.steps for a in [s.act] if isinstance(a, Page)}
        self.verifying: tuple[int, float, float | None] | None = None  # (step, give up at, holding since)
        self.done = False
        if playbook.trigger.at is not None:
            engine.at(playbook.trigger.at, lambda: self._trigger("at"))

    # ------------------------------------------------------------------ timeline

    def on_second(self, second: int) -> None:
        complete = second + 1
        if self.record.triggered_s is None and self.playbook.trigger.alerts:
            for firing in self._new_firings(complete):
                if firing.name in self.playbook.trigger.alerts:
                    self._trigger(firing.name)
                    break
        if self.verifying is not None:
            self._check(complete)

    def _new_firings(self, complete: int) -> list[Firing]:
        series = self.engine.series()
        new = self.alerts.advance(series, complete)
        if self.rule_files is not None:
            new += self.rule_files.advance(series, complete)
        return sorted(new, key=lambda f: f.fired_at_s)

    def _trigger(self, why: str) -> None:
        if self.record.triggered_s is not None:
            return
        now = self.engine.now()
        self.record.triggered_s, self.record.trigger = now, why
        by = "at its fixed time" if why == "at" else f"by alert '{why}'"
        self.engine.mark(Marker(now, MarkerKind.INCIDENT, self.playbook.name, f"triggered {by}"))
        for role in self.playbook.roles:
            if role.name not in self.paged:
                self.record.engaged[role.name] = now + self.responses[role.name]
        self._start(0)

    def _start(self, i: int) -> None:
        if i >= len(self.playbook.steps):
            self._end()
            return
        step = self.playbook.steps[i]
        rec = self.record.steps[i]
        now = self.engine.now()
        ready = self.record.engaged.get(step.role)
        start = now if ready is None else max(now, ready)
        end = start + step.takes.sampler(self.rng)()
        act = step.act
        if isinstance(act, Page):
            role = act.role or step.role
            if role not in self.record.engaged:
                self.record.engaged[role] = start + self.responses[role]
                if self.record.acknowledged_s is None:
                    self.record.acknowledged_s = self.record.engaged[role]
            end = max(end, self.record.engaged[role])
        rec.start_s = start
        rec.status = StepStatus.RUNNING
        self.engine.carry_out(step, start, end - start, lambda: self._act(i))

    def _act(self, i: int) -> None:
        step = self.playbook.steps[i]
        rec = self.record.steps[i]
        now = self.engine.now()
        self.engine.perform(step, step.act)
        rec.acted_s = now
        self.engine.mark(Marker(now, MarkerKind.STEP, step.name, f"{rec.action.value} {rec.target}".strip()))
        if step.verify is None:
            self._finish(i, StepStatus.DONE, now)
        else:
            self.verifying = (i, now + step.verify.within, None)

    def _check(self, complete: int) -> None:
        assert self.verifying is not None
        i, give_up, since = self.verifying
        step = self.playbook.steps[i]
        cond = step.verify
        assert cond is not None
        t = float(complete)
        rec = self.record.steps[i]
        if rec.acted_s is not None and t - cond.window < rec.acted_s - 1e-9 and t < give_up:
            return  # the window still covers time before the action: not evidence yet
        if condition_holds(cond, self.engine.series(), self.engine.bounds, complete):
            since = t if since is None else since
            if t - since + 1e-9 >= cond.for_:
                self.verifying = None
                rec.verified_at_s = t
                self._finish(i, StepStatus.DONE, t)
                return
        else:
            since = None
        if t >= give_up - 1e-9:
            self.verifying = None
            self._fail(i, t, f"'{cond.describe()}' did not hold within {cond.within:g}s")
            return
        self.verifying = (i, give_up, since)

    def _finish(self, i: int, status: StepStatus, t: float) -> None:
        rec = self.record.steps[i]
        rec.status, rec.end_s = status, t
        if self.playbook.steps[i].on_success is OnSuccess.STOP:
            self._end()
            return
        self._start(i + 1)

    def _fail(self, i: int, t: float, why: str) -> None:
        step: Step = self.playbook.steps[i]
        rec = self.record.steps[i]
        rec.end_s, rec.note = t, why
        policy = step.on_failure
        if isinstance(policy, Escalate):
            rec.status = StepStatus.ESCALATED
            rec.note += f"; escalated to '{policy.escalate}'"
            self._restart_from(self.playbook.step_index(policy.escalate))
        elif policy is OnFailure.ABORT:
            rec.status = StepStatus.ABORTED
            self.record.aborted = True
            self._end()
        else:
            rec.status = StepStatus.FAILED
            self._start(i + 1)

    def _end(self) -> None:
        self.done = True
        self.record.finished_s = self.engine.now()

    def _restart_from(self, j: int) -> None:
        """Escalation jumps to a step (even an earlier one, which then runs again)."""
        if self.record.steps[j].status is not StepStatus.NOT_REACHED:
            self.record.steps[j] = StepRecord(self.record.steps[j].name, self.record.steps[j].role,
                                              self.record.steps[j].action, self.record.steps[j].target)
        self._start(j)
