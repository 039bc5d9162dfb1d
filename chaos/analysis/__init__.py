"""Pure functions from a Run to the figures people and pipelines act on.

:func:`analyze` is the one entry point: SLO verdicts, alert firings, time to detect,
blast radius and load amplification, for either engine's Run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chaos.analysis.alerts import Detection, Firing, evaluate
from chaos.analysis.blast_radius import BlastRadius, blast_radius
from chaos.analysis.slos import ObjectiveResult, judge, measured_latency_s, unmeasured
from chaos.measurement import Source
from chaos.model.scope import Scope, ScopeKind
from chaos.model.slos import Objective, ObjectiveKind
from chaos.model.topology import Topology
from chaos.run import Cause, Run, Totals

DEFAULT_SERVICE_ERROR_RATIO = 0.05
"""Services no SLO covers are judged in breach above this error ratio, for the blast radius only."""


@dataclass
class ScopeFigures:
    """Whole-run figures of a service or entrypoint over the measured window, as every report shows them.

    Each count has one meaning wherever it is printed: ``requests`` were *sent* in the window
    (attempts, for a service), ``answered`` had their outcome (ok or failed) in the window,
    ``errors`` are the failed ones among those, and ``error_ratio`` is errors / answered.
    Latency percentiles are over successful requests of the window, exact where the engine kept the
    latencies (the simulator) and interpolated in the latency histogram where it did not (live mode:
    ``Analysis.latency_estimated``), by ``chaos.analysis.slos.measured_latency_s``: the same figure an
    SLO objective on the scope observes.
    """

    name: str
    requests: int
    answered: int
    errors: int
    error_ratio: float | None     # None: unmeasured
    errors_by_cause: dict[str, int]
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    throughput_rps: float | None  # None: unmeasured
    retries: int
    wasted: int
    degraded: int
    first_breach_s: float | None = None
    attempts_per_entry_request: float | None = None
    hops: int | None = None
    source: Source = Source.SIMULATOR  # what measured it; an unmeasured scope's counts are 0 and mean nothing
    latency_measured: bool = True  # False: its counts were measured, its latency not (no percentile, no mean)


@dataclass
class Expectation:
    """An alert that should fire within a set time of the first fault: met or not (never met when the
    alert's scope is unmeasured: it could not fire)."""

    alert: str
    within_s: float
    fired_at_s: float | None
    met: bool
    measured: bool = True


@dataclass
class Analysis:
    objectives: list[ObjectiveResult]
    firings: list[Firing]
    detections: list[Detection]
    blast: BlastRadius
    services: dict[str, ScopeFigures]
    entrypoints: dict[str, ScopeFigures]
    operations: dict[str, dict[str, ScopeFigures]] = field(default_factory=dict)  # by service, then operation
    expectations: list[Expectation] = field(default_factory=list)
    slo_met: bool = True
    time_to_detect_s: float | None = None
    notes: list[str] = field(default_factory=list)
    latency_estimated: bool = False  # percentiles interpolated in histogram buckets: the engine kept no samples


def implied_objectives(run: Run) -> list[Objective]:
    covered = {o.scope for o in run.experiment.objectives}
    return [Objective("default", Scope.service(s.name), ObjectiveKind.ERROR_RATIO, DEFAULT_SERVICE_ERROR_RATIO, 30.0)
            for s in run.experiment.topology.services if Scope.service(s.name) not in covered]


def detections(run: Run, firings: list[Firing]) -> list[Detection]:
    out = []
    for fault in sorted(run.faults, key=lambda f: f.start_s):
        det = Detection(fault.label, fault.start_s)
        after = [f for f in firings if f.fired_at_s >= fault.start_s - 1e-9]
        if after:
            first = after[0]
            det.alert, det.detected_at_s = first.name, first.fired_at_s
            det.time_to_detect_s = first.fired_at_s - fault.start_s
            det.other_alerts = sorted({f.name for f in after[1:]} - {first.name})
        out.append(det)
    return out


def expectations(run: Run, firings: list[Firing]) -> list[Expectation]:
    """chaoslab's alerts' ``expect_within``, then the experiment's for rule-file alerts (any instance counts)."""
    start = min((f.start_s for f in run.faults), default=None)
    wanted = [(r.name, r.expect_within, run.measured(r.scope)) for r in run.experiment.alert_rules
              if r.expect_within is not None]
    wanted += [(d.alert, d.within, True) for d in run.experiment.expect_within]
    out = []
    for name, within, measured in wanted:
        fired = None if start is None else next(
            (f.fired_at_s for f in firings if f.name == name and f.fired_at_s >= start - 1e-9), None)
        met = measured and fired is not None and start is not None and fired - start <= within + 1e-9
        out.append(Expectation(name, within, fired, met, measured))
    return out


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def figures(run: Run, scope: Scope, totals: Totals, measured_s: float) -> ScopeFigures:
    source = run.source(scope)
    if not source.measured:  # its counts are zeros nobody counted: no ratio, latency or rate to show
        return ScopeFigures(name=scope.name, requests=0, answered=0, errors=0, error_ratio=None, errors_by_cause={},
                            p50_ms=None, p95_ms=None, p99_ms=None, mean_ms=None, throughput_rps=None,
                            retries=0, wasted=0, degraded=0, source=source)
    timed = run.latency_measured(scope)
    p50, p95, p99 = (_ms(measured_latency_s(run, scope, q)) if timed else None for q in (50.0, 95.0, 99.0))
    return ScopeFigures(
        name=scope.name, requests=totals.requests, answered=totals.answered, errors=totals.failed,
        error_ratio=totals.error_ratio, errors_by_cause={c.value: totals.errors[c] for c in Cause if totals.errors[c]},
        p50_ms=p50, p95_ms=p95, p99_ms=p99, mean_ms=totals.mean_ms if timed else None,
        throughput_rps=totals.ok / measured_s if measured_s > 0 else 0.0,
        retries=totals.retries, wasted=totals.wasted, degraded=totals.degraded, source=source,
        latency_measured=timed)


def entrypoints_reaching(topology: Topology) -> dict[str, frozenset[str]]:
    """For each service, the entrypoints whose requests can reach it through calls."""
    calls = {s.name: [c.to for c in s.all_calls] for s in topology.services}
    found: dict[str, set[str]] = {name: set() for name in calls}
    for entry in topology.entrypoints:
        seen: set[str] = set()
        todo = [entry.to]
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(calls[name])
        for name in seen:
            found[name].add(entry.name)
    return {name: frozenset(entries) for name, entries in found.items()}


def rule_file_firings(run: Run, evaluated: list[Firing]) -> tuple[list[Firing], list[str]]:
    """The rule-file alerts' firings: where the stack's own Prometheus evaluated them (a live run measured
    through one), its answer read back, not chaoslab's evaluation of the same rules; else chaoslab's."""
    if run.evaluated_alerts is None:
        return evaluated, []
    from chaos.analysis.prometheus_alerts import firings, note
    found = firings(run.evaluated_alerts, run.experiment)
    return found, [note(run.evaluated_alerts, found)]


def analyze(run: Run) -> Analysis:
    from chaos.analysis.prometheus_rules import evaluate as evaluate_rule_files
    rule_files = evaluate_rule_files(run)  # the team's rule files and SLO specs, if the experiment names any
    stated = [judge(o, run) for o in run.experiment.objectives]
    stated += [r if run.measured(r.objective.scope) else unmeasured(r.objective) for r in rule_files.objectives]
    implied = [judge(o, run, implied=True) for o in implied_objectives(run)]
    # An alert on an unmeasured scope is not evaluated: its zeros would read as a traffic drop, or as calm.
    rules = tuple(r for r in run.experiment.alert_rules if run.measured(r.scope))
    blind = [f"alert '{r.name}' was not evaluated: its scope {r.scope} was unmeasured"
             for r in run.experiment.alert_rules if not run.measured(r.scope)]
    file_firings, read_notes = rule_file_firings(run, rule_files.firings)
    firings = sorted(evaluate(rules, run.series, run.bounds, run.seconds) + file_firings,
                     key=lambda f: (f.fired_at_s, f.name))
    dets = detections(run, firings)
    blast = blast_radius(run, stated + implied)
    measured = run.duration_s - run.warmup_s
    # Amplification is sent over sent: attempts sent to a service per request sent to the entrypoints
    # whose calls reach it. Over every entrypoint, a service that one entrypoint of two reaches would
    # read 0.5 where each of its entrypoint's requests makes one attempt.
    entry_sent = {s.name: t.requests for s, t in run.totals.items() if s.kind is ScopeKind.ENTRYPOINT}
    reaching = entrypoints_reaching(run.experiment.topology)
    breach = {b.service: b for b in blast.cascade}
    services, entrypoints = {}, {}
    operations: dict[str, dict[str, ScopeFigures]] = {}
    for scope, totals in run.totals.items():
        fig = figures(run, scope, totals, measured)
        if scope.kind is ScopeKind.OPERATION:
            service, _, op = scope.name.partition(".")
            fig.name = op
            firsts = [r.first_breach_s for r in stated if r.objective.scope == scope and r.first_breach_s is not None]
            fig.first_breach_s = min(firsts) if firsts else None
            sent = sum(entry_sent.get(e, 0) for e in reaching[service])
            fig.attempts_per_entry_request = totals.requests / sent if sent else None
            operations.setdefault(service, {})[op] = fig
        elif scope.kind is ScopeKind.SERVICE:
            sent = sum(entry_sent.get(e, 0) for e in reaching[scope.name])
            if fig.source.measured:
                fig.attempts_per_entry_request = totals.requests / sent if sent else None
            if scope.name in breach:
                fig.first_breach_s = breach[scope.name].first_breach_s
                fig.hops = breach[scope.name].hops
            services[scope.name] = fig
        else:
            firsts = [r.first_breach_s for r in stated if r.objective.scope == scope and r.first_breach_s is not None]
            fig.first_breach_s = min(firsts) if firsts else None
            entrypoints[scope.name] = fig
    return Analysis(
        objectives=stated + implied, firings=firings, detections=dets, blast=blast, services=services,
        entrypoints=entrypoints, operations=operations, expectations=expectations(run, firings),
        slo_met=all(r.met for r in stated),
        time_to_detect_s=dets[0].time_to_detect_s if dets else None, notes=rule_files.notes + read_notes + blind,
        latency_estimated=any(s.samples is None for s in run.series.values()))
