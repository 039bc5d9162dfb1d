"""A run's series as OpenMetrics text, for ``promtool tsdb create-blocks-from openmetrics``.

What the file holds: every series the metric mapping exposes (:mod:`chaos.metrics.exposition`),
scraped every ``scrape_interval`` from the run's start, with timestamps in seconds since the
Unix epoch: the run's second 0 is ``origin``. The layout is what OpenMetrics asks for and
promtool's backfill reads: each metric family once, as one block opened by its ``# TYPE``
(a counter's family name without ``_total``, its samples with it), ``# UNIT`` and ``# HELP``;
within a family each label set's points in time order, a histogram point's ``_bucket`` lines
(``le`` ascending, ``+Inf`` last), ``_count`` and ``_sum`` together; ``# EOF`` at the end.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TextIO

from chaos.metrics.exposition import Collector, SampleName, sample_names, scrape_run
from chaos.metrics.mapping import Family, Kind, MetricMapping
from chaos.model.scope import Scope
from chaos.run import Series


def family_name(family: Family) -> str:
    """The MetricFamily's name: a counter's without its ``_total`` suffix (its samples keep it)."""
    if family.kind is Kind.COUNTER and family.name.endswith("_total"):
        return family.name[: -len("_total")]
    return family.name


def write(series: Mapping[Scope, Series], seconds: int, bounds: tuple[float, ...], mapping: MetricMapping,
          origin: float, out: TextIO) -> int:
    """Write the run's series as OpenMetrics text; the number of samples written."""
    collected = scrape_run(series, seconds, bounds, mapping)
    le = mapping.le_bounds(bounds)
    written = 0
    current: str | None = None
    for item in mapping.exposed:
        name = family_name(item.family)
        if name != current:
            out.write("".join(_header(item.family, name)))
            current = name
        for line in _points(sample_names(item, le, mapping.convention.format_le), collected, origin):
            out.write(line)
            written += 1
    out.write("# EOF\n")
    return written


def _header(family: Family, name: str) -> Iterator[str]:
    yield f"# TYPE {name} {family.kind.value}\n"
    if family.unit:
        yield f"# UNIT {name} {family.unit}\n"
    if family.help:
        yield f"# HELP {name} {_escape_help(family.help)}\n"


def _points(names: list[SampleName], collected: Collector, origin: float) -> Iterator[str]:
    """One label set's points in time order; a histogram point's lines together."""
    rows = []
    for name in names:
        row = collected.points.get(name.labels)
        if row is None:
            return  # a label set created on first use that never counted anything
        rows.append(row)
    texts = [_series_text(n.labels) for n in names]
    for i, t in enumerate(rows[0].times):
        stamp = _timestamp(origin, t)
        for text, row in zip(texts, rows, strict=True):
            yield f"{text} {_value(row.values[i])} {stamp}\n"


def _series_text(labels: tuple[tuple[str, str], ...]) -> str:
    name = next(v for k, v in labels if k == "__name__")
    inner = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels if k != "__name__")
    return f"{name}{{{inner}}}" if inner else name


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _value(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _timestamp(origin: float, t_ms: int) -> str:
    """Seconds since the epoch, to the millisecond (OpenMetrics timestamps are seconds)."""
    ms = int(round(origin * 1000)) + t_ms
    whole, frac = divmod(ms, 1000)
    return str(whole) if frac == 0 else f"{whole}.{frac:03d}"
