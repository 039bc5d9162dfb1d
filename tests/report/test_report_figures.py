"""Figures that stay readable at 60 services, and a call-graph layout that depends on the graph alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import networkx as nx
from reportkit import Shape, make_doc

from chaos.document import read
from chaos.report.cascade import call_graph, columns, layout, ordered_nodes, total_crossings
from chaos.report.ranking import MAX_ENTRY_PANELS, MAX_SERVICE_PANELS, choose
from chaos.report.timeline import rest_figure, timeline_figure

MIN_PANEL_IN = (2.5, 0.7)  # width, height: room for three ticks and a readable line


def test_60_services_get_capped_small_multiples_and_one_summary_panel(big_doc: dict[str, Any]) -> None:
    r = read(big_doc)
    panels = choose(r)
    assert len(r.blast.cascade) > MAX_SERVICE_PANELS  # more services breached than may be shown
    assert len(panels.services) == MAX_SERVICE_PANELS
    assert len(panels.entrypoints) == min(len(r.entrypoints), MAX_ENTRY_PANELS)
    assert set(panels.services) | set(panels.rest) == set(r.services)
    assert not set(panels.services) & set(panels.rest)
    # The most important are shown: the faulted service and the first to breach.
    assert r.faults[0].target in panels.services
    assert [b.service for b in r.blast.cascade[:MAX_SERVICE_PANELS]] == \
        [s for s in (b.service for b in r.blast.cascade) if s in panels.services][:MAX_SERVICE_PANELS]
    fig = timeline_figure(r, panels)
    rows = len(panels.entrypoints) + len(panels.services)
    assert len(fig.axes) == 1 + 3 * rows  # the events strip, then three panels per row
    width, height = fig.get_size_inches()
    for ax in fig.axes[1:]:
        box = ax.get_position()
        assert box.width * width >= MIN_PANEL_IN[0] and box.height * height >= MIN_PANEL_IN[1]
    rest = rest_figure(r, panels.rest)
    assert rest is not None
    heat = rest.axes[0]
    assert [t.get_text() for t in heat.get_yticklabels()] == list(panels.rest)


def test_html_summarises_the_rest_and_tables_every_service(big_doc: dict[str, Any],
                                                           big_reports: dict[str, Path]) -> None:
    html = big_reports["html"].read_text()
    rest = len(big_doc["services"]) - MAX_SERVICE_PANELS
    assert f"The other {rest} services" in html
    assert f"the other {rest} are in the heatmap" in html
    for name in big_doc["services"]:
        assert f"<td>{name}</td>" in html


def test_every_call_points_right_and_a_tree_has_no_crossings() -> None:
    r = read(make_doc(Shape(services=40)))
    g, known = call_graph(r)
    assert known
    pos = layout(g, r).pos
    for u, v in g.edges:
        assert pos[v][0] > pos[u][0], (u, v)
    order = {n: i for i, n in enumerate(sorted(g.nodes))}
    col = columns(g, order)
    ordered = ordered_nodes(g, col, order)
    cols = [[n for n in ordered if col[n] == c] for c in range(max(col.values()) + 1)]
    assert nx.is_tree(g.to_undirected()) or nx.is_forest(g.to_undirected())
    assert total_crossings(g, cols) == 0


def test_a_service_sits_in_the_same_place_whatever_the_run() -> None:
    """Two runs of one topology with different cascades and seeds: identical positions."""
    a = read(make_doc(Shape(services=30, seed=1, fault_at=30.0)))
    b = read(make_doc(Shape(services=30, seed=2, fault_at=50.0, step_s=7.0)))
    assert layout(call_graph(a)[0], a).pos == layout(call_graph(b)[0], b).pos


def test_without_a_graph_only_marker_edges_are_drawn(failing_doc: dict[str, Any]) -> None:
    doc = dict(failing_doc)
    del doc["graph"]
    g, known = call_graph(read(doc))
    assert not known
    assert {(u[1], v[1]) for u, v in g.edges} == {("svc-000", "svc-001")}  # from the breaker markers
    assert {n[1] for n in g.nodes} == set(doc["services"])
