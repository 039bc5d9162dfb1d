"""``summary.md``: the verdict and the cascade, short enough for a pull-request comment.

Capped in length whatever the system's size: the cascade table and the list of misses
stop after a few rows and say how many more there are in ``report.html`` and ``junit.xml``.
"""

from __future__ import annotations

from collections.abc import Sequence

from chaos.document import Figures, ResultDocument
from chaos.measurement import Source
from chaos.model.quantities import plural
from chaos.report.checks import Check
from chaos.report.requests import load_lines
from chaos.report.summary import LATENCY_ESTIMATED, fmt_ms, fmt_pct, fmt_s, resolution_words
from chaos.report.verdict import Sentence
from chaos.terminal import visible

CASCADE_ROWS = 10
MISSED_ROWS = 12


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell: no pipes or newlines to break the row."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _mark(ok: bool | None) -> str:
    return {True: "✅", False: "❌", None: "➖"}[ok]


def title(r: ResultDocument, code: int) -> str:
    verdict = {0: "all checks held", 5: "nothing missed, but checks UNMEASURED"}.get(code, "checks FAILED")
    return f"### {'✅' if code == 0 else '❌'} chaoslab: `{r.experiment}`: {verdict}"


def unmeasured_md(r: ResultDocument) -> list[str]:
    blind = r.blast.unmeasured
    if not blind:
        return []
    return ["", f"**Unmeasured** ({len(blind)} of {len(r.services)} services, health unknown, in no cascade): "
                + ", ".join(f"`{cell(n)}`" for n in blind)]


def cascade_md(r: ResultDocument) -> list[str]:
    if not r.blast.cascade:
        if r.blast.unmeasured:
            return ["No measured service breached its SLO.", *unmeasured_md(r)]
        return ["No service breached its SLO."]
    lines = ["**Cascade**, in order of breach:", "",
             "| # | service | breached at | hops from fault | error ratio | p99 | attempts per entry request |",
             "|--:|---|--:|--:|--:|--:|--:|"]
    for i, b in enumerate(r.blast.cascade[:CASCADE_ROWS], start=1):
        f = r.services.get(b.service)
        amp = "-" if f is None or f.attempts_per_entry_request is None else f"{f.attempts_per_entry_request:.2f}"
        lines.append(f"| {i} | {cell(b.service)} | {fmt_s(b.first_breach_s)} | {'-' if b.hops is None else b.hops} "
                     f"| {fmt_pct(f.error_ratio if f else None)} | {_p99(f)} | {amp} |")
    more = len(r.blast.cascade) - CASCADE_ROWS
    if more > 0:
        lines.append(f"\n_and {plural(more, 'more service')} in report.html_")
    return lines + unmeasured_md(r)


def _p99(f: Figures | None) -> str:
    # Counted but not timed (a metrics source without a histogram): say so, as the summary does, not "-".
    if f is not None and f.latency_measured_by is Source.UNMEASURED:
        return "unmeasured"
    return fmt_ms(None if f is None else f.p99_ms)


def missed_md(checks: Sequence[Check]) -> list[str]:
    missed = [c for c in checks if c.failed or c.unmeasured]
    if not missed:
        return []
    lines = [f"**Missed** ({len(missed)}):", ""]
    lines += [f"- {c.kind.title}: {cell(c.message)}" for c in missed[:MISSED_ROWS]]
    more = len(missed) - MISSED_ROWS
    if more > 0:
        lines.append(f"- _and {more} more in junit.xml_")
    return lines


def render_markdown(r: ResultDocument, sentences: Sequence[Sentence], checks: Sequence[Check], code: int) -> str:
    meta = f"`{r.engine.value}` · topology `{r.topology}` · seed {r.seed} · {fmt_s(r.duration_s)}"
    if r.faults:
        meta += " · fault: " + "; ".join(f"{f.kind.value} on `{f.target}` at {fmt_s(f.start_s)}" for f in r.faults)
    if r.latency_estimated:
        meta += f" · latency {LATENCY_ESTIMATED}"
    lines = [title(r, code), "", meta, ""]
    resolution = resolution_words(r)
    if resolution is not None:
        lines += [f"Resolution: {resolution}.", ""]
    lines += [f"- {_mark(s.ok)} {s.text}" for s in sentences]
    lines += ["", *cascade_md(r)]
    requests = load_lines(r)
    if requests:
        lines += ["", "**Requests sent**", "", *(f"- {line}" for line in requests)]
    missed = missed_md(checks)
    if missed:
        lines += ["", *missed]
    lines += ["", "Full report: `report.html` · test results: `junit.xml` · data: `result.json`"]
    return visible("\n".join(lines) + "\n")
