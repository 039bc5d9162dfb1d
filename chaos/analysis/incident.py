"""An incident response judged: phase times, step deadlines, error budget burned, and findings.

One clock for the whole incident. Every time in the ``playbook`` section of result.json
(phases, steps, deadlines, the trigger, roles) is in seconds since the **incident start**:
the start of the run's first fault, or, in a run with no fault, the moment the response
was triggered. ``clock`` says which, where that is on the run's clock (``start_run_s``)
and where the run ends on the incident's (``run_end_s``). Deadlines are judged on it.

Phases, never earlier than the incident start:

- detect: the trigger fired. A trigger that fired *before* the incident start (an alert
  already firing when the fault began, or a drill's fixed time before it) counts as 0 s,
  and the analysis says so (``trigger_before_start``, a finding): the response was under
  way before anything was wrong, which is a noisy alert, not a fast detection;
- acknowledge: the first paged role responded;
- mitigate: the verify of the step marked ``mitigates`` held (without such a mark: the
  first remedy step that ended done);
- recover: every stated SLO was within target over the trailing ``recovery_window``,
  counted from the mitigation (or from detection when nothing mitigated). When the run ends
  less than one ``recovery_window`` after that, recovery is *not measurable*, not "not
  recovered" (``incident.recovery``, decided by :mod:`chaos.recovery`).

A response whose trigger never fired is ``not_triggered``: its steps are not reached, and no
step or phase deadline is judged (``not_judged: not_triggered``): nothing was ever due.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx

from chaos.analysis.blast_radius import call_graph, faulted_services
from chaos.analysis.slos import bad_and_total
from chaos.document import (
    BudgetBurn,
    Clock,
    Deadline,
    Finding,
    Incident,
    PlaybookSection,
    Step,
    Trigger,
)
from chaos.incident_states import ClockBase, FindingKind, IncidentOutcome, NotJudged, StepStatus
from chaos.model.playbook import REMEDIES, Page, Phase, Playbook, describe
from chaos.model.slos import Objective
from chaos.recovery import CountsFrom, Recovery, judge_recovery
from chaos.run import IncidentRecord, Run, StepRecord

PHASES = tuple(p.value for p in Phase)
EPS = 1e-9


@dataclass(frozen=True)
class IncidentClock:
    """Second 0 of the incident on the run's clock, and where the run ends on the incident's."""

    base: ClockBase
    start_run_s: float
    run_end_s: float

    def since(self, t: float | None) -> float | None:
        """A run time on the incident's clock."""
        return None if t is None else t - self.start_run_s

    def run_time(self, t: float | None) -> float | None:
        return None if t is None else t + self.start_run_s


@dataclass(frozen=True)
class StepVerdict:
    """A step's deadline on the incident's clock and its verdict; ``not_judged`` says why ``met`` is None."""

    deadline_s: float | None
    met: bool | None
    not_judged: NotJudged | None = None


@dataclass(frozen=True)
class PhaseDeadline:
    name: str
    phase: Phase
    deadline_s: float
    actual_s: float | None
    met: bool | None
    required: float | None
    not_judged: NotJudged | None = None


@dataclass(frozen=True)
class IncidentAnalysis:
    outcome: IncidentOutcome
    clock: IncidentClock | None             # None: no fault, and the response never triggered
    phases: dict[Phase, float | None]      # seconds since the incident start (never negative)
    recovery: Recovery | None              # the recover phase judged; None: never triggered
    trigger_before_start: bool
    steps: tuple[StepVerdict, ...]
    deadlines: tuple[PhaseDeadline, ...]
    budget: tuple[BudgetBurn, ...]
    findings: tuple[Finding, ...]


def incident_clock(run: Run, record: IncidentRecord) -> IncidentClock | None:
    if run.faults:
        start, base = min(f.start_s for f in run.faults), ClockBase.FIRST_FAULT
    elif record.triggered_s is not None:
        start, base = record.triggered_s, ClockBase.TRIGGER
    else:
        return None
    return IncidentClock(base, start, run.seconds - start)


def mitigated_at(playbook: Playbook, record: IncidentRecord) -> float | None:
    """Run time of the mitigation."""
    flagged = [i for i, s in enumerate(playbook.steps) if s.mitigates]
    candidates = flagged or [i for i, s in enumerate(playbook.steps) if isinstance(s.act, REMEDIES)]
    times = [record.steps[i].end_s for i in candidates
             if record.steps[i].status is StepStatus.DONE and record.steps[i].end_s is not None]
    return min(times) if times else None  # type: ignore[type-var]


def within_target(run: Run, objectives: tuple[Objective, ...], lo: int, hi: int) -> bool:
    for obj in objectives:
        bad, total = bad_and_total(obj, run.series[obj.scope], run.bounds, lo, hi)
        if total and bad > obj.target * total + EPS:
            return False
    return True


def recovered_at(run: Run, objectives: tuple[Objective, ...], since: float | None, window: float) -> float | None:
    """First whole second t >= since + window at which every objective held over [t - window, t) (run time)."""
    if since is None:
        return None
    width = max(1, math.ceil(window - EPS))
    t = math.ceil(since - EPS) + width
    while t <= run.seconds:
        if within_target(run, objectives, t - width, t):
            return float(t)
        t += 1
    return None


def budget_burned(run: Run, objectives: tuple[Objective, ...], start: float | None,
                  end: float | None) -> tuple[BudgetBurn, ...]:
    """Share of the run's error budget each objective spent during the incident (``start``, ``end``: run time)."""
    if start is None:
        return ()
    lo, hi = int(start), int(math.ceil(end)) if end is not None else run.seconds
    out = []
    for obj in objectives:
        if not run.measured(obj.scope):  # nobody counted its errors: the burn is unknown, not none
            out.append(BudgetBurn(slo=obj.name, scope=str(obj.scope), burned=None))
            continue
        series = run.series[obj.scope]
        bad, _ = bad_and_total(obj, series, run.bounds, lo, hi)
        _, total = bad_and_total(obj, series, run.bounds, run.first_measured, run.seconds)
        allowed = obj.target * total
        out.append(BudgetBurn(slo=obj.name, scope=str(obj.scope),
                              burned=round(bad / allowed, 6) if allowed > 0 else (0.0 if bad == 0 else None)))
    return tuple(out)


def phase_times(playbook: Playbook, record: IncidentRecord, clock: IncidentClock | None,
                recovery: Recovery | None) -> dict[Phase, float | None]:
    """Seconds from the incident start to each phase; a phase reached before the start counts as 0 s."""
    if clock is None or record.triggered_s is None:
        return {p: None for p in Phase}
    start = clock.start_run_s
    recovered = None if recovery is None or recovery.time_s is None else recovery.time_s + start
    run_times = {Phase.DETECT: record.triggered_s, Phase.ACKNOWLEDGE: record.acknowledged_s,
                 Phase.MITIGATE: mitigated_at(playbook, record), Phase.RECOVER: recovered}
    return {p: None if t is None else max(0.0, t - start) for p, t in run_times.items()}


def incident_recovery(playbook: Playbook, run: Run, record: IncidentRecord,
                      clock: IncidentClock | None) -> Recovery | None:
    """The recover phase as :func:`chaos.recovery.judge_recovery` decides it (None: never triggered).

    Recovery counts from the mitigation (or the trigger when nothing mitigated, never before the
    incident start) and needs the SLOs held over ``recovery_window``: a run that ends less than one
    window after that could not have shown it, which is "not measurable", not "not recovered"."""
    if clock is None or record.triggered_s is None:
        return None
    start = clock.start_run_s
    mitigated = mitigated_at(playbook, record)
    since, counts_from = ((record.triggered_s, CountsFrom.TRIGGER) if mitigated is None
                          else (mitigated, CountsFrom.MITIGATION))
    if since < start:  # the response was under way before the fault: recovery cannot count from earlier
        since, counts_from = start, CountsFrom.FAULT_START
    at = recovered_at(run, run.experiment.objectives, since, playbook.recovery_window)
    return judge_recovery(None if at is None else max(0.0, at - start), counts_from, run.seconds - since,
                          playbook.recovery_window)


def step_verdicts(playbook: Playbook, record: IncidentRecord, clock: IncidentClock | None) -> tuple[StepVerdict, ...]:
    """Each step's deadline on the incident's clock, judged on the same clock."""
    out: list[StepVerdict] = []
    outcome = record.outcome
    for step, rec in zip(playbook.steps, record.steps, strict=True):
        d = step.deadline
        if d is None:
            out.append(StepVerdict(None, None))
            continue
        if outcome is IncidentOutcome.NOT_TRIGGERED or clock is None:
            deadline = d.within if d.after is None else None
            out.append(StepVerdict(deadline, None, NotJudged.NOT_TRIGGERED))
            continue
        if d.after is None:
            deadline = d.within
        else:
            ref = clock.since(record.steps[playbook.step_index(d.after)].end_s)
            if ref is None:
                out.append(StepVerdict(None, None))  # the step it counts from never ended: no deadline
                continue
            deadline = ref + d.within
        out.append(judge_step(rec, deadline, clock, outcome))
    return tuple(out)


def judge_step(rec: StepRecord, deadline: float, clock: IncidentClock, outcome: IncidentOutcome) -> StepVerdict:
    end = clock.since(rec.end_s)
    if end is not None:
        # Over: on time only if it ended done; failed, escalated or aborted steps missed it.
        return StepVerdict(deadline, rec.status is StepStatus.DONE and end <= deadline + EPS)
    if deadline > clock.run_end_s + EPS:
        return StepVerdict(deadline, None, NotJudged.RUN_ENDED)   # still going when the run ended, before it
    if rec.status is StepStatus.NOT_REACHED and outcome is IncidentOutcome.COMPLETED:
        return StepVerdict(deadline, None, NotJudged.NOT_NEEDED)  # the response ended without needing it
    return StepVerdict(deadline, False)


def phase_deadlines(playbook: Playbook, phases: dict[Phase, float | None], clock: IncidentClock | None,
                    outcome: IncidentOutcome) -> tuple[PhaseDeadline, ...]:
    out = []
    for obj in playbook.objectives:
        actual = phases[obj.phase]
        if outcome is IncidentOutcome.NOT_TRIGGERED or clock is None:
            out.append(PhaseDeadline(obj.name, obj.phase, obj.within, None, None, obj.probability,
                                     NotJudged.NOT_TRIGGERED))
            continue
        met: bool | None = actual is not None and actual <= obj.within + EPS
        why = None
        if actual is None and obj.within > clock.run_end_s + EPS:
            met, why = None, NotJudged.RUN_ENDED  # the run ended before the deadline: it cannot be judged
        out.append(PhaseDeadline(obj.name, obj.phase, obj.within, actual, met, obj.probability, why))
    return tuple(out)


def findings(playbook: Playbook, run: Run, record: IncidentRecord, clock: IncidentClock | None,
             verdicts: tuple[StepVerdict, ...], breached: list[str] | None = None) -> tuple[Finding, ...]:
    """What a reviewer of this playbook would want pointed out."""
    out: list[Finding] = []
    for step in playbook.steps:
        if isinstance(step.act, REMEDIES) and step.verify is None:
            out.append(Finding(kind=FindingKind.NO_VERIFY, step=step.name,
                               message=f"'{step.name}' changes the system but checks nothing afterwards"))
    hurt = sorted(faulted_services(run) | set(breached or ()))
    graph = call_graph(run.experiment.topology)
    for step in playbook.steps:
        services = [getattr(step.act, n) for n in ("service", "from_") if isinstance(getattr(step.act, n, None), str)]
        for name in services:
            # It can only matter if it calls, or is called by, a faulted or breached service (at any depth).
            if hurt and not any(name == h or nx.has_path(graph, name, h) or nx.has_path(graph, h, name)
                                for h in hurt):
                out.append(Finding(kind=FindingKind.NO_EFFECT, step=step.name,
                                   message=f"'{step.name}' acts on {name}, which neither calls nor is called by "
                                           f"any faulted or breached service ({', '.join(hurt)}): it cannot help"))
    # A deadline this run met was not impossible (a trigger before the fault gives the response a head start).
    met = {step.name for step, v in zip(playbook.steps, verdicts, strict=True) if v.met}
    out.extend(f for f in impossible_deadlines(playbook, run) if f.step not in met)
    if record.outcome is IncidentOutcome.NOT_TRIGGERED:
        out.append(Finding(kind=FindingKind.NOT_TRIGGERED, step=None,
                           message=f"{trigger_words(playbook)} never fired in the run, so no step ran and no "
                                   "deadline was judged"))
        return tuple(out)
    early = trigger_lead(record, clock)
    if early is not None:
        out.append(Finding(kind=FindingKind.TRIGGER_BEFORE_FAULT, step=None,
                           message=f"the response was triggered by {trigger_name(record)} at {record.triggered_s:g} "
                                   f"s, {early:g} s before the first fault: it was under way before anything was "
                                   f"wrong (a noisy alert?), and detection counts as 0 s"))
    for step, rec in zip(playbook.steps, record.steps, strict=True):
        if rec.status is StepStatus.NOT_REACHED:
            out.append(Finding(kind=FindingKind.NEVER_REACHED, step=step.name,
                               message=f"'{step.name}' was never reached"))
    return tuple(out)


def trigger_words(playbook: Playbook) -> str:
    alerts = playbook.trigger.alerts
    if alerts:
        names = ", ".join(f"'{a}'" for a in alerts)
        return f"the trigger (alert {names})" if len(alerts) == 1 else f"the trigger (any of alerts {names})"
    return f"the trigger (at {playbook.trigger.at:g} s)"


def trigger_name(record: IncidentRecord) -> str:
    return "its fixed time" if record.trigger == "at" else f"alert '{record.trigger}'"


def trigger_lead(record: IncidentRecord, clock: IncidentClock | None) -> float | None:
    """How long before the incident start the trigger fired (None: not before it)."""
    if clock is None or record.triggered_s is None or record.triggered_s >= clock.start_run_s - EPS:
        return None
    return clock.start_run_s - record.triggered_s


def impossible_deadlines(playbook: Playbook, run: Run) -> list[Finding]:
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
        if d is not None and d.after is None and elapsed > d.within + EPS:
            out.append(Finding(kind=FindingKind.IMPOSSIBLE_DEADLINE, step=step.name,
                               message=f"'{step.name}' must be over {d.within:g}s after the incident starts, but "
                                       f"the fastest possible response takes {elapsed:g}s to get there"))
    return out


def blank_record(playbook: Playbook) -> IncidentRecord:
    """The record of a response that never started (no trigger, or a run without the playbook)."""
    return IncidentRecord(playbook.name, steps=[StepRecord(s.name, s.role, *describe(s.act)) for s in playbook.steps])


def analyze_incident(playbook: Playbook, run: Run, breached: list[str] | None = None) -> IncidentAnalysis:
    record = run.incident or blank_record(playbook)
    clock = incident_clock(run, record)
    recovery = incident_recovery(playbook, run, record, clock)
    phases = phase_times(playbook, record, clock, recovery)
    outcome = record.outcome
    recovered = phases[Phase.RECOVER]
    budget = () if clock is None or record.triggered_s is None else budget_burned(
        run, run.experiment.objectives, clock.start_run_s, clock.run_time(recovered))
    verdicts = step_verdicts(playbook, record, clock)
    return IncidentAnalysis(outcome, clock, phases, recovery, trigger_lead(record, clock) is not None, verdicts,
                            phase_deadlines(playbook, phases, clock, outcome), budget,
                            findings(playbook, run, record, clock, verdicts, breached))


def incident_section(playbook: Playbook, run: Run, an: IncidentAnalysis) -> PlaybookSection:
    """The ``playbook`` section of result.json: every time on the incident's clock (see the module's docstring)."""
    record = run.incident or blank_record(playbook)

    def since(t: float | None) -> float | None:
        return None if an.clock is None else an.clock.since(t)

    steps = tuple(
        Step(name=rec.name, role=rec.role, action=rec.action, target=rec.target, start_s=since(rec.start_s),
             acted_s=since(rec.acted_s), end_s=since(rec.end_s), deadline_s=verdict.deadline_s, met=verdict.met,
             not_judged=verdict.not_judged, status=rec.status,
             verify=None if step.verify is None else step.verify.describe(),
             verified_at_s=since(rec.verified_at_s), note=rec.note)
        for step, rec, verdict in zip(playbook.steps, record.steps, an.steps, strict=True))
    phases = {phase: an.phases[phase] for phase in Phase}
    incident = Incident(
        outcome=an.outcome, trigger=record.trigger, triggered_s=since(record.triggered_s),
        trigger_before_start=an.trigger_before_start, finished_s=since(record.finished_s),
        time_to_detect_s=phases[Phase.DETECT], time_to_acknowledge_s=phases[Phase.ACKNOWLEDGE],
        time_to_mitigate_s=phases[Phase.MITIGATE], time_to_recover_s=phases[Phase.RECOVER],
        recovery=an.recovery, error_budget_burned=an.budget)
    clock = None if an.clock is None else Clock(base=an.clock.base, start_run_s=an.clock.start_run_s,
                                                run_end_s=an.clock.run_end_s)
    deadlines = tuple(Deadline(name=d.name, phase=d.phase, deadline_s=d.deadline_s, actual_s=d.actual_s,
                               met=d.met, not_judged=d.not_judged, required=d.required) for d in an.deadlines)
    return PlaybookSection(
        name=playbook.name, trigger=Trigger(alerts=tuple(playbook.trigger.alerts), at_s=playbook.trigger.at),
        clock=clock, incident=incident, steps=steps, deadlines=deadlines,
        findings=an.findings,
        roles={name: since(t) for name, t in record.engaged.items()})
