"""A drill's phase times as cumulative distributions, with each deadline and its required share.

A CDF answers the drill's question directly: read the curve at the deadline and you have
the share of incidents that met it. Runs that did not reach a phase keep the curve below
100%, so "not recovered" is visible rather than dropped; runs whose recovery was not measurable
(they ended less than one recovery window after the mitigation, ``chaos.recovery``) also stay
below it, and the title counts them apart, so they do not read as "never".
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from chaos.document import DrillDeadline, DrillSection, PhaseStats, ResultDocument
from chaos.model.quantities import plural
from chaos.report.plots import BLUE, FAULT, GREY, OK, new_figure
from chaos.report.summary import fmt_s

PHASE_ORDER = ("detect", "acknowledge", "mitigate", "recover")


def phases(drill: DrillSection) -> list[str]:
    known = [p for p in PHASE_ORDER if p in drill.phases]
    return known + sorted(p for p in drill.phases if p not in PHASE_ORDER)


def _ecdf(stats: PhaseStats, runs: int) -> tuple[np.ndarray, np.ndarray]:
    xs = np.sort(np.array([v for v in stats.values if v is not None], dtype=float))
    ys = np.arange(1, len(xs) + 1) / max(runs, 1)
    return xs, ys


def _draw_phase(ax: Axes, name: str, stats: PhaseStats, runs: int, deadlines: list[DrillDeadline]) -> None:
    xs, ys = _ecdf(stats, runs)
    right = max([*xs.tolist(), *(d.deadline_s for d in deadlines), 1.0]) * 1.12
    if len(xs):
        ax.step(np.concatenate(([0.0], xs, [right])), np.concatenate(([0.0], ys, [ys[-1]])), where="post",
                color=BLUE, lw=1.6)
    for d in deadlines:
        missed = d.met is False
        colour = FAULT if missed else OK if d.met else GREY
        ax.axvline(d.deadline_s, color=colour, ls="--", lw=1.2)
        if d.required is not None:
            ax.plot([0, d.deadline_s], [d.required] * 2, color=colour, ls=":", lw=1.2)
        ax.plot([d.deadline_s], [d.p_met], marker="X" if missed else "o", color=colour, ms=8, ls="none",
                mec="black", mew=0.6)
        need = "" if d.required is None else f", need {d.required * 100:.0f}%"
        ax.annotate(f"{d.p_met * 100:.0f}% by {fmt_s(d.deadline_s)}{need}", (d.deadline_s, d.p_met),
                    xytext=(6, -12 if d.p_met > 0.5 else 8), textcoords="offset points", fontsize=8,
                    color=colour, fontweight="bold" if missed else "normal")
    reached = len(xs)
    unknown = f", {stats.not_measurable} not measurable (run ended within the window)" if stats.not_measurable else ""
    ax.set_title(f"{name}: {reached} of {plural(runs, 'run')} reached it{unknown}"
                 + (f", p50 {_q(stats.p50)}, p90 {_q(stats.p90)}" if stats.values else ""),
                 loc="left", fontsize=8.5)
    ax.set_xlim(0, right)
    ax.set_ylim(0, 1.04)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(f"time to {name}, from the incident's start (s)")
    ax.set_ylabel("share of runs")


def _q(v: float | None) -> str:
    return "not reached" if v is None else fmt_s(v)


def cdf_figure(r: ResultDocument) -> Figure:
    drill = r.drill
    assert drill is not None
    names = phases(drill)
    cols = 2 if len(names) > 1 else 1
    rows = max(1, (len(names) + cols - 1) // cols)
    fig = new_figure(11.0, 0.9 + 2.7 * rows)
    fig.set_layout_engine("constrained", h_pad=0.08, w_pad=0.1)
    grid = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(grid.flat, names, strict=False):
        _draw_phase(ax, name, drill.phases[name], drill.runs, [d for d in drill.deadlines if d.phase.value == name])
    for ax in list(grid.flat)[len(names):]:
        ax.set_visible(False)
    fig.suptitle(f"Drill: {plural(drill.runs, 'simulated incident')}; share of runs that reached each phase "
                 "within a time", x=0.01, ha="left", fontsize=10, fontweight="bold")
    fig.legend(handles=[Line2D([], [], color=BLUE, lw=1.6, label="runs that reached the phase (cumulative)"),
                        Line2D([], [], color=GREY, ls="--", label="deadline"),
                        Line2D([], [], color=GREY, ls=":", label="required share"),
                        Line2D([], [], marker="o", color=OK, ls="none", mec="black", label="requirement met"),
                        Line2D([], [], marker="X", color=FAULT, ls="none", mec="black", label="requirement missed")],
               loc="outside lower center", ncols=5, frameon=False, fontsize=8)
    return fig
