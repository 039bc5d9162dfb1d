"""Prometheus text exposition (format 0.0.4), written by hand: what both container servers answer at ``/metrics``.

The container side imports only the standard library and ``chaos.core`` (its image is a bare
Python with these sources copied in), so there is no client library here; the format is
simple text (https://prometheus.io/docs/instrumenting/exposition_formats/)::

    # HELP http_server_request_duration_seconds Duration of HTTP server requests.
    # TYPE http_server_request_duration_seconds histogram
    http_server_request_duration_seconds_bucket{http_response_status_code="200",le="0.1"} 7
    ...
    http_server_request_duration_seconds_bucket{http_response_status_code="200",le="+Inf"} 9
    http_server_request_duration_seconds_sum{http_response_status_code="200"} 0.8125
    http_server_request_duration_seconds_count{http_response_status_code="200"} 9

A :class:`Family` is one ``# HELP``/``# TYPE`` block; its samples are added label set by label
set. A histogram's buckets are given per bucket (bucket k holds latencies in
``(bounds[k-1], bounds[k]]``, the last one those above every bound, as ``chaos.core.latency``
counts them) and written cumulatively, as ``le`` means "at or below".
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Iterable, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = Sequence[tuple[str, str]]


class Kind(enum.Enum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


def number(value: float) -> str:
    """A sample value as Prometheus reads it: integers without a fraction, ``+Inf``, ``NaN``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def label_text(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels) + "}"


class Family:
    """One metric family: a name (a counter's ends in ``_total``), its type, its help text, its samples."""

    def __init__(self, name: str, kind: Kind, help_text: str) -> None:
        if kind is Kind.COUNTER and not name.endswith("_total"):
            raise ValueError(f"counter {name} must end in _total")
        self.name = name
        self.kind = kind
        self.help = help_text
        self.lines: list[str] = []

    def sample(self, labels: Labels, value: float) -> Family:
        """A counter's or a gauge's value for one label set."""
        if self.kind is Kind.HISTOGRAM:
            raise ValueError(f"{self.name} is a histogram: use histogram()")
        self.lines.append(f"{self.name}{label_text(labels)} {number(value)}")
        return self

    def histogram(self, labels: Labels, bounds: Sequence[float], counts: Sequence[int], total: float) -> Family:
        """One label set of a histogram: ``counts[k]`` per bucket (``len(bounds) + 1`` of them), ``total`` the sum."""
        if self.kind is not Kind.HISTOGRAM:
            raise ValueError(f"{self.name} is a {self.kind.value}, not a histogram")
        if len(counts) != len(bounds) + 1:
            raise ValueError(f"{self.name}: {len(counts)} bucket counts for {len(bounds)} bounds")
        # A scrape every second renders a hundred buckets per label set on the emulator's event loop:
        # the label text is built once per label set and the le texts once per bounds.
        inner = label_text(labels)[1:-1]
        prefix = f"{self.name}_bucket{{{inner},le=" if inner else f"{self.name}_bucket{{le="
        running = 0
        lines = self.lines
        for le, count in zip(_le_texts(tuple(bounds)), counts, strict=True):
            running += count
            lines.append(f'{prefix}"{le}"}} {running}')
        lines.append(f"{self.name}_sum{label_text(labels)} {number(total)}")
        lines.append(f"{self.name}_count{label_text(labels)} {running}")
        return self

    def text(self) -> str:
        help_text = self.help.replace("\\", "\\\\").replace("\n", "\\n")  # HELP escapes these two only
        head = f"# HELP {self.name} {help_text}\n# TYPE {self.name} {self.kind.value}\n"
        return head + "".join(line + "\n" for line in self.lines)


@functools.lru_cache(maxsize=16)
def _le_texts(bounds: tuple[float, ...]) -> tuple[str, ...]:
    return (*(repr(float(b)) for b in bounds), "+Inf")


def render(families: Iterable[Family]) -> bytes:
    """The exposition of ``families``, in order; a family with no samples is left out."""
    return "".join(f.text() for f in families if f.lines).encode()
