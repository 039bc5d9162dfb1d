"""The result of a run, as machines read it: ``result.json`` (versioned) and ``series.csv``.

Both engines' Runs, once analysed, become the same document. Its schema is documented
in the README; ``SCHEMA_VERSION`` changes whenever a field changes meaning or goes away.
Commands write them into a staging directory (``chaos.outdir.staged``) that becomes the
results directory as a whole, so a failure never leaves ``series.csv`` without ``result.json``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.analysis import Analysis, ScopeFigures
from chaos.run import CAUSES, Run, Series

SCHEMA_VERSION = 2  # 2: the playbook section counts time from the incident start


@dataclass
class Result:
    """A run and its analysis, plus what other parts (replications, playbooks, audit) add."""

    run: Run
    analysis: Analysis
    replications: list[tuple[Run, Analysis]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    audit: dict[str, Any] = field(default_factory=dict)

    @property
    def slo_met(self) -> bool:
        return all(a.slo_met for _, a in self.all_runs)

    @property
    def all_runs(self) -> list[tuple[Run, Analysis]]:
        return [(self.run, self.analysis)] + self.replications

    def to_dict(self) -> dict[str, Any]:
        run, an = self.run, self.analysis
        doc: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "engine": run.engine,
            "experiment": run.experiment.name,
            "topology": run.experiment.topology.name,
            "seed": run.seed,
            "duration_s": run.duration_s,
            "warmup_s": run.warmup_s,
            "slo_met": self.slo_met,
            "time_to_detect_s": an.time_to_detect_s,
            "blast_radius": blast_dict(an),
            "services": {name: figures_dict(f) for name, f in an.services.items()},
            "entrypoints": {name: figures_dict(f) for name, f in an.entrypoints.items()},
            "slos": [objective_dict(r) for r in an.objectives if not r.implied],
            "alerts": [{"name": f.name, "scope": None if f.scope is None else str(f.scope),
                        "labels": dict(f.labels), "fired_at_s": f.fired_at_s,
                        "resolved_at_s": f.resolved_at_s, "value": _num(f.value), "metric": f.metric}
                       for f in an.firings],
            "detections": [vars(d) for d in an.detections],
            "alert_expectations": [{"alert": e.alert, "within_s": e.within_s, "fired_at_s": e.fired_at_s,
                                    "met": e.met} for e in an.expectations],
            "faults": faults_list(run),
            "markers": [{"t_s": m.t_s, "kind": m.kind, "subject": m.subject, "detail": m.detail}
                        for m in run.markers],
            "graph": graph_dict(run),
        }
        if self.replications:
            doc["replications"] = replications_dict(self.all_runs)
        if an.notes:
            doc["notes"] = list(an.notes)
        doc.update(self.extra)
        doc["series"] = series_dict(run)
        doc["audit"] = self.audit
        return doc


def faults_list(run: Run) -> list[dict[str, Any]]:
    """Faults as applied: ``end_s`` is when each really ended (a playbook's restart or remove_fault may end
    it early), ``scheduled_end_s`` when the experiment would have ended it (the run's end, for a fault that
    lasts to it). A fault still in effect when the run ended has ``end_s`` null in the simulator."""
    planned = {f.label: f for f in run.experiment.fault_list}
    out = []
    for w in run.faults:
        fault = planned.get(w.label)
        scheduled = None if fault is None else fault.end(run.experiment.duration)
        out.append({"label": w.label, "kind": w.kind, "target": w.target, "start_s": w.start_s, "end_s": w.end_s,
                    "scheduled_end_s": scheduled, "params": w.params})
    return out


def graph_dict(run: Run) -> dict[str, Any]:
    """The call graph, so a report can draw the cascade without the topology file."""
    topo = run.experiment.topology
    return {"edges": [list(e) for e in topo.edges], "entrypoints": {e.name: e.to for e in topo.entrypoints}}


def _num(x: float | None, digits: int = 6) -> float | None:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return round(x, digits)


def figures_dict(f: ScopeFigures) -> dict[str, Any]:
    return {
        "requests": f.requests, "answered": f.answered, "errors": f.errors, "error_ratio": _num(f.error_ratio),
        "errors_by_cause": f.errors_by_cause, "p50_ms": _num(f.p50_ms, 3), "p95_ms": _num(f.p95_ms, 3),
        "p99_ms": _num(f.p99_ms, 3), "mean_ms": _num(f.mean_ms, 3), "throughput_rps": _num(f.throughput_rps, 3),
        "first_breach_s": f.first_breach_s, "attempts_per_entry_request": _num(f.attempts_per_entry_request),
        "hops": f.hops, "retries": f.retries, "wasted": f.wasted, "degraded": f.degraded,
    }


def blast_dict(an: Analysis) -> dict[str, Any]:
    b = an.blast
    return {
        "services": b.services,
        "cascade": [{"service": c.service, "first_breach_s": c.first_breach_s, "hops": c.hops,
                     "breach_seconds": c.breach_seconds, "cause": c.cause} for c in b.cascade],
        "entry_requests": b.entry_requests, "entry_failed": b.entry_failed,
        "entry_failed_ratio": _num(b.entry_failed_ratio), "entry_errors": b.entry_errors, "entry_slow": b.entry_slow,
    }


def objective_dict(r: Any) -> dict[str, Any]:
    o = r.objective
    return {"name": o.name, "slo": o.slo, "scope": str(o.scope), "kind": o.kind.value, "target": o.target,
            "threshold_ms": None if o.threshold is None else o.threshold * 1000, "percentile": o.percentile,
            "observed": _num(r.observed if o.threshold is None or r.observed is None else r.observed * 1000),
            "bad": r.bad, "total": r.total, "met": r.met, "first_breach_s": r.first_breach_s,
            "breach_seconds": len(r.breach_seconds)}


def _stat(values: list[float | None]) -> dict[str, Any]:
    vals = [v for v in values if v is not None]
    out: dict[str, Any] = {"values": [_num(v) for v in values]}
    if vals:
        mean = statistics.fmean(vals)
        half = 1.96 * statistics.stdev(vals) / math.sqrt(len(vals)) if len(vals) > 1 else None
        out.update(mean=_num(mean), ci95=_num(half))
    return out


def replications_dict(runs: list[tuple[Run, Analysis]]) -> dict[str, Any]:
    """Key figures of every replication, with their mean and a 95% confidence half-width."""
    names = list(runs[0][1].services)
    return {
        "count": len(runs),
        "seeds": [r.seed for r, _ in runs],
        "slo_met": [a.slo_met for _, a in runs],
        "expectations_met": [all(e.met for e in a.expectations) for _, a in runs],
        "entry_failed_ratio": _stat([a.blast.entry_failed_ratio for _, a in runs]),
        "time_to_detect_s": _stat([a.time_to_detect_s for _, a in runs]),
        "services": {n: {"error_ratio": _stat([a.services[n].error_ratio for _, a in runs]),
                         "p99_ms": _stat([a.services[n].p99_ms for _, a in runs])} for n in names},
    }


SERIES_COLUMNS = ("requests", "ok", "errors", *[c.value for c in CAUSES], "p50_ms", "p95_ms", "p99_ms", "mean_ms",
                  "queue", "busy", "retries", "wasted", "degraded")


def _columns(s: Series) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {"requests": s.requests, "ok": s.ok, "errors": s.failed_series()}
    for cause in CAUSES:
        cols[cause.value] = s.errors[cause]
    for name in ("p50_ms", "p95_ms", "p99_ms", "mean_ms"):
        cols[name] = [_num(v, 3) for v in getattr(s, name)]
    for name in ("queue", "busy", "retries", "wasted", "degraded"):
        cols[name] = list(getattr(s, name))
    return cols


def series_dict(run: Run) -> dict[str, Any]:
    return {"t_s": list(range(run.seconds)), "columns": list(SERIES_COLUMNS),
            "scopes": {str(scope): _columns(s) for scope, s in run.series.items()}}


def series_csv(run: Run) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["t_s", "scope", *SERIES_COLUMNS])
    per_scope = {str(scope): _columns(s) for scope, s in run.series.items()}
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
