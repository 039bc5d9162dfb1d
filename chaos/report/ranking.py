"""Which services get a row of small multiples, and which are summarised in one panel.

Fifty rows of charts is a wall nobody reads, so the timelines show the services that
matter most: the faulted ones, those in the cascade (in order of breach), and those the
entrypoints call, up to a cap. Rows are then drawn in the topology's order, not the rank's,
so the same service sits in the same place in two reports of the same system.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chaos.document import ResultDocument

MAX_SERVICE_PANELS = 10
MAX_ENTRY_PANELS = 4
MIN_SERVICE_PANELS = 4  # a quiet run still shows its busiest services, not an empty page


@dataclass(frozen=True)
class Panels:
    entrypoints: tuple[str, ...]
    services: tuple[str, ...]
    rest: tuple[str, ...]          # services summarised in one panel
    rest_entrypoints: tuple[str, ...]


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def rank(r: ResultDocument) -> list[str]:
    """Services in order of interest: faulted, then the cascade, then those the entrypoints call."""
    known = r.services
    faulted = [f.target for f in r.faults if f.target in known]
    cascade = [b.service for b in r.blast.cascade if b.service in known]
    entry = [s for s in (r.graph.entrypoints.values() if r.graph else ()) if s in known]
    alerted = [a.scope.partition(":")[2] for a in r.alerts if a.scope and a.scope.startswith("service:")]
    return _unique(faulted + cascade + entry + [a for a in alerted if a in known])


def _busiest(r: ResultDocument, exclude: set[str]) -> list[str]:
    def key(name: str) -> tuple[float, float, int]:
        f = r.services[name]
        p99 = f.p99_ms if f.p99_ms is not None and math.isfinite(f.p99_ms) else 0.0
        return (-(f.error_ratio or 0.0), -p99, order[name])

    order = {name: i for i, name in enumerate(r.services)}
    return sorted((n for n in r.services if n not in exclude), key=key)


def choose(r: ResultDocument, max_services: int = MAX_SERVICE_PANELS, max_entry: int = MAX_ENTRY_PANELS) -> Panels:
    chosen = rank(r)[:max_services]
    if len(chosen) < MIN_SERVICE_PANELS:
        chosen += _busiest(r, set(chosen))[:MIN_SERVICE_PANELS - len(chosen)]
    keep = set(chosen)
    services = tuple(n for n in r.services if n in keep)
    rest = tuple(n for n in r.services if n not in keep)
    entries = tuple(r.entrypoints)
    return Panels(entries[:max_entry], services, rest, entries[max_entry:])
