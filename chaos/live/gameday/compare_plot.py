"""One figure overlaying both engines' timelines: p99 latency and error ratio per second, per scope.

Built with ``chaos.report.plots`` (Agg, no pyplot, Okabe-Ito colours): the simulation in
blue with solid lines, the live run in orange with dashed lines and dots, so the two are
told apart without colour too; fault windows shaded (simulated) and outlined (live).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes

from chaos.document import ResultDocument, ScopeSeries, as_document
from chaos.report.plots import BLUE, FAULT, ORANGE, Image, new_figure, render, styled

ROW_IN = 1.6
WIDTH_IN = 11.0


def _scopes(sim: ResultDocument, live: ResultDocument) -> list[str]:
    a, b = sim.series.scopes, live.series.scopes
    entries = [s for s in a if s.startswith("entrypoint:") and s in b]
    services = [s for s in a if s.startswith("service:") and s in b]
    return entries + services


def _ratio(cols: ScopeSeries) -> list[float | None]:
    return [None if not r or e is None else e / r for r, e in zip(cols.requests, cols.errors, strict=True)]


def _line(ax: Axes, ts: Sequence[float], ys: Sequence[float | None], colour: str, style: str, label: str) -> None:
    xs = [t + 0.5 for t, y in zip(ts, ys, strict=True) if y is not None]
    vals = [y for y in ys if y is not None]
    marker = "." if style == "--" else None
    ax.plot(xs, vals, linestyle=style, color=colour, linewidth=1.2, marker=marker, markersize=3, label=label)


def _faults(ax: Axes, sim: ResultDocument, live: ResultDocument, end: float) -> None:
    for f in sim.faults:
        ax.axvspan(f.start_s, f.end_s if f.end_s is not None else end, color=FAULT, alpha=0.10, linewidth=0)
    for f in live.faults:
        for t in (f.start_s, f.end_s):
            if t is not None:
                ax.axvline(t, color=FAULT, linestyle=":", linewidth=1.0)


def overlay(sim_doc: ResultDocument | Mapping[str, Any], live_doc: ResultDocument | Mapping[str, Any]) -> Image:
    """The figure of ``sim_doc`` (predicted) against ``live_doc`` (observed); a parsed result.json is decoded
    once, through the codec, as the comparison reads it."""
    sim, live = as_document(sim_doc, "the predicted result.json"), as_document(live_doc, "the observed result.json")
    scopes = _scopes(sim, live)
    rows = max(1, len(scopes))
    end = float(max(len(sim.series.t_s), len(live.series.t_s)))
    with styled():
        fig = new_figure(WIDTH_IN, ROW_IN * rows + 0.9)
        axes = fig.subplots(rows, 2, sharex=True, squeeze=False)
        for row, scope in enumerate(scopes):
            s, live_cols = sim.series.scopes[scope], live.series.scopes[scope]
            lat, err = axes[row][0], axes[row][1]
            _line(lat, sim.series.t_s, s.p99_ms, BLUE, "-", "simulated")
            _line(lat, live.series.t_s, live_cols.p99_ms, ORANGE, "--", "live")
            _line(err, sim.series.t_s, _ratio(s), BLUE, "-", "simulated")
            _line(err, live.series.t_s, _ratio(live_cols), ORANGE, "--", "live")
            for ax in (lat, err):
                _faults(ax, sim, live, end)
                ax.set_xlim(0, end)
            lat.set_ylabel(f"{scope}\np99 ms")
            lat.set_yscale("log")
            err.set_ylabel("error ratio")
            err.set_ylim(-0.02, 1.02)
        axes[0][0].set_title("p99 latency per second")
        axes[0][1].set_title("error ratio per second")
        axes[0][1].legend(loc="upper right")
        axes[-1][0].set_xlabel("seconds")
        axes[-1][1].set_xlabel("seconds")
        fig.suptitle(f"{live.experiment}: simulated (blue, solid) and live (orange, dashed); "
                     "faults shaded (simulated) and dotted (live)", fontsize=9)
        height = ROW_IN * rows + 0.9
        fig.subplots_adjust(left=0.09, right=0.98, top=1 - 0.5 / height, bottom=0.45 / height, hspace=0.35,
                            wspace=0.22)
        alt = (f"p99 latency and error ratio per second of {', '.join(scopes)}, simulated against live, "
               "with the fault windows marked")
        return render(fig, "compare", alt)
