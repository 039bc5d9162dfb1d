"""The plain-text summary printed after a run, read from the result document alone.

:func:`render` and :func:`render_drill` take the typed document; a JSON mapping (as a command holds it
before writing) is decoded once, through the codec (:func:`chaos.document.as_document`), and never read by key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaos.document import Blast, Fault, Figures, PlaybookSection, ResultDocument, Step, as_document
from chaos.incident_states import ClockBase, FindingKind, IncidentOutcome, NotJudged
from chaos.measurement import Source
from chaos.model.faults import describe_params
from chaos.model.quantities import millis as fmt_ms
from chaos.model.quantities import percent as fmt_pct
from chaos.model.quantities import plural
from chaos.model.quantities import seconds as fmt_s
from chaos.model.slos import ObjectiveKind
from chaos.recovery import recovery_reason
from chaos.report.checks import phase_words
from chaos.report.requests import load_lines
from chaos.report.verdict import entry_impact
from chaos.terminal import visible

__all__ = ["LATENCY_ESTIMATED", "fmt_ms", "fmt_pct", "fmt_s", "render", "render_drill"]


def fault_line(f: Fault) -> str:
    params = describe_params(f.params)
    end = "the end" if f.end_s is None else fmt_s(f.end_s)
    return (f"{f.kind.value} on {f.target} from {fmt_s(f.start_s)} to {end}" + early_end(f)
            + (f" ({params})" if params else ""))


def early_end(f: Fault) -> str:
    """Said of a fault something ended before its scheduled end (a playbook's restart or remove_fault)."""
    return f", ended early (scheduled to {fmt_s(f.scheduled_end_s)})" if f.ended_early else ""


LATENCY_ESTIMATED = ("percentiles and alert values are estimates, interpolated in latency histogram buckets "
                     "12% wide (live metrics keep no single latencies)")


def verdict_words(r: ResultDocument) -> str:
    """The verdict line, from the checks junit.xml, summary.md and the exit code read: they cannot disagree."""
    from chaos.report.checks import checks, verdict
    from chaos.report.verdict import verdict_line

    return verdict_line(r, checks(r), verdict(r).exit_code)


def missed_lines(r: ResultDocument) -> list[str]:
    """Every failed check other than an SLO (those have their own list): what else the exit code gates on."""
    from chaos.report.checks import CheckKind, checks

    missed = [c for c in checks(r) if c.failed and c.kind is not CheckKind.SLO]
    blind = [c for c in checks(r) if c.unmeasured and c.kind is not CheckKind.SLO]
    out = [f"Missed besides SLOs ({len(missed)}):"] + [f"  MISS {c.message}" for c in missed] if missed else []
    if blind:
        out += [f"Unmeasured besides SLOs ({len(blind)}):"] + [f"  UNMEASURED {c.message}" for c in blind]
    return out


def detection_line(doc: ResultDocument) -> str:
    ttd = doc.time_to_detect_s
    if not doc.faults:
        return "no faults injected"
    if ttd is None:
        return "NOT DETECTED: no alert fired after the fault started"
    first = next(d for d in doc.detections if d.time_to_detect_s is not None)
    return (f"{fmt_s(ttd)} (alert '{first.alert}' fired at {fmt_s(first.detected_at_s)}, "
            f"the first alert to fire after the fault)")


def resolution_words(doc: ResultDocument) -> str | None:
    """How far apart the samples behind the run's time to detect and breach times are, where that is not
    every second: a live run's Prometheus step, a simulation's scrapes for its rule files."""
    if doc.live is not None and doc.live.resolution_s is not None:
        step = doc.live.resolution_s
        return (f"Prometheus read at a {step} s step: each step's counts spread over its seconds, so breaches and "
                f"alerts can show up to {step} s late" if step > 1 else "Prometheus read at a 1 s step")
    if doc.scrape_interval_s is not None:
        return f"rule files evaluated on scrapes every {doc.scrape_interval_s} s (metrics: scrape_interval)"
    return None


def blast_line(doc: ResultDocument) -> str:
    b: Blast = doc.blast
    n = len(b.services)
    blind = b.unmeasured
    if blind:  # "k of n measured services": the unmeasured ones are neither in breach nor unhurt
        measured = len(doc.services) - len(blind)
        hurt = (f"{n} of {plural(measured, 'measured service')} in breach; {len(blind)} UNMEASURED "
                f"({', '.join(blind)})")
    else:
        hurt = f"{plural(n, 'service')} in breach" if n else "no service in breach"
    return f"{hurt}; " + entry_impact(b.entry_failed_ratio, b.entry_failed, b.entry_requests,
                                      b.entry_errors, b.entry_slow)


def entrypoint_line(name: str, e: Figures) -> str:
    """An entrypoint's row: its answered requests add up to the blast radius's, its failed ones too."""
    if e.measured_by is Source.UNMEASURED:
        return f"  entrypoint {name}: UNMEASURED"
    count = "-" if e.answered is None else f"{e.answered:,}"
    return (f"  entrypoint {name}: {count} answered, {e.errors:,} failed ({fmt_pct(e.error_ratio)}), "
            f"p99 {fmt_ms(e.p99_ms)}")


def operation_line(name: str, f: Figures) -> str:
    """An operation's row: its service's figures, for the requests of that operation only (none when it was
    not measured: a team's stack whose Prometheus does not read it by route)."""
    if f.measured_by is Source.UNMEASURED:
        return f"  operation {name}: UNMEASURED"
    count = "-" if f.answered is None else f"{f.answered:,}"
    breach = "" if f.first_breach_s is None else f", SLO breached at {fmt_s(f.first_breach_s)}"
    return (f"  operation {name}: {count} answered, {f.errors:,} failed ({fmt_pct(f.error_ratio)}), "
            f"p99 {fmt_ms(f.p99_ms)}{breach}")


def cascade_table(doc: ResultDocument) -> list[str]:
    rows = [f"  {'service':<16} {'breach at':>9} {'hops':>4} {'error ratio':>11} {'p99':>9} {'attempts/req':>12}"]
    listed = set()
    for c in doc.blast.cascade:
        s = doc.services[c.service]
        listed.add(c.service)
        hops = "-" if c.hops is None else str(c.hops)
        rows.append(f"  {c.service:<16} {fmt_s(c.first_breach_s):>9} {hops:>4} "
                    f"{fmt_pct(s.error_ratio):>11} {fmt_ms(s.p99_ms):>9} "
                    f"{s.attempts_per_entry_request or 0:>12.2f}")
    blind = [n for n, s in doc.services.items() if s.measured_by is Source.UNMEASURED]
    healthy = [n for n in doc.services if n not in listed and n not in blind]
    if healthy:
        rows.append(f"  not in breach: {', '.join(healthy)}")
    if blind:
        rows.append(f"  UNMEASURED (no metrics: health unknown, not healthy): {', '.join(blind)}")
    untimed = [n for n, s in doc.services.items() if s.latency_measured_by is Source.UNMEASURED]
    if untimed:
        rows.append(f"  latency UNMEASURED (requests and errors measured, no latency histogram): {', '.join(untimed)}")
    return rows


def render(doc: ResultDocument | Mapping[str, Any], paths: dict[str, str] | None = None) -> str:
    report = as_document(doc)
    lines = [f"{report.experiment}  ({report.engine.value}, seed {report.seed}, {fmt_s(report.duration_s)}, "
             f"warm-up {fmt_s(report.warmup_s)})"]
    for f in report.faults:
        lines.append(f"Fault:          {fault_line(f)}")
    lines.append(f"Verdict:        {verdict_words(report)}")
    lines.append(f"Time to detect: {detection_line(report)}")
    resolution = resolution_words(report)
    if resolution is not None:
        lines.append(f"Resolution:     {resolution}")
    lines.append(f"Blast radius:   {blast_line(report)}")
    if report.latency_estimated:
        lines.append(f"Latency:        {LATENCY_ESTIMATED}")
    lines.append("")
    lines.append("Cascade, in order of breach:" if report.blast.cascade else "Services:")
    lines.extend(cascade_table(report))
    lines.extend(entrypoint_line(name, e) for name, e in report.entrypoints.items())
    lines.extend(operation_line(f"{svc}.{op}", f) for svc, ops in report.operations.items()
                 for op, f in ops.items())
    requests = load_lines(report)
    if requests:
        lines += ["", "Requests sent:", *(f"  {line}" for line in requests)]
    if report.slos:
        missed = [s for s in report.slos if not s.met and s.measured]
        blind = [s for s in report.slos if not s.measured]
        lines.append("")
        lines.append(f"SLOs missed ({len(missed)} of {len(report.slos)}):" if missed
                     else "SLOs: none missed" if blind else "SLOs: all held")
        for s in missed:
            observed = fmt_pct(s.observed) if s.kind is ObjectiveKind.ERROR_RATIO else fmt_ms(s.observed)
            lines.append(f"  MISS {s.name:<44} observed {observed}")
        if blind:
            lines.append(f"SLOs unmeasured ({len(blind)} of {len(report.slos)}), neither met nor missed:")
            lines.extend(f"  UNMEASURED {s.name:<38} {s.scope} was not measured" for s in blind)
    missed_checks = missed_lines(report)
    if missed_checks:
        lines += ["", *missed_checks]
    if report.alerts:
        lines.append("")
        lines.append("Alerts:")
        for a in report.alerts:
            end = a.resolved_at_s
            resolved = "still firing at the end" if end is None else f"resolved {fmt_s(end)}"
            name = a.name + "".join(f" {k}={v}" for k, v in a.labels.items())
            lines.append(f"  {name:<28} fired {fmt_s(a.fired_at_s):>7}  {resolved}")
    if report.playbook is not None:
        lines.append("")
        lines.extend(playbook_lines(report.playbook, report))
    reps = report.replications
    if reps is not None and reps.count:
        lines.append("")
        efr = reps.entry_failed_ratio
        mean = None if efr is None else efr.mean
        ci = f" ± {fmt_pct(efr.ci95)}" if efr is not None and efr.ci95 is not None else ""
        lines.append(f"Replications: {reps.count} (seeds {reps.seeds[0]}..{reps.seeds[-1]}); "
                     f"SLOs held in {sum(reps.slo_met)} of {reps.count}; "
                     f"entry requests failed or too slow {fmt_pct(mean)}{ci}")
    if report.notes:
        lines += ["", "Notes:", *(f"  {note}" for note in report.notes)]
    if paths:
        lines.append("")
        lines.append("Results: " + ", ".join(paths.values()))
    return visible("\n".join(lines))


PHASES = ("detect", "acknowledge", "mitigate", "recover")


def playbook_lines(pb: PlaybookSection, r: ResultDocument) -> list[str]:
    """The response, every time on the incident's clock: seconds from the incident start, which the heading states."""
    inc = pb.incident
    lines = [f"Incident response ({pb.name}): {outcome_words(pb)}. {clock_words(pb)}:"]
    for phase in PHASES:
        shown = phase_words(pb, phase)
        detail = f"  {trigger_detail(pb)}" if phase == "detect" and inc.triggered_s is not None else ""
        if phase == "recover" and inc.recovery is not None and not inc.recovery.recovered:
            detail = f"  {recovery_reason(inc.recovery)}"
        lines.append(f"  {phase:<12} {shown:>13}{detail}")
    run_end = None if pb.clock is None else pb.clock.run_end_s
    if pb.steps:
        lines.append(f"  {'step':<28} {'role':<12} {'start':>8} {'end':>8} {'deadline':>9}  outcome")
        for st in pb.steps:
            outcome = step_outcome(st)
            if st.deadline_s is not None and run_end is not None and st.deadline_s > run_end + 1e-9:
                outcome += " (its deadline is after the end of the run)"
            lines.append(f"  {st.name[:28]:<28} {st.role[:12]:<12} {fmt_s(st.start_s):>8} {fmt_s(st.end_s):>8} "
                         f"{fmt_s(st.deadline_s):>9}  {outcome}" + (f" ({st.note})" if st.note else ""))
    for d in pb.deadlines:
        mark = "ok  " if d.met else ("MISS" if d.met is False else "--  ")
        took = f"took {fmt_s(d.actual_s)}" if d.actual_s is not None else phase_words(pb, d.phase.value, why=True)
        if d.not_judged is NotJudged.NOT_TRIGGERED:
            took = "not judged: the playbook was never triggered"
        elif d.met is None:
            took += "; the run ended before its deadline"
        lines.append(f"  {mark} {d.name} ({took})")
    for f in pb.findings:
        lines.append(f"  finding: {f.message}")
    return lines


def outcome_words(pb: PlaybookSection) -> str:
    outcome = pb.incident.outcome
    if outcome is IncidentOutcome.NOT_TRIGGERED:
        return f"NOT TRIGGERED: {pb.trigger_names()} never fired, so no step ran and no deadline was judged"
    return "outcome unknown" if outcome is None else outcome.label


def clock_words(pb: PlaybookSection) -> str:
    clock = pb.clock
    if clock is None:
        return "Times count from the incident start (there was none: no fault, no trigger)"
    what = "the first fault" if clock.base is ClockBase.FIRST_FAULT else "the trigger (the run had no fault)"
    return (f"Times in seconds from the incident start, {what} at {fmt_s(clock.start_run_s)} of the run; "
            f"the run ends at {fmt_s(clock.run_end_s)} on this clock")


def trigger_detail(pb: PlaybookSection) -> str:
    """Which trigger the detect phase timed, and when it fired on the run's clock."""
    inc = pb.incident
    assert inc.triggered_s is not None
    at = fmt_s(pb.run_time(inc.triggered_s))
    who = (f"its fixed time, {at} of the run" if inc.trigger == "at"
           else f"alert '{inc.trigger}' fired at {at} of the run")
    if inc.trigger_before_start:
        return (f"trigger: {who}, {fmt_s(-inc.triggered_s)} before the fault: the response was under way before "
                f"anything was wrong (a noisy alert?), so detection counts as 0 s")
    return f"trigger: {who}"


def step_outcome(st: Step) -> str:
    status = st.status.label
    if st.met is True:
        return f"{status}, deadline met"
    if st.met is False:
        return f"{status}, deadline MISSED"
    if st.not_judged is NotJudged.NOT_TRIGGERED:
        return f"{status}: not triggered"
    if st.not_judged is NotJudged.NOT_NEEDED:
        return f"{status}, not needed: the response was over"
    if st.not_judged is NotJudged.RUN_ENDED:
        return f"{status}, deadline undecided: the run ended first"
    return status


def render_drill(doc: ResultDocument | Mapping[str, Any], paths: dict[str, str] | None = None) -> str:
    report = as_document(doc)
    dr, pb = report.drill, report.playbook
    if dr is None or pb is None:
        raise ValueError("render_drill needs a drill's result: it has a drill and a playbook section")
    never = dr.not_triggered
    lines = [f"Drill of '{pb.name}' on {report.experiment}: {plural(dr.runs, 'simulated incident')} "
             f"(seeds {dr.seeds[0]}..{dr.seeds[-1]})",
             f"Verdict: {verdict_words(report)}", "",
             "Phase times, in seconds from the incident start"
             + (f"; {never} of {plural(dr.runs, 'run')} never triggered the playbook:" if never else ":"),
             f"  {'phase':<12} {'p50':>9} {'p90':>9} {'p99':>9} {'reached':>9}"]
    for phase, ph in dr.phases.items():
        unknown = (f"  ({ph.not_measurable} not measurable: the run ended less than one recovery window after "
                   "the mitigation)") if ph.not_measurable else ""
        lines.append(f"  {phase:<12} {fmt_s(ph.p50):>9} {fmt_s(ph.p90):>9} {fmt_s(ph.p99):>9} "
                     f"{ph.reached:>5}/{dr.runs}{unknown}")
    if dr.deadlines:
        lines += ["", "Deadlines (share of runs that met them):"]
        for d in dr.deadlines:
            met = "MET" if d.met else "NOT MET"
            need = "" if d.required is None else f"  required {d.required:.0%}: {met}"
            late = f"  ({plural(d.undecided, 'run')} ended before the deadline)" if d.undecided else ""
            if d.not_triggered:
                late += f"  ({d.not_triggered} never triggered, counted as missed)"
            lines.append(f"  {d.name:<40} {d.p_met:6.1%} (95%: {d.ci95_low:.1%}-{d.ci95_high:.1%}){need}{late}")
    lines += ["", "Steps (ends in seconds from the incident start):",
              f"  {'step':<28} {'P(deadline met)':>15} {'P(reached)':>11} {'p50 end':>9} {'p90 end':>9}"]
    for s in dr.steps:
        p_met = "-" if s.p_met is None else f"{s.p_met:.1%}"
        lines.append(f"  {s.name[:28]:<28} {p_met:>15} {s.p_reached:>11.0%} {fmt_s(s.p50_end_s):>9} "
                     f"{fmt_s(s.p90_end_s):>9}")
    seen = set()
    for f in pb.findings + dr.findings:
        if f.kind is FindingKind.NEVER_REACHED and f not in dr.findings:
            continue  # one run's view; the drill's own finding covers all runs
        if f.message not in seen:
            seen.add(f.message)
            lines.append(f"  finding: {f.message}")
    efr = dr.entry_failed_ratio
    lines += ["", f"SLOs held in {dr.slo_met_share:.0%} of runs; entry requests failed or too slow: "
                  f"p50 {fmt_pct(None if efr is None else efr.p50)}, p90 {fmt_pct(None if efr is None else efr.p90)}"]
    if paths:
        lines += ["", "Results: " + ", ".join(paths.values())]
    return visible("\n".join(lines))
