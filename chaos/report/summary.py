"""The plain-text summary printed after a run, read from the result document alone."""

from __future__ import annotations

from typing import Any

from chaos.terminal import visible


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.0f} s" if abs(x - round(x)) < 1e-9 else f"{x:.1f} s"


def fmt_ms(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f} ms" if x >= 10 else f"{x:.1f} ms"


def fmt_pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def fault_line(f: dict[str, Any]) -> str:
    params = ", ".join(f"{k} {v}" for k, v in f["params"].items())
    end = "the end" if f["end_s"] is None else fmt_s(f["end_s"])
    return f"{f['kind']} on {f['target']} from {fmt_s(f['start_s'])} to {end}" + (f" ({params})" if params else "")


def verdict(doc: dict[str, Any]) -> str:
    missed = [s for s in doc["slos"] if not s["met"]]
    if not doc["slos"]:
        return "no SLOs stated"
    if doc["slo_met"]:
        return f"SLOs HELD ({len(doc['slos'])} objectives)"
    return f"SLOs VIOLATED ({len(missed)} of {len(doc['slos'])} objectives missed)"


def detection_line(doc: dict[str, Any]) -> str:
    ttd = doc["time_to_detect_s"]
    if not doc["faults"]:
        return "no faults injected"
    if ttd is None:
        return "NOT DETECTED: no alert fired after the fault started"
    first = next(d for d in doc["detections"] if d["time_to_detect_s"] is not None)
    return f"{fmt_s(ttd)} (alert '{first['alert']}' fired at {fmt_s(first['detected_at_s'])})"


def blast_line(doc: dict[str, Any]) -> str:
    b = doc["blast_radius"]
    n = len(b["services"])
    hurt = f"{n} service{'s' if n != 1 else ''} in breach" if n else "no service in breach"
    return (f"{hurt}; {fmt_pct(b['entry_failed_ratio'])} of entry requests failed or were too slow "
            f"({b['entry_failed']:,} of {b['entry_requests']:,})")


def cascade_table(doc: dict[str, Any]) -> list[str]:
    rows = [f"  {'service':<16} {'breach at':>9} {'hops':>4} {'error ratio':>11} {'p99':>9} {'attempts/req':>12}"]
    listed = set()
    for c in doc["blast_radius"]["cascade"]:
        s = doc["services"][c["service"]]
        listed.add(c["service"])
        hops = "-" if c["hops"] is None else str(c["hops"])
        rows.append(f"  {c['service']:<16} {fmt_s(c['first_breach_s']):>9} {hops:>4} "
                    f"{fmt_pct(s['error_ratio']):>11} {fmt_ms(s['p99_ms']):>9} "
                    f"{s['attempts_per_entry_request'] or 0:>12.2f}")
    healthy = [n for n in doc["services"] if n not in listed]
    if healthy:
        rows.append(f"  not in breach: {', '.join(healthy)}")
    return rows


def render(doc: dict[str, Any], paths: dict[str, str] | None = None) -> str:
    lines = [f"{doc['experiment']}  ({doc['engine']}, seed {doc['seed']}, {fmt_s(doc['duration_s'])}, "
             f"warm-up {fmt_s(doc['warmup_s'])})"]
    for f in doc["faults"]:
        lines.append(f"Fault:          {fault_line(f)}")
    lines.append(f"Verdict:        {verdict(doc)}")
    lines.append(f"Time to detect: {detection_line(doc)}")
    lines.append(f"Blast radius:   {blast_line(doc)}")
    lines.append("")
    lines.append("Cascade, in order of breach:" if doc["blast_radius"]["cascade"] else "Services:")
    lines.extend(cascade_table(doc))
    for name, e in doc["entrypoints"].items():
        lines.append(f"  entrypoint {name}: {e['requests']:,} requests, {fmt_pct(e['error_ratio'])} failed, "
                     f"p99 {fmt_ms(e['p99_ms'])}")
    if doc["slos"]:
        missed = [s for s in doc["slos"] if not s["met"]]
        lines.append("")
        lines.append(f"SLOs missed ({len(missed)} of {len(doc['slos'])}):" if missed else "SLOs: all held")
        for s in missed:
            observed = (fmt_pct(s["observed"]) if s["kind"] == "error_ratio" else fmt_ms(s["observed"]))
            lines.append(f"  MISS {s['name']:<44} observed {observed}")
    if doc["alerts"]:
        lines.append("")
        lines.append("Alerts:")
        for a in doc["alerts"]:
            end = a["resolved_at_s"]
            resolved = "still firing at the end" if end is None else f"resolved {fmt_s(end)}"
            lines.append(f"  {a['name']:<28} fired {fmt_s(a['fired_at_s']):>7}  {resolved}")
    if doc.get("playbook"):
        lines.append("")
        lines.extend(playbook_lines(doc["playbook"], doc["duration_s"]))
    reps = doc.get("replications")
    if reps:
        lines.append("")
        efr = reps["entry_failed_ratio"]
        ci = f" ± {fmt_pct(efr['ci95'])}" if efr.get("ci95") is not None else ""
        lines.append(f"Replications: {reps['count']} (seeds {reps['seeds'][0]}..{reps['seeds'][-1]}); "
                     f"SLOs held in {sum(reps['slo_met'])} of {reps['count']}; "
                     f"entry failed ratio {fmt_pct(efr.get('mean'))}{ci}")
    if paths:
        lines.append("")
        lines.append("Results: " + ", ".join(paths.values()))
    return visible("\n".join(lines))


PHASE_LABELS = {"detect": "detect", "acknowledge": "acknowledge", "mitigate": "mitigate", "recover": "recover"}


def playbook_lines(pb: dict[str, Any], duration_s: float = float("inf")) -> list[str]:
    inc = pb["incident"]
    lines = [f"Incident response ({pb['name']}), from the incident start at {fmt_s(inc['start_s'])}:"]
    for phase in PHASE_LABELS:
        t = inc[f"time_to_{phase}_s"]
        lines.append(f"  {phase:<12} {'not reached' if t is None else fmt_s(t):>10}")
    if pb["steps"]:
        lines.append(f"  {'step':<28} {'role':<12} {'start':>8} {'end':>8} {'deadline':>9}  outcome")
        for s in pb["steps"]:
            outcome = s["status"] if s["met"] is None else f"{s['status']}, deadline {'met' if s['met'] else 'MISSED'}"
            if s["met"] is None and s["deadline_s"] is not None and s["end_s"] is None:
                outcome += (", deadline after the end of the run" if s["deadline_s"] > duration_s
                            else ", not needed: the response was over")
            lines.append(f"  {s['name'][:28]:<28} {s['role'][:12]:<12} {fmt_s(s['start_s']):>8} {fmt_s(s['end_s']):>8} "
                         f"{fmt_s(s['deadline_s']):>9}  {outcome}" + (f" ({s['note']})" if s["note"] else ""))
    for d in pb["deadlines"]:
        mark = "ok  " if d["met"] else ("????" if d["met"] is None else "MISS")
        took = f"took {fmt_s(d['actual_s'])}" if d["actual_s"] is not None else "not reached"
        lines.append(f"  {mark} {d['name']} ({took}{'; the run ended first' if d['met'] is None else ''})")
    for f in pb["findings"]:
        lines.append(f"  finding: {f['message']}")
    return lines


def render_drill(doc: dict[str, Any], paths: dict[str, str] | None = None) -> str:
    dr = doc["drill"]
    pb = doc["playbook"]
    lines = [f"Drill of '{pb['name']}' on {doc['experiment']}: {dr['runs']} simulated incidents "
             f"(seeds {dr['seeds'][0]}..{dr['seeds'][-1]})", "",
             f"  {'phase':<12} {'p50':>9} {'p90':>9} {'p99':>9} {'reached':>9}"]
    for phase, d in dr["phases"].items():
        lines.append(f"  {phase:<12} {fmt_s(d['p50']):>9} {fmt_s(d['p90']):>9} {fmt_s(d['p99']):>9} "
                     f"{d['reached']:>5}/{dr['runs']}")
    if dr["deadlines"]:
        lines += ["", "Deadlines (share of runs that met them):"]
        for d in dr["deadlines"]:
            verdict = "MET" if d["met"] else "NOT MET"
            need = "" if d["required"] is None else f"  required {d['required']:.0%}: {verdict}"
            late = f"  ({d['undecided']} runs ended before the deadline)" if d.get("undecided") else ""
            lines.append(f"  {d['name']:<40} {d['p_met']:6.1%} ± {d['ci95']:.1%}{need}{late}")
    lines += ["", f"  {'step':<28} {'P(deadline met)':>15} {'P(reached)':>11} {'p50 end':>9} {'p90 end':>9}"]
    for s in dr["steps"]:
        p_met = "-" if s["p_met"] is None else f"{s['p_met']:.1%}"
        lines.append(f"  {s['name'][:28]:<28} {p_met:>15} {s['p_reached']:>11.0%} {fmt_s(s['p50_end_s']):>9} "
                     f"{fmt_s(s['p90_end_s']):>9}")
    seen = set()
    for f in pb["findings"] + dr["findings"]:
        if f["kind"] == "never_reached" and f not in dr["findings"]:
            continue  # one run's view; the drill's own finding covers all runs
        if f["message"] not in seen:
            seen.add(f["message"])
            lines.append(f"  finding: {f['message']}")
    lines += ["", f"SLOs held in {dr['slo_met_share']:.0%} of runs; entry requests failed: "
                  f"p50 {fmt_pct(dr['entry_failed_ratio']['p50'])}, p90 {fmt_pct(dr['entry_failed_ratio']['p90'])}"]
    if paths:
        lines += ["", "Results: " + ", ".join(paths.values())]
    return visible("\n".join(lines))
