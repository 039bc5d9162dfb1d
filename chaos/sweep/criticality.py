"""Which services (or edges) matter most: fault variants ranked by what their fault did to users.

The rank is by blast radius: first the share of entry requests that failed (or were
slower than the entrypoint's latency objective), then how many other services went
into breach; the name breaks exact ties so the order is stable. Time to detect and
time to recover are shown beside, not ranked on: a fault nobody notices because it
hurt nobody is not critical.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chaos.analysis.stats import Stat, stat
from chaos.sweep.grid import Variant
from chaos.sweep.summary import RunSummary


@dataclass(frozen=True)
class Criticality:
    """A single-fault variant's rank by blast radius, as sweep.json writes it (``chaos.sweep.document``)."""

    rank: int
    target: str
    fault: str
    entry_failed_ratio: Stat
    services_hurt: Stat
    hurt: tuple[str, ...]          # services hurt beyond noise in at least half of the seeds
    time_to_detect_s: Stat
    time_to_recover_s: Stat        # over the seeds that recovered
    not_measurable: int = 0        # seeds whose recovery the run ended too soon to show (chaos.recovery)


def usually_hurt(runs: Sequence[RunSummary]) -> tuple[str, ...]:
    """Services hurt in at least half of the runs, in the order they were first hurt.

    "Hurt" is measured beyond noise (``chaos.sweep.measures``: in breach for at least
    10 s and at least a quarter of an objective's error budget spent), so one second of
    chance breach in one seed does not put a service on the list."""
    counts: dict[str, int] = {}
    for run in runs:
        for name in run.services_hurt:
            counts[name] = counts.get(name, 0) + 1
    return tuple(n for n, c in counts.items() if 2 * c >= len(runs))


def _row(variant: Variant, runs: Sequence[RunSummary]) -> Criticality:
    fault = variant.faults[0].kind.value if variant.faults else ""
    return Criticality(0, variant.target or "", fault,
                       stat([r.entry_failed_ratio for r in runs]),
                       stat([float(len(r.services_hurt)) for r in runs]),
                       usually_hurt(runs),
                       stat([r.time_to_detect_s for r in runs]),
                       stat([r.time_to_recover_s for r in runs]), not_measurable(runs))


def not_measurable(runs: Sequence[RunSummary]) -> int:
    """Seeds whose recovery could not be measured: neither a time nor a failure to recover."""
    return sum(not r.recovery.measurable for r in runs)


def _key(row: Criticality) -> tuple[float, float, str]:
    return (-(row.entry_failed_ratio.mean or 0.0), -(row.services_hurt.mean or 0.0), row.target)


def rank(results: Mapping[Variant, Sequence[RunSummary]]) -> list[Criticality]:
    """Single-fault variants ranked, most critical first (other variants are left out)."""
    rows = sorted((_row(v, runs) for v, runs in results.items() if v.target is not None), key=_key)
    return [dataclasses.replace(r, rank=i + 1) for i, r in enumerate(rows)]


def tables(results: Mapping[Variant, Sequence[RunSummary]]) -> dict[str, list[Criticality]]:
    """One ranking per combination of --set values (usually just one), keyed by that combination."""
    groups: dict[str, dict[Variant, Sequence[RunSummary]]] = {}
    for variant, runs in results.items():
        if variant.target is None:
            continue
        key = " ".join(s.label for s in variant.settings)
        groups.setdefault(key, {})[variant] = runs
    return {key: rank(group) for key, group in groups.items()}
