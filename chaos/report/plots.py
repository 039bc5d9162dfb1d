"""What every figure shares: the palette, the look, and PNG bytes that are the same for the same input.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, never through
pyplot: no display, no global figure registry, nothing left open between reports.
The palette is Okabe and Ito's, distinguishable with the common colour-vision deficiencies;
every colour that carries meaning also has a marker, a hatch or a label, never colour alone.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100

# Okabe & Ito (2008), "Color Universal Design".
BLACK = "#000000"
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
REDDISH_PURPLE = "#CC79A7"
GREY = "#8C8C8C"

FAULT = VERMILLION      # fault windows, failures
ALERT = ORANGE          # alert firings
OK = BLUISH_GREEN       # met, done
INFO = SKY_BLUE         # breakers, neutral events

STYLE: dict[str, Any] = {
    "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 8.5, "xtick.labelsize": 8, "ytick.labelsize": 8,
    "legend.fontsize": 8, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.color": "#E3E3E3", "grid.linewidth": 0.6, "axes.axisbelow": True, "figure.dpi": DPI,
    "savefig.dpi": DPI, "svg.hashsalt": "chaoslab", "path.simplify": True,
}


@dataclass(frozen=True)
class Image:
    """A rendered figure: its file name stem, PNG bytes and the text a screen reader says."""

    name: str
    png: bytes
    alt: str
    width: int
    height: int


@contextmanager
def styled() -> Iterator[None]:
    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]
        yield


def new_figure(width_in: float, height_in: float) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout=None)
    FigureCanvasAgg(fig)
    return fig


def render(fig: Figure, name: str, alt: str) -> Image:
    """PNG bytes without the 'Software' stamp, so the same figure gives the same bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    width, height = (int(round(v)) for v in fig.get_size_inches() * DPI)
    return Image(name, buf.getvalue(), alt, width, height)

