"""How big a run is, worked out from the experiment before it runs, and how big it may be.

Every field has its own bound (``chaos.model.bounds``), but fields multiply: a rate
of 100,000 requests/s over 24 hours is 8.6 billion requests, each of which may call a
dozen services. So an experiment is also checked as a whole, on three figures that
grow with the time and memory a run takes:

``requests``
    requests every service handles over the run, in the worst case that every retry is
    used: entry requests (the load profile integrated over the run, load spikes
    included) times the requests one entry request can cause (calls weighted by their
    probability, each call attempted ``1 + retries`` times, or ``1 + budget`` under a
    retry budget). Simulation time grows with it.
``samples``
    per-second samples the run records: seconds times scopes (services and
    entrypoints). Memory and the size of result.json grow with it.
``window_samples``
    per-second samples that SLO and alert windows add up: for each objective, each
    measured second times its window; for each alert rule, each evaluation times its
    windows. Analysis time grows with it.
``rule_samples``
    what evaluating the experiment's rule files and SLO specs costs, in samples read and
    stored: every evaluation of every rule, every series its selectors look at and select,
    the samples in their ranges (``chaos.analysis.prometheus_rules.rule_samples``). A few
    thousand rules over a day-long run, or rules over every histogram bucket of every
    service, are hours of PromQL; this figure stops them before the run.

Every replication is a whole run, so each figure counts them all. The defaults keep a
run within minutes and a couple of GB; an experiment that needs more says so with
``limits: {max_requests: ..., max_samples: ..., max_window_samples: ..., max_rule_samples: ...}``, so that a
big run is always a decision written in the file, for both engines and every sweep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaos.model.load import RateCurve
from chaos.model.parsing import Model, duration_words, fld, model_fields
from chaos.model.topology import Call, Retries, Topology

if TYPE_CHECKING:
    from chaos.model.experiment import Experiment

DEFAULT_MAX_REQUESTS = 50_000_000
"""Ten times the bundled cascade's worst case: about seven minutes of simulation if every retry were used,
at the 115,000 requests per CPU second the cascade simulates (runs use a fifth of their worst case or less:
the cascade sends 7 requests per entry request, not 37)."""

DEFAULT_MAX_SAMPLES = 1_000_000
"""A day of 11 scopes, or an hour of 277: about 2 GB of memory and 160 MB of result.json at the limit."""

DEFAULT_MAX_WINDOW_SAMPLES = 100_000_000
"""A day judged by 30-second windows for 38 objectives: two or three minutes of analysis at the limit
(a 6-hour run with four 30-second latency objectives took under 1.5 microseconds per window sample)."""

DEFAULT_MAX_RULE_SAMPLES = 1_000_000_000
"""About a minute of rule evaluation a run at the limit: the costliest rule sets measured took at most
0.07 us per counted sample (benchmarks/rule_files.py --shapes: a p99 over every service's 66 buckets,
a thousand rules that each look at 800 stored series, rules that read nothing); the bundled team
example counts 37 million and evaluates in about a second. The most a file may ask for, 1e12, is
about 19 hours."""

_HUGE = 1e300  # products of retries are capped here rather than overflowing to infinity


@dataclass(frozen=True)
class Limits(Model):
    """How big one run may be (every replication counted). Raise these to run a bigger model on purpose."""

    max_requests: float = fld(DEFAULT_MAX_REQUESTS, ge=1, le=1e12,
                              doc="requests all services handle, every retry used (the worst case)")
    max_samples: float = fld(DEFAULT_MAX_SAMPLES, ge=1, le=1e10,
                             doc="per-second samples recorded: seconds times services and entrypoints")
    max_window_samples: float = fld(DEFAULT_MAX_WINDOW_SAMPLES, ge=1, le=1e13,
                                    doc="per-second samples SLO and alert windows add up")
    max_rule_samples: float = fld(DEFAULT_MAX_RULE_SAMPLES, ge=1, le=1e12,
                                  doc="samples evaluating the rule files and SLO specs reads and stores")


@dataclass(frozen=True)
class RunSize:
    """The three figures a run is judged on, and what the first is made of."""

    entry_requests: float     # arrivals at the entrypoints, load spikes included, all replications
    per_entry: float          # requests one entry request causes at most (every retry used)
    requests: float
    samples: float
    window_samples: float
    rule_samples: float = 0.0


def attempts(retries: Retries) -> float:
    """Attempts of one call at most: every retry used, or as many as a retry budget allows."""
    extra = float(retries.max) if retries.budget is None else min(float(retries.max), retries.budget)
    return 1.0 + extra


def visits(topology: Topology) -> dict[str, float]:
    """Requests one request to each service causes there and below it, every retry used.

    A call back to a service already on the path counts as one request more, not as the
    whole loop again (loops of certain calls are refused; the others end).
    """
    calls: dict[str, tuple[Call, ...]] = {s.name: s.calls for s in topology.services}
    done: dict[str, float] = {}
    for root in calls:
        if root in done:
            continue
        trail, pending, on_trail = [root], [iter(calls[root])], {root}
        while pending:
            call = next(pending[-1], None)
            if call is None:
                name = trail.pop()
                on_trail.discard(name)
                pending.pop()
                below = sum(c.probability * attempts(c.retries) * (1.0 if c.to in on_trail else done[c.to])
                            for c in calls[name])
                done[name] = min(_HUGE, 1.0 + below)
            elif call.to not in done and call.to not in on_trail:
                trail.append(call.to)
                on_trail.add(call.to)
                pending.append(iter(calls[call.to]))
    return done


def run_size(experiment: Experiment, replications: int | None = None, rule_work: float | None = None) -> RunSize:
    """The size of the run ``experiment`` describes (``replications`` overrides the experiment's).

    ``rule_work`` is what evaluating its rule files costs over one run, when known already
    (the experiment works it out as it checks them); otherwise it is worked out here.
    """
    reps = experiment.replications if replications is None else replications
    if rule_work is None:
        rule_work = 0.0
        if experiment.prometheus_rules or experiment.slo_specs:
            from chaos.analysis.prometheus_rules import rule_samples  # the PromQL parser: only with rule files
            rule_work = rule_samples(experiment)
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
    requests = sum(arrivals[e.name] * attempts(e.retries) * below[e.to] for e in topo.entrypoints) * reps
    seconds = math.ceil(duration)
    scopes = len(topo.services) + len(topo.entrypoints)
    measured = max(0, seconds - math.floor(experiment.warmup))
    judged = sum(measured * _width(o.window, duration) for o in experiment.objectives)
    for rule in experiment.alert_rules:
        widths = ([_width(rule.window, duration)] if rule.TAG == "threshold" else  # type: ignore[union-attr]
                  [_width(w.long, duration) + _width(w.short, duration) for w in rule.windows])  # type: ignore[union-attr]
        judged += math.ceil(duration / rule.every) * sum(widths)
    return RunSize(entry, min(_HUGE, requests / entry) if entry else 0.0, min(_HUGE, requests),
                   float(seconds * scopes * reps), float(judged * reps), min(_HUGE, rule_work * reps))


def _width(window: float, duration: float) -> int:
    return max(1, math.ceil(min(window, duration)))


def check_run_size(experiment: Experiment, limits: Limits, replications: int | None = None,
                   rule_work: float | None = None) -> None:
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
            hint=_raise_hint("max_requests", size.requests, "shorten the run or lower the rate"))
    if size.samples > limits.max_samples:
        raise experiment.error(
            "duration", f"the run is too big: it records {count_words(size.samples)} per-second samples{runs} "
                        f"({math.ceil(experiment.duration):,} s x {len(experiment.scopes):,} services and "
                        f"entrypoints), above the limit of {count_words(limits.max_samples)}",
            hint=_raise_hint("max_samples", size.samples, "shorten the run"))
    if size.window_samples > limits.max_window_samples:
        raise experiment.error(
            "duration", f"the run is too big: its SLO and alert windows add up {count_words(size.window_samples)} "
                        f"per-second samples{runs}, above the limit of {count_words(limits.max_window_samples)}",
            hint=_raise_hint("max_window_samples", size.window_samples,
                             "shorten the run, shorten SLO and alert windows, or evaluate alerts less often"))
    if size.rule_samples > limits.max_rule_samples:
        rules = sum(len(g.rules) for ref in (*experiment.prometheus_rules, *experiment.slo_specs)
                    for g in ref.rules.all_groups)
        raise experiment.error(
            "prometheus_rules" if experiment.prometheus_rules else "slo_specs",
            f"the run is too big: evaluating its {rules:,} rules over {duration_words(experiment.duration)} reads "
            f"and stores about {count_words(size.rule_samples)} samples{runs}, above the limit of "
            f"{count_words(limits.max_rule_samples)}",
            hint=_raise_hint("max_rule_samples", size.rule_samples,
                             "evaluate fewer rules, less often (evaluation_interval, a group's interval), over fewer "
                             "series or shorter ranges, or shorten the run"))


def _raise_hint(key: str, needed: float, smaller: str) -> str:
    wanted = 10 ** math.ceil(math.log10(needed)) if needed < _HUGE else needed
    most = next(f.meta["le"] for f in model_fields(Limits) if f.key == key)
    if wanted > most:  # past what a file may ask for at all: there is no setting to offer
        return f"{smaller}; a run this big is past what chaoslab runs at all ({key} is at most {most:.0e})".replace(
            "e+", "e")
    return (f"{smaller}; or, to run it anyway (it may take long and a lot of memory), raise the limit in the "
            f"experiment: limits: {{{key}: {wanted:.0e}}}".replace("e+", "e"))


def count_words(n: float) -> str:
    """``8.64e9`` -> ``8.6 billion``; ``12500`` -> ``12,500``."""
    if n >= 1e15:
        return f"{n:.1e}"
    for word, scale in (("trillion", 1e12), ("billion", 1e9), ("million", 1e6)):
        if n >= scale:
            return f"{n / scale:.3g} {word}"
    return f"{n:,.0f}" if n >= 10 else f"{n:.3g}"
