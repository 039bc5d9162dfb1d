"""An experiment: a topology, a load, faults, and what 'healthy' and 'alerting' mean.

::

    name: db-slow-retry-cascade
    topology: ../topologies/shop.yaml     # or the topology written inline
    duration: 5m
    warmup: 30s                           # excluded from every figure
    seed: 7
    replications: 1
    load: {profile: constant, rate: 300}
    faults: [...]                         # see chaos.model.faults
    slos: [...]                           # see chaos.model.slos
    alerts: [...]                         # see chaos.model.alerts
    prometheus_rules: [...]               # your own rule files and SLO specs: see chaos.model.rulefiles
    metrics: {preset: ...}                # the names they read: see chaos.model.metrics
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from chaos.errors import InputError
from chaos.model.alerts import AlertRule, AnyAlertRule
from chaos.model.bounds import MAX_MONITORING_INTERVAL, MAX_REPLICATIONS, MAX_RULE_FILES, MAX_RUN_SECONDS, MAX_SEED
from chaos.model.faults import AnyFault, FaultSpec, TargetKind
from chaos.model.limits import HUGE, Limits, RunSize, attempts, count_words, raise_hint, visits, window_width
from chaos.model.live_target import LiveTarget
from chaos.model.load import AnyLoadProfile, LoadProfile, RateCurve, Users
from chaos.model.metrics import MetricsSpec
from chaos.model.parsing import (
    NAME,
    Model,
    Raw,
    Seconds,
    Where,
    did_you_mean,
    duration_words,
    fld,
    one_of,
    where_of,
)
from chaos.model.rulefiles import AlertDeadline, RuleFileRef
from chaos.model.scope import Scope, ScopeKind, split_edge
from chaos.model.slos import ALL, Objective, Slo, objectives
from chaos.model.topology import Topology, check_operation_scope


@dataclass(frozen=True)
class Override(Model):
    """``services.cart.replicas: 3`` under ``overrides``: one setting of the topology changed for this experiment."""

    VALUE_KEY = "value"
    path: str = fld(doc="dotted path: services.<name>.<setting>..., calls picked by the service they call")
    value: Raw = fld(doc="the new value")


@dataclass(frozen=True, kw_only=True)
class Experiment(Model):
    """Everything one simulated or live run needs."""

    name: str = fld(doc="a short name (it names the results directory, runs/NAME)", text=NAME)
    topology: Topology = fld(doc="path of a topology file (relative to this file), or the topology inline")
    overrides: tuple[Override, ...] = fld((), keyed="path", doc="topology settings changed for this experiment")
    duration: Seconds = fld(gt=0, le=MAX_RUN_SECONDS, doc="length of the run, warm-up included")
    load: LoadProfile = fld(doc="entry requests per second over time, or a number of users (profile: users)")
    warmup: Seconds = fld(0.0, doc="start of the run excluded from figures")
    faults: tuple[FaultSpec, ...] = fld((), doc="faults and when they happen")
    slos: tuple[Slo, ...] = fld((), doc="service level objectives")
    alerts: tuple[AlertRule, ...] = fld((), doc="alert rules")
    seed: int = fld(1, ge=0, le=MAX_SEED, doc="random seed; the same seed gives the same figures")
    replications: int = fld(1, ge=1, le=MAX_REPLICATIONS, doc="independent runs with seeds seed, seed+1, ...")
    live: LiveTarget | None = fld(None, doc="run live against your own Compose stack (default: a generated one)")
    prometheus_rules: tuple[RuleFileRef, ...] = fld((), max_items=MAX_RULE_FILES,
                                                    doc="Prometheus rule files or PrometheusRule documents, "
                                                        "as they are (paths relative to this file)")
    slo_specs: tuple[RuleFileRef, ...] = fld((), max_items=MAX_RULE_FILES,
                                             doc="SLO specs (Sloth prometheus/v1, OpenSLO v1), as they are "
                                                 "(paths relative to this file)")
    evaluation_interval: Seconds = fld(60.0, ge=1, le=MAX_MONITORING_INTERVAL,
                                       doc="your Prometheus's global evaluation_interval: how often rule groups "
                                           "without their own interval are evaluated")
    expect_within: tuple[AlertDeadline, ...] = fld((), keyed="alert", doc="rule-file alerts that should fire "
                                                                          "within this long of the first fault")
    metrics: MetricsSpec = fld(factory=MetricsSpec, doc="the metric names and labels the rule files read")
    description: str = fld("")
    limits: Limits = fld(factory=Limits, doc="how big the run may be; raise on purpose to run a bigger model")
    baseline_topology: Topology | None = fld(None, internal=True,
                                              doc="the topology before overrides (what a rollback restores)")

    @property
    def baseline(self) -> Topology:
        return self.baseline_topology or self.topology

    @property
    def load_profile(self) -> AnyLoadProfile:
        return self.load

    @property
    def fault_list(self) -> tuple[AnyFault, ...]:
        return self.faults

    @property
    def alert_rules(self) -> tuple[AnyAlertRule, ...]:
        return self.alerts

    @property
    def rule_alert_names(self) -> tuple[str, ...]:
        """The alerts the experiment's rule files and SLO specs define (several rules may share a name)."""
        groups = [g for ref in (*self.prometheus_rules, *self.slo_specs) for g in ref.rules.all_groups]
        return tuple(dict.fromkeys(r.name for g in groups for r in g.alerting_rules))

    @property
    def alert_names(self) -> tuple[str, ...]:
        """Every alert a playbook may trigger on: chaoslab's own rules, then the rule files'."""
        return tuple(r.name for r in self.alert_rules) + self.rule_alert_names

    @cached_property
    def objectives(self) -> tuple[Objective, ...]:
        return objectives(self.slos, [s.name for s in self.topology.services],
                          [e.name for e in self.topology.entrypoints])

    @property
    def scopes(self) -> tuple[Scope, ...]:
        return (tuple(Scope.service(s.name) for s in self.topology.services)
                + tuple(Scope.entrypoint(e.name) for e in self.topology.entrypoints))

    @classmethod
    def prepare(cls, values: dict[str, Any], where: Where) -> dict[str, Any]:
        """Apply the experiment's overrides to its topology before anything else looks at it."""
        overrides = values.get("overrides", ())
        if overrides:
            values["baseline_topology"] = values["topology"]
            values["topology"] = with_overrides(values["topology"], overrides)
        return values

    def validate(self) -> None:
        if self.warmup >= self.duration:
            raise self.error("warmup", f"warm-up ({self.warmup:g}s) must be shorter than the run ({self.duration:g}s)")
        for fault in self.fault_list:
            self._check_fault(fault)
            if fault.TAG == "load_spike" and isinstance(self.load, Users):
                raise fault.error("kind", "a load spike multiplies an arrival rate, and a load of users has none",
                                  hint="give the load as a rate (profile: constant, ramp, step, spike or stages)")
        for slo in self.slos:
            self._check_scope(slo, slo.scope_field, slo.scope_kind, slo.scope_name, allow_all=True)
        names: set[str] = set()
        for rule in self.alert_rules:
            self._check_scope(rule, rule.scope_field, rule.scope.kind, rule.scope.name, allow_all=False)
            if rule.name in names:
                raise rule.error("name", f"duplicate alert name '{rule.name}'")
            names.add(rule.name)
        if self.live is not None:
            self.live.check(self.topology)
            self._check_scrape_intervals()
        labels: set[str] = set()
        for fault in self.fault_list:
            if fault.name is not None and fault.name in labels:
                raise fault.error("name", f"duplicate fault name '{fault.name}'")
            labels.add(fault.label)
        self._check_rule_files()
        check_run_size(self, self.limits)

    def _check_scrape_intervals(self) -> None:
        """On a team's own stack, ``metrics:`` and ``live: prometheus:`` describe one Prometheus: a simulation
        scrapes at the first, a game day reads at the second, and two numbers would give the two engines
        different resolutions for the same rules."""
        target = None if self.live is None else self.live.prometheus
        written = self.metrics.scrape_interval
        if target is None or target.scrape_interval is None or written is None:
            return
        if target.scrape_interval != written:
            raise self.metrics.error("scrape_interval", f"{written:g}s, but live: prometheus: scrape_interval is "
                                                        f"{target.scrape_interval:g}s: a simulation would evaluate "
                                                        "the rules at one and a game day read them at the other",
                                     hint="both describe your Prometheus: give one value, or leave one out")

    def _check_rule_files(self) -> None:
        """Check the rule files' names against the experiment.

        What their PromQL means here (an SLO spec tied to nothing) and what evaluating it costs are
        checked by the loader, ``chaos.model.files.load_experiment``: the PromQL evaluator sits above
        the model (it reads runs, which hold experiments), so the model cannot call it.
        """
        self.metrics.check(self.topology)
        for ref in self.slo_specs:
            if not ref.rules.slos:
                raise ref.error(None, f"{ref.file} holds no SLO spec",
                                hint="list rule files under prometheus_rules, SLO specs (Sloth, OpenSLO) here")
        own = {r.name for r in self.alert_rules}
        rule_alerts = self.rule_alert_names
        for name in rule_alerts:
            if name in own:
                raise self.error("alerts", f"alert '{name}' is defined both here and in a rule file",
                                 hint="rename one: time to detect, expect_within and playbooks name alerts")
        for deadline in self.expect_within:
            if deadline.alert in own:
                raise deadline.error("alert", f"'{deadline.alert}' is one of this experiment's own alerts",
                                     hint="give it expect_within under alerts:")
            if deadline.alert not in rule_alerts:
                raise deadline.error("alert", f"no rule file defines alert '{deadline.alert}'"
                                              f"{did_you_mean(deadline.alert, rule_alerts)}",
                                     hint=f"the rule files' alerts: {one_of(rule_alerts)}" if rule_alerts else
                                     "list the rule files that define it under prometheus_rules or slo_specs")

    def _check_scope(self, obj: Model, field_name: str, kind: ScopeKind, name: str, allow_all: bool) -> None:
        if kind is ScopeKind.OPERATION:
            service, _, op = name.partition(".")
            self._check_scope(obj, field_name, ScopeKind.SERVICE, service, allow_all=False)
            check_operation_scope(obj, self.topology.service(service), op)
            return
        known = (self.topology.service_map if kind is ScopeKind.SERVICE else self.topology.entrypoint_map)
        if name == ALL and allow_all:
            return
        if name not in known:
            raise obj.error(field_name, f"unknown {kind.value} '{name}'{did_you_mean(name, known)}")

    def _check_fault(self, fault: AnyFault) -> None:
        if fault.at >= self.duration:
            raise fault.error("at", f"the fault starts at {fault.at:g}s, after the run ends ({self.duration:g}s)")
        kind = self.target_kind(fault.target)
        if kind is None:
            raise fault.error("target", self._unknown_target(fault.target, fault.TARGETS))
        if kind not in fault.TARGETS:
            allowed = " or ".join(sorted(k.value for k in fault.TARGETS))
            raise fault.error("target", f"a {fault.TAG} fault targets {allowed}, but '{fault.target}' is "
                                        f"{'an' if kind is TargetKind.EDGE else 'a'} {kind.value}")
        operation = getattr(fault, "operation", None)
        if operation is not None:
            if kind is not TargetKind.SERVICE:
                raise fault.error("operation", f"a {fault.TAG} fault on an operation targets its service "
                                               f"('target: SERVICE, operation: NAME'), not '{fault.target}'")
            check_operation_scope(fault, self.topology.service(fault.target), operation)
        if fault.TAG == "crash" and fault.replicas is not None:  # type: ignore[union-attr]
            have = self.topology.service(fault.target).replicas
            if fault.replicas > have:  # type: ignore[union-attr]
                raise fault.error("replicas", f"'{fault.target}' has only {have} replica(s)")

    def target_kind(self, target: str) -> TargetKind | None:
        topo = self.topology
        edge = split_edge(target)
        if edge is not None:
            return TargetKind.EDGE if edge in topo.edges else None
        if target in topo.service_map:
            return TargetKind.SERVICE
        if target in topo.entrypoint_map or target == ALL:
            return TargetKind.ENTRYPOINT
        return None

    def _unknown_target(self, target: str, allowed: frozenset[TargetKind]) -> str:
        topo = self.topology
        edge = split_edge(target)
        if edge is not None:
            caller, callee = edge
            for name in (caller, callee):
                if name not in topo.service_map:
                    return f"unknown service '{name}'{did_you_mean(name, topo.service_map)} in edge '{target}'"
            calls = [c.to for c in topo.service(caller).all_calls]
            return (f"'{caller}' does not call '{callee}'" +
                    (f"; it calls {one_of(calls)}" if calls else "; it makes no calls"))
        names: list[str] = []
        words = []
        if allowed & {TargetKind.SERVICE, TargetKind.EDGE}:
            names += list(topo.service_map)
            words.append("service")
        if TargetKind.ENTRYPOINT in allowed:
            names += list(topo.entrypoint_map)
            words.append("entrypoint")
        return f"unknown {' or '.join(words)} '{target}'{did_you_mean(target, names)}"


def with_overrides(topology: Topology, overrides: tuple[Override, ...]) -> Topology:
    """The topology with each override applied, checked again as a whole."""
    from chaos.model.overrides import revalidate, set_path
    for ov in overrides:
        try:
            topology = set_path(topology, ov.path.split("."), ov.value)  # type: ignore[assignment]
        except InputError as exc:
            location, _ = where_of(ov).of("path")
            raise InputError(f"{exc.path}: {exc.detail}" if exc.path else exc.detail, location, "overrides",
                             exc.hint) from None
    revalidate(topology)
    return topology


# --------------------------------------------------------------------------- the size of a run (chaos.model.limits)
# Here rather than in chaos.model.limits because the experiment's own check calls them, and they read the
# experiment: limits holds the bounds and the arithmetic, and never imports this module.


def run_size(experiment: Experiment, replications: int | None = None, rule_work: float = 0.0) -> RunSize:
    """The size of the run ``experiment`` describes (``replications`` overrides the experiment's).

    ``rule_work`` is what evaluating its rule files costs over one run
    (``chaos.analysis.prometheus_rules.rule_samples``, which sits above the model: the loader
    works it out and passes it in).
    """
    reps = experiment.replications if replications is None else replications
    topo, duration = experiment.topology, experiment.duration
    curve = RateCurve(experiment.load_profile.segments(duration))
    total_share = sum(e.share for e in topo.entrypoints)
    arrivals = {e.name: curve.expected(0.0, duration) * e.share / total_share for e in topo.entrypoints}
    for fault in experiment.fault_list:
        if fault.TAG != "load_spike":
            continue
        extra = max(0.0, fault.factor - 1.0) * curve.expected(fault.at, fault.end(duration))  # type: ignore[union-attr]
        for e in topo.entrypoints:
            if fault.target in ("*", e.name):
                arrivals[e.name] += extra * e.share / total_share
    below = visits(topo)
    entry = sum(arrivals.values()) * reps
    entered = {e.name: (e.to, topo.service(e.to).operation_of(e.operation).name) for e in topo.entrypoints}
    requests = sum(arrivals[e.name] * attempts(e.retries) * below[entered[e.name]] for e in topo.entrypoints) * reps
    seconds = math.ceil(duration)
    scopes = len(topo.services) + len(topo.entrypoints)
    measured = max(0, seconds - math.floor(experiment.warmup))
    judged = sum(measured * window_width(o.window, duration) for o in experiment.objectives)
    for rule in experiment.alert_rules:
        widths = ([window_width(rule.window, duration)] if rule.TAG == "threshold" else  # type: ignore[union-attr]
                  [window_width(w.long, duration) + window_width(w.short, duration)
                   for w in rule.windows])  # type: ignore[union-attr]
        judged += math.ceil(duration / rule.every) * sum(widths)
    return RunSize(entry, min(HUGE, requests / entry) if entry else 0.0, min(HUGE, requests),
                   float(seconds * scopes * reps), float(judged * reps), min(HUGE, rule_work * reps))


def check_run_size(experiment: Experiment, limits: Limits, replications: int | None = None,
                   rule_work: float = 0.0) -> None:
    """Refuse a run bigger than ``limits``, saying how big it is and what to do."""
    size = run_size(experiment, replications, rule_work)
    reps = experiment.replications if replications is None else replications
    runs = f" in {reps} replications" if reps > 1 else ""
    if size.requests > limits.max_requests:
        raise experiment.error(
            "load", f"the run is too big: about {count_words(size.requests)} requests{runs} "
                    f"({count_words(size.entry_requests)} entry requests over {duration_words(experiment.duration)}, "
                    f"up to {count_words(size.per_entry)} requests each with every retry used), above the limit of "
                    f"{count_words(limits.max_requests)}",
            hint=raise_hint("max_requests", size.requests, "shorten the run or lower the rate"))
    if size.samples > limits.max_samples:
        raise experiment.error(
            "duration", f"the run is too big: it records {count_words(size.samples)} per-second samples{runs} "
                        f"({math.ceil(experiment.duration):,} s x {len(experiment.scopes):,} services and "
                        f"entrypoints), above the limit of {count_words(limits.max_samples)}",
            hint=raise_hint("max_samples", size.samples, "shorten the run"))
    if size.window_samples > limits.max_window_samples:
        raise experiment.error(
            "duration", f"the run is too big: its SLO and alert windows add up {count_words(size.window_samples)} "
                        f"per-second samples{runs}, above the limit of {count_words(limits.max_window_samples)}",
            hint=raise_hint("max_window_samples", size.window_samples,
                            "shorten the run, shorten SLO and alert windows, or evaluate alerts less often"))
    if size.rule_samples > limits.max_rule_samples:
        rules = sum(len(g.rules) for ref in (*experiment.prometheus_rules, *experiment.slo_specs)
                    for g in ref.rules.all_groups)
        raise experiment.error(
            "prometheus_rules" if experiment.prometheus_rules else "slo_specs",
            f"the run is too big: evaluating its {rules:,} rules over {duration_words(experiment.duration)} reads "
            f"and stores about {count_words(size.rule_samples)} samples{runs}, above the limit of "
            f"{count_words(limits.max_rule_samples)}",
            hint=raise_hint("max_rule_samples", size.rule_samples,
                            "evaluate fewer rules, less often (evaluation_interval, a group's interval), over fewer "
                            "series or shorter ranges, or shorten the run"))
