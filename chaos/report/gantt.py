"""The playbook as it was carried out: each step's bar against its deadline, and the incident's milestones.

The time axis is the incident's clock, as every time of the playbook section: seconds from
the incident start (its label says where that is in the run), with the end of the run marked.
Status is shown by colour *and* hatching, and written at the end of each bar, so the chart
reads the same in greyscale or with deficient colour vision.
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from chaos.document import PlaybookSection, ResultDocument, Step
from chaos.incident_states import ClockBase, NotJudged, StepStatus
from chaos.report.plots import BLUE, FAULT, GREY, OK, ORANGE, new_figure
from chaos.report.summary import fmt_s

# status -> (fill, hatch)
STATUS = {
    StepStatus.DONE: (OK, ""),
    StepStatus.FAILED: (FAULT, "xxx"),
    StepStatus.ESCALATED: (ORANGE, "///"),
    StepStatus.ABORTED: (GREY, "..."),
    StepStatus.NOT_REACHED: ("white", ""),
    StepStatus.RUNNING: (BLUE, ""),
}
MILESTONES = (("triggered_s", "triggered"), ("time_to_detect_s", "detected"),
              ("time_to_acknowledge_s", "acknowledged"), ("time_to_mitigate_s", "mitigated"),
              ("time_to_recover_s", "recovered"))
UNJUDGED = {NotJudged.NOT_TRIGGERED: "not triggered", NotJudged.RUN_ENDED: "deadline undecided",
            NotJudged.NOT_NEEDED: "not needed"}
ROW_IN = 0.42


def milestones(pb: PlaybookSection) -> list[tuple[float, str]]:
    """Incident milestones on the incident's clock, the start (0 s) first; those at the same second share a label."""
    at: dict[float, list[str]] = {0.0: ["incident start"]} if pb.clock is not None else {}
    for attr, label in MILESTONES:
        t = getattr(pb.incident, attr)
        if t is not None:
            at.setdefault(round(float(t), 3), []).append(label)
    return [(t, ", ".join(labels)) for t, labels in sorted(at.items())]


def axis_label(pb: PlaybookSection) -> str:
    clock = pb.clock
    if clock is None:
        return "seconds from the incident start (there was none: no fault, never triggered)"
    what = "the first fault" if clock.base is ClockBase.FIRST_FAULT else "the trigger"
    return f"seconds from the incident start ({what}, at {fmt_s(clock.start_run_s)} of the run)"


def _verdict(s: Step) -> str:
    status = s.status.label
    if s.deadline_s is None and s.not_judged is None:
        return status
    if s.met is None:
        why = "deadline undecided" if s.not_judged is None else UNJUDGED[s.not_judged]
        return f"{status}; {why}"
    if s.met:
        return f"{status}; deadline met"
    if s.end_s is not None and s.deadline_s is not None and s.end_s > s.deadline_s:
        return f"{status}; deadline missed by {fmt_s(s.end_s - s.deadline_s)}"
    return f"{status}; deadline missed"


def _draw_step(ax: Axes, s: Step, y: float, end_of_run: float) -> None:
    fill, hatch = STATUS.get(s.status, (BLUE, ""))
    if s.start_s is None:
        ax.text(0.005, y, "not reached", transform=ax.get_yaxis_transform(), va="center", fontsize=8, color=GREY)
        right = None
    else:
        end = s.end_s if s.end_s is not None else end_of_run
        ax.barh(y, max(end - s.start_s, 0.4), left=s.start_s, height=0.52, color=fill, hatch=hatch,
                edgecolor="#333333" if s.end_s is not None else GREY, linewidth=0.6,
                linestyle="-" if s.end_s is not None else "--")
        if s.verified_at_s is not None:
            ax.plot([s.verified_at_s], [y], marker="D", color="white", mec="black", ms=5, ls="none")
        right = end
    if s.deadline_s is not None:
        ax.plot([s.deadline_s] * 2, [y - 0.4, y + 0.4], color="black", lw=2.2, solid_capstyle="butt")
    x = max(v for v in (right, s.deadline_s, s.start_s, 0.0) if v is not None)
    ax.annotate(_verdict(s), (x, y), xytext=(5, 0), textcoords="offset points", va="center", fontsize=8,
                color="black" if s.met is not False else FAULT, fontweight="normal" if s.met is not False else "bold")


def gantt_figure(r: ResultDocument) -> Figure:
    pb = r.playbook
    assert pb is not None
    steps = pb.steps
    n = max(len(steps), 1)
    longest = max((len(s.name) + len(s.role) + 3 for s in steps), default=10)
    label_in = min(3.6, 0.3 + 0.072 * longest)
    height = 1.7 + ROW_IN * n
    fig = new_figure(11.0, height)
    ax = fig.add_axes((label_in / 11.0, 0.75 / height, 1 - (label_in + 1.6) / 11.0, 1 - 1.45 / height))
    run_end = pb.clock.run_end_s if pb.clock is not None else r.duration_s
    ends = [v for s in steps for v in (s.end_s, s.deadline_s) if v is not None]
    starts = [v for s in steps for v in (s.start_s,) if v is not None]
    phase_lines = [(d.deadline_s, d) for d in pb.deadlines]
    right = max([run_end, *ends, *(t for t, _ in phase_lines)]) * 1.02
    left = min([0.0, *starts, *([pb.incident.triggered_s] if pb.incident.triggered_s is not None else [])])
    left = left - 0.02 * (right - left) if left < 0 else 0.0
    for i, s in enumerate(steps):
        _draw_step(ax, s, n - 1 - i, run_end)
    ax.set_yticks([n - 1 - i for i in range(len(steps))], [f"{s.name} ({s.role})" if s.role else s.name
                                                          for s in steps])
    ax.set_ylim(-0.7 - (0.8 if phase_lines else 0.0), n - 0.3)
    ax.set_xlim(left, right)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(axis_label(pb))
    if pb.clock is not None and run_end < right:
        ax.axvspan(run_end, right, color=GREY, alpha=0.12, lw=0)
        ax.text(run_end, n - 0.35, " after the end of the run", fontsize=7.5, color=GREY, va="bottom")
    # Phase deadlines get a lane of their own under the steps; neighbours alternate height so labels never collide.
    for k, (t, d) in enumerate(sorted(phase_lines, key=lambda p: p[0])):
        colour = FAULT if d.met is False else GREY
        ax.axvline(t, color=colour, ls="--", lw=1.1)
        ax.text(t, -0.95 - 0.4 * (k % 2), f"{d.phase.value} ≤ {fmt_s(d.deadline_s)}", ha="center", va="center",
                fontsize=7.5, color=colour, bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"})
    marks = milestones(pb)
    for t, _ in marks:
        ax.axvline(t, color=BLUE, ls=":", lw=1.0)
    top = ax.secondary_xaxis("top")
    top.set_xticks([t for t, _ in marks], [label for _, label in marks], rotation=30, ha="left", fontsize=7.5)
    top.tick_params(length=3, colors=BLUE)
    title = f"Playbook '{pb.name}': steps against their deadlines"
    if pb.not_triggered:
        title += f" (NOT TRIGGERED: {pb.trigger_names()} never fired)"
    fig.text(0.01, 1 - 0.08 / height, title, fontsize=10, fontweight="bold", va="top")
    fig.legend(handles=_legend(steps), loc="lower center", ncols=7, frameon=False, fontsize=8,
               bbox_to_anchor=(0.5, 0.0))
    return fig


def _legend(steps: tuple[Step, ...]) -> list[Patch | Line2D]:
    seen = dict.fromkeys(s.status for s in steps)
    handles: list[Patch | Line2D] = [Patch(facecolor=STATUS[k][0], hatch=STATUS[k][1], edgecolor="#333333",
                                           label=k.label) for k in seen if k in STATUS]
    handles.append(Line2D([], [], color="black", lw=2.2, marker="|", ms=10, ls="none", mew=2.2,
                          label="step deadline"))
    handles.append(Line2D([], [], color=GREY, ls="--", label="phase deadline"))
    handles.append(Line2D([], [], color=BLUE, ls=":", label="incident milestone"))
    if any(s.verified_at_s is not None for s in steps):
        handles.append(Line2D([], [], marker="D", color="white", mec="black", ls="none", ms=5, label="verified"))
    return handles
