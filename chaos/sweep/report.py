"""What a sweep writes besides the per-run files: sweep.json, sweep.md and a heatmap.

The heatmap is drawn for sweeps with one or two axes of which at least one is a
``--set`` grid: the mean share of failed entry requests in each cell, on the cividis
colour map (readable with every common colour-vision deficiency and in grey), with the
value written in each cell so that colour never carries the number alone.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from chaos.analysis.stats import Stat, stat
from chaos.codec import encode
from chaos.model.quantities import plural
from chaos.recovery import recovery_reason
from chaos.result import write_atomic
from chaos.sweep.criticality import Criticality, not_measurable, tables, usually_hurt
from chaos.sweep.document import AxisValues, RunCounts, SweepDocument, VariantFigures
from chaos.sweep.grid import FAULT_AXIS, Axis, Variant
from chaos.sweep.measures import HURT_MIN_BREACH_S, HURT_MIN_BUDGET
from chaos.sweep.runner import SweepResult
from chaos.sweep.summary import RunSummary
from chaos.terminal import visible


@dataclass(frozen=True)
class VariantStats:
    """A variant's figures over its seeds."""

    variant: Variant
    entry_failed_ratio: Stat
    services_hurt: Stat
    hurt: tuple[str, ...]
    time_to_detect_s: Stat
    time_to_recover_s: Stat        # over the seeds that recovered
    recovered: int
    not_measurable: int            # seeds that ended too soon after the fault to show a recovery
    recovery_notes: tuple[str, ...]  # why, in words, once per distinct reason
    slo_met: int
    runs: int
    budget_burned: dict[str, Stat]
    duration_s: float              # simulated, as the variant set it (``--set duration=...``)


def variant_stats(variant: Variant, runs: list[RunSummary]) -> VariantStats:
    names = list(dict.fromkeys(o.name for r in runs for o in r.objectives))
    burned = {n: stat([next((o.budget_burned for o in r.objectives if o.name == n), None) for r in runs])
              for n in names}
    return VariantStats(
        variant, stat([r.entry_failed_ratio for r in runs]), stat([float(len(r.services_hurt)) for r in runs]),
        usually_hurt(runs), stat([r.time_to_detect_s for r in runs]), stat([r.time_to_recover_s for r in runs]),
        sum(r.recovered for r in runs), not_measurable(runs),
        tuple(dict.fromkeys(recovery_reason(r.recovery) for r in runs if not r.recovery.measurable)),
        sum(r.slo_met for r in runs), len(runs), burned,
        runs[0].duration_s if runs else 0.0)


def all_stats(result: SweepResult) -> list[VariantStats]:
    return [variant_stats(v, runs) for v, runs in result.results.items()]


# --------------------------------------------------------------------------- JSON


def summary_document(result: SweepResult, stats: list[VariantStats], crit: dict[str, list[Criticality]],
                     heatmap: str | None) -> SweepDocument:
    """What sweep.json holds: its figures' means that are not finite numbers written as null."""
    return SweepDocument(
        experiment=result.experiment.name,
        topology=result.experiment.topology.name,
        seeds=result.seeds,
        executor=result.executor,
        axes=tuple(AxisValues(name=a.name, values=a.values) for a in result.axes),
        variants=tuple(_figures(s) for s in stats),
        criticality={k: tuple(_finite_row(row) for row in rows) for k, rows in crit.items()},
        heatmap=heatmap,
        runs=RunCounts(total=result.simulated + result.reused, simulated=result.simulated, reused=result.reused,
                       worker_s=round(result.worker_s, 3), worker_cpu_s=round(result.worker_cpu_s, 3),
                       wall_s=result.wall_s, variants_per_minute=result.variants_per_minute))


def _figures(s: VariantStats) -> VariantFigures:
    v = s.variant
    return VariantFigures(
        key=v.key, label=v.label, coordinates=v.coordinates(), target=v.target, duration_s=s.duration_s,
        runs=s.runs, slo_met=s.slo_met, recovered=s.recovered, not_measurable=s.not_measurable,
        entry_failed_ratio=s.entry_failed_ratio.finite(),
        services_hurt=s.services_hurt.finite(), hurt=s.hurt, time_to_detect_s=s.time_to_detect_s.finite(),
        time_to_recover_s=s.time_to_recover_s.finite(),
        budget_burned={k: b.finite() for k, b in s.budget_burned.items()})


def _finite_row(row: Criticality) -> Criticality:
    return dataclasses.replace(row, entry_failed_ratio=row.entry_failed_ratio.finite(),
                               services_hurt=row.services_hurt.finite(),
                               time_to_detect_s=row.time_to_detect_s.finite(),
                               time_to_recover_s=row.time_to_recover_s.finite())


# --------------------------------------------------------------------------- Markdown

HURT_RULE = (f"A service counts as hurt in a run when one of its objectives was in breach for at least "
             f"{HURT_MIN_BREACH_S} s in all and the run spent at least {HURT_MIN_BUDGET:.0%} of that objective's "
             "error budget (shorter or smaller breaches are noise); the service the fault landed on is not "
             "counted; 'usually hurt' lists those hurt in at least half of the seeds.")


def _pct(s: Stat) -> str:
    if s.mean is None:
        return "-"
    return f"{s.mean * 100:.2f}%" + (f" ± {s.ci95 * 100:.2f}%" if s.ci95 is not None else "")


def _num(s: Stat, unit: str = "", digits: int = 1) -> str:
    if s.mean is None:
        return "never" if s.count else "-"
    return _mean(s, unit, digits)


def _mean(s: Stat, unit: str, digits: int) -> str:
    text = f"{s.mean:.{digits}f}{unit}"
    if s.ci95 is not None:
        text += f" ± {s.ci95:.{digits}f}{unit}"
    if s.known < s.count:
        text += f" ({s.known}/{s.count})"
    return text


def _detect(s: Stat, alerting: bool) -> str:
    """Time to detect; "never" only where an alert could have fired: an experiment without alerts detects nothing."""
    return _num(s, " s") if alerting else "no alert defined"


def _recovery(s: Stat, unknown: int) -> str:
    """Time to recover over seeds: the mean where it recovered, and how many seeds did not, or could not show it.

    ``unknown`` seeds ended less than one SLO window after the fault (or had no end to a fault): their
    recovery is not measurable, which is not "never" (``chaos.recovery``)."""
    failed = s.count - s.known - unknown
    parts = [_mean(s, " s", 1)] if s.known else []
    if failed:
        parts.append("not recovered" + (f" in {failed}/{s.count}" if failed < s.count else ""))
    if unknown:
        parts.append("not measurable" + (f" in {unknown}/{s.count}" if unknown < s.count else "") + "¹")
    return "; ".join(parts) or "-"


def _recovery_notes(stats: list[VariantStats]) -> list[str]:
    notes = [f"{s.variant.label}: {'; '.join(s.recovery_notes)}" for s in stats if s.not_measurable]
    if not notes:
        return []
    return ["", "¹ Time to recover not measurable: the SLOs could not have said \"recovered\" before the run "
            "ended, which is not \"never\". " + "; ".join(notes) + "."]


def _names(names: tuple[str, ...], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" +{len(names) - limit}" if len(names) > limit else "") if names else "-"


def markdown(result: SweepResult, stats: list[VariantStats], crit: dict[str, list[Criticality]],
             heatmap: str | None) -> str:
    exp = result.experiment
    alerting = bool(exp.alert_names)
    durations = sorted({s.duration_s for s in stats})
    simulated = (f"{durations[0]:g} s simulated each" if len(durations) == 1 else
                 f"{' to '.join(f'{d:g} s' for d in (durations[0], durations[-1]))} simulated, as each variant sets "
                 "(column 'simulated')")
    lines = [f"# Sweep of {exp.name}", "",
             f"{plural(len(stats), 'variant')} x {plural(len(result.seeds), 'seed')} "
             f"(seeds {', '.join(map(str, result.seeds))}, the same for every variant), {simulated}; "
             f"{plural(result.simulated, 'run')} simulated, "
             f"{result.reused} reused from an earlier sweep; executor: {result.executor}.",
             "", "Figures are means over seeds ± the 95% confidence half-width; (k/n): known in k of n seeds. "
             f"{HURT_RULE}", ""]
    for key, rows in crit.items():
        lines += [f"## Criticality{f' ({key})' if key else ''}", "",
                  "| rank | target | fault | entry requests failed | services hurt | usually hurt | time to detect "
                  "| time to recover |", "|---:|---|---|---:|---:|---|---:|---:|"]
        lines += [f"| {r.rank} | {r.target} | {r.fault} | {_pct(r.entry_failed_ratio)} | {_num(r.services_hurt)} "
                  f"| {_names(r.hurt)} | {_detect(r.time_to_detect_s, alerting)} "
                  f"| {_recovery(r.time_to_recover_s, r.not_measurable)} |" for r in rows]
        lines.append("")
    varied = len(durations) > 1
    lines += ["## Variants", "", "| variant | " + ("simulated | " if varied else "") + "entry requests failed "
              "| services hurt | time to detect | time to recover | SLOs met |",
              "|---|" + ("---:|" if varied else "") + "---:|---:|---:|---:|---:|"]
    ordered = sorted(stats, key=lambda s: -(s.entry_failed_ratio.mean or 0.0))
    lines += [f"| {s.variant.label} | " + (f"{s.duration_s:g} s | " if varied else "")
              + f"{_pct(s.entry_failed_ratio)} | {_num(s.services_hurt)} "
              f"| {_detect(s.time_to_detect_s, alerting)} | {_recovery(s.time_to_recover_s, s.not_measurable)} "
              f"| {s.slo_met}/{s.runs} |" for s in ordered]
    lines += _recovery_notes(ordered)
    if heatmap:
        lines += ["", f"![entry requests failed per variant]({heatmap})"]
    return visible("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- heatmap


def heatmap_axes(axes: tuple[Axis, ...]) -> tuple[Axis, ...] | None:
    """The axes to draw (x first), or None when the sweep is not a 1- or 2-parameter grid."""
    if not 1 <= len(axes) <= 2 or all(a.name == FAULT_AXIS for a in axes):
        return None
    if axes[0].name == FAULT_AXIS:  # faults down the side, the --set values across
        return axes[1], axes[0]
    return axes


def heatmap_matrix(stats: list[VariantStats], x: Axis, y: Axis | None) -> list[list[float]]:
    """Mean failed share per cell, rows along y; NaN where no variant has that combination."""
    rows = len(y.values) if y is not None else 1
    grid = [[math.nan] * len(x.values) for _ in range(rows)]
    for s in stats:
        coords = s.variant.coordinates()
        i = y.values.index(coords[y.name]) if y is not None else 0
        j = x.values.index(coords[x.name])
        grid[i][j] = math.nan if s.entry_failed_ratio.mean is None else s.entry_failed_ratio.mean * 100
    return grid


def draw_heatmap(stats: list[VariantStats], axes: tuple[Axis, ...], seeds: int, path: Path) -> None:
    # The object-oriented API on an Agg canvas: no pyplot, so no global figure state and no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x = axes[0]
    y = axes[1] if len(axes) > 1 else None
    grid = heatmap_matrix(stats, x, y)
    width = min(16.0, 5.0 + 0.9 * len(x.values))
    height = 2.2 if y is None else min(20.0, 1.8 + 0.4 * len(y.values))
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    finite = [v for row in grid for v in row if not math.isnan(v)]
    top = max(finite, default=1.0) or 1.0
    image = ax.imshow(grid, cmap="cividis", vmin=0.0, vmax=top, aspect="auto")
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if not math.isnan(value):
                ax.text(j, i, f"{value:.1f}%", ha="center", va="center", fontsize=8,
                        color="white" if value < top / 2 else "black")
    ax.set_xticks(range(len(x.values)), labels=list(x.values), rotation=45 if len(x.values) > 8 else 0)
    ax.set_xlabel(x.name)
    if y is None:
        ax.set_yticks([])
    else:
        ax.set_yticks(range(len(y.values)), labels=list(y.values))
        ax.set_ylabel(y.name)
    fig.colorbar(image, ax=ax, label=f"% failed (mean of {plural(seeds, 'seed')})")
    ax.set_title("Share of entry requests failed or too slow")
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)


# --------------------------------------------------------------------------- all


SWEEP_FILES = {"json": "sweep.json", "markdown": "sweep.md", "heatmap": "heatmap.png"}


def write_report(result: SweepResult, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    stats = all_stats(result)
    crit = tables(result.results)
    paths = {"json": out / SWEEP_FILES["json"], "markdown": out / SWEEP_FILES["markdown"]}
    drawn = heatmap_axes(result.axes)
    if drawn is not None:
        paths["heatmap"] = out / SWEEP_FILES["heatmap"]
        draw_heatmap(stats, drawn, len(result.seeds), paths["heatmap"])
    heatmap = "heatmap.png" if drawn is not None else None
    doc = summary_document(result, stats, crit, heatmap)
    write_atomic(paths["json"], json.dumps(encode(doc), indent=1, allow_nan=False) + "\n")
    write_atomic(paths["markdown"], markdown(result, stats, crit, heatmap))
    return paths
