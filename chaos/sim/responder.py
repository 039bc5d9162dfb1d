"""A playbook carried out inside a simulation, at simulated times.

The responder watches the experiment's alerts as the simulation records each second
(the same ``AlertEvaluator`` that judges a finished run), starts the incident response
when a trigger alert fires, and walks the steps: each waits for its role to respond,
takes its sampled duration, acts on the world through ``chaos.sim.actions``, and is
then verified against the series as they are recorded. Human delays and durations come
from a random stream of their own, so a playbook does not disturb the system's draws.
"""

from __future__ import annotations

import random

from chaos.analysis.alerts import AlertEvaluator, metric_value
from chaos.model.playbook import Condition, Escalate, OnFailure, OnSuccess, Page, Playbook, Step, describe
from chaos.run import IncidentRecord, Marker, StepRecord
from chaos.sim import actions
from chaos.sim.simulation import Simulation
from chaos.sim.world import stream


def condition_holds(cond: Condition, sim: Simulation, complete: int) -> bool:
    value = metric_value(cond.metric, cond.window, sim.series[cond.scope], sim.bounds, complete)
    if value is None:
        # No traffic to judge. An error ratio with no requests has nothing failing; anything else is unknown.
        return cond.below is not None and cond.metric.value == "error_ratio"
    return value < cond.below if cond.below is not None else value > (cond.above or 0.0)


class Responder:
    """Runs one playbook against one simulation; fills ``sim.incident``."""

    def __init__(self, sim: Simulation, playbook: Playbook, seed: int) -> None:
        self.sim = sim
        self.playbook = playbook
        self.rng: random.Random = stream(seed, "playbook", playbook.name)
        self.alerts = AlertEvaluator(sim.experiment.alert_rules, sim.bounds)
        self.record = IncidentRecord(playbook.name, steps=[
            StepRecord(s.name, s.role, *describe(s.act)) for s in playbook.steps])
        self.responses = {r.name: r.respond.sampler(self.rng)() for r in playbook.roles}
        self.paged = {a.role or s.role for s in playbook.steps for a in [s.act] if isinstance(a, Page)}
        self.verifying: tuple[int, float, float | None] | None = None  # (step, give up at, holding since)
        self.done = False
        sim.incident = self.record
        sim.observers.append(self.on_second)
        if playbook.trigger.at is not None:
            sim.at(playbook.trigger.at, lambda: self._trigger("at"))

    # ------------------------------------------------------------------ timeline

    def on_second(self, second: int) -> None:
        complete = second + 1
        if self.record.triggered_s is None and self.playbook.trigger.alerts:
            for firing in self.alerts.advance(self.sim.series, complete):
                if firing.name in self.playbook.trigger.alerts:
                    self._trigger(firing.name)
                    break
        if self.verifying is not None:
            self._check(complete)

    def _trigger(self, why: str) -> None:
        if self.record.triggered_s is not None:
            return
        now = self.sim.now
        self.record.triggered_s, self.record.trigger = now, why
        self.sim.markers.append(Marker(now, "incident", self.playbook.name, f"triggered by {why}"))
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
        now = self.sim.now
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
        rec.status = "running"
        self.sim.at(end, lambda: self._act(i))

    def _act(self, i: int) -> None:
        step = self.playbook.steps[i]
        rec = self.record.steps[i]
        now = self.sim.now
        actions.perform(self.sim, step.act)
        rec.acted_s = now
        self.sim.markers.append(Marker(now, "step", step.name, f"{rec.action} {rec.target}".strip()))
        if step.verify is None:
            self._finish(i, "done", now)
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
        if condition_holds(cond, self.sim, complete):
            since = t if since is None else since
            if t - since + 1e-9 >= cond.for_:
                self.verifying = None
                rec.verified_at_s = t
                self._finish(i, "done", t)
                return
        else:
            since = None
        if t >= give_up - 1e-9:
            self.verifying = None
            self._fail(i, t, f"'{cond.describe()}' did not hold within {cond.within:g}s")
            return
        self.verifying = (i, give_up, since)

    def _finish(self, i: int, status: str, t: float) -> None:
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
            rec.status = "escalated"
            rec.note += f"; escalated to '{policy.escalate}'"
            self._restart_from(self.playbook.step_index(policy.escalate))
        elif policy is OnFailure.ABORT:
            rec.status = "aborted"
            self.record.aborted = True
            self._end()
        else:
            rec.status = "failed"
            self._start(i + 1)

    def _end(self) -> None:
        self.done = True
        self.record.finished_s = self.sim.now

    def _restart_from(self, j: int) -> None:
        """Escalation jumps to a step (even an earlier one, which then runs again)."""
        if self.record.steps[j].status != "not_reached":
            self.record.steps[j] = StepRecord(self.record.steps[j].name, self.record.steps[j].role,
                                              self.record.steps[j].action, self.record.steps[j].target)
        self._start(j)


def attach(sim: Simulation, playbook: Playbook, seed: int) -> Responder:
    """Make ``sim`` carry out ``playbook`` (validated with ``chaos.model.playbook.bind``)."""
    return Responder(sim, playbook, seed)

