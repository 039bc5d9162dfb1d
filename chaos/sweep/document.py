"""The sweep's summary document (``sweep.json``): frozen, typed values written and read by the one codec.

:func:`chaos.sweep.report.summary_document` builds a :class:`SweepDocument` from a sweep's results;
:func:`chaos.codec.encode` writes it, :func:`chaos.codec.build` reads it back checked, and
``chaoslab schema sweep`` prints the JSON Schema generated from these types. Every figure over seeds is
a :class:`chaos.analysis.stats.Stat` (mean, 95% half-width, known of count), written with a mean that
is not a finite number as null.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from chaos.analysis.stats import Stat
from chaos.codec import OMIT_NONE
from chaos.sweep.criticality import Criticality


@dataclass(frozen=True, kw_only=True)
class AxisValues:
    """One axis of the sweep: the fault axis (``fault``) or a ``--set`` path, and its values in order."""

    name: str
    values: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class VariantFigures:
    """A variant's figures over its seeds; ``coordinates`` its value on each axis, ``target`` the one
    faulted target of a fault variant (None otherwise)."""

    key: str
    label: str
    coordinates: Mapping[str, str]
    target: str | None
    duration_s: float
    runs: int
    slo_met: int
    recovered: int
    not_measurable: int            # seeds whose recovery the run ended too soon to show (chaos.recovery)
    entry_failed_ratio: Stat
    services_hurt: Stat
    hurt: tuple[str, ...]
    time_to_detect_s: Stat
    time_to_recover_s: Stat
    budget_burned: Mapping[str, Stat]


@dataclass(frozen=True, kw_only=True)
class RunCounts:
    """How many runs the sweep had, simulated now or reused from an earlier sweep, and what they cost:
    ``worker_s`` and ``worker_cpu_s`` summed over the workers, ``wall_s`` the whole sweep's wall time and
    ``variants_per_minute`` its pace (absent when nothing was simulated, or from a sweep not timed)."""

    total: int
    simulated: int
    reused: int
    worker_s: float
    worker_cpu_s: float
    wall_s: float | None = field(default=None, metadata=OMIT_NONE("wall_s"))
    variants_per_minute: float | None = field(default=None, metadata=OMIT_NONE("variants_per_minute"))


@dataclass(frozen=True, kw_only=True)
class SweepDocument:
    """A sweep: every variant over the same seeds, the criticality rankings (one per combination of
    ``--set`` values, keyed by it) and the heatmap's file name (None when none was drawn)."""

    experiment: str
    topology: str
    seeds: tuple[int, ...]
    executor: str
    axes: tuple[AxisValues, ...]
    variants: tuple[VariantFigures, ...]
    criticality: Mapping[str, tuple[Criticality, ...]]
    heatmap: str | None
    runs: RunCounts
