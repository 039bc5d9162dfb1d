"""The playbook in the report: its chart on the incident's clock, the timeline's steps on the run's."""

from __future__ import annotations

from typing import Any

from reportkit import with_playbook

from chaos.document import read
from chaos.report.gantt import gantt_figure
from chaos.report.timeline import event_rows


def early(doc: dict[str, Any]) -> dict[str, Any]:
    """The hand-made playbook, paged 5 s before the fault by a trigger that fired then."""
    out = with_playbook(doc)
    out["playbook"]["incident"].update(triggered_s=-5.0, trigger_before_start=True, time_to_detect_s=0.0)
    out["playbook"]["steps"][0]["start_s"] = -5.0
    return out


def test_the_gantt_chart_is_on_the_incident_clock(failing_doc: dict[str, Any]) -> None:
    r = read(early(failing_doc))   # the fault at 40 s of a 120 s run: the run ends at 80 s on this clock
    ax = gantt_figure(r).axes[0]
    assert ax.get_xlabel() == "seconds from the incident start (the first fault, at 40 s of the run)"
    lo, hi = ax.get_xlim()
    assert lo < -5.0            # the step that began before the fault is drawn where it began
    assert hi >= 200.0          # and the deadline after the end of the run is on the chart
    bars = {(round(p.get_x(), 6), round(p.get_width(), 6)) for p in ax.patches}
    assert (-5.0, 35.0) in bars and (30.0, 40.0) in bars          # the steps, from -5 to 30 and from 30 to 70
    shaded = [p for p in ax.patches if p.get_alpha() is not None and p.get_alpha() < 0.5]
    assert [round(p.get_x(), 6) for p in shaded] == [80.0]         # what lies after the end of the run
    phase_lines = {round(float(line.get_xdata()[0]), 6) for line in ax.get_lines() if line.get_linestyle() == "--"}
    assert phase_lines == {30.0, 60.0, 300.0}                      # phase deadlines at their own values
    (top,) = ax.child_axes   # the milestones, along the top
    marks = [t.get_text() for t in top.get_xticklabels()]
    assert marks[:2] == ["triggered", "incident start, detected"]


def test_the_timeline_draws_the_steps_on_the_run_clock(failing_doc: dict[str, Any]) -> None:
    rows = event_rows(read(early(failing_doc)))
    (steps,) = [row for row in rows if row.label == "playbook leaf-runbook steps"]
    assert steps.spans == ((35.0, 70.0), (70.0, 110.0))   # 40 s added to the incident's times
