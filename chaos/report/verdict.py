"""The four sentences at the top of every report: SLOs, deadlines, time to detect, blast radius.

Each is one sentence that names its topic first, with its own pass/fail mark, so a reader who stops there knows
whether to read on. ``ok`` is None when there was nothing to judge (no SLO stated, no
deadline set, no fault injected).
"""

from __future__ import annotations

from dataclasses import dataclass

from chaos.report.checks import Check, CheckKind, Outcome
from chaos.report.document import Report
from chaos.report.summary import entry_impact, fmt_s

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


def slo_sentence(r: Report, checks: tuple[Check, ...]) -> Sentence:
    slos = r.slos
    missed = [o.name for o in slos if not o.met]
    reps = [c for c in checks if c.kind is CheckKind.REPLICATIONS and c.failed]
    if not slos:
        return Sentence("SLOs", None, "No SLOs were stated, so none could be missed.")
    if r.drill is not None and r.drill.slo_met_share is not None:
        share = r.drill.slo_met_share
        return Sentence("SLOs", share >= 1.0, f"SLOs held in {share * 100:.0f}% of the drill's {r.drill.runs} runs "
                                              f"(a drill gates on its deadlines, not on SLOs).")
    if missed:
        return Sentence("SLOs", False, f"SLOs missed: {len(missed)} of {len(slos)} objectives failed "
                                       f"({_names(missed)}).")
    if reps or not r.slo_met:
        detail = reps[0].message if reps else "in another replication"
        return Sentence("SLOs", False, f"SLOs missed: every objective held in this run, but not in all: {detail}.")
    return Sentence("SLOs", True, f"SLOs held: all {len(slos)} objectives were met.")


def deadline_sentence(checks: tuple[Check, ...]) -> Sentence:
    judged = [c for c in checks if c.kind.is_deadline and c.outcome is not Outcome.SKIPPED]
    missed = [c.name for c in judged if c.failed]
    skipped = sum(1 for c in checks if c.kind.is_deadline and c.outcome is Outcome.SKIPPED)
    tail = f"; {skipped} not judged" if skipped else ""
    if not judged:
        if skipped:
            return Sentence("Deadlines", None, f"No deadline was judged ({skipped} not reached, undecided or "
                                               f"not gated).")
        return Sentence("Deadlines", None, "No deadlines were set (no alert expectation, playbook or drill).")
    if missed:
        return Sentence("Deadlines", False, f"Deadlines missed: {len(missed)} of {len(judged)} "
                                            f"({_names(missed)}){tail}.")
    return Sentence("Deadlines", True, f"Deadlines met: {len(judged)} of {len(judged)}{tail}.")


def detect_sentence(r: Report) -> Sentence:
    if not r.faults:
        return Sentence("Time to detect", None, "No fault was injected, so there was nothing to detect.")
    start = r.first_fault_s
    if r.time_to_detect_s is None:
        return Sentence("Time to detect", False,
                        f"Not detected: no alert fired after the fault started at {fmt_s(start)}.")
    first = next((d for d in r.detections if d.time_to_detect_s is not None), None)
    by = f" (alert '{first.alert}' fired at {fmt_s(first.detected_at_s)})" if first is not None else ""
    return Sentence("Time to detect", True,
                    f"Time to detect: {fmt_s(r.time_to_detect_s)} after the fault started{by}.")


def blast_sentence(r: Report) -> Sentence:
    b = r.blast
    n, total = len(b.services), len(r.services)
    entry = entry_impact(b.entry_failed_ratio, b.entry_failed, b.entry_requests, b.entry_errors, b.entry_slow)
    if not n:
        return Sentence("Blast radius", True, f"Blast radius: no service breached its SLO; {entry}.")
    return Sentence("Blast radius", False, f"Blast radius: {n} of {total} services breached their SLOs "
                                           f"({_names(list(b.services))}); {entry}.")


def sentences(r: Report, checks: tuple[Check, ...]) -> tuple[Sentence, ...]:
    return (slo_sentence(r, checks), deadline_sentence(checks), detect_sentence(r), blast_sentence(r))
