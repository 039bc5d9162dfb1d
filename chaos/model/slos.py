"""Service level objectives: what 'healthy' means for a service or an entrypoint.

::

    slos:
      - {entrypoint: web, error_ratio: 0.01, latency: {p99: 800ms}}
      - {service: "*", error_ratio: 0.05}        # every service without its own SLO

An SLO *holds* when, over the measured part of the run (after warm-up), the error ratio
is at most its target and the share of successful requests slower than the latency
threshold is at most 1 - percentile. A scope is *in breach* at a moment when the same
test fails over the trailing ``window``: that moment, per service, is what the blast
radius and the cascade timeline are built from.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from chaos.model.parsing import NAME, Model, Seconds, fld
from chaos.model.quantities import Ratio, duration, share
from chaos.model.scope import Scope, ScopeKind

ALL = "*"

_PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}


@dataclass(frozen=True)
class LatencyObjective(Model):
    """Exactly one percentile and its threshold, e.g. ``{p99: 800ms}``."""

    p50: Seconds | None = fld(None, gt=0)
    p90: Seconds | None = fld(None, gt=0)
    p95: Seconds | None = fld(None, gt=0)
    p99: Seconds | None = fld(None, gt=0)
    p999: Seconds | None = fld(None, gt=0)

    def validate(self) -> None:
        given = [k for k in _PERCENTILES if getattr(self, k) is not None]
        if len(given) != 1:
            raise self.error(None, f"give exactly one of {', '.join(_PERCENTILES)} (got {', '.join(given) or 'none'})")

    @property
    def key(self) -> str:
        return next(k for k in _PERCENTILES if getattr(self, k) is not None)

    @property
    def percentile(self) -> float:
        return _PERCENTILES[self.key]

    @property
    def threshold(self) -> float:
        value = getattr(self, self.key)
        assert value is not None
        return float(value)


@dataclass(frozen=True)
class Slo(Model):
    """An objective for one service or entrypoint, or for all of them (``"*"``)."""

    name: str | None = fld(None, text=NAME, doc="a name for reports (default: derived from the scope)")
    service: str | None = fld(None, doc="the service it covers, or '*' for every service without its own")
    entrypoint: str | None = fld(None, doc="the entrypoint it covers, or '*'")
    operation: str | None = fld(None, text=NAME, doc="with 'service': one of its operations only")
    error_ratio: Ratio | None = fld(None, ge=0, le=1, doc="largest acceptable share of failed requests")
    latency: LatencyObjective | None = fld(None, doc="a latency percentile and its threshold")
    window: Seconds = fld(30.0, gt=0, doc="trailing window for judging breach moment by moment")

    def validate(self) -> None:
        if (self.service is None) == (self.entrypoint is None):
            raise self.error(None, "an SLO names exactly one of 'service' or 'entrypoint'")
        if self.error_ratio is None and self.latency is None:
            raise self.error(None, "an SLO needs 'error_ratio', 'latency' or both")
        if self.operation is not None and (self.service is None or self.service == ALL):
            raise self.error("operation", "an operation's SLO names its service ('service: NAME', not '*')")

    @property
    def scope_kind(self) -> ScopeKind:
        if self.operation is not None:
            return ScopeKind.OPERATION
        return ScopeKind.SERVICE if self.service is not None else ScopeKind.ENTRYPOINT

    @property
    def scope_name(self) -> str:
        if self.operation is not None:
            return Scope.operation(self.service or "", self.operation).name
        return self.service if self.service is not None else self.entrypoint  # type: ignore[return-value]

    @property
    def scope_field(self) -> str:
        return "service" if self.scope_kind is ScopeKind.OPERATION else self.scope_kind.value


class ObjectiveKind(enum.Enum):
    ERROR_RATIO = "error_ratio"
    LATENCY = "latency"


@dataclass(frozen=True)
class Objective:
    """One testable target of one scope: what SLOs become once '*' is expanded."""

    slo: str
    scope: Scope
    kind: ObjectiveKind
    target: float             # error ratio, or allowed share of slow successes (1 - percentile/100)
    window: float
    threshold: float | None = None   # latency threshold in seconds
    percentile: float | None = None

    @property
    def name(self) -> str:
        """``service:db error ratio <= 2%``, ``entrypoint:web p99 <= 800 ms``: units as everywhere else."""
        if self.kind is ObjectiveKind.ERROR_RATIO:
            return f"{self.scope} error ratio <= {share(self.target)}"
        return f"{self.scope} p{self.percentile:g} <= {duration(self.threshold)}"


def objectives(slos: tuple[Slo, ...], services: list[str], entrypoints: list[str]) -> tuple[Objective, ...]:
    """Expand '*' and split each SLO into its error-ratio and latency objectives, in a stable order."""
    out: list[Objective] = []
    for kind, names in ((ScopeKind.SERVICE, services), (ScopeKind.ENTRYPOINT, entrypoints)):
        own = {s.scope_name for s in slos if s.scope_kind is kind and s.scope_name != ALL}
        for name in names:
            for slo in slos:
                if slo.scope_kind is not kind:
                    continue
                if slo.scope_name == name or (slo.scope_name == ALL and name not in own):
                    out.extend(_split(slo, Scope(kind, name)))
    for slo in slos:  # an operation's SLO names it: never expanded by '*'
        if slo.scope_kind is ScopeKind.OPERATION:
            out.extend(_split(slo, Scope(ScopeKind.OPERATION, slo.scope_name)))
    return tuple(out)


def _split(slo: Slo, scope: Scope) -> list[Objective]:
    label = slo.name or f"{scope} SLO"
    out = []
    if slo.error_ratio is not None:
        out.append(Objective(label, scope, ObjectiveKind.ERROR_RATIO, slo.error_ratio, slo.window))
    if slo.latency is not None:
        out.append(Objective(label, scope, ObjectiveKind.LATENCY, 1.0 - slo.latency.percentile / 100.0,
                             slo.window, slo.latency.threshold, slo.latency.percentile))
    return out
