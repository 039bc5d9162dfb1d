"""The four sentences at the top of every report (SLOs, deadlines, time to detect, blast radius),
and the one verdict line the console prints.

Each sentence names its topic first, with its own pass/fail mark, so a reader who stops there knows
whether to read on. ``ok`` is None when there was nothing to judge (no SLO stated, no
deadline set, no fault injected). The verdict line is made from the same checks as
``junit.xml`` and the exit code, so the three can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from chaos.document import ResultDocument
from chaos.model.quantities import percent as fmt_pct
from chaos.model.quantities import plural
from chaos.model.quantities import seconds as fmt_s
from chaos.report.checks import Check, CheckKind, CheckOutcome

LISTED = 3  # names quoted in a sentence before "and N more"


@dataclass(frozen=True)
class Sentence:
    topic: str
    ok: bool | None
    text: str


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    more = len(names) - LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def slo_sentence(r: ResultDocument, checks: tuple[Check, ...]) -> Sentence:
    slos = r.slos
    missed = [o.name for o in slos if not o.met and o.measured]
    blind = [o.name for o in slos if not o.measured]
    reps = [c for c in checks if c.kind is CheckKind.REPLICATIONS and c.failed]
    if not slos:
        return Sentence("SLOs", None, "No SLOs were stated, so none could be missed.")
    if r.drill is not None and r.drill.slo_met_share is not None:
        share = r.drill.slo_met_share
        runs = plural(r.drill.runs, "run")
        return Sentence("SLOs", share >= 1.0, f"SLOs held in {share * 100:.0f}% of the drill's {runs} "
                                              f"(a drill gates on its deadlines, not on SLOs).")
    unmeasured = (f" {len(blind)} of {plural(len(slos), 'objective')} UNMEASURED, neither met nor missed: "
                  f"their scope was not measured ({_names(blind)}).") if blind else ""
    if missed:
        return Sentence("SLOs", False, f"SLOs missed: {len(missed)} of {plural(len(slos), 'objective')} failed "
                                       f"({_names(missed)}).{unmeasured}")
    if blind:
        return Sentence("SLOs", False, f"SLOs not judged:{unmeasured}")
    if reps or not r.slo_met:
        detail = reps[0].message if reps else "in another replication"
        return Sentence("SLOs", False, f"SLOs missed: every objective held in this run, but not in all: {detail}.")
    return Sentence("SLOs", True, f"SLOs held: {len(slos)} of {plural(len(slos), 'objective')} met.")


def deadline_sentence(checks: tuple[Check, ...], r: ResultDocument | None = None) -> Sentence:
    judged = [c for c in checks if c.kind.is_deadline and c.outcome is not CheckOutcome.SKIPPED]
    missed = [c.name for c in judged if c.failed]
    skipped = sum(1 for c in checks if c.kind.is_deadline and c.outcome is CheckOutcome.SKIPPED)
    tail = f"; {skipped} not judged" if skipped else ""
    pb = None if r is None or r.drill is not None else r.playbook  # a drill's first run is not gated
    if pb is not None and pb.not_triggered:
        tail = (f"; the playbook was never triggered ({pb.trigger_names()} never fired), "
                f"so its deadlines were not judged")
    if not judged:
        if pb is not None and pb.not_triggered:
            return Sentence("Deadlines", None, f"No deadline was judged: {tail[2:]}.")
        if skipped:
            return Sentence("Deadlines", None, f"No deadline was judged ({skipped} not reached, undecided or "
                                               f"not gated).")
        return Sentence("Deadlines", None, "No deadlines were set (no alert expectation, playbook or drill).")
    if missed:
        return Sentence("Deadlines", False, f"Deadlines missed: {len(missed)} of {len(judged)} "
                                            f"({_names(missed)}){tail}.")
    return Sentence("Deadlines", True, f"Deadlines met: {len(judged)} of {len(judged)}{tail}.")


def detect_sentence(r: ResultDocument) -> Sentence:
    if not r.faults:
        return Sentence("Time to detect", None, "No fault was injected, so there was nothing to detect.")
    start = r.first_fault_s
    if r.time_to_detect_s is None:
        return Sentence("Time to detect", False,
                        f"Not detected: no alert fired after the fault started at {fmt_s(start)}.")
    first = next((d for d in r.detections if d.time_to_detect_s is not None), None)
    by = (f" (alert '{first.alert}' fired at {fmt_s(first.detected_at_s)}, the first alert to fire after it)"
          if first is not None else "")
    return Sentence("Time to detect", True,
                    f"Time to detect: {fmt_s(r.time_to_detect_s)} after the fault started{by}"
                    f"{playbook_detect(r, None if first is None else first.alert)}.")


def playbook_detect(r: ResultDocument, header_alert: str | None) -> str:
    """What the playbook's detect phase timed, when it is not what the header timed."""
    pb = r.playbook
    triggered = None if pb is None else pb.incident.triggered_s
    if pb is None or pb.not_triggered or triggered is None:
        return ""
    inc = pb.incident
    trigger = "its fixed time" if inc.trigger == "at" else f"alert '{inc.trigger}'"
    if inc.trigger_before_start:
        return (f"; the playbook was triggered by {trigger} {fmt_s(-triggered)} before the fault, "
                f"so its detect phase counts as 0 s")
    if inc.trigger == header_alert:
        return ""
    return f"; the playbook's detect phase ({fmt_s(inc.time_to_detect_s)}) timed its trigger, {trigger}"


def entry_impact(ratio: float | None, failed: int, answered: int, errors: int | None, slow: int | None) -> str:
    """The blast radius's users' view in one phrase, for every report: the share, and the counts it is
    made of, so a reader can add them up (failed + too slow = the numerator; the denominator is the
    entry requests *answered* in the measured window, the sum of the entrypoints' answered counts)."""
    parts = f": {errors:,} failed, {slow:,} too slow" if errors is not None and slow is not None else ""
    return (f"{fmt_pct(ratio)} of entry requests failed or were too slow "
            f"({failed:,} of {answered:,} answered{parts})")


def unmeasured_words(r: ResultDocument) -> str:
    """The services nothing measured, said where the blast radius is: they are in no count of the healthy."""
    blind = list(r.blast.unmeasured)
    if not blind:
        return ""
    return f"{plural(len(blind), 'service')} UNMEASURED, health unknown: {_names(blind)}"


def services_of(r: ResultDocument) -> str:
    """"of 3 services", or "of 1 measured service" when some were not measured."""
    measured = r.blast.measured_count(len(r.services))
    return f"of {plural(measured, 'measured service')}" if r.blast.unmeasured else f"of {plural(measured, 'service')}"


def blast_sentence(r: ResultDocument) -> Sentence:
    b = r.blast
    n = len(b.services)
    entry = entry_impact(b.entry_failed_ratio, b.entry_failed, b.entry_requests, b.entry_errors, b.entry_slow)
    blind = unmeasured_words(r)
    tail = f"; {blind}" if blind else ""
    if not n:
        if blind:  # "no breach" among the measured ones only: not a clean bill of health
            return Sentence("Blast radius", None, f"Blast radius: none {services_of(r)} breached its SLO{tail}; "
                                                  f"{entry}.")
        return Sentence("Blast radius", True, f"Blast radius: no service breached its SLO; {entry}.")
    return Sentence("Blast radius", False, f"Blast radius: {n} {services_of(r)} breached their SLOs "
                                           f"({_names(list(b.services))}){tail}; {entry}.")


def sentences(r: ResultDocument, checks: tuple[Check, ...]) -> tuple[Sentence, ...]:
    return (slo_sentence(r, checks), deadline_sentence(checks, r), detect_sentence(r), blast_sentence(r))


def verdict_line(r: ResultDocument, checks: tuple[Check, ...], code: int) -> str:
    """The console's verdict: PASSED or FAILED as the exit code says, then every kind of check it gates on."""
    parts = [_slo_part(r, checks)]
    pb = r.playbook
    never = pb is not None and pb.not_triggered
    for kind in CheckKind:
        mine = [c for c in checks if c.kind is kind]
        judged = [c for c in mine if c.outcome is not CheckOutcome.SKIPPED]
        if kind is CheckKind.SLO or not mine:
            continue
        if never and kind in (CheckKind.PLAYBOOK_DEADLINE, CheckKind.PLAYBOOK_STEP) and not judged:
            continue  # said once below
        failed = [c for c in judged if c.failed]
        blind = [c for c in judged if c.unmeasured]
        title = kind.title.lower()
        if kind in (CheckKind.REPLICATIONS, CheckKind.GATE):
            parts.append(f"{title}: " + ", ".join(("FAILED: " if c.failed else "") + c.message for c in mine))
            continue
        if failed or blind:
            said = [f"{len(failed)} of {len(judged)} MISSED ({_names([c.name for c in failed])})"] if failed else []
            said += [f"{len(blind)} of {len(judged)} UNMEASURED ({_names([c.name for c in blind])})"] if blind else []
            text = f"{title}: " + ", ".join(said)
        elif judged:
            text = f"{title}: {len(judged)} of {len(judged)} met"
        else:
            text = f"{title}: none judged"
        skipped = len(mine) - len(judged)
        parts.append(text + (f", {skipped} not judged" if skipped else ""))
    if pb is not None and r.drill is not None:
        if r.drill.not_triggered:
            runs = plural(r.drill.runs, "run")
            parts.append(f"playbook '{pb.name}' NOT TRIGGERED in {r.drill.not_triggered} of {runs} "
                         f"({pb.trigger_names()} never fired; counted as missing its deadlines)")
    elif pb is not None and pb.not_triggered:
        parts.append(f"playbook '{pb.name}' NOT TRIGGERED ({pb.trigger_names()} never fired): no step ran, "
                     f"no deadline judged")
    word = {0: "PASSED", 5: "UNMEASURED"}.get(code, "FAILED")
    return f"{word}: " + "; ".join(parts)


def _slo_part(r: ResultDocument, checks: tuple[Check, ...]) -> str:
    slos = [c for c in checks if c.kind is CheckKind.SLO]
    if not slos:
        return "no SLOs stated"
    if r.drill is not None:
        return f"SLOs of the drill's first run not gated ({sum(not o.met for o in r.slos)} of {len(slos)} missed)"
    failed = [c for c in slos if c.failed]
    blind = [c for c in slos if c.unmeasured]
    unmeasured = f"{len(blind)} of {plural(len(slos), 'objective')} UNMEASURED" if blind else ""
    if failed:
        return (f"SLOs VIOLATED ({len(failed)} of {plural(len(slos), 'objective')} missed"
                + (f", {unmeasured})" if blind else ")"))
    if blind:
        return (f"SLOs {len(slos) - len(blind)} of {len(slos)} held, {len(blind)} UNMEASURED (their scope was not "
                f"measured: neither met nor missed)")
    return f"SLOs HELD ({plural(len(slos), 'objective')})"
