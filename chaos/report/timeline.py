"""Small multiples on one time axis: what happened (faults, alerts, breakers, crashes, steps),
then each chosen entrypoint and service as a row of error ratio, p99 latency and queue length.

Every panel shares the x axis, so a reader can run a finger down the page from the fault to
the first alert. Error ratio and latency share their y axes across rows (latency on a log
scale), so a taller line is a worse service; queue lengths differ by orders of magnitude
between services and get a scale per row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, PercentFormatter
from matplotlib.transforms import blended_transform_factory

from chaos.document import Marker, ResultDocument, ScopeSeries
from chaos.incident_states import MarkerKind
from chaos.model.quantities import plural
from chaos.model.slos import ObjectiveKind
from chaos.report.plots import (
    ALERT,
    BLUE,
    FAULT,
    GREY,
    INFO,
    OK,
    new_figure,
)
from chaos.report.ranking import Panels

# One colour for every series line: a service is told by its row label and its place, which stay the
# same from report to report; hue is kept for what happened (faults, alerts, breakers, crashes).
LINE = BLUE
HEAT_CMAP = "YlOrBr"  # ColorBrewer sequential: pale when healthy, dark when failing, safe for colour blindness
HEAT_BINS = (0.0, 0.001, 0.01, 0.05, 0.2, 0.5, 1.000001)

WIDTH_IN = 11.0
ROW_IN = 1.0          # one row of panels, gap included
ROW_GAP_IN = 0.22
SECTION_IN = 0.38     # a section's title
HEAD_IN = 0.22        # column titles
XLABEL_IN = 0.48
LEGEND_IN = 0.42
LABEL_IN = 1.2        # row labels (service names) left of the panels, at least
MAX_LABEL_IN = 2.4
MAX_LABEL_CHARS = 22
EVENT_LABEL_IN = 2.9  # event labels are longer
COL_GAP_IN = 0.62
RIGHT_IN = 0.2
EVENT_ROW_IN = 0.24
MAX_EVENT_ROWS = 10
POINT_MARKERS = {MarkerKind.CRASH: ("x", FAULT, "replica crashed"), MarkerKind.RESTART: ("^", OK, "replica restarted")}
BREAKER_OPEN, BREAKER_CLOSED = MarkerKind.BREAKER_OPEN, MarkerKind.BREAKER_CLOSED
SKIPPED_MARKERS = {MarkerKind.FAULT_ON, MarkerKind.FAULT_OFF}


@dataclass(frozen=True)
class EventRow:
    label: str
    colour: str
    spans: tuple[tuple[float, float], ...] = ()
    points: tuple[tuple[float, str], ...] = ()  # (time, matplotlib marker)


def breaker_spans(markers: Sequence[Marker], end_s: float) -> dict[str, list[tuple[float, float]]]:
    """Open intervals per breaker: open until it closes again (half-open probes keep it open)."""
    spans: dict[str, list[tuple[float, float]]] = {}
    opened: dict[str, float] = {}
    for m in sorted(markers, key=lambda m: m.t_s):
        if m.kind == BREAKER_OPEN and m.subject not in opened:
            opened[m.subject] = m.t_s
        elif m.kind == BREAKER_CLOSED and m.subject in opened:
            spans.setdefault(m.subject, []).append((opened.pop(m.subject), m.t_s))
    for subject, start in opened.items():
        spans.setdefault(subject, []).append((start, end_s))
    return spans


def event_rows(r: ResultDocument) -> list[EventRow]:
    end = r.duration_s
    rows = [EventRow(f"fault {f.label} ({f.kind.value} on {f.target})", FAULT,
                     ((f.start_s, end if f.end_s is None else f.end_s),)) for f in r.faults]
    for name in dict.fromkeys(a.name for a in r.alerts):
        spans = tuple((a.fired_at_s, end if a.resolved_at_s is None else a.resolved_at_s)
                      for a in r.alerts if a.name == name)
        rows.append(EventRow(f"alert {name}", ALERT, spans))
    for subject, opened in sorted(breaker_spans(r.markers, end).items()):
        rows.append(EventRow(f"breaker {subject.replace('->', ' → ')} open", INFO, tuple(opened)))
    pb = r.playbook
    if pb is not None and pb.clock is not None:
        # The playbook section counts from the incident start; this axis is the run's clock.
        steps = tuple((pb.clock.run_time(s.start_s), pb.clock.run_time(s.end_s if s.end_s is not None else s.start_s))
                      for s in pb.steps if s.start_s is not None)
        if steps:
            rows.append(EventRow(f"playbook {pb.name} steps", BLUE, steps))
    rows += _point_rows(r.markers)
    return rows


def _point_rows(markers: Sequence[Marker]) -> list[EventRow]:
    """Crashes and restarts on one row per service; any other marker kind on a row of its own."""
    rows: dict[str, list[tuple[float, str]]] = {}
    for m in markers:
        if m.kind in SKIPPED_MARKERS or m.kind.is_breaker:
            continue
        if m.kind in POINT_MARKERS:
            rows.setdefault(f"{m.subject} replicas", []).append((m.t_s, POINT_MARKERS[m.kind][0]))
        else:
            rows.setdefault(m.kind.label, []).append((m.t_s, "o"))
    return [EventRow(label, GREY, points=tuple(points)) for label, points in rows.items()]


def draw_events(ax: Axes, rows: list[EventRow], duration_s: float) -> None:
    shown = rows[:MAX_EVENT_ROWS]
    for i, row in enumerate(shown):
        y = len(shown) - 1 - i
        ax.broken_barh([(a, max(b - a, duration_s / 400)) for a, b in row.spans], (y - 0.35, 0.7),
                       facecolors=row.colour, edgecolors="none")
        for t, marker in row.points:
            colour = next((c for m, c, _ in POINT_MARKERS.values() if m == marker), BLUE)
            ax.plot([t], [y], marker=marker, color=colour, markersize=6, mew=1.6, ls="none")
    ax.set_yticks(range(len(shown)), [row.label for row in reversed(shown)])
    ax.set_ylim(-0.6, len(shown) - 0.4)
    ax.grid(axis="y", visible=False)
    ax.tick_params(axis="y", length=0)
    if len(rows) > len(shown):
        ax.text(1.0, -0.02, f"{plural(len(rows) - len(shown), 'more event row')} in the tables below",
                transform=ax.transAxes, ha="right", va="top", fontsize=7.5, color=GREY)


def _ms_label(v: float, _pos: int) -> str:
    if v >= 1000:
        return f"{v / 1000:g} s"
    return f"{v:g}"


def _values(xs: Sequence[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in xs], dtype=float)


@dataclass(frozen=True)
class Context:
    """What every row draws behind its lines: faults, warm-up, this scope's alerts, markers and targets."""

    report: ResultDocument
    duration_s: float
    latency_range: tuple[float, float]


def _background(ax: Axes, ctx: Context, scope: str) -> None:
    r = ctx.report
    if r.warmup_s > 0:
        ax.axvspan(0, r.warmup_s, color=GREY, alpha=0.13, lw=0, hatch="///", fill=False)
    for f in r.faults:
        ax.axvspan(f.start_s, ctx.duration_s if f.end_s is None else f.end_s, color=FAULT, alpha=0.13, lw=0)
    for a in r.alerts:
        if a.scope == scope:
            ax.axvline(a.fired_at_s, color=ALERT, ls=(0, (2, 1.5)), lw=1.3)


def _targets(r: ResultDocument, scope: str) -> tuple[float | None, float | None]:
    ratios = [o.target for o in r.slos if o.scope == scope and o.kind is ObjectiveKind.ERROR_RATIO]
    latency = [o.threshold_ms for o in r.slos if o.scope == scope and o.kind is ObjectiveKind.LATENCY
               and o.threshold_ms is not None and (o.percentile is None or abs(o.percentile - 99) < 1e-9)]
    return (min(ratios) if ratios else None, min(latency) if latency else None)  # type: ignore[type-var]


def _service_markers(ax: Axes, r: ResultDocument, name: str) -> None:
    """Breakers this service opened toward a dependency, and its crashes, along the panel's top edge."""
    top = blended_transform_factory(ax.transData, ax.transAxes)
    opened = [m.t_s for m in r.markers if m.kind == BREAKER_OPEN and m.subject.split("->")[0] == name]
    if opened:
        ax.plot(opened, [0.97] * len(opened), transform=top, ls="none", marker="|", color=INFO, ms=7, mew=1.5,
                clip_on=False)
    for kind, (marker, colour, _) in POINT_MARKERS.items():
        ts = [m.t_s for m in r.markers if m.kind == kind and m.subject == name]
        if ts:
            ax.plot(ts, [0.9] * len(ts), transform=top, ls="none", marker=marker, color=colour, ms=7, mew=1.8,
                    clip_on=False)


def draw_row(axes: Sequence[Axes], ctx: Context, scope: str, series: ScopeSeries | None, entry: bool) -> None:
    r, name = ctx.report, scope.partition(":")[2]
    colour = LINE
    t = np.asarray(r.series.t_s, dtype=float)
    ratio_target, latency_target = _targets(r, scope)
    for ax in axes:
        _background(ax, ctx, scope)
    err, lat, third = axes
    figures = r.services.get(name) if not entry else r.entrypoints.get(name)
    if figures is not None and not figures.measured_by.measured:
        for ax in axes:  # its series are blank: say why, rather than leave an empty row that reads as idle
            ax.text(0.5, 0.5, "unmeasured: no metrics, health unknown", transform=ax.transAxes, ha="center",
                    va="center", fontsize=8, color="#555555", style="italic")
    if series is not None:
        err.plot(t, _values(series.error_ratio()), color=colour, lw=1.2)
        lat.plot(t, _values(series.p99_ms), color=colour, lw=1.2)
        third.plot(t, _values(series.requests if entry else series.queue), color=colour, lw=1.2)
    if ratio_target is not None:
        err.axhline(ratio_target, color="black", ls="--", lw=0.9)
    if latency_target is not None:
        lat.axhline(latency_target, color="black", ls="--", lw=0.9)
    if not entry:
        _service_markers(err, r, name)
    err.set_ylim(0, 1.0)
    err.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    err.set_yticks([0, 0.5, 1.0])
    lat.set_yscale("log")
    lat.set_ylim(*ctx.latency_range)
    lat.yaxis.set_major_locator(LogLocator(base=10, numticks=6))
    lat.yaxis.set_major_formatter(FuncFormatter(_ms_label))
    third_values = _values(series.requests if entry else series.queue) if series is not None else np.array([])
    peak = float(np.nanmax(third_values)) if np.isfinite(third_values).any() else 0.0
    third.set_ylim(0, max(1.0, peak * 1.08))  # an idle queue reads 0 to 1, not 0.00 to 0.05
    third.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=True, min_n_ticks=2))
    err.set_ylabel(short_name(scope), rotation=0, ha="right", va="center", fontweight="bold", fontsize=9, labelpad=8)


def latency_range(r: ResultDocument, scopes: Sequence[str]) -> tuple[float, float]:
    vals = [v for s in scopes if s in r.series.scopes for v in r.series.scopes[s].p99_ms
            if v is not None and v > 0 and math.isfinite(v)]
    targets = [o.threshold_ms for o in r.slos if o.threshold_ms]
    vals += [v for v in targets if v]
    if not vals:
        return (1.0, 1000.0)
    lo, hi = min(vals), max(vals)
    return (10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi * 1.05)))


@dataclass(frozen=True)
class Sheet:
    """Places axes by inches from the figure's top-left, so rows keep their height at any row count."""

    fig: Figure
    width_in: float
    height_in: float

    def axes(self, left_in: float, top_in: float, width_in: float, height_in: float) -> Axes:
        return self.fig.add_axes((left_in / self.width_in, 1 - (top_in + height_in) / self.height_in,
                                  width_in / self.width_in, height_in / self.height_in))

    def title(self, top_in: float, text: str) -> None:
        self.fig.text(0.1 / self.width_in, 1 - top_in / self.height_in, text, ha="left", va="top",
                      fontsize=10, fontweight="bold")


def label_width(scopes: Sequence[str]) -> float:
    """Room for the longest row label (bold 9 pt is about 0.1 in a character) and the tick labels."""
    longest = max((len(short_name(s)) for s in scopes), default=8)
    return min(MAX_LABEL_IN, max(LABEL_IN, 0.6 + 0.1 * longest))


def short_name(scope: str) -> str:
    name = scope.partition(":")[2]
    return name if len(name) <= MAX_LABEL_CHARS else name[:MAX_LABEL_CHARS - 1] + "…"


def section_height(rows: int) -> float:
    return 0 if rows == 0 else SECTION_IN + HEAD_IN + rows * ROW_IN - ROW_GAP_IN + XLABEL_IN


def events_height(rows: int) -> float:
    return SECTION_IN + max(rows, 1) * EVENT_ROW_IN + 0.2 + XLABEL_IN


def _section(sheet: Sheet, top: float, title: str, rows: Sequence[str], entry: bool, ctx: Context,
             label_in: float) -> list[Axes]:
    third = "offered load (requests/s)" if entry else "queue length (requests waiting)"
    heads = ("error ratio (% of attempts failed)", "p99 latency (ms, log scale)", third)
    sheet.title(top, title)
    top += SECTION_IN + HEAD_IN
    col_w = (sheet.width_in - label_in - RIGHT_IN - 2 * COL_GAP_IN) / 3
    made: list[Axes] = []
    for i, scope in enumerate(rows):
        axes = [sheet.axes(label_in + c * (col_w + COL_GAP_IN), top + i * ROW_IN, col_w, ROW_IN - ROW_GAP_IN)
                for c in range(3)]
        for ax in axes:
            ax.set_xlim(0, ctx.duration_s)
            if i < len(rows) - 1:
                ax.tick_params(labelbottom=False)
        draw_row(axes, ctx, scope, ctx.report.series.scopes.get(scope), entry)
        if i == 0:
            for ax, head in zip(axes, heads, strict=True):
                ax.set_title(head, loc="left", fontsize=8.5, color="#333333", pad=4)
        if i == len(rows) - 1:
            for ax in axes:
                ax.set_xlabel("seconds since the start of the run")
        made += axes
    return made


def legend_handles(r: ResultDocument) -> list[Line2D | Patch]:
    handles: list[Line2D | Patch] = [Patch(color=FAULT, alpha=0.3, label="fault window")]
    if r.warmup_s > 0:
        handles.append(Patch(facecolor="white", edgecolor=GREY, hatch="///", label="warm-up (not judged)"))
    if r.alerts:
        handles.append(Line2D([], [], color=ALERT, ls=(0, (2, 1.5)), lw=1.3, label="alert fired (its scope)"))
    if r.slos:
        handles.append(Line2D([], [], color="black", ls="--", lw=0.9, label="SLO target"))
    if any(m.kind == BREAKER_OPEN for m in r.markers):
        handles.append(Line2D([], [], color=INFO, marker="|", ls="none", ms=8, mew=1.5, label="breaker opened"))
    for kind, (marker, colour, label) in POINT_MARKERS.items():
        if any(m.kind == kind for m in r.markers):
            handles.append(Line2D([], [], color=colour, marker=marker, ls="none", ms=7, mew=1.8, label=label))
    return handles


def timeline_figure(r: ResultDocument, panels: Panels) -> Figure:
    """Events, then entrypoint rows, then service rows: one events axes plus three axes per row."""
    events = event_rows(r)
    entry_scopes = [f"entrypoint:{e}" for e in panels.entrypoints]
    service_scopes = [f"service:{s}" for s in panels.services]
    shown_events = min(len(events), MAX_EVENT_ROWS)
    height = (LEGEND_IN + events_height(shown_events) + section_height(len(entry_scopes))
              + section_height(len(service_scopes)))
    sheet = Sheet(new_figure(WIDTH_IN, height), WIDTH_IN, height)
    ctx = Context(r, r.duration_s, latency_range(r, entry_scopes + service_scopes))
    label_in = label_width(entry_scopes + service_scopes)  # one width for all sections keeps columns aligned
    top = LEGEND_IN
    sheet.title(top, "What happened")
    ev = sheet.axes(EVENT_LABEL_IN, top + SECTION_IN, WIDTH_IN - EVENT_LABEL_IN - RIGHT_IN,
                    max(shown_events, 1) * EVENT_ROW_IN + 0.2)
    ev.set_xlim(0, r.duration_s)
    draw_events(ev, events, r.duration_s)
    ev.set_xlabel("seconds since the start of the run")
    if not events:
        ev.text(0.5, 0.5, "no faults, alerts or markers recorded", transform=ev.transAxes, ha="center",
                va="center", color=GREY)
    top += events_height(shown_events)
    if entry_scopes:
        _section(sheet, top, "Entrypoints, as their users saw them", entry_scopes, True, ctx, label_in)
        top += section_height(len(entry_scopes))
    if service_scopes:
        _section(sheet, top, "Services, as their callers saw them (faulted, in the cascade or called by an "
                             "entrypoint; in topology order)", service_scopes, False, ctx, label_in)
    sheet.fig.legend(handles=legend_handles(r), loc="upper center", bbox_to_anchor=(0.5, 1 - 0.05 / height),
                     ncols=7, frameon=False)
    return sheet.fig


def rest_figure(r: ResultDocument, rest: Sequence[str]) -> Figure | None:
    """One heatmap for every service without a row: error ratio per second, a row per service."""
    if not rest:
        return None
    rows = [r.series.scopes.get(f"service:{n}") for n in rest]
    n_t = len(r.series.t_s)
    data = np.full((len(rest), max(n_t, 1)), np.nan)
    for i, s in enumerate(rows):
        if s is not None:
            data[i, :len(s.requests)] = _values(s.error_ratio())
    row_in = 0.16 if len(rest) > 20 else 0.24
    fig = new_figure(WIDTH_IN, 1.5 + row_in * len(rest))
    fig.set_layout_engine("constrained")
    ax = fig.subplots()
    cmap = matplotlib.colormaps[HEAT_CMAP].resampled(len(HEAT_BINS) - 1).with_extremes(bad="#BDBDBD")
    # Fixed bins, the same in every report: background noise stays near white, 1% is visible, 50% is dark.
    image = ax.imshow(data, aspect="auto", interpolation="nearest", cmap=cmap,
                      norm=BoundaryNorm(HEAT_BINS, len(HEAT_BINS) - 1),
                      extent=(0, r.duration_s, len(rest), 0))
    names = [n + (" (unmeasured)" if not r.services[n].measured_by.measured else "") for n in rest]
    ax.set_yticks([i + 0.5 for i in range(len(rest))], names, fontsize=6.5 if len(rest) > 20 else 8)
    ax.grid(False)
    for f in r.faults:
        ax.axvline(f.start_s, color=FAULT, lw=1.2)
        if f.end_s is not None:
            ax.axvline(f.end_s, color=FAULT, lw=1.2, ls="--")
    ax.set_xlabel("seconds since the start of the run")
    worst = max(rest, key=lambda n: (r.services[n].error_ratio or 0.0))
    ax.set_title(f"The other {plural(len(rest), 'service')}: error ratio per second (worst over the run: {worst}, "
                 f"{(r.services[worst].error_ratio or 0.0) * 100:.1f}%)\nvertical lines: fault start (solid) and "
                 f"end (dashed); grey: no requests that second, or unmeasured", loc="left", fontsize=8.5)
    bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01, format=PercentFormatter(1.0, decimals=1),
                       ticks=HEAT_BINS[:-1] + (1.0,), spacing="uniform")
    bar.set_label("error ratio (%)")
    return fig
