"""The compact summary of one run that a worker sends back: a few numbers per scope, no series.

A whole result (per-second series of every scope) is megabytes for a large topology;
this is a few kilobytes, which keeps the parent process, the pipe and the disk out of
the way of the workers. It holds what sweeps, criticality and the release gate compare.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from chaos import codec
from chaos.analysis import Analysis, ScopeFigures
from chaos.model.scope import Scope
from chaos.recovery import Recovery
from chaos.run import Run
from chaos.sweep.measures import budget_burned, faults_end, services_hurt, time_to_recover

SUMMARY_VERSION = 4  # 3: every alert firing and the first fault's start, for coverage
# 4: recovery as chaos.recovery decides it (not measurable apart from not recovered)


@dataclass(frozen=True)
class ScopeSummary:
    """One service (as its callers saw it) or entrypoint (as its users saw it), over the measured window."""

    requests: int
    errors: int
    error_ratio: float
    p99_ms: float | None
    retries: int
    breach_seconds: int           # seconds in which any of its objectives was in breach
    first_breach_s: float | None


@dataclass(frozen=True)
class ObjectiveSummary:
    """One stated SLO objective: how much of its error budget the run spent."""

    name: str
    scope: str
    bad: int
    total: int
    met: bool
    budget_burned: float | None   # None: the objective allows no bad event, and one happened
    breach_seconds: int


@dataclass(frozen=True)
class AlertFiring:
    """One firing of an alert (chaoslab's, or an instance of a rule-file alert): what coverage maps."""

    name: str
    scope: str | None
    fired_at_s: float
    resolved_at_s: float | None


@dataclass(frozen=True)
class RunSummary:
    """What one run of one variant with one seed did."""

    seed: int
    duration_s: float             # what was simulated: the variant's duration, not the base experiment's
    warmup_s: float
    slo_met: bool
    entry_requests: int
    entry_failed: int             # failed, or slower than the entrypoint's latency objective
    entry_failed_ratio: float
    services_hurt: tuple[str, ...]
    time_to_detect_s: float | None
    detected_by: str | None
    faults_end_s: float | None
    recovery: Recovery
    objectives: tuple[ObjectiveSummary, ...]
    services: dict[str, ScopeSummary]
    entrypoints: dict[str, ScopeSummary]
    faults_start_s: float | None = None   # the first fault's start: what time to detect counts from
    firings: tuple[AlertFiring, ...] = ()  # every alert firing of the run, in order of time

    @property
    def time_to_recover_s(self) -> float | None:
        return self.recovery.time_s

    @property
    def recovered(self) -> bool:
        return self.recovery.recovered

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "recovery": codec.encode(self.recovery)}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> RunSummary:
        return cls(
            **{k: v for k, v in doc.items()
               if k not in ("services_hurt", "objectives", "services", "entrypoints", "firings", "recovery")},
            recovery=codec.build(Recovery, doc["recovery"], "recovery", "run summary"),
            services_hurt=tuple(doc["services_hurt"]),
            objectives=tuple(ObjectiveSummary(**o) for o in doc["objectives"]),
            services={n: ScopeSummary(**s) for n, s in doc["services"].items()},
            entrypoints={n: ScopeSummary(**s) for n, s in doc["entrypoints"].items()},
            firings=tuple(AlertFiring(**f) for f in doc.get("firings", ())))


def _breaches(analysis: Analysis) -> dict[Scope, set[int]]:
    out: dict[Scope, set[int]] = {}
    for res in analysis.objectives:
        out.setdefault(res.objective.scope, set()).update(res.breach_seconds)
    return out


def _scope(fig: ScopeFigures, seconds: set[int]) -> ScopeSummary:
    assert fig.error_ratio is not None, "a sweep runs the simulator, which measures every scope"
    return ScopeSummary(fig.requests, fig.errors, fig.error_ratio, fig.p99_ms, fig.retries, len(seconds),
                        float(min(seconds)) if seconds else None)


def summarize(run: Run, analysis: Analysis) -> RunSummary:
    breaches = _breaches(analysis)
    recovery = time_to_recover(run, analysis.objectives)
    first = analysis.detections[0] if analysis.detections else None
    blast = analysis.blast
    return RunSummary(
        seed=run.seed, duration_s=run.duration_s, warmup_s=run.warmup_s, slo_met=analysis.slo_met,
        entry_requests=blast.entry_requests,
        entry_failed=blast.entry_failed, entry_failed_ratio=blast.entry_failed_ratio,
        services_hurt=services_hurt(run, analysis),
        time_to_detect_s=analysis.time_to_detect_s, detected_by=None if first is None else first.alert,
        faults_end_s=faults_end(run), recovery=recovery,
        objectives=tuple(ObjectiveSummary(r.objective.name, str(r.objective.scope), r.bad, r.total, r.met,
                                          budget_burned(r), len(r.breach_seconds))
                         for r in analysis.objectives if not r.implied),
        services={n: _scope(f, breaches.get(Scope.service(n), set())) for n, f in analysis.services.items()},
        entrypoints={n: _scope(f, breaches.get(Scope.entrypoint(n), set())) for n, f in analysis.entrypoints.items()},
        faults_start_s=min((f.start_s for f in run.faults), default=None),
        firings=tuple(AlertFiring(f.name, None if f.scope is None else str(f.scope), f.fired_at_s, f.resolved_at_s)
                      for f in analysis.firings))
