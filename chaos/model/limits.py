"""How big a run is, worked out from the experiment before it runs, and how big it may be.

Every field has its own bound (``chaos.model.bounds``), but fields multiply: a rate
of 100,000 requests/s over 24 hours is 8.6 billion requests, each of which may call a
dozen services. So an experiment is also checked as a whole, on four figures that
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

This module holds the limits and the arithmetic; the figures of one experiment are worked out,
and checked, by ``run_size`` and ``check_run_size`` in ``chaos.model.experiment``, whose
validation calls them (so this module never imports the experiment); ``rule_samples`` is
checked once more by the loader (``chaos.model.files.load_experiment``), which can work it out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chaos.model.parsing import Model, fld, model_fields
from chaos.model.topology import Call, Retries, Topology

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

HUGE = 1e300  # products of retries are capped here rather than overflowing to infinity


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
    """The figures a run is judged on, and what the first is made of."""

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


def visits(topology: Topology) -> dict[tuple[str, str], float]:
    """Requests one request to each operation (service, operation) causes there and below it, every retry used.

    Per operation, not per service: a router's routes reach different operations of one service, and
    each request makes only its own operation's calls. A call back to an operation already on the path
    counts as one request more, not as the whole loop again (loops of certain calls are refused; the
    others end).
    """
    ops = {(s.name, o.name): o for s in topology.services for o in s.ops}

    def callee(call: Call) -> tuple[str, str]:
        return call.to, topology.service(call.to).operation_of(call.operation).name

    calls = {key: tuple(c for call in op.calls for c in call.chain) for key, op in ops.items()}
    # a fallback call is counted at its call's share, as if every call failed (an upper bound, as this is)
    shares = {id(fb): share for op in ops.values()
              for c, share in op.call_shares_given(topology.attribute_shares) for fb in c.chain}
    done: dict[tuple[str, str], float] = {}
    for root in calls:
        if root in done:
            continue
        trail, pending, on_trail = [root], [iter(calls[root])], {root}
        while pending:
            call = next(pending[-1], None)
            if call is None:
                key = trail.pop()
                on_trail.discard(key)
                pending.pop()
                below = sum(shares[id(c)] * attempts(c.retries) * (1.0 if callee(c) in on_trail else done[callee(c)])
                            for c in calls[key])
                done[key] = min(HUGE, 1.0 + below)
            elif callee(call) not in done and callee(call) not in on_trail:
                trail.append(callee(call))
                on_trail.add(callee(call))
                pending.append(iter(calls[callee(call)]))
    return done


def raise_hint(key: str, needed: float, smaller: str) -> str:
    wanted = 10 ** math.ceil(math.log10(needed)) if needed < HUGE else needed
    most = next(f.meta["le"] for f in model_fields(Limits) if f.key == key)
    if wanted > most:  # past what a file may ask for at all: there is no setting to offer
        return f"{smaller}; a run this big is past what chaoslab runs at all ({key} is at most {most:.0e})".replace(
            "e+", "e")
    return (f"{smaller}; or, to run it anyway (it may take long and a lot of memory), raise the limit in the "
            f"experiment: limits: {{{key}: {wanted:.0e}}}".replace("e+", "e"))


def window_width(window: float, duration: float) -> int:
    """The per-second samples one evaluation of a window adds up (a window longer than the run is the run)."""
    return max(1, math.ceil(min(window, duration)))


def count_words(n: float) -> str:
    """``8.64e9`` -> ``8.6 billion``; ``12500`` -> ``12,500``."""
    if n >= 1e15:
        return f"{n:.1e}"
    for word, scale in (("trillion", 1e12), ("billion", 1e9), ("million", 1e6)):
        if n >= scale:
            return f"{n / scale:.3g} {word}"
    return f"{n:,.0f}" if n >= 10 else f"{n:.3g}"
