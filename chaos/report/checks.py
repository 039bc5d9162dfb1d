"""Everything a pipeline gates on, as one list of checks: SLO objectives, alert expectations,
playbook deadlines and steps, drill probability requirements, and replications.

The JUnit file, the Markdown summary's "missed" list and the verdict all read this list, so
they can never disagree about what failed. Messages are written for someone reading a CI
log who has not seen the experiment file: what was required, what happened, by how much.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from chaos.report.document import (
    AlertExpectation,
    Deadline,
    DrillDeadline,
    Objective,
    Report,
    Step,
)
from chaos.report.summary import fmt_ms, fmt_pct, fmt_s


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


class Outcome(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Check:
    kind: CheckKind
    name: str
    outcome: Outcome
    message: str

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAILED


def _outcome(met: bool) -> Outcome:
    return Outcome.PASSED if met else Outcome.FAILED


def slo_message(o: Objective) -> str:
    if o.kind == "latency" and o.threshold_ms is not None:
        pct = f"p{o.percentile:g}" if o.percentile is not None else "latency"
        verdict = "within" if o.met else "above"
        share = o.bad / o.total if o.total else None
        return (f"{pct} latency of {o.scope} was {fmt_ms(o.observed)}, {verdict} the objective of "
                f"{fmt_ms(o.threshold_ms)} ({o.bad:,} of {o.total:,} requests slower, {fmt_pct(share)}; "
                f"allowed {fmt_pct(o.target)})" + _breach_tail(o))
    if o.kind == "error_ratio":
        verdict = "within" if o.met else "above"
        return (f"error ratio of {o.scope} was {fmt_pct(o.observed)}, {verdict} the objective of at most "
                f"{fmt_pct(o.target)} ({o.bad:,} of {o.total:,} failed)" + _breach_tail(o))
    return f"{o.name}: observed {o.observed}, target {o.target}: {'met' if o.met else 'missed'}"


def _breach_tail(o: Objective) -> str:
    if o.met or o.first_breach_s is None:
        return ""
    return f"; first in breach at {fmt_s(o.first_breach_s)}, for {o.breach_seconds} s in all"


def alert_message(e: AlertExpectation, fault_start: float | None) -> str:
    within = fmt_s(e.within_s)
    if fault_start is None:
        return f"alert '{e.alert}' was expected within {within} of the first fault, but no fault was injected"
    if e.fired_at_s is None:
        return (f"alert '{e.alert}' never fired after the first fault (at {fmt_s(fault_start)}); "
                f"it should fire within {within}")
    took = fmt_s(e.fired_at_s - fault_start)
    if e.met:
        return f"alert '{e.alert}' fired {took} after the first fault, within {within}"
    return (f"alert '{e.alert}' fired {took} after the first fault (at {fmt_s(e.fired_at_s)}), "
            f"later than the {within} expected")


def deadline_check(d: Deadline) -> Check:
    if d.met is None:
        return Check(CheckKind.PLAYBOOK_DEADLINE, d.name, Outcome.SKIPPED,
                     f"'{d.name}': undecided, the run ended before {d.phase} and before its deadline of "
                     f"{fmt_s(d.deadline_s)}; run longer to judge it")
    return Check(CheckKind.PLAYBOOK_DEADLINE, d.name, _outcome(d.met), deadline_message(d))


def deadline_message(d: Deadline) -> str:
    if d.actual_s is None:
        return f"'{d.name}': {d.phase} was never reached (deadline {fmt_s(d.deadline_s)})"
    verdict = "within" if d.met else "missing"
    return (f"'{d.name}': {d.phase} took {fmt_s(d.actual_s)} from the incident's start, {verdict} the deadline "
            f"of {fmt_s(d.deadline_s)}")


def _step_detail(s: Step) -> str:
    detail = " ".join(x for x in (s.action, s.target) if x)
    if not detail:
        return ""
    return f" ({s.role}: {detail})" if s.role else f" ({detail})"


def step_check(s: Step) -> Check:
    what = f"step '{s.name}'" + _step_detail(s)
    deadline = fmt_s(s.deadline_s)
    if s.met is None:
        reason = ("not reached: the playbook stopped before this step" if s.status == "not_reached"
                  else f"undecided: still going (status {s.status}) when the run ended, before its deadline")
        return Check(CheckKind.PLAYBOOK_STEP, s.name, Outcome.SKIPPED, f"{what}: {reason}; deadline {deadline}")
    if s.end_s is None:
        ended = f"did not finish (status {s.status})"
    else:
        ended = f"ended at {fmt_s(s.end_s)}" + ("" if s.status == "done" else f" with status {s.status}")
    relation = "within its deadline of" if s.met else "missing its deadline of"
    note = f" ({s.note})" if s.note and not s.met else ""
    return Check(CheckKind.PLAYBOOK_STEP, s.name, _outcome(s.met), f"{what} {ended}, {relation} {deadline}{note}")


def drill_check(d: DrillDeadline, runs: int) -> Check:
    ci = f" (±{d.ci95 * 100:.0f}%)" if d.ci95 else ""
    seen = f"{d.phase} within {fmt_s(d.deadline_s)} in {d.p_met * 100:.0f}%{ci} of {runs} runs"
    if d.undecided:
        seen += f" ({d.undecided} ended too early to tell, counted as missed)"
    if d.met is None or d.required is None:
        return Check(CheckKind.DRILL_DEADLINE, d.name, Outcome.SKIPPED, f"'{d.name}': {seen}; no share required")
    relation = "meeting" if d.met else "below"
    return Check(CheckKind.DRILL_DEADLINE, d.name, _outcome(d.met),
                 f"'{d.name}': {seen}, {relation} the required {d.required * 100:.0f}%")


def checks(r: Report) -> tuple[Check, ...]:
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
    if r.gate_failed and not any(c.failed for c in out):
        out.append(Check(CheckKind.GATE, "gate", Outcome.FAILED, "the run's own gate failed (gate_failed is set)"))
    return tuple(out)


def not_gated(c: Check) -> Check:
    verdict = {Outcome.PASSED: "met", Outcome.FAILED: "MISSED", Outcome.SKIPPED: "not judged"}[c.outcome]
    return Check(c.kind, c.name, Outcome.SKIPPED, f"first run of the drill, not gated ({verdict}): {c.message}")


def run_checks(r: Report) -> list[Check]:
    """The checks of one run: SLOs, alert expectations, and the playbook's deadlines and steps."""
    out = [Check(CheckKind.SLO, o.name, _outcome(o.met), slo_message(o)) for o in r.slos]
    start = r.first_fault_s
    out += [Check(CheckKind.ALERT_EXPECTATION, f"alert {e.alert} within {fmt_s(e.within_s)}", _outcome(e.met),
                  alert_message(e, start)) for e in r.alert_expectations]
    if r.playbook is not None:
        out += [deadline_check(d) for d in r.playbook.deadlines]
        out += [step_check(s) for s in r.playbook.steps if s.deadline_s is not None]
    return out


def replications_check(r: Report) -> Check:
    reps = r.replications
    assert reps is not None
    failed = [seed for seed, ok in zip(reps.seeds, reps.slo_met, strict=False) if not ok]
    held = reps.count - len(failed)
    msg = f"SLOs held in {held} of {reps.count} replications"
    if failed:
        msg += f" (missed with seeds {', '.join(str(s) for s in failed)})"
    return Check(CheckKind.REPLICATIONS, "SLOs held in every replication", _outcome(not failed), msg)


def exit_code(r: Report) -> int:
    """0 when everything gated on held, 1 when an SLO, deadline, expectation or requirement was missed."""
    if r.drill is None and not r.slo_met:
        return 1
    return 1 if r.gate_failed or any(c.failed for c in checks(r)) else 0
