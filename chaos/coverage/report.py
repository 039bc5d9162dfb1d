"""What ``chaoslab coverage`` writes: coverage.json, coverage.md, coverage.html (with the heatmap) and junit.xml.

Every file is drawn from the coverage document alone (:mod:`chaos.coverage.document`). The heatmap
shows failure modes down the side (undetected and late first) and alerts across, each cell the mean
time to detect in that failure mode, with the number written in the cell so that colour never carries
it alone; a cell whose alert never fired there is grey and shows a dash.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from chaos.codec import encode
from chaos.coverage.document import Cell, CoverageDocument, FailureMode, Role, Status
from chaos.model.quantities import plural
from chaos.model.quantities import seconds as fmt_s
from chaos.result import write_atomic
from chaos.terminal import visible

if TYPE_CHECKING:
    from chaos.report.plots import Image

COVERAGE_FILES = {"json": "coverage.json", "markdown": "coverage.md", "html": "coverage.html",
                  "junit": "junit.xml"}

STATUS_WORDS = {
    Status.UNDETECTED: "an SLO was missed and no alert fired after the fault started",
    Status.LATE: "the first alert fired later than the experiment's expect_within",
    Status.DETECTED: "an alert fired in time",
    Status.QUIET: "no SLO missed and no alert fired: nothing to detect",
}
ROLE_TAG = {Role.NOISE: " (noise)", Role.NEVER_USEFUL: " (never useful)", Role.USEFUL: ""}


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def cell_text(cell: Cell, seeds: int) -> str:
    """A cell as text: the mean time to detect, ``(k/n)`` when it fired in some seeds only, ``late`` marked."""
    if cell.mean_s is None:
        return "-"
    text = fmt_s(round(cell.mean_s, 1))
    if cell.seeds_fired < seeds:
        text += f" ({cell.seeds_fired}/{seeds})"
    if cell.seeds_late:
        text += " late"
    return text


def _ttd(mode: FailureMode) -> str:
    if mode.time_to_detect_mean_s is None:
        return "never"
    text = fmt_s(round(mode.time_to_detect_mean_s, 1))
    return text + (f" ({mode.seeds_detected}/{mode.seeds})" if mode.seeds_detected < mode.seeds else "")


def _seeds(n: int, of: int) -> str:
    return f"{n}/{of} seeds"


def headline(doc: CoverageDocument) -> str:
    counts = {s: sum(m.status is s for m in doc.failure_modes) for s in Status}
    return (f"{plural(len(doc.failure_modes), 'failure mode')}: {counts[Status.UNDETECTED]} undetected, "
            f"{counts[Status.LATE]} late, {counts[Status.DETECTED]} detected in time, {counts[Status.QUIET]} quiet; "
            f"{plural(len(doc.alerts), 'alert')}: {len(doc.noise)} noise, {len(doc.never_useful)} never useful here")


def _deadline_words(doc: CoverageDocument) -> str:
    if doc.deadline_s is None:
        return "the experiment states no expect_within, so nothing is late"
    return f"late means detected more than {fmt_s(doc.deadline_s)} after the fault (the shortest expect_within)"


# --------------------------------------------------------------------------- Markdown


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(doc: CoverageDocument) -> str:
    n = len(doc.seeds)
    lines = [f"# Detection coverage of {_md(doc.experiment)}", "",
             f"{headline(doc)}. Exit code {doc.exit_code}.", "",
             f"Each failure mode is one fault alone, run with {plural(n, 'seed')} "
             f"({', '.join(map(str, doc.seeds))}, the same for every variant); "
             f"time to detect is from the fault's start to the first firing of an alert after it, the mean over "
             f"the seeds in which it fired, (k/n) when it fired in k of n; {_deadline_words(doc)}.", ""]
    undetected = [m for m in doc.failure_modes if m.status is Status.UNDETECTED]
    if undetected:
        lines += ["## Undetected", "", "| failure mode | SLOs missed | entry requests failed | undetected in |",
                  "|---|---|---:|---:|"]
        lines += [f"| {_md(m.variant)} | {_md(', '.join(m.slos_missed))} | {_pct(m.entry_failed_ratio)} "
                  f"| {_seeds(m.seeds_undetected, m.seeds)} |" for m in undetected]
        lines.append("")
    late = [m for m in doc.failure_modes if m.status is Status.LATE]
    if late:
        lines += ["## Late", "", "| failure mode | time to detect | deadline | first alert | late in |",
                  "|---|---:|---:|---|---:|"]
        lines += [f"| {_md(m.variant)} | {_ttd(m)} | {fmt_s(doc.deadline_s)} | {_md(', '.join(m.detected_by))} "
                  f"| {_seeds(m.seeds_late, m.seeds)} |" for m in late]
        lines.append("")
    names = [a.name + ROLE_TAG[a.role] for a in doc.alerts]
    lines += ["## Matrix", "", "Time to detect per failure mode and alert; `-`: the alert did not fire after the "
              "fault started.", "",
              "| failure mode | status | time to detect | " + " | ".join(_md(x) for x in names) + " |",
              "|---|---|---:|" + "---:|" * len(names)]
    for m in doc.failure_modes:
        cells = " | ".join(cell_text(c, m.seeds) for c in m.cells)
        lines.append(f"| {_md(m.variant)} | {m.status.value} | {_ttd(m)} | {cells} |")
    lines.append("")
    noisy = [(b, f) for b in doc.baselines for f in b.noise]
    lines += ["## Noise", "", "Alerts that fired, or were firing, in the measured part of the fault-free run."]
    if noisy:
        lines += ["", "| alert | baseline | fired in | first fired at |", "|---|---|---:|---:|"]
        lines += [f"| {_md(f.alert)} | {_md(b.variant)} | {_seeds(f.seeds, b.seeds)} | {fmt_s(f.first_fired_at_s)} |"
                  for b, f in noisy]
    else:
        lines += ["", "None."]
    lines += ["", "## Never useful here", "", "Alerts that fired in no failure mode and not in the baseline.", ""]
    lines.append(", ".join(f"`{_md(a)}`" for a in doc.never_useful) if doc.never_useful else "None.")
    missed = [b for b in doc.baselines if b.seeds_slo_missed]
    if missed:
        lines += ["", "**The fault-free baseline itself misses SLOs** ("
                  + "; ".join(f"{_md(b.variant)}: {_md(', '.join(b.slos_missed))}" for b in missed)
                  + "): every failure mode misses them too, detected or not."]
    lines += ["", f"{plural(doc.runs.total, 'run')}: {doc.runs.simulated} simulated, {doc.runs.reused} reused; "
                  f"executor: {doc.runs.executor}."]
    return visible("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- JUnit


def _case_message(doc: CoverageDocument, m: FailureMode) -> str:
    text = f"{m.status.value}: {STATUS_WORDS[m.status]}"
    if m.status is Status.UNDETECTED:
        text += f" (in {_seeds(m.seeds_undetected, m.seeds)}; missed: {', '.join(m.slos_missed)})"
    elif m.time_to_detect_mean_s is not None:
        text += f"; time to detect {_ttd(m)}, first: {', '.join(m.detected_by)}"
        if m.status is Status.LATE:
            text += f"; deadline {fmt_s(doc.deadline_s)}"
    return text


def junit(doc: CoverageDocument) -> str:
    """One test case per failure mode; a case fails exactly when it makes the exit code 1 (undetected)."""
    suite_name = f"chaoslab.{doc.experiment}.coverage"
    failed = [m for m in doc.failure_modes if m.status is Status.UNDETECTED]
    root = ET.Element("testsuites", name=f"chaoslab coverage {doc.experiment}", tests=str(len(doc.failure_modes)),
                      failures=str(len(failed)), errors="0", time="0")
    suite = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(doc.failure_modes)),
                          failures=str(len(failed)), errors="0", skipped="0", time="0")
    for m in doc.failure_modes:
        case = ET.SubElement(suite, "testcase", name=m.variant, classname=suite_name, time="0")
        message = _case_message(doc, m)
        if m.status is Status.UNDETECTED:
            ET.SubElement(case, "failure", message=message, type="undetected").text = message
        else:
            ET.SubElement(case, "system-out").text = message
    ET.indent(root)
    return visible(ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")


# --------------------------------------------------------------------------- the heatmap


def heatmap_matrix(doc: CoverageDocument) -> list[list[float]]:
    """Mean time to detect per failure mode (rows) and alert (columns); NaN where the alert did not fire."""
    return [[math.nan if c.mean_s is None else c.mean_s for c in m.cells] for m in doc.failure_modes]


def draw_heatmap(doc: CoverageDocument) -> Image:
    """The heatmap, drawn on the Agg canvas as every report figure is (:mod:`chaos.report.plots`)."""
    import matplotlib
    import numpy as np

    from chaos.report.plots import GREY, VERMILLION, new_figure, render, styled

    grid = heatmap_matrix(doc)
    rows, cols = len(doc.failure_modes), len(doc.alerts)
    with styled():
        longest = max((len(m.variant) for m in doc.failure_modes), default=10)
        fig = new_figure(min(20.0, 3.0 + 0.07 * longest + 1.0 * cols), min(30.0, 2.6 + 0.3 * rows))
        fig.set_layout_engine("constrained")  # room for the long labels, whatever they are
        ax = fig.add_subplot()
        data = np.ma.masked_invalid(np.array(grid, dtype=float).reshape(rows, cols))
        finite = [v for row in grid for v in row if not math.isnan(v)]
        top = max(finite, default=1.0) or 1.0
        cmap = matplotlib.colormaps["cividis_r"].with_extremes(bad="#EEEEEE")  # grey: did not fire
        image = ax.imshow(data, cmap=cmap, vmin=0.0, vmax=top, aspect="auto")
        ax.grid(False)
        for i, m in enumerate(doc.failure_modes):
            for j, c in enumerate(m.cells):
                value = grid[i][j]
                text = "-" if math.isnan(value) else cell_text(c, m.seeds).replace(" s", "s")
                dark = not math.isnan(value) and value > top / 2
                ax.text(j, i, text, ha="center", va="center", fontsize=7.5,
                        color="white" if dark else "black", fontweight="bold" if c.seeds_late else "normal")
        ax.set_xticks(range(cols), labels=[a.name + ROLE_TAG[a.role] for a in doc.alerts],
                      rotation=35 if cols > 3 else 0, ha="right" if cols > 3 else "center")
        ax.set_yticks(range(rows), labels=[f"{m.variant}  [{m.status.value}]" for m in doc.failure_modes])
        for tick, m in zip(ax.get_yticklabels(), doc.failure_modes, strict=True):
            if m.status in (Status.UNDETECTED, Status.LATE):
                tick.set_color(VERMILLION)
                tick.set_fontweight("bold")
            elif m.status is Status.QUIET:
                tick.set_color(GREY)
        fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="time to detect, s")
        ax.set_title("Time from the fault's start to each alert's first firing, mean of the seeds it fired in "
                     f"(of {len(doc.seeds)}); - : did not fire")
        alt = (f"Heatmap of time to detect: {headline(doc)}; undetected: {', '.join(doc.undetected) or 'none'}")
        return render(fig, "coverage", alt)


# --------------------------------------------------------------------------- HTML


def html(doc: CoverageDocument) -> str:
    from chaos.report.html import CSP, CSS, e, img, table

    image = draw_heatmap(doc)
    ok = doc.exit_code == 0
    marks = [(not any(m.status is Status.UNDETECTED for m in doc.failure_modes),
              f"{len(doc.undetected)} undetected (an SLO missed, no alert fired)"),
             (not doc.late, f"{len(doc.late)} late ({_deadline_words(doc)})"),
             (not doc.noise, f"{len(doc.noise)} noise (fired without a fault)"),
             (not doc.never_useful, f"{len(doc.never_useful)} never useful here")]
    items = "".join(f'<li><span class="mark {"ok" if good else "fail"}">{"OK" if good else "FOUND"}</span>{e(t)}</li>'
                    for good, t in marks)
    gate = ("no failure mode that misses an SLO goes undetected (exit code 0)" if ok
            else "a failure mode that misses an SLO goes undetected: <code>chaoslab coverage</code> exits with code 1")
    verdict = (f'<section id="verdict" class="verdict{" ok" if ok else ""}"><h2>Verdict</h2><ul>{items}</ul>'
               f'<p class="exit">{gate}</p></section>')
    first = [m for m in doc.failure_modes if m.status in (Status.UNDETECTED, Status.LATE)]
    first_rows = [[e(m.variant), f'<span class="status-fail">{e(m.status.value)}</span>', e(', '.join(m.slos_missed)),
                   e(_pct(m.entry_failed_ratio)), e(_ttd(m)), e(', '.join(m.detected_by) or '-')] for m in first]
    first_html = (table(["failure mode", "status", "SLOs missed", "entry requests failed", "time to detect",
                         "first alert"], first_rows, numeric=(3, 4)) if first else "<p>None.</p>")
    names = [a.name + ROLE_TAG[a.role] for a in doc.alerts]
    matrix_rows = [[e(m.variant), e(m.status.value), e(_ttd(m)), *(e(cell_text(c, m.seeds)) for c in m.cells)]
                   for m in doc.failure_modes]
    classes = ["fail" if m.status in (Status.UNDETECTED, Status.LATE) else "" for m in doc.failure_modes]
    matrix = table(["failure mode", "status", "time to detect", *names], matrix_rows,
                   numeric=range(2, 3 + len(names)), row_classes=classes)
    noise_rows = [[e(f.alert), e(b.variant), e(_seeds(f.seeds, b.seeds)), e(fmt_s(f.first_fired_at_s))]
                  for b in doc.baselines for f in b.noise]
    noise = table(["alert", "baseline", "fired in", "first fired at"], noise_rows, numeric=(2, 3)) if noise_rows \
        else "<p>None.</p>"
    never = ("<ul>" + "".join(f"<li><code>{e(a)}</code></li>" for a in doc.never_useful) + "</ul>"
             if doc.never_useful else "<p>None.</p>")
    alert_rows = [[e(a.name), e(a.source.value), e(a.role.value), e(fmt_s(a.deadline_s)), e(a.detects),
                   e(a.first_detects), e(a.noise_seeds)] for a in doc.alerts]
    alerts = table(["alert", "from", "role", "expect_within", "failure modes it fired in", "first to fire in",
                    "baseline runs it fired in"], alert_rows, numeric=(3, 4, 5, 6))
    meta = (f"topology {doc.topology}; {plural(len(doc.seeds), 'seed')} ({', '.join(map(str, doc.seeds))}); "
            f"{doc.duration_s:g} s simulated, warm-up {doc.warmup_s:g} s; {plural(doc.runs.total, 'run')} "
            f"({doc.runs.simulated} simulated, {doc.runs.reused} reused) on {doc.runs.executor}")
    body = [f"<h1>Detection coverage: {e(doc.experiment)}</h1><p class=\"meta\">{e(meta)}</p>", verdict,
            f'<section id="heatmap"><h2>Which alerts catch which failures</h2>{img(image)}</section>',
            f'<section id="first"><h2>Undetected and late</h2>{first_html}</section>',
            f'<section id="noise"><h2>Noise</h2><p>Alerts that fired, or were firing, in the measured part of the '
            f'fault-free run.</p>{noise}</section>',
            f'<section id="never"><h2>Never useful here</h2><p>Alerts that fired in no failure mode and not in the '
            f'baseline.</p>{never}</section>',
            f'<section id="alerts"><h2>Alerts</h2>{alerts}</section>',
            f'<section id="matrix"><h2>Matrix</h2><div class="scroll">{matrix}</div></section>']
    status = "held" if ok else "FAILED"
    return visible("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                   f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
                   '<meta name="viewport" content="width=device-width, initial-scale=1">'
                   f"<title>chaoslab coverage: {e(doc.experiment)} ({status})</title><style>{CSS}</style></head>\n"
                   "<body>\n" + "\n".join(body) + "\n</body></html>\n")


# --------------------------------------------------------------------------- all


def write_report(doc: CoverageDocument, out: Path, files: Sequence[str] = tuple(COVERAGE_FILES)) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    writers = {"json": lambda: json.dumps(encode(doc), indent=1, allow_nan=False) + "\n",
               "markdown": lambda: markdown(doc), "html": lambda: html(doc), "junit": lambda: junit(doc)}
    paths = {}
    for kind in files:
        paths[kind] = out / COVERAGE_FILES[kind]
        write_atomic(paths[kind], writers[kind]())
    return paths
