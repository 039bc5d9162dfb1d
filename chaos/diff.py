"""A release gate for cascades: the same experiments against two versions of a topology.

Each experiment runs against the base and the candidate topology (its own topology
replaced by each, its overrides applied to both) with the same seeds, so both versions
see the same arrivals and the same random draws: a difference is the change's effect
(common random numbers). Every metric is "lower is better"; the candidate is *worse* on
a metric when the mean over seeds of (candidate - base) exceeds the metric's tolerance.
For time to detect and time to recover, "never" (not detected, not recovered) is worse
than any time: a candidate that fails to recover in more seeds than the base is worse
whatever the times. A seed whose recovery was not measurable in either version (its run
ended less than one SLO window after the fault, ``chaos.recovery``) is left out of the
time to recover, with a note, rather than counted as "never".

An alert that stays quiet because nothing it watches went wrong has not failed to detect
anything. So a run has *something to detect* only when it missed a stated objective that one
of the experiment's alerts watches (:class:`Detection`), or when an alert states
``expect_within`` (then every run has). Time to detect is compared only in the seeds where the
base or the candidate had something to detect, and "never" counts against a version only in
the seeds where it had: a candidate that no longer breaches is not worse for no longer
alerting. With nothing to detect in any seed, the row says so and is neither better nor worse.

Metrics (tolerance defaults in brackets, in the metric's unit):

    entry_failed_ratio      share of entry requests failed or slower than the latency SLO [0.005]
    services_hurt           services hurt beyond noise (chaos.sweep.measures), not counting
                            the one the fault landed on                                   [0.5]
    time_to_detect_s        first alert after the first fault                             [10]
    time_to_recover_s       see chaos.sweep.measures                                      [10]
    budget_burned           share of each stated objective's error budget spent           [0.1]
    service_error_ratio     each service's error ratio, as its callers saw it             [0.01]
    service_breach_s        seconds each service spent in breach                          [5]
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chaos import codec
from chaos.analysis.stats import Stat, stat
from chaos.errors import InputError
from chaos.model.alerts import AlertMetric, AnyAlertRule, BurnRateRule, ThresholdRule
from chaos.model.arguments import RATIO_TOLERANCE, SECONDS_TOLERANCE
from chaos.model.experiment import Experiment, with_overrides
from chaos.model.overrides import revalidate
from chaos.model.parsing import located, one_of, where_of
from chaos.model.quantities import plural
from chaos.model.slos import ObjectiveKind
from chaos.model.topology import Topology
from chaos.recovery import recovery_reason
from chaos.result import write_atomic
from chaos.sweep.executors import Executor, encode
from chaos.sweep.grid import Variant
from chaos.sweep.summary import RunSummary
from chaos.sweep.worker import Task
from chaos.terminal import visible


class Metric(enum.Enum):
    ENTRY_FAILED_RATIO = "entry_failed_ratio"
    SERVICES_HURT = "services_hurt"
    TIME_TO_DETECT = "time_to_detect_s"
    TIME_TO_RECOVER = "time_to_recover_s"
    BUDGET_BURNED = "budget_burned"
    SERVICE_ERROR_RATIO = "service_error_ratio"
    SERVICE_BREACH = "service_breach_s"


DEFAULT_TOLERANCES: dict[Metric, float] = {
    Metric.ENTRY_FAILED_RATIO: 0.005,
    Metric.SERVICES_HURT: 0.5,
    Metric.TIME_TO_DETECT: 10.0,
    Metric.TIME_TO_RECOVER: 10.0,
    Metric.BUDGET_BURNED: 0.1,
    Metric.SERVICE_ERROR_RATIO: 0.01,
    Metric.SERVICE_BREACH: 5.0,
}


@dataclass(frozen=True)
class Tolerances:
    """How much worse each metric may get before the candidate is judged worse."""

    values: tuple[tuple[Metric, float], ...] = tuple(DEFAULT_TOLERANCES.items())

    def of(self, metric: Metric) -> float:
        return dict(self.values)[metric]

    @classmethod
    def parse(cls, texts: Sequence[str]) -> Tolerances:
        values = dict(DEFAULT_TOLERANCES)
        names = {m.value: m for m in Metric}
        for text in texts:
            name, sep, raw = text.partition("=")
            metric = names.get(name.strip())
            if not sep or metric is None:
                raise InputError(f"'{text}' is not METRIC=VALUE with a known metric", path="--tolerance",
                                 hint=f"metrics: {one_of(names)}")
            # Read as a file's number is (finite, not negative); a time also as a duration (10s, 1m).
            quantity = SECONDS_TOLERANCE if metric.value.endswith("_s") else RATIO_TOLERANCE
            values[metric] = float(quantity.parse(raw, f"--tolerance {metric.value}"))
        return cls(tuple(values.items()))


class Verdict(enum.Enum):
    WORSE = "worse"
    BETTER = "better"
    SAME = "same"
    NOTHING_TO_DETECT = "nothing_to_detect"  # time to detect, where neither version had anything to detect


@dataclass(frozen=True)
class Comparison:
    """One metric of one experiment (and scope), base against candidate over the same seeds."""

    experiment: str
    scope: str                 # "" for the whole experiment, a service, or an objective's name
    metric: Metric
    base: Stat
    candidate: Stat
    change: float | None       # mean over seeds of candidate - base, where both are known
    tolerance: float
    verdict: Verdict
    note: str = ""

    def finite(self) -> Comparison:
        """As diff.json writes it: a mean or a change that is not a finite number as null."""
        change = None if self.change is None or not math.isfinite(self.change) else self.change
        return dataclasses.replace(self, base=self.base.finite(), candidate=self.candidate.finite(), change=change)


def compare(experiment: str, scope: str, metric: Metric, base: Sequence[float | None],
            candidate: Sequence[float | None], tolerance: float, reached: str = "") -> Comparison:
    """Paired by seed. ``reached`` names what a known value means ("recovered"): then a missing value
    is "never", worse than any value, and the note says in how many seeds each version reached it;
    without it, missing values are left out of the comparison."""
    pairs = [(b, c) for b, c in zip(base, candidate, strict=True) if b is not None and c is not None]
    change = sum(c - b for b, c in pairs) / len(pairs) if pairs else None
    verdict = Verdict.SAME
    if change is not None and change > tolerance + 1e-12:
        verdict = Verdict.WORSE
    elif change is not None and change < -tolerance - 1e-12:
        verdict = Verdict.BETTER
    note = ""
    if reached:
        known_base = sum(b is not None for b in base)
        known_cand = sum(c is not None for c in candidate)
        if known_cand != known_base:
            verdict = Verdict.WORSE if known_cand < known_base else Verdict.BETTER
            note = f"{reached} in {known_cand} of {plural(len(candidate), 'seed')} (base: {known_base} of {len(base)})"
    return Comparison(experiment, scope, metric, stat(base), stat(candidate), change, tolerance, verdict, note)


@dataclass(frozen=True)
class Detection:
    """What an experiment's alerts are there to detect.

    ``watched`` names the stated objectives an alert watches: the alert's scope, and the quantity
    the objective judges (an error-ratio or a burn-rate alert watches its scope's error-ratio
    objectives, a latency alert its latency objectives). Alerts on causes (queue length, busy
    workers, retry, request or success rate) may fire first, and then they are the detection,
    but no missed objective obliges them to. ``expected``: an alert states ``expect_within``, so
    every run has something to detect. ``watched`` None: not known, every run has (as before);
    so it is for an experiment with the team's rule files or SLO specs, whose PromQL alerts watch
    what their expressions say, not an objective chaoslab can name.
    """

    watched: frozenset[str] | None = None
    expected: bool = False

    @classmethod
    def of(cls, *experiments: Experiment) -> Detection:
        """Of an experiment (each version of it, in a diff: the objectives follow the topology)."""
        watched: set[str] = set()
        expected = unknown = False
        for experiment in experiments:
            quantities = {(rule.scope, kind) for rule in experiment.alert_rules
                          if (kind := _watches(rule)) is not None}
            watched |= {o.name for o in experiment.objectives if (o.scope, o.kind) in quantities}
            expected |= any(rule.expect_within is not None for rule in experiment.alert_rules)
            expected |= bool(experiment.expect_within)  # deadlines of the rule files' alerts
            unknown |= bool(experiment.prometheus_rules or experiment.slo_specs)
        return cls(None if unknown else frozenset(watched), expected)

    def needed(self, run: RunSummary) -> bool:
        """Whether ``run`` had something to detect."""
        if self.expected or self.watched is None:
            return True
        return any(not o.met for o in run.objectives if o.name in self.watched)


def _watches(rule: AnyAlertRule) -> ObjectiveKind | None:
    if isinstance(rule, BurnRateRule):
        return ObjectiveKind.ERROR_RATIO
    if not isinstance(rule, ThresholdRule):
        return None  # a kind of rule that watches no stated objective we can name
    if rule.metric.percentile is not None:
        return ObjectiveKind.LATENCY
    return ObjectiveKind.ERROR_RATIO if rule.metric is AlertMetric.ERROR_RATIO else None


def compare_detection(experiment: str, base: Sequence[RunSummary], candidate: Sequence[RunSummary],
                      tolerance: float, detection: Detection) -> Comparison:
    """Time to detect, judged only where there was something to detect (see the module's docstring).

    Over the seeds where the base or the candidate had something to detect: the change is the mean
    over those where both detected; a version's "never" counts only where it had something to
    detect, and a version that missed more such seeds than the other is worse whatever the times.
    """
    need_b = [detection.needed(r) for r in base]
    need_c = [detection.needed(r) for r in candidate]
    judged = [i for i, (b, c) in enumerate(zip(need_b, need_c, strict=True)) if b or c]
    metric = Metric.TIME_TO_DETECT
    if not judged:
        return Comparison(experiment, "", metric, stat([_ttd(r) for r in base]), stat([_ttd(r) for r in candidate]),
                          None, tolerance, Verdict.NOTHING_TO_DETECT,
                          "no objective an alert watches was missed, in either version, in any seed")
    times = compare(experiment, "", metric, [_ttd(base[i]) for i in judged], [_ttd(candidate[i]) for i in judged],
                    tolerance)
    missed_b = sum(need_b[i] and _ttd(base[i]) is None for i in judged)
    missed_c = sum(need_c[i] and _ttd(candidate[i]) is None for i in judged)
    verdict = times.verdict
    if missed_c != missed_b:
        verdict = Verdict.WORSE if missed_c > missed_b else Verdict.BETTER
    needed_b, needed_c = sum(need_b), sum(need_c)
    parts = []
    if missed_b or missed_c or not needed_b or not needed_c:  # what the times alone do not say
        parts = [_missed_words(who, needed, missed)
                 for who, needed, missed in (("candidate", needed_c, missed_c), ("base", needed_b, missed_b))]
    if len(judged) < len(base):
        parts.append(f"{len(base) - len(judged)} of {plural(len(base), 'seed')} left out: nothing to detect in "
                     "either version")
    return dataclasses.replace(times, verdict=verdict, note="; ".join(parts))


def compare_recovery(experiment: str, base: Sequence[RunSummary], candidate: Sequence[RunSummary],
                     tolerance: float) -> Comparison:
    """Time to recover, over the seeds where both versions' recovery was measurable (``chaos.recovery``).

    A seed whose run ended less than one SLO window after the fault, in either version, says nothing
    about recovery: it is left out, and the note says so, rather than counted as "never"."""
    judged = [i for i, (b, c) in enumerate(zip(base, candidate, strict=True))
              if b.recovery.measurable and c.recovery.measurable]
    metric = Metric.TIME_TO_RECOVER
    times = compare(experiment, "", metric, [base[i].time_to_recover_s for i in judged],
                    [candidate[i].time_to_recover_s for i in judged], tolerance, reached="recovered")
    left_out = len(base) - len(judged)
    if not left_out:
        return times
    unknown = next(r.recovery for r in (*base, *candidate) if not r.recovery.measurable)
    note = (f"{left_out} of {plural(len(base), 'seed')} left out: recovery not measurable "
            f"({recovery_reason(unknown)})")
    return dataclasses.replace(times, base=stat([r.time_to_recover_s for r in base]),
                               candidate=stat([r.time_to_recover_s for r in candidate]),
                               note="; ".join(n for n in (times.note, note) if n))


def _missed_words(who: str, needed: int, missed: int) -> str:
    if not needed:
        return f"{who}: nothing to detect"
    return f"{who}: not detected in {missed} of {plural(needed, 'seed')} with something to detect"


# --------------------------------------------------------------------------- running


def with_topology(experiment: Experiment, topology: Topology) -> Experiment:
    """The experiment on another topology, its own overrides applied to it, checked again."""
    topo = with_overrides(topology, experiment.overrides) if experiment.overrides else topology
    swapped = located(dataclasses.replace(experiment, topology=topo), where_of(experiment))
    revalidate(swapped)
    return swapped


def load_experiments(directory: Path) -> list[Experiment]:
    """Every experiment file in ``directory`` (topologies and playbooks there are skipped)."""
    from chaos.model.files import FileKind, detect_kind, load_experiment
    if not directory.is_dir():
        raise InputError("not a directory", path=str(directory), hint="--experiments takes a directory of YAML files")
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    experiments = [load_experiment(p) for p in files if detect_kind(p) is FileKind.EXPERIMENT]
    if not experiments:
        raise InputError("no experiment files here", path=str(directory))
    return experiments


def written_for(experiments: Sequence[Experiment], base: Topology,
                candidate: Topology) -> tuple[list[Experiment], list[Experiment]]:
    """The experiments that compare ``base`` with ``candidate``, and those skipped.

    An experiment written for another system (its own topology has neither name) says nothing
    about these two.
    """
    names = {base.name, candidate.name}
    return ([e for e in experiments if e.topology.name in names],
            [e for e in experiments if e.topology.name not in names])


@dataclass
class DiffReport:
    base_name: str
    candidate_name: str
    seeds: int
    experiments: list[str]
    comparisons: list[Comparison]

    @property
    def worse(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.verdict is Verdict.WORSE]

    def document(self) -> DiffDocument:
        return DiffDocument(base=self.base_name, candidate=self.candidate_name, seeds=self.seeds,
                            experiments=tuple(self.experiments), worse=bool(self.worse),
                            comparisons=tuple(c.finite() for c in self.comparisons))


@dataclass(frozen=True, kw_only=True)
class DiffDocument:
    """What diff.json holds: the two topologies' names, the seeds per experiment, whether the candidate
    is worse anywhere, and every comparison (``chaoslab schema diff``)."""

    base: str
    candidate: str
    seeds: int
    experiments: tuple[str, ...]
    worse: bool
    comparisons: tuple[Comparison, ...]


Progress = Callable[[int, int, int], None]


def run_diff(base: Topology, candidate: Topology, experiments: Sequence[Experiment], seeds: int,
             executor: Executor, tolerances: Tolerances, names: tuple[str, str] = ("base", "candidate"),
             progress: Progress | None = None) -> DiffReport:
    pairs = [(exp, encode(with_topology(exp, base)), encode(with_topology(exp, candidate))) for exp in experiments]
    bases = list({b.key: b for _, *two in pairs for b in two}.values())
    tasks = [Task(b.key, Variant(), exp.seed + i) for exp, *two in pairs for b in two for i in range(seeds)]
    tasks = list(dict.fromkeys(tasks))  # a version identical to the other runs once
    done: dict[Task, RunSummary] = {}
    for outcome in executor.run(bases, tasks):
        done[outcome.task] = outcome.summary
        if progress is not None:
            progress(len(done), 0, len(tasks))
    comparisons = []
    for exp, b, c in pairs:
        runs_b = [done[Task(b.key, Variant(), exp.seed + i)] for i in range(seeds)]
        runs_c = [done[Task(c.key, Variant(), exp.seed + i)] for i in range(seeds)]
        detection = Detection.of(with_topology(exp, base), with_topology(exp, candidate))
        comparisons += compare_runs(exp.name, runs_b, runs_c, tolerances, detection)
    return DiffReport(names[0], names[1], seeds, [e.name for e in experiments], comparisons)


Extract = Callable[..., float | None]


def compare_runs(name: str, base: list[RunSummary], cand: list[RunSummary], tol: Tolerances,
                 detection: Detection = Detection()) -> list[Comparison]:
    def both(fn: Extract, *args: str) -> tuple[list[float | None], list[float | None]]:
        return [fn(r, *args) for r in base], [fn(r, *args) for r in cand]

    out = [
        compare(name, "", Metric.ENTRY_FAILED_RATIO, *both(_failed), tol.of(Metric.ENTRY_FAILED_RATIO)),
        compare(name, "", Metric.SERVICES_HURT, *both(_hurt), tol.of(Metric.SERVICES_HURT)),
        compare_detection(name, base, cand, tol.of(Metric.TIME_TO_DETECT), detection),
        compare_recovery(name, base, cand, tol.of(Metric.TIME_TO_RECOVER)),
    ]
    for objective in dict.fromkeys(o.name for o in base[0].objectives):
        out.append(compare(name, objective, Metric.BUDGET_BURNED, *both(_burned, objective),
                           tol.of(Metric.BUDGET_BURNED), reached="no bad event (the objective allows none)"))
    for service in (s for s in base[0].services if s in cand[0].services):
        out.append(compare(name, service, Metric.SERVICE_ERROR_RATIO, *both(_service_errors, service),
                           tol.of(Metric.SERVICE_ERROR_RATIO)))
        out.append(compare(name, service, Metric.SERVICE_BREACH, *both(_service_breach, service),
                           tol.of(Metric.SERVICE_BREACH)))
    return out


def _failed(run: RunSummary) -> float:
    return run.entry_failed_ratio


def _hurt(run: RunSummary) -> float:
    return float(len(run.services_hurt))


def _ttd(run: RunSummary) -> float | None:
    return run.time_to_detect_s


def _service_errors(run: RunSummary, service: str) -> float:
    return run.services[service].error_ratio


def _service_breach(run: RunSummary, service: str) -> float:
    return float(run.services[service].breach_seconds)


def _burned(run: RunSummary, objective: str) -> float | None:
    return next((o.budget_burned for o in run.objectives if o.name == objective), 0.0)


# --------------------------------------------------------------------------- output


_LABELS = {Metric.ENTRY_FAILED_RATIO: "entry requests failed", Metric.SERVICES_HURT: "services hurt",
           Metric.TIME_TO_DETECT: "time to detect", Metric.TIME_TO_RECOVER: "time to recover",
           Metric.BUDGET_BURNED: "error budget burned", Metric.SERVICE_ERROR_RATIO: "error ratio",
           Metric.SERVICE_BREACH: "seconds in breach"}
_PERCENT = {Metric.ENTRY_FAILED_RATIO, Metric.SERVICE_ERROR_RATIO}


def _fmt(metric: Metric, x: float | None, signed: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    sign = "+" if signed else ""
    if metric in _PERCENT:
        return f"{x * 100:{sign}.2f}%"
    if metric is Metric.BUDGET_BURNED:  # multiples of the budget: 1.00× spends exactly all of it
        return f"{x:{sign}.2f}×"
    unit = " s" if metric in (Metric.TIME_TO_DETECT, Metric.TIME_TO_RECOVER, Metric.SERVICE_BREACH) else ""
    return f"{x:{sign}.1f}{unit}"


def _value(metric: Metric, s: Stat) -> str:
    text = _fmt(metric, s.mean)
    if s.known < s.count:
        text += f" ({s.known}/{s.count})"
    return text


_MARK = {Verdict.WORSE: "**worse**", Verdict.BETTER: "better", Verdict.SAME: "same",
         Verdict.NOTHING_TO_DETECT: "nothing to detect"}


def _row(c: Comparison, with_scope: bool) -> str:
    scope = f"{c.scope} " if with_scope and c.scope else ""
    note = f": {c.note}" if c.note else ""
    return (f"| {scope}{_LABELS[c.metric]} | {_value(c.metric, c.base)} | {_value(c.metric, c.candidate)} "
            f"| {_fmt(c.metric, c.change, signed=True)} | {_fmt(c.metric, c.tolerance)} | {_MARK[c.verdict]}{note} |")


def render_markdown(report: DiffReport) -> str:
    worse = report.worse
    hit = list(dict.fromkeys(c.experiment for c in worse))
    verdict = (f"**WORSE**: {plural(len(worse), 'regression')} beyond tolerance in "
               f"{len(hit)} of {plural(len(report.experiments), 'experiment')}" if worse
               else f"**OK**: no regression beyond tolerance in {plural(len(report.experiments), 'experiment')}")
    lines = [f"## chaoslab diff: `{report.base_name}` → `{report.candidate_name}`", "", verdict, "",
             f"Each experiment ran against both topologies with the same {plural(report.seeds, 'seed')} "
             f"(common random numbers); figures are means over seeds, "
             "change is the mean paired difference (candidate − base); lower is better everywhere.", ""]
    header = ["| metric | base | candidate | change | tolerance | verdict |", "|---|---:|---:|---:|---:|---|"]
    for name in report.experiments:
        rows = [c for c in report.comparisons if c.experiment == name]
        overall = [c for c in rows if c.metric in (Metric.ENTRY_FAILED_RATIO, Metric.SERVICES_HURT,
                                                   Metric.TIME_TO_DETECT, Metric.TIME_TO_RECOVER)]
        # user-facing objectives always; service objectives only when they moved beyond tolerance
        budgets = [c for c in rows if c.metric is Metric.BUDGET_BURNED
                   and (c.scope.startswith("entrypoint:") or c.verdict is not Verdict.SAME)]
        services = [c for c in rows if c.scope and c.metric not in (Metric.BUDGET_BURNED,)
                    and c.verdict is not Verdict.SAME]
        mark = " ❌" if any(c.verdict is Verdict.WORSE for c in rows) else ""
        lines += [f"### {name}{mark}", "", *header, *(_row(c, False) for c in overall),
                  *(_row(c, True) for c in budgets), ""]
        if services:
            lines += ["Services that changed beyond tolerance:", "", *header,
                      *(_row(c, True) for c in services), ""]
    return visible("\n".join(lines))


DIFF_FILES = {"markdown": "diff.md", "json": "diff.json"}


def write_diff(report: DiffReport, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / name for kind, name in DIFF_FILES.items()}
    write_atomic(paths["markdown"], render_markdown(report) + "\n")
    write_atomic(paths["json"], json.dumps(codec.encode(report.document()), indent=1, allow_nan=False) + "\n")
    return paths
