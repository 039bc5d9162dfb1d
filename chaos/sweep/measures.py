"""Figures sweeps and release gates compare, computed from a run and its analysis.

Time to recover
    The first second at or after the end of the last fault from which every *stated*
    SLO objective stays out of breach to the end of the run, minus the moment the last
    fault ended. A scope is in breach at a second when its objective fails over the
    trailing ``window`` ending there (``chaos.analysis.slos``), so the figure includes
    up to one window of lag: it is the time until the SLOs would say "healthy" again.
    It is 0 when nothing is in breach after the faults end. When some objective is still
    in breach in the run's last second, the system did not recover if one of those
    objectives had a whole window after the fault's end; otherwise the run ended too
    soon for its SLOs to say, and recovery is *not measurable* (``chaos.recovery``), as it
    is when a fault lasts to the end of the run, when there is no fault, and when the
    experiment states no SLO.

Error budget burned
    For each stated objective, the bad events over the measured window divided by the
    events the objective allows (target x total): 1.0 spends exactly the budget, above
    1.0 the SLO is missed (None when the target allows no bad event and one happened).

Services hurt
    Services in breach during the run (cascade order), except the one the fault
    landed on (the target of a service fault, the callee of an edge fault), that were
    hurt beyond noise: one of the service's objectives (stated, or the blast radius's
    default error ratio of 5%) was in breach for at least ``HURT_MIN_BREACH_S`` seconds
    in all *and* the run's bad events came to at least ``HURT_MIN_BUDGET`` of that
    objective's error budget over the measured window. A one-second breach from a few
    dozen timeouts among eighteen thousand requests is chance, not damage.
"""

from __future__ import annotations

import math

from chaos.analysis import Analysis
from chaos.analysis.slos import ObjectiveResult
from chaos.model.scope import ScopeKind, split_edge
from chaos.recovery import CountsFrom, NotMeasurable, Recovery, judge_recovery, not_measurable
from chaos.run import Run


def faults_end(run: Run) -> float | None:
    ends = [f.end_s for f in run.faults]
    if not ends or any(e is None for e in ends):
        return None
    return max(e for e in ends if e is not None)


def time_to_recover(run: Run, results: list[ObjectiveResult]) -> Recovery:
    """Recovery after the last fault ended, decided by :func:`chaos.recovery.judge_recovery`."""
    stated = [r for r in results if not r.implied]
    if not run.faults:
        return not_measurable(NotMeasurable.NO_FAULT)
    end = faults_end(run)
    if end is None:
        return not_measurable(NotMeasurable.FAULT_NOT_OVER)
    if not stated:
        return not_measurable(NotMeasurable.NO_SLO)
    last_second = run.seconds - 1
    last_breach = max((s for r in stated for s in r.breach_seconds), default=None)
    start = math.ceil(end - 1e-9)
    after = run.seconds - end
    if last_breach is None or last_breach < start:
        return judge_recovery(0.0, CountsFrom.FAULT_END, after, min(r.objective.window for r in stated))
    if last_breach >= last_second:
        # Still missed at the end: it had time to recover if a missed objective had a whole window after the fault.
        window = min(r.objective.window for r in stated if r.breach_seconds and r.breach_seconds[-1] >= last_second)
        return judge_recovery(None, CountsFrom.FAULT_END, after, window)
    return judge_recovery(float(last_breach + 1) - end, CountsFrom.FAULT_END, after,
                          min(r.objective.window for r in stated))


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


HURT_MIN_BREACH_S = 10
"""Seconds in breach (in all, over the run) below which a service's breach is noise."""
HURT_MIN_BUDGET = 0.25
"""Share of an objective's error budget the run's bad events must reach for a breach to count as hurt."""


def hurt(result: ObjectiveResult) -> bool:
    """The objective's scope was hurt beyond noise: in breach long enough, and a real part of its budget spent."""
    burned = budget_burned(result)
    return len(result.breach_seconds) >= HURT_MIN_BREACH_S and (burned is None or burned >= HURT_MIN_BUDGET)


def services_hurt(run: Run, analysis: Analysis) -> tuple[str, ...]:
    """Services hurt beyond noise, in cascade order, leaving out the ones the faults landed on."""
    skip = landed_on(run)
    beyond_noise = {r.objective.scope.name for r in analysis.objectives
                    if r.objective.scope.kind is ScopeKind.SERVICE and hurt(r)}
    return tuple(s for s in analysis.blast.services if s not in skip and s in beyond_noise)
