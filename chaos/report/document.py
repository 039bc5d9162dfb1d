"""The result document (``result.json``), read once into frozen, typed values the reports draw.

Every report reads only the document, never a Run, so a report can be re-created from a
results directory and a live run, a simulated one or a comparison render the same way.
Optional sections (``playbook``, ``drill``, ``graph``, ``replications``) become ``None``
when absent. A missing required key is an :class:`InputError` naming where it was expected.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chaos.errors import InputError, Location
from chaos.terminal import visible

SUPPORTED_SCHEMA = 1
T = TypeVar("T")


def _freeze(value: Any) -> Any:
    """Lists become tuples so the values stay immutable; mappings are left as read."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def build(cls: type[T], raw: Any, where: str, source: str) -> T:
    """An instance of the dataclass ``cls`` from the mapping ``raw``, taking only the fields it declares."""
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: expected an object, found {type(raw).__name__}", Location(source))
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in raw:
            kwargs[f.name] = _freeze(raw[f.name])
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise InputError(f"{where}: missing '{f.name}'", Location(source),
                                hint="re-create result.json with this version of chaoslab")
    return cls(**kwargs)


def build_all(cls: type[T], raw: Any, where: str, source: str) -> tuple[T, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InputError(f"{where}: expected a list, found {type(raw).__name__}", Location(source))
    return tuple(build(cls, item, f"{where}[{i}]", source) for i, item in enumerate(raw))


@dataclass(frozen=True)
class Figures:
    """Whole-run figures of a service or an entrypoint."""

    requests: int
    errors: int
    error_ratio: float | None
    p50_ms: float | None
    p99_ms: float | None
    throughput_rps: float | None = None
    first_breach_s: float | None = None
    attempts_per_entry_request: float | None = None
    hops: int | None = None
    retries: int = 0
    wasted: int = 0
    degraded: int = 0
    errors_by_cause: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Breach:
    service: str
    first_breach_s: float | None
    hops: int | None
    breach_seconds: int
    cause: str


@dataclass(frozen=True)
class Blast:
    services: tuple[str, ...]
    cascade: tuple[Breach, ...]
    entry_requests: int
    entry_failed: int
    entry_failed_ratio: float | None


@dataclass(frozen=True)
class Objective:
    """One SLO objective's verdict. ``observed`` is a ratio, or milliseconds for latency."""

    name: str
    scope: str
    kind: str
    target: float
    met: bool
    observed: float | None = None
    threshold_ms: float | None = None
    percentile: float | None = None
    bad: int = 0
    total: int = 0
    first_breach_s: float | None = None
    breach_seconds: int = 0


@dataclass(frozen=True)
class Firing:
    name: str
    scope: str
    fired_at_s: float
    resolved_at_s: float | None = None
    value: float | None = None


@dataclass(frozen=True)
class Detection:
    fault: str
    start_s: float
    alert: str | None = None
    detected_at_s: float | None = None
    time_to_detect_s: float | None = None


@dataclass(frozen=True)
class AlertExpectation:
    alert: str
    within_s: float
    fired_at_s: float | None
    met: bool


@dataclass(frozen=True)
class Fault:
    label: str
    kind: str
    target: str
    start_s: float
    end_s: float | None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Marker:
    t_s: float
    kind: str
    subject: str
    detail: str = ""


@dataclass(frozen=True)
class ScopeSeries:
    """Per-second figures of one scope; a column the engine did not record is all None."""

    requests: tuple[float | None, ...]
    errors: tuple[float | None, ...]
    p99_ms: tuple[float | None, ...]
    queue: tuple[float | None, ...]

    def error_ratio(self) -> tuple[float, ...]:
        """errors/requests per second; NaN where nothing was sent, so plots leave a gap."""
        pairs = zip(self.requests, self.errors, strict=True)
        return tuple(e / r if r and e is not None else math.nan for r, e in pairs)


@dataclass(frozen=True)
class Series:
    t_s: tuple[float, ...]
    scopes: Mapping[str, ScopeSeries]


@dataclass(frozen=True)
class Graph:
    """The call graph: (caller, callee) edges and which service each entrypoint calls."""

    edges: tuple[tuple[str, str], ...]
    entrypoints: Mapping[str, str]


@dataclass(frozen=True)
class Incident:
    start_s: float | None = None
    triggered_s: float | None = None
    detected_s: float | None = None
    acknowledged_s: float | None = None
    mitigated_s: float | None = None
    recovered_s: float | None = None
    trigger: str | None = None
    aborted: bool = False
    time_to_detect_s: float | None = None
    time_to_acknowledge_s: float | None = None
    time_to_mitigate_s: float | None = None
    time_to_recover_s: float | None = None
    error_budget_burned: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Step:
    name: str
    status: str
    role: str = ""
    action: str = ""
    target: str | None = None
    start_s: float | None = None
    acted_s: float | None = None
    end_s: float | None = None
    deadline_s: float | None = None  # the same clock as start_s and end_s
    met: bool | None = None
    verify: str | None = None
    verified_at_s: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Deadline:
    """A phase deadline of one incident: ``actual_s`` and ``deadline_s`` count from the incident's start.
    ``met`` is None when the run ended before the deadline, so it could not be judged."""

    name: str
    phase: str
    deadline_s: float
    actual_s: float | None
    met: bool | None
    required: float | None = None


@dataclass(frozen=True)
class Finding:
    kind: str
    message: str
    step: str | None = None


@dataclass(frozen=True)
class Playbook:
    name: str
    trigger: Mapping[str, Any]
    incident: Incident
    steps: tuple[Step, ...]
    deadlines: tuple[Deadline, ...]
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class PhaseStats:
    """A phase's elapsed times over a drill's runs (None: never reached in that run)."""

    values: tuple[float | None, ...]
    reached: int | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    mean: float | None = None


@dataclass(frozen=True)
class DrillDeadline:
    """The share of runs meeting a phase deadline, against the share required (None: none required)."""

    name: str
    phase: str
    deadline_s: float
    p_met: float
    required: float | None
    met: bool | None
    ci95: float | None = None
    undecided: int = 0


@dataclass(frozen=True)
class DrillStep:
    name: str
    p_met: float | None = None
    p_reached: float | None = None
    p50_end_s: float | None = None
    p90_end_s: float | None = None


@dataclass(frozen=True)
class Drill:
    runs: int
    seeds: tuple[int, ...]
    phases: Mapping[str, PhaseStats]
    deadlines: tuple[DrillDeadline, ...]
    steps: tuple[DrillStep, ...]
    findings: tuple[Finding, ...] = ()
    slo_met_share: float | None = None


@dataclass(frozen=True)
class Replications:
    count: int
    seeds: tuple[int, ...]
    slo_met: tuple[bool, ...]


@dataclass(frozen=True)
class Report:
    """Everything the reports show, typed. ``services`` keeps the topology's order."""

    experiment: str
    engine: str
    topology: str
    seed: int | None
    duration_s: float
    warmup_s: float
    slo_met: bool
    time_to_detect_s: float | None
    blast: Blast
    services: Mapping[str, Figures]
    entrypoints: Mapping[str, Figures]
    slos: tuple[Objective, ...]
    alerts: tuple[Firing, ...]
    detections: tuple[Detection, ...]
    alert_expectations: tuple[AlertExpectation, ...]
    faults: tuple[Fault, ...]
    markers: tuple[Marker, ...]
    series: Series
    audit: Mapping[str, Any]
    graph: Graph | None = None
    playbook: Playbook | None = None
    drill: Drill | None = None
    replications: Replications | None = None
    gate_failed: bool = False

    @property
    def first_fault_s(self) -> float | None:
        return min((f.start_s for f in self.faults), default=None)


REQUIRED = ("experiment", "engine", "duration_s", "slo_met", "blast_radius", "services", "entrypoints", "slos",
            "series")


def _series(raw: Any, source: str) -> Series:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("scopes"), Mapping):
        raise InputError("series: expected an object with 't_s' and 'scopes'", Location(source))
    t_s = tuple(raw.get("t_s", ()))
    blank = (None,) * len(t_s)

    def column(cols: Mapping[str, Any], name: str) -> tuple[float | None, ...]:
        values = cols.get(name)
        return blank if values is None else tuple(values)

    scopes = {visible(name): ScopeSeries(column(cols, "requests"), column(cols, "errors"), column(cols, "p99_ms"),
                                         column(cols, "queue")) for name, cols in raw["scopes"].items()}
    return Series(t_s, scopes)


def _graph(raw: Any, source: str) -> Graph | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InputError("graph: expected an object with 'edges' and 'entrypoints'", Location(source))
    edges = tuple((str(a), str(b)) for a, b in raw.get("edges", ()))
    return Graph(edges, dict(raw.get("entrypoints", {})))


def _playbook(raw: Any, source: str) -> Playbook | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InputError("playbook: expected an object", Location(source))
    return Playbook(
        name=str(raw.get("name", "playbook")), trigger=dict(raw.get("trigger") or {}),
        incident=build(Incident, raw.get("incident") or {}, "playbook.incident", source),
        steps=build_all(Step, raw.get("steps"), "playbook.steps", source),
        deadlines=build_all(Deadline, raw.get("deadlines"), "playbook.deadlines", source),
        findings=build_all(Finding, raw.get("findings"), "playbook.findings", source))


def _drill(raw: Any, source: str) -> Drill | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InputError("drill: expected an object", Location(source))
    phases = {name: build(PhaseStats, stats, f"drill.phases.{name}", source)
              for name, stats in (raw.get("phases") or {}).items()}
    return Drill(runs=int(raw.get("runs", 0)), seeds=tuple(raw.get("seeds", ())), phases=phases,
                 deadlines=build_all(DrillDeadline, raw.get("deadlines"), "drill.deadlines", source),
                 steps=build_all(DrillStep, raw.get("steps"), "drill.steps", source),
                 findings=build_all(Finding, raw.get("findings"), "drill.findings", source),
                 slo_met_share=raw.get("slo_met_share"))


def _replications(raw: Any) -> Replications | None:
    if not isinstance(raw, Mapping):
        return None
    return Replications(int(raw.get("count", 0)), tuple(raw.get("seeds", ())), tuple(raw.get("slo_met", ())))


def _figures(raw: Any, where: str, source: str) -> dict[str, Figures]:
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: expected an object", Location(source))
    return {name: build(Figures, f, f"{where}.{name}", source) for name, f in raw.items()}


def shown(value: Any) -> Any:
    """``value`` with every string in it, keys too, as :func:`chaos.terminal.visible` shows it."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, Mapping):
        return {shown(k): shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown(v) for v in value]
    return value


def read(doc: Mapping[str, Any], source: str = "result.json") -> Report:
    """The typed report of a result document; ``source`` names it in error messages.

    Every string is read as :func:`shown` makes it, so no report, figure or terminal line draws a
    control character from the document (the series' numbers are left as they are: only their
    scope names are strings)."""
    doc = {k: v if k == "series" else shown(v) for k, v in doc.items()}
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise InputError(f"not a chaoslab result: missing {', '.join(repr(k) for k in missing)}", Location(source))
    version = doc.get("schema_version", SUPPORTED_SCHEMA)
    if not isinstance(version, int) or version > SUPPORTED_SCHEMA:
        raise InputError(f"schema_version {version!r} is newer than this chaoslab reads ({SUPPORTED_SCHEMA})",
                            Location(source), hint="upgrade chaoslab to render this result")
    blast_raw = doc["blast_radius"]
    blast = Blast(services=tuple(blast_raw.get("services", ())),
                  cascade=build_all(Breach, blast_raw.get("cascade"), "blast_radius.cascade", source),
                  entry_requests=int(blast_raw.get("entry_requests", 0)),
                  entry_failed=int(blast_raw.get("entry_failed", 0)),
                  entry_failed_ratio=blast_raw.get("entry_failed_ratio"))
    return Report(
        experiment=str(doc["experiment"]), engine=str(doc["engine"]), topology=str(doc.get("topology", "")),
        seed=doc.get("seed"), duration_s=float(doc["duration_s"]), warmup_s=float(doc.get("warmup_s", 0.0)),
        slo_met=bool(doc["slo_met"]), time_to_detect_s=doc.get("time_to_detect_s"), blast=blast,
        services=_figures(doc["services"], "services", source),
        entrypoints=_figures(doc["entrypoints"], "entrypoints", source),
        slos=build_all(Objective, doc["slos"], "slos", source),
        alerts=build_all(Firing, doc.get("alerts"), "alerts", source),
        detections=build_all(Detection, doc.get("detections"), "detections", source),
        alert_expectations=build_all(AlertExpectation, doc.get("alert_expectations"), "alert_expectations", source),
        faults=build_all(Fault, doc.get("faults"), "faults", source),
        markers=build_all(Marker, doc.get("markers"), "markers", source),
        series=_series(doc["series"], source), audit=dict(doc.get("audit") or {}),
        graph=_graph(doc.get("graph"), source), playbook=_playbook(doc.get("playbook"), source),
        drill=_drill(doc.get("drill"), source), replications=_replications(doc.get("replications")),
        gate_failed=bool(doc.get("gate_failed", False)))
