"""Every figure a report shows, rendered once, in the order the page shows them."""

from __future__ import annotations

from chaos.document import ResultDocument
from chaos.model.quantities import plural
from chaos.report.cascade import cascade_figure
from chaos.report.cdf import cdf_figure
from chaos.report.gantt import gantt_figure
from chaos.report.plots import Image, render, styled
from chaos.report.ranking import Panels
from chaos.report.timeline import rest_figure, timeline_figure


def figures(r: ResultDocument, panels: Panels) -> dict[str, Image]:
    """Images by name: timeline, cascade, others (services without a row), playbook, drill."""
    out: dict[str, Image] = {}
    shown = len(panels.entrypoints) + len(panels.services)
    with styled():
        out["timeline"] = render(timeline_figure(r, panels), "timeline",
                                 "Timelines of error ratio, p99 latency and queue length for "
                                 f"{plural(shown, 'entrypoint or service', 'entrypoints and services')}, "
                                 "with fault windows, alert firings and events marked")
        out["cascade"] = render(cascade_figure(r), "cascade",
                                "The call graph, each service coloured by when it first breached its SLO, the "
                                "faulted service ringed, edges labelled with attempts per entry request")
        rest = rest_figure(r, panels.rest)
        if rest is not None:
            out["others"] = render(rest, "others", f"Heatmap of the error ratio per second of the other "
                                                   f"{plural(len(panels.rest), 'service')}")
        if r.playbook is not None and r.playbook.steps:
            out["playbook"] = render(gantt_figure(r), "playbook",
                                     f"Gantt chart of the steps of playbook {r.playbook.name} against their deadlines")
        if r.drill is not None and r.drill.phases:
            out["drill"] = render(cdf_figure(r), "drill",
                                  "Cumulative distributions of phase times over "
                                  f"{plural(r.drill.runs, 'drill run')}, with deadlines and required shares")
    return out
