"""The cascade drawn on the call graph: where the fault was, who breached when, how load multiplied.

Calls flow left to right: each service sits one column right of its furthest caller, so
every edge points rightwards (a cycle's members share a column). Within a column, services
are ordered by where their callers are, which keeps crossings few; the layout depends on the
graph alone, so two reports of the same topology place every service in the same spot.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib
import networkx as nx
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from chaos.document import ResultDocument
from chaos.report.plots import FAULT, GREY, new_figure
from chaos.report.summary import fmt_s

EDGE = "#A0A0A0"
UNMEASURED = "#D9D9D9"  # a service nothing measured: not white (unhurt), not coloured (breached)
BREACH_CMAP = "viridis"  # dark = early, light = late; readable with deficient colour vision
LABEL_ALL_UP_TO = 30      # above this many services only the cascade, faulted and entry services get labels
SWEEPS = 4
RELAX_ROUNDS = 30
GRID_ROWS = 6     # services per column when the call graph is unknown
RING = 1.9  # the faulted service's ring, as a multiple of a node's area
BEND = "bend"
Node = tuple[str, str]    # ("service" | "entrypoint", name)


def call_graph(r: ResultDocument) -> tuple[nx.DiGraph, bool]:
    """The call graph with entrypoints as nodes; False when result.json carried no graph and the
    edges are only those seen in breaker markers."""
    g = nx.DiGraph()
    known = r.graph is not None
    entries = r.graph.entrypoints if r.graph is not None else {}
    for name, target in entries.items():
        g.add_edge(("entrypoint", name), ("service", target))
    edges = r.graph.edges if r.graph is not None else _marker_edges(r)
    for caller, callee in edges:
        g.add_edge(("service", caller), ("service", callee))
    g.add_nodes_from(("service", s) for s in r.services)
    return g, known


def _marker_edges(r: ResultDocument) -> list[tuple[str, str]]:
    pairs = [m.subject.split("->", 1) for m in r.markers if "->" in m.subject]
    return sorted({(a.strip(), b.strip()) for a, b in pairs if a.strip() in r.services and b.strip() in r.services})


def columns(g: nx.DiGraph, order: Mapping[Node, int]) -> dict[Node, int]:
    """Longest-path layering on the graph of strongly connected components."""
    dag = nx.condensation(g)
    # Services nobody calls start at column 1, beside the entrypoints, not among them.
    first_service = 1 if any(n[0] == "entrypoint" for n in g) else 0
    layer: dict[int, int] = {}
    for comp in nx.topological_sort(dag):
        preds = list(dag.predecessors(comp))
        entry = any(n[0] == "entrypoint" for n in dag.nodes[comp]["members"])
        layer[comp] = 1 + max(layer[p] for p in preds) if preds else (0 if entry else first_service)
    members = dag.graph["mapping"]
    return {n: layer[members[n]] for n in sorted(g.nodes, key=order.__getitem__)}


def ordered_nodes(g: nx.DiGraph, col: Mapping[Node, int], order: Mapping[Node, int]) -> list[Node]:
    """Nodes column by column. Each column is sorted by the mean height of its callers, then of its
    callees (the barycentre heuristic), then neighbours are swapped while that removes crossings;
    the ordering with the fewest crossings wins. Same graph, same order: no randomness anywhere."""
    cols = [sorted((n for n in col if col[n] == c), key=order.__getitem__) for c in range(max(col.values()) + 1)]
    y = {n: _centred(i, len(column)) for column in cols for i, n in enumerate(column)}
    best = ([list(c) for c in cols], total_crossings(g, cols))
    for _ in range(SWEEPS):
        for column in cols[1:]:
            _sort_column(column, y, g.predecessors, order)
        for column in reversed(cols[:-1]):
            _sort_column(column, y, g.successors, order)
        _transpose(g, cols)
        y = {n: _centred(i, len(column)) for column in cols for i, n in enumerate(column)}
        score = total_crossings(g, cols)
        if score < best[1]:
            best = ([list(c) for c in cols], score)
    return [n for column in best[0] for n in column]


def crossings(g: nx.DiGraph, left: Sequence[Node], right: Sequence[Node]) -> int:
    """Edge crossings between two adjacent columns."""
    at = {n: i for i, n in enumerate(right)}
    edges = [(i, at[v]) for i, u in enumerate(left) for v in g.successors(u) if v in at]
    return sum(1 for (a, b), (c, d) in itertools.combinations(edges, 2) if (a - c) * (b - d) < 0)


def total_crossings(g: nx.DiGraph, cols: Sequence[Sequence[Node]]) -> int:
    return sum(crossings(g, a, b) for a, b in itertools.pairwise(cols))


def _transpose(g: nx.DiGraph, cols: list[list[Node]]) -> None:
    """Swap neighbours in a column while the swap lowers the crossings with the columns either side."""
    for _ in range(len(cols) * 4):
        improved = False
        for c, column in enumerate(cols):
            for j in range(len(column) - 1):
                before = _local(g, cols, c)
                column[j], column[j + 1] = column[j + 1], column[j]
                if _local(g, cols, c) < before:
                    improved = True
                else:
                    column[j], column[j + 1] = column[j + 1], column[j]
        if not improved:
            return


def _local(g: nx.DiGraph, cols: Sequence[Sequence[Node]], c: int) -> int:
    left = crossings(g, cols[c - 1], cols[c]) if c > 0 else 0
    right = crossings(g, cols[c], cols[c + 1]) if c + 1 < len(cols) else 0
    return left + right


def _centred(i: int, n: int) -> float:
    return i - (n - 1) / 2


def _sort_column(column: list[Node], y: dict[Node, float], neighbours: Callable[[Node], Iterable[Node]],
                 order: Mapping[Node, int]) -> None:
    def key(n: Node) -> tuple[float, int]:
        ys = [y[m] for m in neighbours(n) if m != n]
        return (statistics.fmean(ys) if ys else y[n], order[n])

    column.sort(key=key)
    for i, n in enumerate(column):
        y[n] = _centred(i, len(column))


@dataclass(frozen=True)
class Layout:
    """Positions of the services, entrypoints and the bend points of long edges, and each edge's route."""

    pos: Mapping[Node, tuple[float, float]]
    routes: Mapping[tuple[Node, Node], tuple[Node, ...]]


def routed(g: nx.DiGraph, col: dict[Node, int]) -> tuple[nx.DiGraph, dict[tuple[Node, Node], tuple[Node, ...]]]:
    """An edge spanning several columns gets a bend point in each column between (Sugiyama's dummy
    nodes): the ordering then keeps a lane free for it, and it is drawn through that lane."""
    aug = nx.DiGraph()
    aug.add_nodes_from(g)
    routes: dict[tuple[Node, Node], tuple[Node, ...]] = {}
    for u, v in g.edges:
        span = col[v] - col[u]
        bends = [(BEND, f"{u[0]}:{u[1]}>{v[1]}#{k}") for k in range(1, span)]
        for k, b in enumerate(bends, start=1):
            col[b] = col[u] + k
        chain = (u, *bends, v)
        nx.add_path(aug, chain)
        routes[(u, v)] = chain
    return aug, routes


def heights(g: nx.DiGraph, cols: Sequence[Sequence[Node]]) -> dict[Node, float]:
    """Heights that keep each column's order and one unit between nodes, pulled toward the mean
    height of each node's neighbours, so chains of calls (and long edges' bend points) line up."""
    y = {n: _centred(i, len(column)) for column in cols for i, n in enumerate(column)}
    for _ in range(RELAX_ROUNDS):
        for column in cols:
            wanted = [statistics.fmean([y[m] for m in nx.all_neighbors(g, n)] or [y[n]]) for n in column]
            y.update(zip(column, _spread(wanted), strict=True))
    return y


def _spread(wanted: Sequence[float]) -> list[float]:
    """The heights nearest ``wanted`` (least squares) that keep their order and are >= 1 apart."""
    # Pool adjacent violators on wanted[i] - i: the isotonic fit keeps the order, then add i back.
    blocks: list[list[float]] = []  # [mean, count]
    for i, w in enumerate(wanted):
        blocks.append([w - i, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, c2 = blocks.pop()
            m1, c1 = blocks.pop()
            blocks.append([(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2])
    fitted = [m for m, c in blocks for _ in range(int(c))]
    return [f + i for i, f in enumerate(fitted)]


def grid_layout(g: nx.DiGraph, r: ResultDocument) -> Layout:
    """Without the call graph there is no flow to follow: services in topology order, in short columns."""
    names = [("service", s) for s in r.services] + sorted(n for n in g if n[0] != "service")
    pos = {n: (float(i // GRID_ROWS), -float(i % GRID_ROWS)) for i, n in enumerate(names)}
    return Layout(pos, {(u, v): (u, v) for u, v in g.edges})


def layout(g: nx.DiGraph, r: ResultDocument) -> Layout:
    order = {n: i for i, n in enumerate([("entrypoint", e) for e in r.entrypoints] +
                                        [("service", s) for s in r.services])}
    order.update({n: len(order) + i for i, n in enumerate(sorted(set(g.nodes) - set(order)))})
    col = columns(g, order)
    aug, routes = routed(g, col)
    order.update({n: len(order) + i for i, n in enumerate(sorted(set(aug.nodes) - set(order)))})
    ordered = ordered_nodes(aug, col, order)
    cols = [[n for n in ordered if col[n] == c] for c in range(max(col.values()) + 1)]
    y = heights(aug, cols)
    return Layout({n: (float(col[n]), -y[n]) for n in ordered}, routes)


def _breach_delays(r: ResultDocument) -> dict[str, float]:
    start = r.first_fault_s or 0.0
    return {b.service: max(0.0, b.first_breach_s - start) for b in r.blast.cascade if b.first_breach_s is not None}


def _faulted(r: ResultDocument, g: nx.DiGraph) -> set[Node]:
    out: set[Node] = set()
    for f in r.faults:
        if ("service", f.target) in g:
            out.add(("service", f.target))
        elif f.target == "*" or ("entrypoint", f.target) in g:
            out |= {n for n in g if n[0] == "entrypoint" and (f.target == "*" or n[1] == f.target)}
    return out


def _amplification(r: ResultDocument, callee: Node) -> str | None:
    amp = _amp(r, callee)
    return None if amp is None else f"×{amp:.2f}"


def cascade_figure(r: ResultDocument) -> Figure:
    g, known = call_graph(r)
    lay = layout(g, r) if known else grid_layout(g, r)
    pos = lay.pos
    n_cols = len({round(x, 6) for x, _ in pos.values()})
    tallest = max((sum(1 for p in pos.values() if abs(p[0] - x) < 1e-9) for x, _ in pos.values()), default=1)
    big = len(r.services) > LABEL_ALL_UP_TO
    fig = new_figure(11.0, min(16.0, max(4.2, (0.42 if big else 0.75) * tallest + 1.8)))
    ax = fig.add_axes((0.02, 0.1, 0.86, 0.8))
    ax.set_axis_off()
    delays = _breach_delays(r)
    rank = {b.service: i + 1 for i, b in enumerate(r.blast.cascade)}
    faulted = _faulted(r, g)
    cmap = matplotlib.colormaps[BREACH_CMAP]
    vmax = max(delays.values(), default=1.0) or 1.0
    size = 260 if big else 1000
    highlighted = {n for n in g if n[0] == "entrypoint" or n[1] in delays or n in faulted}
    _draw_edges(ax, lay, r, highlighted, big, size)
    blind = set(r.blast.unmeasured)
    services = [n for n in g if n[0] == "service" and n[1] not in blind]
    colours = [cmap(delays[n[1]] / vmax) if n[1] in delays else "white" for n in services]
    nx.draw_networkx_nodes(g, pos, nodelist=services, node_color=colours, edgecolors=GREY, linewidths=1.0,
                           node_size=size, ax=ax).set_zorder(3)
    unmeasured = [n for n in g if n[0] == "service" and n[1] in blind]
    if unmeasured:  # grey and dashed: neither breached nor unhurt, but unknown
        nx.draw_networkx_nodes(g, pos, nodelist=unmeasured, node_color=UNMEASURED, edgecolors=GREY, linewidths=1.2,
                               node_size=size, ax=ax).set_linestyle("--")
    entries = [n for n in g if n[0] == "entrypoint"]
    nx.draw_networkx_nodes(g, pos, nodelist=entries, node_color="#EEEEEE", edgecolors=GREY, node_shape="s",
                           node_size=size * 0.8, ax=ax).set_zorder(3)
    if faulted:
        nx.draw_networkx_nodes(g, pos, nodelist=sorted(faulted), node_color="none", edgecolors=FAULT,
                               linewidths=3.2, node_size=size * RING, node_shape="o", ax=ax).set_zorder(3)
    _draw_labels(ax, g, pos, r, rank, delays, highlighted, big, cmap, vmax, size, faulted)
    sm = matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0, vmax), cmap=cmap)
    bar = fig.colorbar(sm, cax=fig.add_axes((0.9, 0.18, 0.015, 0.64)))
    bar.set_label("first breach (s after the fault started)")
    ax.legend(handles=_legend(faulted, bool(unmeasured)), loc="upper left", bbox_to_anchor=(0.0, -0.02), ncols=4,
              frameon=False, fontsize=8)
    title = ("Cascade on the call graph: calls flow left to right; number = order of breach; "
             "edge label = attempts per entry request at the callee")
    if not known:
        title += "\n(result.json has no 'graph': only edges seen in breaker markers are drawn)"
    fig.suptitle(title, x=0.01, ha="left", fontsize=9.5, fontweight="bold")
    ax.margins(x=0.06, y=(0.04 if big else 0.12) if n_cols > 1 else 0.3)
    return fig


def _draw_edges(ax: matplotlib.axes.Axes, lay: Layout, r: ResultDocument, highlighted: set[Node],
                big: bool, size: float) -> None:
    """Each edge as a line through its bend points, with an arrow head on the last stretch and the
    callee's amplification on the first (near the caller: labels at a busy callee would pile up)."""
    pos = lay.pos
    box = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85}
    for (_, v), chain in sorted(lay.routes.items()):
        width = 0.8 + 1.6 * math.log1p(_amp(r, v) or 0.0)
        if len(chain) > 2:
            xs, ys = zip(*(pos[n] for n in chain[:-1]), strict=True)
            ax.plot(xs, ys, color=EDGE, lw=width, zorder=1, solid_capstyle="round")
        last = nx.DiGraph([(chain[-2], v)])
        sizes = [0 if n[0] == BEND else size for n in last.nodes]
        nx.draw_networkx_edges(last, pos, edgelist=[(chain[-2], v)], width=width, edge_color=EDGE, arrows=True,
                               arrowsize=10, nodelist=list(last.nodes), node_size=sizes, ax=ax)
        text = _amplification(r, v)
        if text and (not big or v in highlighted):
            (x0, y0), (x1, y1) = pos[chain[0]], pos[chain[1]]
            ax.text(x0 + (x1 - x0) * 0.5, y0 + (y1 - y0) * 0.5, text, fontsize=7.5 if not big else 6, ha="center",
                    va="center", bbox=box, zorder=4)


def _amp(r: ResultDocument, node: Node) -> float | None:
    fig = r.services.get(node[1]) if node[0] == "service" else None
    return None if fig is None else fig.attempts_per_entry_request


def _draw_labels(ax: matplotlib.axes.Axes, g: nx.DiGraph, pos: Mapping[Node, tuple[float, float]], r: ResultDocument,
                 rank: Mapping[str, int], delays: Mapping[str, float], highlighted: set[Node], big: bool,
                 cmap: matplotlib.colors.Colormap, vmax: float, size: float, faulted: set[Node]) -> None:
    below = math.sqrt(size) / 2 + 2  # node radius in points, and a little air
    ringed = math.sqrt(size * RING) / 2 + 3
    box = {"boxstyle": "round,pad=0.12", "fc": "white", "ec": "none", "alpha": 0.9}
    for n in g:
        x, y = pos[n]
        if n[1] in rank and n[0] == "service":
            light = sum(cmap(delays[n[1]] / vmax)[:3]) / 3 > 0.55
            ax.text(x, y, str(rank[n[1]]), ha="center", va="center", fontsize=8 if not big else 6,
                    fontweight="bold", color="black" if light else "white")
        if big and n not in highlighted:
            continue
        label = n[1] if n[0] == "service" else f"{n[1]} (entry)"
        if n[0] == "service" and n[1] in r.blast.unmeasured:
            label += " (unmeasured)"
        if n[0] == "service" and n[1] in delays:
            label += f" +{fmt_s(delays[n[1]])}"
        ax.annotate(label, (x, y), xytext=(0, -(ringed if n in faulted else below)), textcoords="offset points",
                    ha="center", va="top", fontsize=8 if not big else 6.5, bbox=box, zorder=5)


def _legend(faulted: set[Node], unmeasured: bool = False) -> list[Line2D]:
    handles = [Line2D([], [], marker="o", ls="none", mfc="white", mec=GREY, ms=9, label="did not breach"),
               Line2D([], [], marker="s", ls="none", mfc="#EEEEEE", mec=GREY, ms=8, label="entrypoint")]
    if unmeasured:
        handles.append(Line2D([], [], marker="o", ls="none", mfc=UNMEASURED, mec=GREY, ms=9,
                              label="unmeasured: health unknown"))
    if faulted:
        handles.insert(0, Line2D([], [], marker="o", ls="none", mfc="none", mec=FAULT, mew=2.5, ms=12,
                                 label="fault injected here"))
    return handles
