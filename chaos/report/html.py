"""``report.html``: one self-contained page, the verdict first, then the story in pictures, then every figure.

Nothing is fetched: images are PNG data URIs, the style sheet is inline, there is no script,
and a Content-Security-Policy forbids the page from loading anything else. It opens the
same from a CI artifact, an e-mail attachment or a laptop on a plane.
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from chaos.document import Fault, Figures, ResultDocument
from chaos.measurement import UNMEASURED_MEANS, Source
from chaos.model.alerts import format_value
from chaos.model.faults import describe_params
from chaos.model.quantities import json_text, plural
from chaos.report.checks import Check, CheckKind, CheckOutcome, phase_words
from chaos.report.plots import Image
from chaos.report.ranking import Panels
from chaos.report.requests import load_lines
from chaos.report.summary import (
    LATENCY_ESTIMATED,
    PHASES,
    clock_words,
    fmt_ms,
    fmt_pct,
    fmt_s,
    outcome_words,
    resolution_words,
    step_outcome,
    trigger_detail,
)
from chaos.report.verdict import Sentence, entry_impact
from chaos.terminal import visible

CSS = """
:root { --ok: #00795a; --fail: #b34700; --none: #666; --line: #ddd; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1a1a1a;
       margin: 0 auto; max-width: 1180px; padding: 1.2rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; margin: 0 0 .2rem; } h2 { font-size: 1.25rem; margin: 2.2rem 0 .6rem;
     border-bottom: 1px solid var(--line); padding-bottom: .2rem; } h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
.meta { color: #555; margin: 0 0 1rem; }
.verdict { border: 2px solid var(--fail); border-radius: 6px; padding: .6rem 1rem; margin: 1rem 0; }
.verdict.ok { border-color: var(--ok); }
.verdict h2 { border: 0; margin: .2rem 0 .4rem; }
.verdict ul { list-style: none; padding: 0; margin: 0; }
.verdict li { margin: .3rem 0; }
.mark { display: inline-block; min-width: 4.6rem; font-weight: 700; font-size: .85rem; padding: 0 .3rem;
        border-radius: 3px; color: #fff; text-align: center; margin-right: .5rem; }
.mark.ok { background: var(--ok); } .mark.fail { background: var(--fail); } .mark.none { background: var(--none); }
.exit { color: #444; font-size: .9rem; margin: .5rem 0 0; }
nav { font-size: .9rem; } nav a { margin-right: .9rem; }
figure { margin: .5rem 0 1rem; } figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: .85rem; }
table { border-collapse: collapse; font-size: .85rem; margin: .4rem 0 1rem; }
th, td { border-bottom: 1px solid var(--line); padding: .22rem .55rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; position: sticky; top: 0; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.fail td { background: #fbeee6; } .status-fail { color: var(--fail); font-weight: 700; }
.status-ok { color: var(--ok); } .status-skip { color: var(--none); }
tr.unmeasured td { background: #f2f2f2; font-style: italic; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .82rem; word-break: break-all; }
dl.audit { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; font-size: .88rem; }
dl.audit dt { font-weight: 600; color: #444; } dl.audit dd { margin: 0; }
.scroll { max-height: 32rem; overflow: auto; }
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
MARKERS_LISTED = 200  # markers beyond this are counted, not listed one by one


def e(value: Any) -> str:
    return escape("" if value is None else str(value))


def img(image: Image) -> str:
    data = base64.b64encode(image.png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" width="{image.width}" height="{image.height}" '
            f'alt="{e(image.alt)}"><figcaption>{e(image.alt)}.</figcaption></figure>')


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Iterable[int] = (),
          row_classes: Sequence[str] | None = None) -> str:
    """A table from cells that are already HTML; columns listed in ``numeric`` align right."""
    nums = set(numeric)
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(f'<td class="n">{c}</td>' if j in nums else f"<td>{c}</td>" for j, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _mark(ok: bool | None) -> str:
    if ok is None:
        return '<span class="mark none">n/a</span>'
    return '<span class="mark ok">OK</span>' if ok else '<span class="mark fail">FAILED</span>'


def verdict_html(sentences: Sequence[Sentence], code: int) -> str:
    ok = code == 0
    items = "".join(f"<li>{_mark(s.ok)}{e(s.text)}</li>" for s in sentences)
    gate = ("everything gated on held (exit code 0)" if ok
            else "nothing gated on was missed, but a check's scope was not measured: <code>chaoslab</code> "
                 "exits with code 5" if code == 5
            else "a gated check failed: <code>chaoslab</code> exits with code 1")
    return (f'<section id="verdict" class="verdict{" ok" if ok else ""}"><h2>Verdict</h2><ul>{items}</ul>'
            f'<p class="exit">{gate}</p></section>')


def header(r: ResultDocument) -> str:
    version = r.audit.get("chaoslab_version", "")
    bits = [f"engine <b>{e(r.engine.value)}</b>", f"topology {e(r.topology)}", f"seed {e(r.seed)}",
            f"{fmt_s(r.duration_s)} (warm-up {fmt_s(r.warmup_s)})"]
    if version:
        bits.append(f"chaoslab {e(version)}")
    faults = "; ".join(f"{e(f.kind.value)} on {e(f.target)} from {fmt_s(f.start_s)} to "
                       f"{'the end' if f.end_s is None else fmt_s(f.end_s)}" + _params(f) for f in r.faults)
    fault_line = f'<p class="meta">Fault: {faults}</p>' if faults else '<p class="meta">No fault injected.</p>'
    if r.latency_estimated:
        fault_line += f'<p class="meta">Latency {e(LATENCY_ESTIMATED)}.</p>'
    resolution = resolution_words(r)
    if resolution is not None:
        fault_line += f'<p class="meta">Resolution: {e(resolution)}.</p>'
    return f'<header><h1>{e(r.experiment)}</h1><p class="meta">{" · ".join(bits)}</p>{fault_line}</header>'


def _params(f: Fault) -> str:
    text = describe_params(f.params)
    return f" ({e(text)})" if text else ""


def _figures_row(name: str, f: Figures, breach_order: Mapping[str, int]) -> list[str]:
    if not f.measured_by.measured:  # its counts are zeros nobody counted: show none of them
        return [e(name), "-", "-", "-", *[UNMEASURED_CELL] * (len(FIGURE_HEADERS) - 4)]
    causes = ", ".join(f"{k} {v:,}" for k, v in sorted(f.errors_by_cause.items())) or "-"
    amp = "-" if f.attempts_per_entry_request is None else f"{f.attempts_per_entry_request:.2f}"
    order = breach_order.get(name)
    return [e(name), "-" if order is None else str(order), fmt_s(f.first_breach_s),
            "-" if f.hops is None else str(f.hops), f"{f.requests:,}",
            "-" if f.answered is None else f"{f.answered:,}", f"{f.errors:,}", fmt_pct(f.error_ratio), e(causes),
            _latency_cell(f, f.p50_ms), _latency_cell(f, f.p99_ms),
            "-" if f.throughput_rps is None else f"{f.throughput_rps:,.1f}",
            amp, f"{f.retries:,}", f"{f.wasted:,}", f"{f.degraded:,}"]


def _latency_cell(f: Figures, ms: float | None) -> str:
    # Counted but not timed (a metrics source without a histogram): "-" would read as "no request".
    return UNMEASURED_CELL if f.latency_measured_by is Source.UNMEASURED else fmt_ms(ms)


# "sent" counts requests (attempts, for a service) sent in the measured window; "answered" those whose
# outcome came in it, "failed" the failed ones among them; the error ratio is failed / answered.
FIGURE_HEADERS = ("name", "breach #", "breached at", "hops from fault", "sent", "answered", "failed", "error ratio",
                  "errors by cause", "p50", "p99", "ok/s", "attempts per entry request", "retries", "wasted",
                  "degraded")
NUMERIC = (*range(1, 8), *range(9, 16))
UNMEASURED_CELL = '<span class="status-skip">unmeasured</span>'


def services_html(r: ResultDocument, panels: Panels) -> str:
    order = {b.service: i + 1 for i, b in enumerate(r.blast.cascade)}
    rows, classes = [], []
    for n, f in r.services.items():
        rows.append(_figures_row(n, f, order))
        classes.append("fail" if n in order else "unmeasured" if not f.measured_by.measured else "")
        for op, fo in r.operations.get(n, {}).items():  # a level below their service
            rows.append(_figures_row(f"{n}.{op}", fo, {}))
            classes.append("op")
    ops_note = " Rows named service.operation are a service's operations; they add up to its row." \
        if r.operations else ""
    note = (f"<p>Every service, in topology order. Rows in the timelines: {e(', '.join(panels.services))}; "
            f"the other {len(panels.rest)} are in the heatmap.{ops_note}</p>" if panels.rest else
            f"<p>Every service, in topology order.{ops_note}</p>")
    if r.blast.unmeasured:
        note += (f"<p><b>Unmeasured</b> ({e(', '.join(r.blast.unmeasured))}): {e(UNMEASURED_MEANS)}. They are in "
                 f"no cascade and no count of healthy services; their timelines are left blank.</p>")
    sources = sorted({f.measured_by.value for f in (*r.services.values(), *r.entrypoints.values())})
    note += f"<p>Measured by: {e(', '.join(sources))}.</p>"

    entry_rows = [_figures_row(n, f, {}) for n, f in r.entrypoints.items()]
    return (f'<section id="services"><h2>Services</h2>{note}<div class="scroll">'
            f"{table(FIGURE_HEADERS, rows, NUMERIC, classes)}</div>"
            f"<h3>Entrypoints</h3>{table(FIGURE_HEADERS, entry_rows, NUMERIC)}</section>")


def cascade_table(r: ResultDocument) -> str:
    if not r.blast.cascade:
        if r.blast.unmeasured:
            return (f"<p>No measured service breached its SLO; {len(r.blast.unmeasured)} were not measured "
                    f"({e(', '.join(r.blast.unmeasured))}), so their health is unknown.</p>")
        return "<p>No service breached its SLO.</p>"
    rows = []
    for i, b in enumerate(r.blast.cascade, start=1):
        f = r.services.get(b.service)
        amp = None if f is None else f.attempts_per_entry_request
        rows.append([str(i), e(b.service), fmt_s(b.first_breach_s), "-" if b.hops is None else str(b.hops),
                     e(b.cause.value), f"{b.breach_seconds:,} s", fmt_pct(f.error_ratio if f else None),
                     "-" if f is None else _latency_cell(f, f.p99_ms), "-" if amp is None else f"{amp:.2f}"])
    blast = r.blast
    impact = entry_impact(blast.entry_failed_ratio, blast.entry_failed, blast.entry_requests, blast.entry_errors,
                          blast.entry_slow)
    return (table(("#", "service", "first breach", "hops from fault", "breached on", "in breach", "error ratio",
                   "p99", "attempts per entry request"), rows, (0, 2, 3, 5, 6, 7, 8))
            + f"<p>{e(impact)}.</p>" + _unmeasured_tail(r))


def _unmeasured_tail(r: ResultDocument) -> str:
    blind = r.blast.unmeasured
    if not blind:
        return ""
    measured = r.blast.measured_count(len(r.services))
    return (f"<p>{len(r.blast.cascade)} of {measured} measured services breached; {len(blind)} not measured "
            f"({e(', '.join(blind))}), so they are in no cascade: their health is unknown.</p>")


def checks_html(checks: Sequence[Check]) -> str:
    if not checks:
        return '<section id="checks"><h2>Checks</h2><p>Nothing to check: no SLO, expectation or deadline.</p></section>'
    parts = ['<section id="checks"><h2>Checks</h2><p>What <code>junit.xml</code> reports and the exit code '
             "gates on.</p>"]
    for kind in CheckKind:
        mine = [c for c in checks if c.kind is kind]
        if not mine:
            continue
        rows = [[_outcome_html(c.outcome), e(c.name), e(c.message)] for c in mine]
        failed = sum(c.failed for c in mine)
        blind = sum(c.unmeasured for c in mine)
        tail = f", {blind} unmeasured" if blind else ""
        parts.append(f"<h3>{e(kind.title)} ({len(mine) - failed - blind} of {len(mine)} not failed{tail})</h3>")
        parts.append(table(("result", "check", "what happened"), rows,
                           row_classes=["fail" if c.failed or c.unmeasured else "" for c in mine]))
    parts.append("</section>")
    return "".join(parts)


def _outcome_html(o: CheckOutcome) -> str:
    return {CheckOutcome.PASSED: '<span class="status-ok">passed</span>',
            CheckOutcome.FAILED: '<span class="status-fail">FAILED</span>',
            CheckOutcome.SKIPPED: '<span class="status-skip">skipped</span>',
            CheckOutcome.UNMEASURED: '<span class="status-fail">UNMEASURED</span>'}[o]


def _labels(labels: Mapping[str, str]) -> str:
    """A rule-file alert instance's labels, as Prometheus prints them: ``{service="cart"}``."""
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""


def alerts_html(r: ResultDocument) -> str:
    rows = [[e(a.name + _labels(a.labels)), e(a.scope or "-"), fmt_s(a.fired_at_s),
             "still firing at the end" if a.resolved_at_s is None else fmt_s(a.resolved_at_s),
             e(format_value(a.metric, a.value))] for a in r.alerts]
    dets = [[e(d.fault), fmt_s(d.start_s), e(d.alert or "none fired"), fmt_s(d.detected_at_s),
             fmt_s(d.time_to_detect_s)] for d in r.detections]
    body = (table(("alert", "scope", "fired", "resolved", "value"), rows, (2, 3, 4)) if rows
            else "<p>No alert fired.</p>")
    if dets:
        body += "<h3>Detection</h3>" + table(("fault", "started", "first alert after it", "fired", "time to detect"),
                                             dets, (1, 3, 4))
    return f'<section id="alerts"><h2>Alerts</h2>{body}</section>'


def events_html(r: ResultDocument) -> str:
    faults = [[e(f.label), e(f.kind.value), e(f.target), fmt_s(f.start_s),
               "never reverted" if f.end_s is None else fmt_s(f.end_s) + (
                   f" (early; scheduled {fmt_s(f.scheduled_end_s)})" if f.ended_early else ""),
               e(describe_params(f.params))] for f in r.faults]
    body = table(("fault", "kind", "target", "applied", "reverted", "parameters"), faults, (3, 4)) if faults else \
        "<p>No fault injected.</p>"
    markers = sorted(r.markers, key=lambda m: (m.t_s, m.kind.value, m.subject))
    counts: dict[tuple[str, str], int] = {}
    for m in markers:
        counts[(m.kind.value, m.subject)] = counts.get((m.kind.value, m.subject), 0) + 1
    if markers:
        body += "<h3>Markers</h3>" + table(("kind", "subject", "count"),
                                          [[e(k), e(s), f"{n:,}"] for (k, s), n in sorted(counts.items())], (2,))
        listed = [[f"{m.t_s:.2f} s", e(m.kind.value), e(m.subject), e(m.detail)] for m in markers[:MARKERS_LISTED]]
        more = len(markers) - len(listed)
        body += (f'<div class="scroll">{table(("time", "kind", "subject", "detail"), listed, (0,))}</div>'
                 + (f"<p>and {plural(more, 'more marker')} in result.json.</p>" if more > 0 else ""))
    return f'<section id="events"><h2>Faults and events</h2>{body}</section>'


def playbook_html(r: ResultDocument, images: Mapping[str, Image]) -> str:
    pb = r.playbook
    if pb is None:
        return ""
    inc = pb.incident
    phases = [(p, getattr(inc, f"time_to_{p}_s")) for p in PHASES]
    parts = [f'<section id="playbook"><h2>Playbook: {e(pb.name)}</h2>',
             f"<p>{e(outcome_words(pb))}. {e(clock_words(pb))}.</p>"]
    if inc.triggered_s is not None:
        parts.append(f"<p>Detect timed the playbook's {e(trigger_detail(pb))}.</p>")
    parts.append(table(("phase", "time from the incident start", "at, on the run's clock"),
                       [[p, e(phase_words(pb, p, why=True)), fmt_s(pb.run_time(took))] for p, took in phases],
                       (1, 2)))
    if "playbook" in images:
        parts.append(img(images["playbook"]))
    steps = [[e(s.name), e(s.role), e(" ".join(x for x in (s.action.value, s.target or "") if x)), fmt_s(s.start_s),
              fmt_s(s.end_s), fmt_s(s.deadline_s), _met(s.met), e(step_outcome(s)), e(s.verify or "-"),
              fmt_s(s.verified_at_s), e(s.note)] for s in pb.steps]
    parts.append("<h3>Steps (times from the incident start)</h3>"
                 + table(("step", "role", "action", "started", "ended", "deadline", "met", "outcome", "verify",
                          "verified at", "note"), steps, (3, 4, 5, 9),
                         ["fail" if s.met is False else "" for s in pb.steps]))
    if pb.deadlines:
        rows = [[e(d.name), e(d.phase.value), fmt_s(d.deadline_s), e(phase_words(pb, d.phase.value)), _met(d.met),
                 e(d.not_judged.value.replace("_", " ") if d.not_judged is not None else "")] for d in pb.deadlines]
        parts.append("<h3>Phase deadlines (from the incident start)</h3>"
                     + table(("deadline", "phase", "within", "took", "met", "not judged because"), rows, (2, 3),
                             ["fail" if d.met is False else "" for d in pb.deadlines]))
    burned = [[e(b.slo), e(b.scope), _burn(b.burned)] for b in inc.error_budget_burned]
    if burned:
        parts.append("<h3>Error budget burned during the incident</h3>"
                     + table(("SLO", "scope", "error budget spent"), burned, (2,)))
    if pb.findings:
        parts.append("<h3>Findings</h3><ul>" + "".join(
            f"<li><b>{e(f.kind.value)}</b>{' (' + e(f.step) + ')' if f.step else ''}: {e(f.message)}</li>"
            for f in pb.findings) + "</ul>")
    parts.append("</section>")
    return "".join(parts)


def _burn(v: float | None) -> str:
    # 'burned' is a multiple of the whole run's error budget: 1.0 spent all of it during the incident.
    return "-" if v is None else f"{v:,.2f}× the run's budget"


def _met(met: bool | None) -> str:
    if met is None:
        return '<span class="status-skip">-</span>'
    return '<span class="status-ok">yes</span>' if met else '<span class="status-fail">NO</span>'


def drill_html(r: ResultDocument, images: Mapping[str, Image]) -> str:
    d = r.drill
    if d is None:
        return ""
    seeds = f"seeds {d.seeds[0]}..{d.seeds[-1]}" if d.seeds else ""
    parts = [f'<section id="drill"><h2>Drill: {plural(d.runs, "simulated incident")}</h2><p>{e(seeds)}'
             + (f"; SLOs held in {d.slo_met_share * 100:.0f}% of runs" if d.slo_met_share is not None else "")
             + ". The rest of this report shows the first run in full.</p>"]
    if "drill" in images:
        parts.append(img(images["drill"]))
    phases = [[e(name), _q(s.p50), _q(s.p90), _q(s.p99), _q(s.mean),
               f"{sum(v is not None for v in s.values)}/{len(s.values)}"] for name, s in d.phases.items()]
    parts.append("<h3>Phase times</h3>" + table(("phase", "p50", "p90", "p99", "mean", "reached"), phases,
                                                (1, 2, 3, 4, 5)))
    if d.deadlines:
        rows = [[e(x.name), e(x.phase.value), fmt_s(x.deadline_s), f"{x.p_met * 100:.1f}%",
                 f"{x.ci95_low * 100:.1f}-{x.ci95_high * 100:.1f}%",
                 "-" if x.required is None else f"{x.required * 100:.0f}%", _met(x.met)] for x in d.deadlines]
        parts.append("<h3>Requirements</h3>" + table(("requirement", "phase", "within", "share met", "95% interval",
                                                      "required", "met"), rows, (2, 3, 4, 5),
                                                     ["fail" if x.met is False else "" for x in d.deadlines]))
    if d.steps:
        rows = [[e(s.name), _pct_or_dash(s.p_met), _pct_or_dash(s.p_reached), _q(s.p50_end_s), _q(s.p90_end_s)]
                for s in d.steps]
        parts.append("<h3>Steps</h3>" + table(("step", "deadline met", "reached", "p50 end", "p90 end"), rows,
                                              (1, 2, 3, 4)))
    if d.findings:
        parts.append("<ul>" + "".join(f"<li><b>{e(f.kind.value)}</b>: {e(f.message)}</li>" for f in d.findings)
                     + "</ul>")
    parts.append("</section>")
    return "".join(parts)


def _q(v: float | None) -> str:
    return "not reached" if v is None else fmt_s(v)


def _pct_or_dash(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f}%"


def replications_html(r: ResultDocument) -> str:
    reps = r.replications
    if reps is None or reps.count <= 1:
        return ""
    rows = [[str(seed), _met(ok)] for seed, ok in zip(reps.seeds, reps.slo_met, strict=False)]
    return ('<section id="replications"><h2>Replications</h2>'
            f"<p>{plural(reps.count, 'independent run')}; the figures above are the first one's.</p>"
            f"{table(('seed', 'SLOs held'), rows, (0,))}</section>")


def audit_html(audit: Mapping[str, Any]) -> str:
    if not audit:
        return '<section id="audit"><h2>Audit trail</h2><p>result.json carries no audit trail.</p></section>'
    items = []
    for key, value in audit.items():
        items.append(f"<dt>{e(key)}</dt><dd>{_audit_value(key, value)}</dd>")
    return f'<section id="audit"><h2>Audit trail</h2><dl class="audit">{"".join(items)}</dl></section>'


def _audit_value(key: str, value: Any) -> str:
    """An audit entry as the page shows it. The audit is free-form: any part of it may hold any JSON
    value, nested to any depth, so every value becomes text through json_text, which never recurses."""
    if key == "command" and isinstance(value, list | tuple):
        return f'<code>{e(shlex.join(json_text(v) for v in value))}</code>'
    if key == "inputs" and isinstance(value, Mapping):
        rows = [[f'<span class="mono">{e(path)}</span>',
                 f'<span class="mono">{e(json_text(info.get("sha256") if isinstance(info, Mapping) else info))}'
                 '</span>'] for path, info in value.items()]
        return table(("file", "sha256"), rows)
    if isinstance(value, Mapping):
        return ", ".join(f"{e(k)} {e('not installed' if v is None else json_text(v))}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return e(", ".join(json_text(v) for v in value))
    return e(json_text(value))


def requests_html(r: ResultDocument) -> str:
    """A live run's client errors and request kinds: what was sent, and what the stack refused."""
    lines = load_lines(r)
    if not lines:
        return ""
    items = "".join(f"<li>{e(line)}</li>" for line in lines)
    return f'<section id="requests"><h2>Requests sent</h2><ul>{items}</ul></section>'


def render_html(r: ResultDocument, sentences: Sequence[Sentence], checks: Sequence[Check], code: int,
                images: Mapping[str, Image], panels: Panels) -> str:
    status = "held" if code == 0 else "FAILED"
    nav_items = [("timeline", "Timeline"), ("cascade", "Cascade")]
    if r.playbook is not None:
        nav_items.append(("playbook", "Playbook"))
    if r.drill is not None:
        nav_items.append(("drill", "Drill"))
    if load_lines(r):
        nav_items.append(("requests", "Requests"))
    nav_items += [("checks", "Checks"), ("services", "Services"), ("alerts", "Alerts"), ("events", "Faults and events"),
                  ("audit", "Audit trail")]
    nav = "<nav>" + "".join(f'<a href="#{k}">{v}</a>' for k, v in nav_items) + "</nav>"
    others = ""
    if "others" in images:
        others = f"<h3>The other {plural(len(panels.rest), 'service')}</h3>{img(images['others'])}"
    body = [
        header(r), verdict_html(sentences, code), nav,
        f'<section id="timeline"><h2>Timeline</h2>{img(images["timeline"])}{others}</section>',
        f'<section id="cascade"><h2>Cascade</h2>{img(images["cascade"])}{cascade_table(r)}</section>',
        playbook_html(r, images), drill_html(r, images), requests_html(r), checks_html(checks),
        services_html(r, panels),
        alerts_html(r), events_html(r), replications_html(r), audit_html(r.audit),
    ]
    return visible("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>chaoslab: {e(r.experiment)} ({status})</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(b for b in body if b) + "\n</body></html>\n")
