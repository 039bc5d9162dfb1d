"""The result of a run, as machines read it: ``result.json`` (versioned) and ``series.csv``.

Both engines' Runs, once analysed, become the same typed document (:class:`chaos.document.ResultDocument`),
written by the one codec (:func:`chaos.codec.encode`); its figures are rounded here, where they are made.
``chaos.document.SCHEMA_VERSION`` changes whenever a field changes meaning or goes away.
Commands write them into a staging directory (``chaos.outdir.staged``) that becomes the
results directory as a whole, so a failure never leaves ``series.csv`` without ``result.json``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos.analysis import Analysis, ScopeFigures
from chaos.analysis.slos import ObjectiveResult
from chaos.analysis.stats import stat
from chaos.codec import encode
from chaos.document import (
    SERIES_COLUMNS,
    AlertExpectation,
    Blast,
    Breach,
    Detection,
    DrillSection,
    Fault,
    Figures,
    Firing,
    Graph,
    LiveSection,
    Objective,
    PlaybookSection,
    ReplicatedFigures,
    Replications,
    ResultDocument,
    ScopeSeries,
    Stat,
)
from chaos.document import Marker as DocMarker
from chaos.document import Series as DocSeries
from chaos.measurement import Source
from chaos.run import CAUSES, Engine, Run, Series

if TYPE_CHECKING:  # the audit reads the clock and the host: only a command makes one
    from chaos.audit import Audit


@dataclass
class Result:
    """A run and its analysis, plus the sections other parts add: replications, a game day's ``live``
    section, an incident response's ``playbook``, a ``drill``, the run's own gate, and the audit."""

    run: Run
    analysis: Analysis
    replications: list[tuple[Run, Analysis]] = field(default_factory=list)
    live: LiveSection | None = None
    playbook: PlaybookSection | None = None
    drill: DrillSection | None = None
    gate_failed: bool | None = None
    audit: Audit | None = None  # written as an empty object when absent

    @property
    def slo_met(self) -> bool:
        return all(a.slo_met for _, a in self.all_runs)

    @property
    def all_runs(self) -> list[tuple[Run, Analysis]]:
        return [(self.run, self.analysis)] + self.replications

    def document(self) -> ResultDocument:
        run, an = self.run, self.analysis
        return ResultDocument(
            engine=run.engine, experiment=run.experiment.name, topology=run.experiment.topology.name,
            seed=run.seed, duration_s=run.duration_s, warmup_s=run.warmup_s, slo_met=self.slo_met,
            time_to_detect_s=an.time_to_detect_s,
            latency_estimated=an.latency_estimated, blast=blast_of(an),
            services={name: figures_of(f) for name, f in an.services.items()},
            entrypoints={name: figures_of(f) for name, f in an.entrypoints.items()},
            operations={svc: {name: figures_of(f) for name, f in ops.items()} for svc, ops in an.operations.items()},
            slos=tuple(objective_of(r) for r in an.objectives if not r.implied),
            alerts=tuple(Firing(name=f.name, scope=None if f.scope is None else str(f.scope), labels=dict(f.labels),
                                fired_at_s=f.fired_at_s, resolved_at_s=f.resolved_at_s, value=_num(f.value),
                                metric=f.metric, evaluated_by=f.evaluated_by)
                         for f in an.firings),
            detections=tuple(Detection(fault=d.fault, start_s=d.start_s, alert=d.alert, detected_at_s=d.detected_at_s,
                                       time_to_detect_s=d.time_to_detect_s, other_alerts=tuple(d.other_alerts))
                             for d in an.detections),
            alert_expectations=tuple(AlertExpectation(alert=e.alert, within_s=e.within_s, fired_at_s=e.fired_at_s,
                                                      met=e.met, measured=e.measured) for e in an.expectations),
            faults=faults_of(run),
            markers=tuple(DocMarker(t_s=m.t_s, kind=m.kind, subject=m.subject, detail=m.detail)
                          for m in run.markers),
            graph=graph_of(run),
            replications=replications_of(self.all_runs) if self.replications else None,
            notes=tuple(an.notes), scrape_interval_s=_rules_scrape(run),
            live=self.live, playbook=self.playbook, drill=self.drill, gate_failed=self.gate_failed,
            series=series_of(run), audit={} if self.audit is None else encode(self.audit))

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = encode(self.document())
        return doc


def _rules_scrape(run: Run) -> int | None:
    """A simulation's scrape interval, where it evaluated the team's rule files on scrapes."""
    experiment = run.experiment
    if run.engine is not Engine.SIM or not (experiment.prometheus_rules or experiment.slo_specs):
        return None
    return experiment.metrics.scrape_interval_s


def faults_of(run: Run) -> tuple[Fault, ...]:
    """Faults as applied, each with the end the experiment scheduled for it (see :class:`Fault`)."""
    planned = {f.label: f for f in run.experiment.fault_list}
    out = []
    for w in run.faults:
        fault = planned.get(w.label)
        scheduled = None if fault is None else fault.end(run.experiment.duration)
        out.append(Fault(label=w.label, kind=w.kind, target=w.target, start_s=w.start_s, end_s=w.end_s,
                         scheduled_end_s=scheduled, params=w.params))
    return tuple(out)


def graph_of(run: Run) -> Graph:
    """The call graph, so a report can draw the cascade without the topology file."""
    topo = run.experiment.topology
    return Graph(edges=tuple((a, b) for a, b in topo.edges), entrypoints={e.name: e.to for e in topo.entrypoints})


def _num(x: float | None, digits: int = 6) -> float | None:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return round(x, digits)


def figures_of(f: ScopeFigures) -> Figures:
    return Figures(
        measured_by=f.source, requests=f.requests, answered=f.answered, errors=f.errors,
        error_ratio=_num(f.error_ratio),
        errors_by_cause=f.errors_by_cause, p50_ms=_num(f.p50_ms, 3), p95_ms=_num(f.p95_ms, 3),
        p99_ms=_num(f.p99_ms, 3), mean_ms=_num(f.mean_ms, 3), throughput_rps=_num(f.throughput_rps, 3),
        first_breach_s=f.first_breach_s, attempts_per_entry_request=_num(f.attempts_per_entry_request),
        hops=f.hops, retries=f.retries, wasted=f.wasted, degraded=f.degraded,
        latency_measured_by=None if f.latency_measured else Source.UNMEASURED)


def blast_of(an: Analysis) -> Blast:
    b = an.blast
    return Blast(
        services=tuple(b.services),
        cascade=tuple(Breach(service=c.service, first_breach_s=c.first_breach_s, hops=c.hops,
                             breach_seconds=c.breach_seconds, cause=c.cause) for c in b.cascade),
        entry_requests=b.entry_requests, entry_failed=b.entry_failed,
        entry_failed_ratio=_num(b.entry_failed_ratio), entry_errors=b.entry_errors, entry_slow=b.entry_slow,
        unmeasured=tuple(b.unmeasured))


def objective_of(r: ObjectiveResult) -> Objective:
    o = r.objective
    return Objective(
        name=o.name, slo=o.slo, scope=str(o.scope), kind=o.kind, target=o.target,
        threshold_ms=None if o.threshold is None else o.threshold * 1000, percentile=o.percentile,
        observed=_num(r.observed if o.threshold is None or r.observed is None else r.observed * 1000),
        bad=r.bad, total=r.total, met=r.met, measured=r.measured, first_breach_s=r.first_breach_s,
        breach_seconds=len(r.breach_seconds))


def _stat(values: list[float | None]) -> Stat:
    s = stat(values)
    rounded = tuple(_num(v) for v in values)
    if not s.known:
        return Stat(values=rounded)
    return Stat(values=rounded, mean=_num(s.mean), ci95=_num(s.ci95))


def replications_of(runs: list[tuple[Run, Analysis]]) -> Replications:
    """Key figures of every replication, with their mean and a 95% confidence half-width."""
    names = list(runs[0][1].services)
    return Replications(
        count=len(runs), seeds=tuple(r.seed for r, _ in runs), slo_met=tuple(a.slo_met for _, a in runs),
        expectations_met=tuple(all(e.met for e in a.expectations) for _, a in runs),
        entry_failed_ratio=_stat([a.blast.entry_failed_ratio for _, a in runs]),
        time_to_detect_s=_stat([a.time_to_detect_s for _, a in runs]),
        services={n: ReplicatedFigures(error_ratio=_stat([a.services[n].error_ratio for _, a in runs]),
                                       p99_ms=_stat([a.services[n].p99_ms for _, a in runs])) for n in names})




def _columns(s: Series, measured: bool = True) -> dict[str, list[Any]]:
    """A scope's columns; an unmeasured scope's are empty (blank in series.csv, null in result.json), never 0."""
    if not measured:
        return {name: [None] * len(s) for name in SERIES_COLUMNS}
    cols: dict[str, list[Any]] = {"requests": s.requests, "ok": s.ok, "errors": s.failed_series()}
    for cause in CAUSES:
        cols[cause.value] = s.errors[cause]
    for name in ("p50_ms", "p95_ms", "p99_ms", "mean_ms"):
        cols[name] = [_num(v, 3) for v in getattr(s, name)]
    for name in ("queue", "busy", "retries", "wasted", "degraded"):
        cols[name] = list(getattr(s, name))
    return cols


def series_of(run: Run) -> DocSeries:
    return DocSeries(t_s=tuple(range(run.seconds)), columns=SERIES_COLUMNS,
                     scopes={str(scope): ScopeSeries(**{k: tuple(v) for k, v in
                                                         _columns(s, run.measured(scope)).items()})
                             for scope, s in run.series.items()})


def series_csv(run: Run) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["t_s", "scope", *SERIES_COLUMNS])
    per_scope = {str(scope): _columns(s, run.measured(scope)) for scope, s in run.series.items()}
    for t in range(run.seconds):
        for scope, cols in per_scope.items():
            writer.writerow([t, scope, *["" if cols[c][t] is None else cols[c][t] for c in SERIES_COLUMNS]])
    return out.getvalue()


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary name and rename, so a reader of ``path`` never sees half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def to_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, allow_nan=False) + "\n"


RESULT_FILES = {"result": "result.json", "series": "series.csv"}


def result_paths(out_dir: Path) -> dict[str, str]:
    """Where :func:`write` puts each file in ``out_dir``, by kind, as the summary prints them."""
    return {kind: str(out_dir / name) for kind, name in RESULT_FILES.items()}


def write(result: Result, out_dir: Path, doc: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write result.json and series.csv into ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / name for kind, name in RESULT_FILES.items()}
    write_atomic(paths["series"], series_csv(result.run))
    write_atomic(paths["result"], to_json(result.to_dict() if doc is None else doc))
    return paths
