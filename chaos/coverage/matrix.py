"""A sweep's run summaries made into the coverage document: pure functions, no I/O.

For each failure mode (a variant with a fault) and seed: the first firing of every alert at or
after the first fault's start (an alert already firing then detected nothing, as in ``simulate``)
that its fault-free twin did not have (below), whether a stated SLO was missed, and from those the
seed's status. A failure mode's status is the
worst of its seeds' (``Status``'s order), so a gate on it is conservative. For each baseline (no
fault) and seed: the alerts that fired or were firing in the measured part of the run: noise.

Noise detects nothing by firing. A failure mode's run and the baseline run of the same settings
and seed share their random numbers and, up to the fault, their start: the baseline is what the
same seconds looked like without the fault. A firing counts as a detection only if it starts at or
after the fault's start *and* the same alert was not firing at that instant in the fault-free twin.
An alert that fires at 50 s whether or not a fault began at 30 s says nothing about the fault; one
that fires at 35 s where its twin was quiet does, noise or not. Without a twin (a summary from an
older sweep) only the first rule applies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from chaos.coverage.document import (
    COVERAGE_SCHEMA_VERSION,
    Alert,
    Baseline,
    Cell,
    CoverageDocument,
    FailureMode,
    NoiseFiring,
    Role,
    Runs,
    Source,
    Status,
)
from chaos.model.experiment import Experiment
from chaos.sweep.grid import Variant
from chaos.sweep.runner import SweepResult
from chaos.sweep.summary import AlertFiring, RunSummary

EPS = 1e-9


def deadlines(experiment: Experiment) -> dict[str, float]:
    """Each alert's ``expect_within``: chaoslab's alerts' own, and the experiment's for rule-file alerts."""
    out = {r.name: r.expect_within for r in experiment.alert_rules if r.expect_within is not None}
    out.update({d.alert: d.within for d in experiment.expect_within})
    return out


def detect_times(run: RunSummary, twin: RunSummary | None = None) -> dict[str, float]:
    """Per alert, its first firing at or after the first fault's start that ``twin`` (the fault-free run of
    the same settings and seed) was not also firing at, in seconds after that start."""
    start = run.faults_start_s
    out: dict[str, float] = {}
    if start is None:
        return out
    for firing in sorted(run.firings, key=lambda f: f.fired_at_s):
        if firing.fired_at_s >= start - EPS and firing.name not in out and not _firing_at(twin, firing):
            out[firing.name] = firing.fired_at_s - start
    return out


def _firing_at(twin: RunSummary | None, firing: AlertFiring) -> bool:
    """Whether ``twin`` had the same alert (and instance scope) firing at the instant ``firing`` fired."""
    if twin is None:
        return False
    t = firing.fired_at_s
    return any(f.name == firing.name and f.scope == firing.scope and f.fired_at_s <= t + EPS
               and (f.resolved_at_s is None or f.resolved_at_s > t + EPS) for f in twin.firings)


def first_detection(times: dict[str, float]) -> tuple[float | None, str | None]:
    """The earliest detection and the alert that made it (by name on a tie), or (None, None)."""
    if not times:
        return None, None
    name = min(times, key=lambda n: (times[n], n))
    return times[name], name


def noise_firings(run: RunSummary) -> dict[str, float]:
    """Per alert, when it first fired among its firings that were active in the measured part of the run."""
    out: dict[str, float] = {}
    for firing in run.firings:
        active = firing.fired_at_s < run.duration_s and (firing.resolved_at_s is None
                                                        or firing.resolved_at_s > run.warmup_s + EPS)
        if active and firing.fired_at_s < out.get(firing.name, float("inf")):
            out[firing.name] = firing.fired_at_s
    return out


def seed_status(run: RunSummary, deadline: float | None, detected: float | None) -> Status:
    """A seed's status from its time to detect (:func:`first_detection` of its :func:`detect_times`)."""
    if detected is None:
        return Status.QUIET if run.slo_met else Status.UNDETECTED
    if deadline is not None and detected > deadline + EPS:
        return Status.LATE
    return Status.DETECTED


def _missed(runs: Sequence[RunSummary]) -> tuple[str, ...]:
    """The objectives missed in some run, named with their scope unless the name says it already."""
    return tuple(dict.fromkeys(o.name if o.scope in o.name else f"{o.name} ({o.scope})"
                               for r in runs for o in r.objectives if not o.met))


def _cell(alert: str, times: list[dict[str, float]], deadline: float | None) -> Cell:
    got = [t[alert] for t in times if alert in t]
    late = sum(1 for v in got if deadline is not None and v > deadline + EPS)
    return Cell(alert=alert, seeds_fired=len(got), mean_s=sum(got) / len(got) if got else None,
                min_s=min(got, default=None), max_s=max(got, default=None), seeds_late=late)


def failure_mode(variant: Variant, runs: Sequence[RunSummary], alerts: Sequence[str], own_deadlines: dict[str, float],
                 deadline: float | None, twins: Sequence[RunSummary] = ()) -> FailureMode:
    """One failure mode over its seeds; ``twins``: the fault-free runs of the same settings, by seed."""
    by_seed = {t.seed: t for t in twins}
    times = [detect_times(r, by_seed.get(r.seed)) for r in runs]
    firsts_of = [first_detection(t) for t in times]
    statuses = [seed_status(r, deadline, at) for r, (at, _) in zip(runs, firsts_of, strict=True)]
    detected = [at for at, _ in firsts_of if at is not None]
    firsts = Counter(name for _, name in firsts_of if name is not None)
    starts = [r.faults_start_s for r in runs if r.faults_start_s is not None]
    fault = variant.faults[0].kind.value if variant.faults else ""
    return FailureMode(
        label=variant.fault_label, variant=variant.label, key=variant.key, target=variant.target, fault=fault,
        settings={s.name: s.text for s in variant.settings},
        status=min(statuses, key=lambda s: s.rank) if statuses else Status.QUIET,
        seeds=len(runs), seeds_slo_missed=sum(not r.slo_met for r in runs),
        seeds_undetected=statuses.count(Status.UNDETECTED), seeds_late=statuses.count(Status.LATE),
        seeds_detected=len(detected), fault_start_s=min(starts, default=None),
        time_to_detect_mean_s=sum(detected) / len(detected) if detected else None,
        time_to_detect_max_s=max(detected, default=None),
        detected_by=tuple(name for name, _ in sorted(firsts.items(), key=lambda kv: (-kv[1], kv[0]))),
        slos_missed=_missed(runs),
        entry_failed_ratio=sum(r.entry_failed_ratio for r in runs) / len(runs) if runs else 0.0,
        cells=tuple(_cell(a, times, own_deadlines.get(a)) for a in alerts))


def baseline(variant: Variant, runs: Sequence[RunSummary]) -> Baseline:
    fired = [noise_firings(r) for r in runs]
    names = list(dict.fromkeys(n for f in fired for n in sorted(f, key=f.__getitem__)))
    noise = tuple(NoiseFiring(alert=n, seeds=sum(n in f for f in fired),
                              first_fired_at_s=min(f[n] for f in fired if n in f)) for n in names)
    return Baseline(variant=variant.label, settings={s.name: s.text for s in variant.settings}, seeds=len(runs),
                    seeds_slo_missed=sum(not r.slo_met for r in runs), slos_missed=_missed(runs), noise=noise)


def _order(mode: FailureMode) -> tuple[int, float, str]:
    return mode.status.rank, -mode.entry_failed_ratio, mode.variant


def _alert(name: str, own: set[str], own_deadlines: dict[str, float], modes: Sequence[FailureMode],
           baselines: Sequence[Baseline]) -> Alert:
    detects = sum(1 for m in modes for c in m.cells if c.alert == name and c.seeds_fired)
    first = sum(1 for m in modes if name in m.detected_by)
    noise = sum(n.seeds for b in baselines for n in b.noise if n.alert == name)
    role = Role.NOISE if noise else Role.USEFUL if detects else Role.NEVER_USEFUL
    return Alert(name=name, source=Source.CHAOSLAB if name in own else Source.RULE_FILE,
                 deadline_s=own_deadlines.get(name), role=role, detects=detects, first_detects=first, noise_seeds=noise)


def coverage(result: SweepResult) -> CoverageDocument:
    """The coverage document of a sweep whose plan had baselines (``Plan.baseline``)."""
    experiment = result.experiment
    alerts = experiment.alert_names
    own_deadlines = deadlines(experiment)
    deadline = min(own_deadlines.values(), default=None)
    twins = {v.settings: runs for v, runs in result.results.items() if v.faults == ()}
    modes = sorted((failure_mode(v, runs, alerts, own_deadlines, deadline, twins.get(v.settings, ()))
                    for v, runs in result.results.items() if v.faults != ()), key=_order)
    baselines = [baseline(v, runs) for v, runs in result.results.items() if v.faults == ()]
    own = {r.name for r in experiment.alert_rules}
    # What the runs simulated, not the base experiment's: --set duration=... (or warmup) changes it. Where it
    # is an axis with several values, the longest (each failure mode's settings say its own).
    every = [r for runs in result.results.values() for r in runs]
    described = [_alert(a, own, own_deadlines, modes, baselines) for a in alerts]
    undetected = tuple(m.variant for m in modes if m.status is Status.UNDETECTED)
    return CoverageDocument(
        schema_version=COVERAGE_SCHEMA_VERSION, experiment=experiment.name, topology=experiment.topology.name,
        seeds=tuple(result.seeds), duration_s=max((r.duration_s for r in every), default=experiment.duration),
        warmup_s=max((r.warmup_s for r in every), default=experiment.warmup), deadline_s=deadline,
        alerts=tuple(described), failure_modes=tuple(modes), baselines=tuple(baselines), undetected=undetected,
        late=tuple(m.variant for m in modes if m.status is Status.LATE),
        noise=tuple(a.name for a in described if a.role is Role.NOISE),
        never_useful=tuple(a.name for a in described if a.role is Role.NEVER_USEFUL),
        exit_code=1 if undetected else 0,
        runs=Runs(total=result.simulated + result.reused, simulated=result.simulated, reused=result.reused,
                  executor=result.executor))
