"""Monte Carlo drills: one playbook against many simulated incidents, on the sweep's executors.

Each run is the same experiment with another seed (seed, seed+1, ...). The experiment and
the playbook cross to each worker once (local processes or Dask, as a sweep's variants do);
workers return only the few figures a drill aggregates. The first seed's run is kept whole,
so the report can show one incident in full next to the distributions over all of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from chaos.analysis import analyze
from chaos.analysis.incident import PHASES, analyze_incident, incident_section
from chaos.analysis.stats import wilson95
from chaos.document import DrillDeadline, DrillSection, DrillStep, Finding, PhaseStats
from chaos.incident_states import FindingKind, IncidentOutcome, StepStatus
from chaos.model.experiment import Experiment
from chaos.model.playbook import Phase, Playbook
from chaos.model.quantities import plural
from chaos.result import Result
from chaos.run import Run
from chaos.sim.responder import attach
from chaos.sim.simulation import Simulation
from chaos.sweep.executors import Executor, ProcessExecutor, encode, local_cores


def simulate_incident(experiment: Experiment, playbook: Playbook, seed: int) -> Run:
    """One simulated run with the playbook carried out in it."""
    sim = Simulation(experiment, seed)
    attach(sim, playbook, seed)
    return sim.run()


def incident_result(experiment: Experiment, playbook: Playbook, seed: int) -> Result:
    """A full Result of one simulated incident, with the ``playbook`` section."""
    run = simulate_incident(experiment, playbook, seed)
    analysis = analyze(run)
    section = incident_section(playbook, run, analyze_incident(playbook, run, analysis.blast.services))
    return Result(run, analysis, playbook=section, gate_failed=None if section.deadlines_met else True)


@dataclass(frozen=True)
class DrillRun:
    """What one drill run contributes: phase times, deadlines, steps (times from the incident start)."""

    seed: int
    triggered: bool
    phases: dict[str, float | None]
    deadlines: list[bool | None]
    steps_met: list[bool | None]
    steps_end: list[float | None]
    steps_status: list[StepStatus]
    slo_met: bool
    entry_failed_ratio: float
    unmeasurable: tuple[str, ...] = ()   # phases the run ended too soon to show (recover: chaos.recovery)


def outcome_of(result: Result, seed: int) -> DrillRun:
    section = result.playbook
    assert section is not None  # incident_result always adds it
    incident = section.incident
    return DrillRun(
        seed=seed,
        triggered=incident.outcome is not IncidentOutcome.NOT_TRIGGERED,
        phases={p: getattr(incident, f"time_to_{p}_s") for p in PHASES},
        deadlines=[d.met for d in section.deadlines],
        steps_met=[s.met for s in section.steps],
        steps_end=[s.end_s for s in section.steps],
        steps_status=[s.status for s in section.steps],
        slo_met=result.analysis.slo_met,
        entry_failed_ratio=result.analysis.blast.entry_failed_ratio,
        unmeasurable=() if incident.recovery is None or incident.recovery.measurable else (Phase.RECOVER.value,),
    )


@dataclass(frozen=True)
class DrillModel:
    """What every run of a drill shares: sent to each worker once."""

    experiment: Experiment
    playbook: Playbook


@dataclass(frozen=True)
class DrillTask:
    """One run of a drill, an executor's job: the incident simulated with ``seed``."""

    base: str
    seed: int

    def describe(self) -> str:
        return f"drill run with seed {self.seed}"

    def run(self, model: object) -> DrillRun:
        if not isinstance(model, DrillModel):
            raise TypeError(f"a drill run needs a DrillModel, got {type(model).__name__}")
        return outcome_of(incident_result(model.experiment, model.playbook, self.seed), self.seed)


def quantile_or_none(values: list[float | None], q: float) -> float | None:
    """Quantile over all runs, counting a phase never reached as infinitely late."""
    xs = sorted(math.inf if v is None else v for v in values)
    if not xs:
        return None
    pos = q * (len(xs) - 1)
    lo, hi = int(pos), min(int(pos) + 1, len(xs) - 1)
    if math.isinf(xs[hi]) or math.isinf(xs[lo]):
        return None
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _dist(values: list[float | None], not_measurable: int | None = None) -> PhaseStats:
    reached = [v for v in values if v is not None]
    return PhaseStats(p50=quantile_or_none(values, 0.5), p90=quantile_or_none(values, 0.9),
                      p99=quantile_or_none(values, 0.99), mean=sum(reached) / len(reached) if reached else None,
                      reached=len(reached), not_measurable=not_measurable, values=tuple(values))


def _unmeasurable(phase: str, outcomes: list[DrillRun]) -> int | None:
    """Runs that ended too soon to show ``phase``: counted for the recover phase, the one measured over a window."""
    return sum(phase in o.unmeasurable for o in outcomes) if phase == Phase.RECOVER.value else None


def aggregate(playbook: Playbook, outcomes: list[DrillRun]) -> DrillSection:
    """The ``drill`` section of result.json.

    Every run injects the fault, so every run is an incident: a run whose trigger never fired
    counts as missing each phase deadline (nobody responded to it), as does one that ended
    before a deadline could be judged (a drill should run long enough). Both are counted
    apart (``not_triggered``, ``undecided``), so the share says why it is low.
    """
    n = len(outcomes)
    not_triggered = sum(not o.triggered for o in outcomes)
    deadlines = []
    for k, obj in enumerate(playbook.objectives):
        hits = sum(o.deadlines[k] is True for o in outcomes)
        p = hits / n
        undecided = sum(o.deadlines[k] is None and o.triggered for o in outcomes)
        # The gate is the share observed; with few runs it is noisy, so say how noisy: Wilson's interval,
        # which stays honest at 0% and 100%, where the normal one reads "± 0%".
        low, high = wilson95(hits, n)
        deadlines.append(DrillDeadline(name=obj.name, phase=obj.phase, deadline_s=obj.within, p_met=p,
                                       ci95_low=low, ci95_high=high, required=obj.probability, undecided=undecided,
                                       not_triggered=not_triggered,
                                       met=None if obj.probability is None else p >= obj.probability))
    steps = []
    for i, step in enumerate(playbook.steps):
        met = [o.steps_met[i] is True for o in outcomes if o.steps_met[i] is not None]
        ends = [o.steps_end[i] for o in outcomes]
        steps.append(DrillStep(name=step.name, p_met=(sum(met) / len(met)) if met else None,
                               p_reached=sum(o.steps_status[i] is not StepStatus.NOT_REACHED for o in outcomes) / n,
                               p50_end_s=quantile_or_none(ends, 0.5), p90_end_s=quantile_or_none(ends, 0.9)))
    findings = tuple(Finding(kind=FindingKind.NEVER_REACHED, step=s.name, message=f"'{s.name}' was never reached in "
                             f"{plural(n, 'run')}") for s in steps if s.p_reached == 0)
    return DrillSection(runs=n, seeds=tuple(o.seed for o in outcomes), not_triggered=not_triggered,
                        phases={p: _dist([o.phases[p] for o in outcomes], _unmeasurable(p, outcomes)) for p in PHASES},
                        deadlines=tuple(deadlines), steps=tuple(steps), findings=findings,
                        slo_met_share=sum(o.slo_met for o in outcomes) / n,
                        entry_failed_ratio=_dist([o.entry_failed_ratio for o in outcomes]))


def drill(experiment: Experiment, playbook: Playbook, runs: int, seed: int | None = None,
          executor: Executor | None = None, progress: Callable[[int, int], None] | None = None) -> Result:
    """``runs`` simulated incidents; the result is the first one in full plus the ``drill`` section.

    The first runs here, whole; the others on ``executor`` (default: a local worker process per core),
    in any order: the section lists them by seed, so every executor gives the same result.
    """
    first_seed = experiment.seed if seed is None else seed
    seeds = [first_seed + i for i in range(runs)]
    first = incident_result(experiment, playbook, seeds[0])
    outcomes = [outcome_of(first, seeds[0])]
    if progress:
        progress(1, runs)
    base = encode(DrillModel(experiment, playbook))
    runner = ProcessExecutor(local_cores()) if executor is None else executor
    for outcome in runner.run([base], [DrillTask(base.key, s) for s in seeds[1:]]):
        outcomes.append(outcome)
        if progress:
            progress(len(outcomes), runs)
    outcomes.sort(key=lambda o: o.seed)
    section = aggregate(playbook, outcomes)
    first.drill = section
    first.gate_failed = section.gate_failed
    return first
