"""An incident response judged: phase times, step deadlines, error budget burned, and findings.

Phases, all measured from the incident start (the first fault; for a fixed-time drill
with no fault, the trigger):

- detect: the trigger alert fired;
- acknowledge: the first paged role responded;
- mitigate: the verify of the step marked ``mitigates`` held (without such a mark: the
  first remedy step that ended done);
- recover: every stated SLO was within target over the trailing ``recovery_window``,
  counted from the mitigation (or from detection when nothing mitigated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from chaos.analysis.blast_radius import call_graph, faulted_services
from chaos.analysis.slos import bad_and_total
from chaos.model.playbook import REMEDIES, Page, Phase, Playbook, describe
from chaos.model.slos import Objective
from chaos.run import IncidentRecord, Run, StepRecord

PHASES = tuple(p.value for p in Phase)


@dataclass
class IncidentAnalysis:
    start_s: float | None
    times: dict[str, float | None]            # phase -> absolute time it was reached
    step_deadlines: list[float | None]
    deadlines: list[dict[str, Any]]
    budget: list[dict[str, Any]]
    findings: list[dict[str, Any]] = field(default_factory=list)

    def elapsed(self, phase: str) -> float | None:
        t = self.times.get(phase)
        return None if t is None or self.start_s is None else t - self.start_s


def incident_start(run: Run, record: IncidentRecord) -> float | None:
    if run.faults:
        return min(f.start_s for f in run.faults)
    return record.triggered_s


def mitigated_at(playbook: Playbook, record: IncidentRecord) -> float | None:
    flagged = [i for i, s in enumerate(playbook.steps) if s.mitigates]
    candidates = flagged or [i for i, s in enumerate(playbook.steps) if isinstance(s.act, REMEDIES)]
    times = [record.steps[i].end_s for i in candidates
             if record.steps[i].status == "done" and record.steps[i].end_s is not None]
    return min(times) if times else None  # type: ignore[type-var]


def within_target(run: Run, objectives: tuple[Objective, ...], lo: int, hi: int) -> bool:
    for obj in objectives:
        bad, total = bad_and_total(obj, run.series[obj.scope], run.bounds, lo, hi)
        if total and bad > obj.target * total + 1e-9:
            return False
    return True


def recovered_at(run: Run, objectives: tuple[Objective, ...], since: float | None, window: float) -> float | None:
    """First whole second t >= since + window at which every objective held over [t - window, t)."""
    if since is None:
        return None
    width = max(1, math.ceil(window - 1e-9))
    t = math.ceil(since - 1e-9) + width
    while t <= run.seconds:
        if within_target(run, objectives, t - width, t):
            return float(t)
        t += 1
    return None


def budget_burned(run: Run, objectives: tuple[Objective, ...], start: float | None,
                  end: float | None) -> list[dict[str, Any]]:
    """Share of the run's error budget each objective spent during the incident."""
    if start is None:
        return []
    lo, hi = int(start), int(math.ceil(end)) if end is not None else run.seconds
    out = []
    for obj in objectives:
        series = run.series[obj.scope]
        bad, _ = bad_and_total(obj, series, run.bounds, lo, hi)
        _, total = bad_and_total(obj, series, run.bounds, run.first_measured, run.seconds)
        allowed = obj.target * total
        out.append({"slo": obj.name, "scope": str(obj.scope),
                    "burned": round(bad / allowed, 6) if allowed > 0 else (0.0 if bad == 0 else None)})
    return out


def step_deadlines(playbook: Playbook, record: IncidentRecord, start: float | None) -> list[float | None]:
    out: list[float | None] = []
    for step in playbook.steps:
        d = step.deadline
        if d is None or start is None:
            out.append(None)
        elif d.after is None:
            out.append(start + d.within)
        else:
            ref = record.steps[playbook.step_index(d.after)].end_s
            out.append(None if ref is None else ref + d.within)
    return out


def findings(playbook: Playbook, run: Run, record: IncidentRecord,
             breached: list[str] | None = None) -> list[dict[str, Any]]:
    """What a reviewer of this playbook would want pointed out."""
    out: list[dict[str, Any]] = []
    for step in playbook.steps:
        if isinstance(step.act, REMEDIES) and step.verify is None:
            out.append({"kind": "no_verify", "step": step.name,
                        "message": f"'{step.name}' changes the system but checks nothing afterwards"})
    hurt = sorted(faulted_services(run) | set(breached or ()))
    graph = call_graph(run.experiment.topology)
    for step in playbook.steps:
        services = [getattr(step.act, n) for n in ("service", "from_") if isinstance(getattr(step.act, n, None), str)]
        for name in services:
            # It can only matter if it calls, or is called by, a faulted or breached service (at any depth).
            if hurt and not any(name == h or nx.has_path(graph, name, h) or nx.has_path(graph, h, name)
                                for h in hurt):
                out.append({"kind": "no_effect", "step": step.name,
                            "message": f"'{step.name}' acts on {name}, which neither calls nor is called by any "
                                       f"faulted or breached service ({', '.join(hurt)}): it cannot help"})
    out.extend(impossible_deadlines(playbook, run))
    for step, rec in zip(playbook.steps, record.steps, strict=True):
        if rec.status == "not_reached":
            out.append({"kind": "never_reached", "step": step.name,
                        "message": f"'{step.name}' was never reached"})
    return out


def impossible_deadlines(playbook: Playbook, run: Run) -> list[dict[str, Any]]:
    """Deadlines (from the incident start) that even the fastest possible response cannot meet."""
    rules = {r.name: r for r in run.experiment.alert_rules}
    trigger = playbook.trigger
    if trigger.at is not None:
        start = min((f.at for f in run.experiment.fault_list), default=trigger.at)
        earliest = max(0.0, trigger.at - start)
    else:
        earliest = min((rules[a].for_ for a in trigger.alerts if a in rules), default=0.0)
    fastest = {r.name: r.respond.quantile(0.0) if r.respond.TAG == "constant" else 0.0 for r in playbook.roles}
    out = []
    elapsed = earliest
    engaged: dict[str, float] = {}
    for step in playbook.steps:
        role_ready = engaged.setdefault(step.role, earliest + fastest.get(step.role, 0.0))
        least = step.takes.quantile(0.0) if step.takes.TAG == "constant" else 0.0
        elapsed = max(elapsed, role_ready) + least
        if isinstance(step.act, Page):
            target = step.act.role or step.role
            engaged[target] = max(engaged.get(target, 0.0), elapsed)
        if step.verify is not None:
            elapsed += step.verify.for_
        d = step.deadline
        if d is not None and d.after is None and elapsed > d.within + 1e-9:
            out.append({"kind": "impossible_deadline", "step": step.name,
                        "message": f"'{step.name}' must be over {d.within:g}s after the incident starts, but "
                                   f"the fastest possible response takes {elapsed:g}s to get there"})
    return out


def blank_record(playbook: Playbook) -> IncidentRecord:
    """The record of a response that never started (no trigger, or a run without the playbook)."""
    return IncidentRecord(playbook.name, steps=[StepRecord(s.name, s.role, *describe(s.act)) for s in playbook.steps])


def analyze_incident(playbook: Playbook, run: Run, breached: list[str] | None = None) -> IncidentAnalysis:
    record = run.incident or blank_record(playbook)
    start = incident_start(run, record)
    objectives = run.experiment.objectives
    mitigated = mitigated_at(playbook, record)
    since = mitigated if mitigated is not None else record.triggered_s
    recovered = recovered_at(run, objectives, since, playbook.recovery_window)
    times = {"detect": record.triggered_s, "acknowledge": record.acknowledged_s, "mitigate": mitigated,
             "recover": recovered}
    deadlines = []
    for obj in playbook.objectives:
        t = times[obj.phase.value]
        actual = None if t is None or start is None else t - start
        met: bool | None = actual is not None and actual <= obj.within + 1e-9
        if actual is None and start is not None and start + obj.within > run.seconds:
            met = None  # the run ended before the deadline: it cannot be judged
        deadlines.append({"name": obj.name, "phase": obj.phase.value, "deadline_s": obj.within,
                          "actual_s": actual, "met": met, "required": obj.probability})
    end = recovered if recovered is not None else None
    return IncidentAnalysis(start, times, step_deadlines(playbook, record, start), deadlines,
                            budget_burned(run, objectives, start, end), findings(playbook, run, record, breached))


def incident_dict(playbook: Playbook, run: Run, an: IncidentAnalysis) -> dict[str, Any]:
    """The ``playbook`` section of result.json."""
    record = run.incident or blank_record(playbook)
    steps = []
    for step, rec, deadline in zip(playbook.steps, record.steps, an.step_deadlines, strict=True):
        met = None if deadline is None else (rec.end_s is not None and rec.status == "done"
                                             and rec.end_s <= deadline + 1e-9)
        if met is False and rec.end_s is None and deadline is not None:
            if deadline > run.seconds:
                met = None  # still going when the run ended, before its deadline: undecided
            elif rec.status == "not_reached" and record.finished_s is not None and not record.aborted:
                met = None  # the response ended without needing the step (an escalation target)
        steps.append({"name": rec.name, "role": rec.role, "action": rec.action, "target": rec.target,
                      "start_s": rec.start_s, "acted_s": rec.acted_s, "end_s": rec.end_s,
                      "deadline_s": deadline, "met": met, "status": rec.status,
                      "verify": None if step.verify is None else step.verify.describe(),
                      "verified_at_s": rec.verified_at_s, "note": rec.note})
    incident: dict[str, Any] = {"start_s": an.start_s, "triggered_s": record.triggered_s,
                                "trigger": record.trigger, "aborted": record.aborted}
    names = {"detect": "detected_s", "acknowledge": "acknowledged_s", "mitigate": "mitigated_s",
             "recover": "recovered_s"}
    for phase in PHASES:
        incident[names[phase]] = an.times[phase]
        incident[f"time_to_{phase}_s"] = an.elapsed(phase)
    incident["error_budget_burned"] = an.budget
    return {"name": playbook.name, "trigger": {"alerts": list(playbook.trigger.alerts), "at_s": playbook.trigger.at},
            "incident": incident, "steps": steps, "deadlines": an.deadlines, "findings": an.findings,
            "roles": {name: t for name, t in record.engaged.items()}}


def deadlines_met(section: dict[str, Any]) -> bool:
    """No phase or step deadline of one incident missed (undecided ones do not count as missed)."""
    return all(d["met"] is not False for d in section["deadlines"]) and all(
        s["met"] is not False for s in section["steps"])

