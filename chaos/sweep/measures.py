"""Figures sweeps and release gates compare, computed from a run and its analysis.

Time to recover
    The first second at or after the end of the last fault from which every *stated*
    SLO objective stays out of breach to the end of the run, minus the moment the last
    fault ended. A scope is in breach at a second when its objective fails over the
    trailing ``window`` ending there (``chaos.analysis.slos``), so the figure includes
    up to one window of lag: it is the time until the SLOs would say "healthy" again.
    It is 0 when nothing is in breach after the faults end. It is unknown (None) when a
    fault lasts to the end of the run, when the experiment states no SLO, or when some
    objective is still in breach in the run's last second: the system did not recover.

Error budget burned
    For each stated objective, the bad events over the measured window divided by the
    events the objective allows (target x total): 1.0 spends exactly the budget, above
    1.0 the SLO is missed (None when the target allows no bad event and one happened).

Services hurt
    Services in breach during the run (cascade order), except the one the fault
    landed on: the target of a service fault, the callee of an edge fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chaos.analysis import Analysis
from chaos.analysis.slos import ObjectiveResult
from chaos.model.scope import split_edge
from chaos.run import Run


@dataclass(frozen=True)
class Recovery:
    """When the last fault ended and how long the SLOs took to be met again after it."""

    faults_end_s: float | None      # None: no fault, or one that never ended
    time_to_recover_s: float | None
    recovered: bool


def faults_end(run: Run) -> float | None:
    ends = [f.end_s for f in run.faults]
    if not ends or any(e is None for e in ends):
        return None
    return max(e for e in ends if e is not None)


def time_to_recover(run: Run, results: list[ObjectiveResult]) -> Recovery:
    stated = [r for r in results if not r.implied]
    end = faults_end(run)
    if end is None or not stated:
        return Recovery(end, None, False)
    last_second = run.seconds - 1
    last_breach = max((s for r in stated for s in r.breach_seconds), default=None)
    start = math.ceil(end - 1e-9)
    if last_breach is None or last_breach < start:
        return Recovery(end, 0.0, True)
    if last_breach >= last_second:
        return Recovery(end, None, False)
    return Recovery(end, float(last_breach + 1) - end, True)


def budget_burned(result: ObjectiveResult) -> float | None:
    """Share of the objective's error budget spent over the measured window (1.0: all of it).

    None when the objective allows no bad event at all and some happened: no finite share.
    """
    allowed = result.objective.target * result.total
    if allowed > 0:
        return result.bad / allowed
    return 0.0 if result.bad == 0 else None


def landed_on(run: Run) -> set[str]:
    """Services a run's faults landed on: targets of service faults, callees of edge faults."""
    out = set()
    services = run.experiment.topology.service_map
    for fault in run.faults:
        edge = split_edge(fault.target)
        if edge is not None:
            out.add(edge[1])
        elif fault.target in services:
            out.add(fault.target)
    return out


def services_hurt(run: Run, analysis: Analysis) -> tuple[str, ...]:
    skip = landed_on(run)
    return tuple(s for s in analysis.blast.services if s not in skip)
