"""Everything a pipeline gates on, as one list of checks: SLO objectives, alert expectations,
playbook deadlines and steps, drill probability requirements, and replications.

The JUnit file, the Markdown summary's "missed" list and the verdict all read this list, so
they can never disagree about what failed. Messages are written for someone reading a CI
log who has not seen the experiment file: what was required, what happened, by how much.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from chaos.document import (
    AlertExpectation,
    Deadline,
    DrillDeadline,
    Firing,
    Objective,
    PlaybookSection,
    ResultDocument,
    Step,
)
from chaos.incident_states import NotJudged, StepStatus
from chaos.model.playbook import Phase
from chaos.model.quantities import millis as fmt_ms
from chaos.model.quantities import percent as fmt_pct
from chaos.model.quantities import plural
from chaos.model.quantities import seconds as fmt_s
from chaos.model.slos import ObjectiveKind
from chaos.recovery import RecoveryState, recovery_reason, recovery_words


class CheckKind(enum.Enum):
    SLO = "slo"
    ALERT_EXPECTATION = "alert_expectation"
    PLAYBOOK_DEADLINE = "playbook_deadline"
    PLAYBOOK_STEP = "playbook_step"
    DRILL_DEADLINE = "drill_deadline"
    REPLICATIONS = "replications"
    GATE = "gate"

    @property
    def title(self) -> str:
        return _TITLES[self]

    @property
    def is_deadline(self) -> bool:
        return self in (CheckKind.ALERT_EXPECTATION, CheckKind.PLAYBOOK_DEADLINE, CheckKind.PLAYBOOK_STEP,
                        CheckKind.DRILL_DEADLINE)


_TITLES = {
    CheckKind.SLO: "SLO objectives", CheckKind.ALERT_EXPECTATION: "Alert expectations",
    CheckKind.PLAYBOOK_DEADLINE: "Playbook deadlines", CheckKind.PLAYBOOK_STEP: "Playbook step deadlines",
    CheckKind.DRILL_DEADLINE: "Drill requirements", CheckKind.REPLICATIONS: "Replications",
    CheckKind.GATE: "Gate",
}


class CheckOutcome(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNMEASURED = "unmeasured"  # its scope was not measured: neither met nor missed, and no pass (exit code 5)


@dataclass(frozen=True)
class Check:
    kind: CheckKind
    name: str
    outcome: CheckOutcome
    message: str

    @property
    def failed(self) -> bool:
        return self.outcome is CheckOutcome.FAILED

    @property
    def unmeasured(self) -> bool:
        return self.outcome is CheckOutcome.UNMEASURED


def _outcome(met: bool, measured: bool = True) -> CheckOutcome:
    if not measured:
        return CheckOutcome.UNMEASURED
    return CheckOutcome.PASSED if met else CheckOutcome.FAILED


UNMEASURED_WHY = "nothing measured it (no metrics of its own or of its callers), so it was neither met nor missed"


def slo_message(o: Objective) -> str:
    if not o.measured:
        return f"{o.name}: UNMEASURED: {o.scope} was not measured; {UNMEASURED_WHY}"
    if o.kind is ObjectiveKind.LATENCY and o.threshold_ms is not None:
        pct = f"p{o.percentile:g}" if o.percentile is not None else "latency"
        verdict = "within" if o.met else "above"
        share = o.bad / o.total if o.total else None
        return (f"{pct} latency of {o.scope} was {fmt_ms(o.observed)}, {verdict} the objective of "
                f"{fmt_ms(o.threshold_ms)} ({o.bad:,} of {plural(o.total, 'request')} slower, {fmt_pct(share)}; "
                f"allowed {fmt_pct(o.target)})" + _breach_tail(o))
    if o.kind is ObjectiveKind.ERROR_RATIO:
        verdict = "within" if o.met else "above"
        return (f"error ratio of {o.scope} was {fmt_pct(o.observed)}, {verdict} the objective of at most "
                f"{fmt_pct(o.target)} ({o.bad:,} of {o.total:,} failed)" + _breach_tail(o))
    return f"{o.name}: observed {o.observed}, target {o.target}: {'met' if o.met else 'missed'}"


def _breach_tail(o: Objective) -> str:
    if o.met or o.first_breach_s is None:
        return ""
    return f"; first in breach at {fmt_s(o.first_breach_s)}, for {o.breach_seconds} s in all"


def alert_message(e: AlertExpectation, fault_start: float | None, alerts: tuple[Firing, ...] = ()) -> str:
    within = fmt_s(e.within_s)
    if not e.measured:
        return (f"alert '{e.alert}' is UNMEASURED: it watches a scope nothing measured (no metrics of its own or of "
                f"its callers), so it was not evaluated and could neither fire nor be missed")
    if fault_start is None:
        return f"alert '{e.alert}' was expected within {within} of the first fault, but no fault was injected"
    if e.fired_at_s is None:
        before = next((a for a in alerts if a.name == e.alert and a.fired_at_s < fault_start
                       and (a.resolved_at_s is None or a.resolved_at_s > fault_start)), None)
        if before is not None:
            return (f"alert '{e.alert}' was already firing when the first fault started at {fmt_s(fault_start)} "
                    f"(since {fmt_s(before.fired_at_s)}) and did not fire anew after it, so it detected nothing; "
                    f"it should fire within {within} of the fault")
        return (f"alert '{e.alert}' never fired after the first fault (at {fmt_s(fault_start)}); "
                f"it should fire within {within}")
    took = fmt_s(e.fired_at_s - fault_start)
    if e.met:
        return f"alert '{e.alert}' fired {took} after the first fault, within {within}"
    return (f"alert '{e.alert}' fired {took} after the first fault (at {fmt_s(e.fired_at_s)}), "
            f"later than the {within} expected")


def never_triggered(pb: PlaybookSection) -> str:
    return f"the playbook was never triggered ({pb.trigger_names()} never fired), so nothing was due"


def since_start(t: float) -> str:
    """A time of the playbook section, in words: every one counts from the incident start."""
    return f"{fmt_s(t)} after the incident start" if t >= 0 else f"{fmt_s(-t)} before the incident start"


def after_the_run(t: float | None, pb: PlaybookSection) -> bool:
    return t is not None and pb.clock is not None and t > pb.clock.run_end_s + 1e-9


def deadline_words(t: float | None, pb: PlaybookSection) -> str:
    if t is None:
        return "-"
    return since_start(t) + (", after the end of the run" if after_the_run(t, pb) else "")


def phase_words(pb: PlaybookSection, phase: str, *, why: bool = False) -> str:
    """A phase's time from the incident start, or why there is none: the recover phase's from
    :func:`chaos.recovery.recovery_words`, so that a run too short to show a recovery never reads as
    one that did not recover."""
    t = getattr(pb.incident, f"time_to_{phase}_s")
    if t is not None:
        return fmt_s(t)
    if pb.not_triggered:
        return "not triggered"
    recovery = pb.incident.recovery
    if phase == Phase.RECOVER.value and recovery is not None:
        return recovery_words(recovery, why=why)
    return "not reached"


def deadline_check(d: Deadline, pb: PlaybookSection) -> Check:
    if d.not_judged is NotJudged.NOT_TRIGGERED:
        return Check(CheckKind.PLAYBOOK_DEADLINE, d.name, CheckOutcome.SKIPPED,
                     f"'{d.name}': not judged: {never_triggered(pb)}")
    if d.met is None:
        return Check(CheckKind.PLAYBOOK_DEADLINE, d.name, CheckOutcome.SKIPPED,
                     f"'{d.name}': undecided, the run ended before {d.phase.value} and before its deadline of "
                     f"{fmt_s(d.deadline_s)} from the incident's start; run longer to judge it")
    return Check(CheckKind.PLAYBOOK_DEADLINE, d.name, _outcome(d.met), deadline_message(d, pb))


def deadline_message(d: Deadline, pb: PlaybookSection) -> str:
    recovery = pb.incident.recovery
    if d.actual_s is None and d.phase is Phase.RECOVER and recovery is not None:
        if recovery.state is RecoveryState.NOT_MEASURABLE and recovery.after_s is not None \
                and recovery.window_s is not None and pb.clock is not None:
            # Missed all the same: the SLOs cannot hold over a whole window before it has passed.
            earliest = pb.clock.run_end_s - recovery.after_s + recovery.window_s
            return (f"'{d.name}': recovery was not measurable ({recovery_reason(recovery)}); it could not have "
                    f"come before {fmt_s(earliest)} from the incident's start, after the deadline of "
                    f"{fmt_s(d.deadline_s)}")
        return f"'{d.name}': {d.phase.value}: {recovery_words(recovery)} (deadline {fmt_s(d.deadline_s)})"
    if d.actual_s is None:
        return f"'{d.name}': {d.phase.value} was never reached (deadline {fmt_s(d.deadline_s)})"
    verdict = "within" if d.met else "missing"
    return (f"'{d.name}': {d.phase.value} took {fmt_s(d.actual_s)} from the incident's start, {verdict} the deadline "
            f"of {fmt_s(d.deadline_s)}")


def _step_detail(s: Step) -> str:
    detail = " ".join(x for x in (s.action.value, s.target) if x)
    if not detail:
        return ""
    return f" ({s.role}: {detail})" if s.role else f" ({detail})"


def step_check(s: Step, pb: PlaybookSection) -> Check:
    """A step's deadline; its times and deadline count from the incident start, as the playbook section's do."""
    what = f"step '{s.name}'" + _step_detail(s)
    if s.met is None:
        tail = "" if s.deadline_s is None else f"; deadline {deadline_words(s.deadline_s, pb)}"
        return Check(CheckKind.PLAYBOOK_STEP, s.name, CheckOutcome.SKIPPED, f"{what}: {_unjudged(s, pb)}{tail}")
    if s.end_s is None:
        ended = f"did not finish (status {s.status.label})"
    else:
        ended = f"ended {since_start(s.end_s)}" + ("" if s.status is StepStatus.DONE
                                                    else f" with status {s.status.label}")
    relation = "within its deadline of" if s.met else "missing its deadline of"
    late = ", which is after the end of the run" if after_the_run(s.deadline_s, pb) else ""
    note = f" ({s.note})" if s.note and not s.met else ""
    return Check(CheckKind.PLAYBOOK_STEP, s.name, _outcome(s.met),
                 f"{what} {ended}, {relation} {fmt_s(s.deadline_s)}{late}{note}")


def _unjudged(s: Step, pb: PlaybookSection) -> str:
    if s.not_judged is NotJudged.NOT_TRIGGERED:
        return f"not judged: {never_triggered(pb)}"
    if s.not_judged is NotJudged.NOT_NEEDED or (s.not_judged is None and s.status is StepStatus.NOT_REACHED):
        return "not reached: the response was over without it"
    where = "not reached" if s.status is StepStatus.NOT_REACHED else f"still going (status {s.status.label})"
    return f"undecided: {where} when the run ended, before its deadline"


def drill_check(d: DrillDeadline, runs: int) -> Check:
    ci = f" (95% interval {d.ci95_low * 100:.0f}-{d.ci95_high * 100:.0f}%)"
    seen = f"{d.phase.value} within {fmt_s(d.deadline_s)} in {d.p_met * 100:.0f}%{ci} of {plural(runs, 'run')}"
    if d.not_triggered:
        seen += f" ({d.not_triggered} never triggered, counted as missed)"
    if d.undecided:
        seen += f" ({d.undecided} ended too early to tell, counted as missed)"
    if d.met is None or d.required is None:
        return Check(CheckKind.DRILL_DEADLINE, d.name, CheckOutcome.SKIPPED, f"'{d.name}': {seen}; no share required")
    relation = "meeting" if d.met else "below"
    return Check(CheckKind.DRILL_DEADLINE, d.name, _outcome(d.met),
                 f"'{d.name}': {seen}, {relation} the required {d.required * 100:.0f}%")


def checks(r: ResultDocument) -> tuple[Check, ...]:
    """Every check of the run, in a stable order: SLOs, alerts, playbook, drill, replications, gate.

    A drill gates on its probability requirements only; the one incident it shows in full is
    reported with the same checks, skipped, so CI lists what happened there without failing on it.
    """
    out = list(run_checks(r))
    if r.drill is not None:
        out = [not_gated(c) for c in out]
        out += [drill_check(d, r.drill.runs) for d in r.drill.deadlines]
    if r.replications is not None and r.replications.count > 1:
        out.append(replications_check(r))
        expected = replication_expectations_check(r)
        if expected is not None:
            out.append(expected)
    if r.gate_failed and not any(c.failed for c in out):
        out.append(Check(CheckKind.GATE, "gate", CheckOutcome.FAILED, "the run's own gate failed (gate_failed is set)"))
    return tuple(out)


def not_gated(c: Check) -> Check:
    verdict = {CheckOutcome.PASSED: "met", CheckOutcome.FAILED: "MISSED", CheckOutcome.SKIPPED: "not judged",
               CheckOutcome.UNMEASURED: "UNMEASURED"}[c.outcome]
    return Check(c.kind, c.name, CheckOutcome.SKIPPED, f"first run of the drill, not gated ({verdict}): {c.message}")


def run_checks(r: ResultDocument) -> list[Check]:
    """The checks of one run: SLOs, alert expectations, and the playbook's deadlines and steps."""
    out = [Check(CheckKind.SLO, o.name, _outcome(o.met, o.measured), slo_message(o)) for o in r.slos]
    start = r.first_fault_s
    out += [Check(CheckKind.ALERT_EXPECTATION, f"alert {e.alert} within {fmt_s(e.within_s)}",
                  _outcome(e.met, e.measured), alert_message(e, start, r.alerts)) for e in r.alert_expectations]
    pb = r.playbook
    if pb is not None:
        out += [deadline_check(d, pb) for d in pb.deadlines]
        out += [step_check(s, pb) for s in pb.steps if s.deadline_s is not None or s.not_judged is not None]
    return out


def replications_check(r: ResultDocument) -> Check:
    reps = r.replications
    assert reps is not None
    failed = [seed for seed, ok in zip(reps.seeds, reps.slo_met, strict=False) if not ok]
    held = reps.count - len(failed)
    msg = f"SLOs held in {held} of {plural(reps.count, 'replication')}"
    if failed:
        msg += f" (missed with seeds {', '.join(str(s) for s in failed)})"
    return Check(CheckKind.REPLICATIONS, "SLOs held in every replication", _outcome(not failed), msg)


def replication_expectations_check(r: ResultDocument) -> Check | None:
    """Alert expectations gate every replication, as SLOs do (the run's own are checked one by one)."""
    reps = r.replications
    if reps is None or not reps.expectations_met or not r.alert_expectations:
        return None
    failed = [seed for seed, ok in zip(reps.seeds, reps.expectations_met, strict=False) if not ok]
    msg = f"alert expectations met in {reps.count - len(failed)} of {plural(reps.count, 'replication')}"
    if failed:
        msg += f" (missed with seeds {', '.join(str(s) for s in failed)})"
    return Check(CheckKind.REPLICATIONS, "alert expectations met in every replication", _outcome(not failed), msg)


class Verdict(enum.Enum):
    """What a run's document says about the run as a whole; its value is the command's exit code."""

    HELD = 0    # everything gated on held
    MISSED = 1  # an SLO, deadline, expectation or requirement was missed, or the run's own gate failed
    # Nothing was missed, but an SLO or alert expectation is scoped to a service nothing measured: no
    # pass, so a release gate sees it, and its own code, so a pipeline can tell "blind" from "broken".
    UNMEASURED = 5

    @property
    def exit_code(self) -> int:
        return int(self.value)


def verdict(r: ResultDocument) -> Verdict:
    """The verdict of every command that judges a run (simulate, drill, run, report): from the same checks
    the verdict line, ``junit.xml`` and ``summary.md`` read, so none of them can disagree with the exit code.
    A drill gates on its probability requirements, not on the SLOs of the one incident it shows in full.
    A miss outweighs an unmeasured check: exit code 1 says something broke whatever else could not be seen."""
    every = checks(r)
    measured_miss = any(not o.met and o.measured for o in r.slos) or all(o.measured for o in r.slos)
    if r.drill is None and not r.slo_met and measured_miss:
        return Verdict.MISSED
    if r.gate_failed or any(c.failed for c in every):
        return Verdict.MISSED
    return Verdict.UNMEASURED if any(c.unmeasured for c in every) else Verdict.HELD
