"""The observed model written as a topology file: YAML text with every guess said in a comment. Pure.

Today's topology has one plan per service (one service time, one list of calls) and calls
made independently, each with its probability; the observed model has operations with plans
of their own, and routers that pick one of several calls. Where the traces show more than
the topology can hold, it is blended as the topology can hold it, and a :class:`Draft` note
says so (the command prints the notes, the file carries them as comments):

- a service's operations share one service time (their own times fitted together) and one
  call list: each callee's probability is the share of all the service's requests that
  called it; calls are ordered and grouped by the busiest operation's stages first (a parallel
  stage after another one begins with ``new_stage``, or the two would run as one);
- a router's calls become independent calls with the router's weights (so a request may
  make both, or neither, more often than the traces show);
- several entrypoints into one service get the service's one blended plan.

A service time is the own time plus the service's per-hop overhead (what its callers waited
beyond its own server span), because the simulator has no network: the same choice
``chaoslab calibrate`` makes for a live run. Where callers were seen waiting on it, the two are
fitted together, call by call (:func:`service_time`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from chaos.core.choices import CallMode
from chaos.model.bounds import MAX_REPLICAS, MAX_RETRIES, MAX_TAIL_RATIO, MAX_WORKERS
from chaos.model.distributions import AnyDistribution, Constant, Empirical, Exponential, LogNormal
from chaos.model.parsing import NAME
from chaos.terminal import visible
from chaos.traces.fit import shifted
from chaos.traces.observed import (
    Basis,
    Marked,
    ObservedCall,
    ObservedEntrypoint,
    ObservedModel,
    ObservedOperation,
    ObservedService,
    Router,
)

PACE_ATTRIBUTE = "pace"
SPARE_WORKERS = 8           # a pool never seen full: twice the most seen busy, and at least this many more
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Draft:
    """A topology written from traces, and what the writing had to say about it."""

    text: str                              # the YAML file, comments included
    notes: tuple[str, ...]                 # what the topology could not say as the traces show it
    services: dict[str, str]               # traced service name -> name in the topology
    entrypoints: dict[tuple[str, str], str]  # (service, operation) -> entrypoint name
    rate: float                            # entry requests per second over the traces
    guesses: int                           # settings marked ``# guessed:``


def safe_name(text: str, taken: set[str], fallback: str = "service") -> str:
    """``text`` as a topology name (NAME's rule), different from every name in ``taken``."""
    base = _UNSAFE.sub("-", text).strip("-_").lower()[:56] or fallback
    if not base[0].isalnum():
        base = f"{fallback}-{base}"[:56]
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    assert NAME.check(name), name
    taken.add(name)
    return name


def duration(seconds: float) -> str:
    """A duration as the topology reads it, to the microsecond, never in exponent notation."""
    us = max(0.0, seconds) * 1e6
    if us < 1000:
        return f"{_plain(us, 3)}us"
    return f"{_plain(us / 1000, 3)}ms"


def _plain(x: float, places: int) -> str:
    text = f"{x:.{places}f}".rstrip("0").rstrip(".")
    return text or "0"


def service_time(s: ObservedService) -> tuple[AnyDistribution, str] | None:
    """The service time a topology gets for ``s``, and where it came from (None: no timing survived).

    The simulator has no network: what a caller waits beyond the callee's server span (network,
    connection set-up, proxies, the HTTP client and server outside the span) must be work of the
    callee, or the simulation is faster than the traces at every hop. Where callers were seen
    waiting on it, the derivation chose how (``seen_work``, see ``chaos.traces.derive``); otherwise
    it is the own time moved by the first percentile of that overhead.
    """
    if s.seen_work is not None:
        return s.seen_work.value, _mark(s.seen_work)
    marked = s.work_time.distribution
    if marked is None:
        return None
    hop = s.hop.value if s.hop is not None else 0.0
    dist, reshaped = shifted(marked.value, hop)
    why = _mark(marked)
    if dist is not marked.value:
        assert s.hop is not None
        why += f"; plus the per-hop overhead, {_ms(hop)} ({s.hop.why})"
        if reshaped:
            why += "; written as the lognormal with that median and p99"
    return dist, why


def dist_yaml(dist: AnyDistribution) -> str:
    if isinstance(dist, Constant):
        return duration(dist.value)
    if isinstance(dist, Exponential):
        return f"{{dist: exponential, mean: {duration(dist.mean)}}}"
    if isinstance(dist, Empirical):
        return f"{{dist: empirical, samples: [{', '.join(duration(x) for x in dist.points)}]}}"
    assert isinstance(dist, LogNormal)
    median = dist.median
    p99 = min(max(dist.quantile(0.99), median), MAX_TAIL_RATIO * median * 0.999)
    return f"{{dist: lognormal, median: {duration(median)}, p99: {duration(p99)}}}"


@dataclass(frozen=True)
class PaceAttribute:
    """The request's pace as a topology declares it (a categorical attribute), and where it came from."""

    yaml: str    # the attribute's value, in the topology's notation: ``{values: {p1: 0.125, ...}}``
    why: str


PACED_WHY = ("measured: its times (as its callers waited on it, or its own) in each pace of request, so that the "
             "hops of one request are slow together as the traces show")


def pace_attribute(model: ObservedModel) -> PaceAttribute | None:
    """The pace attribute the traces show, None when the hops of a request are not slow together: the one
    derivation that ``from-traces`` writes and ``calibrate`` puts into a topology."""
    pace = model.pace
    if pace is None or not any(s.paced for s in model.services):
        return None
    shares = [round(c.share, 4) for c in pace.classes[:-1]]  # written so that they add up to 1 exactly
    shares.append(round(1 - sum(shares), 4))
    values = ", ".join(f"{c.name}: {_plain(x, 4)}" for c, x in zip(pace.classes, shares, strict=True))
    ranges = "; ".join(f"{c.name} {_ms(c.overhead_low)}-{_ms(c.overhead_high)}" for c in pace.classes)
    return PaceAttribute(f"{{values: {{{values}}}}}",
                         f"measured: the {pace.traces:,} requests with a hop seen from both sides, grouped by their "
                         f"mean per-hop overhead ({ranges}): one hop's overhead goes with its request's other hops' "
                         f"(correlation {pace.correlation:.2f} of their logs), so the pace is drawn once per request")


def paced_times(model: ObservedModel, s: ObservedService | ObservedOperation) -> tuple[tuple[str, str], ...]:
    """``s``'s time (a service's, or one operation's) in each pace of request (value name, distribution in the
    topology's notation); empty where the traces show no pace or too few of its times in some pace."""
    if model.pace is None or not s.paced:
        return ()
    return tuple((c.name, dist_yaml(d)) for c, d in zip(model.pace.classes, s.paced, strict=True))


def _mark(m: Marked[Any]) -> str:
    if m.basis is Basis.GUESSED:
        return f"guessed: {m.why}"
    if m.basis is Basis.INFERRED:
        return f"guessed: inferred from a pattern: {m.why}"
    return f"{m.basis.value}: {m.why}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms"


@dataclass
class _Planned:
    """One callee in a service's blended call list."""

    callee: str
    requests_with: float
    calls: list[ObservedCall]
    mode: CallMode              # PARALLEL: with the calls beside it of the same stage
    new_stage: bool = False     # the first call of a parallel group that follows another one


@dataclass
class _Writer:
    model: ObservedModel
    name: str
    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    guesses: int = 0
    names: dict[str, str] = field(default_factory=dict)

    def comment(self, text: str) -> str:
        if text.startswith("guessed:"):
            self.guesses += 1
        return "  # " + _clean(text)

    def write(self) -> Draft:
        taken: set[str] = set()
        for s in self.model.services:
            self.names[s.name] = safe_name(s.name, taken)
        entry_names: dict[tuple[str, str], str] = {}
        taken_entries: set[str] = set()
        for e in self.model.entrypoints:
            entry_names[(e.service, e.operation)] = safe_name(e.operation, taken_entries, "entry")
        body = [f"name: {safe_name(self.name, set(), 'traced')}", "services:"]
        for s in self.model.services:
            body.extend(self._service(s))
        body.append("entrypoints:")
        for e in self.model.entrypoints:
            body.extend(self._entrypoint(e, entry_names[(e.service, e.operation)]))
        body.extend(self._pace())
        self._entry_blending()
        text = "\n".join(self._header() + body) + "\n"
        notes = tuple(_clean(n) for n in self.notes)
        return Draft(text, notes, dict(self.names), entry_names, self.model.traced_rate, self.guesses)

    # ------------------------------------------------------------------ header

    def _header(self) -> list[str]:
        m = self.model
        files = _clean(", ".join(src.path for src in m.sources))
        out = [f"# Derived by chaoslab topology from-traces from {files}:",
               f"# {m.spans_read:,} spans, {m.traces:,} traces ({m.traces_used:,} used), "
               f"{m.rate_period_s:.1f} s of entry arrivals.",
               f"# Traced load: {m.traced_rate:.4g} entry requests/s in all; simulate it with "
               f"load: {{profile: constant, rate: {m.traced_rate:.4g}}}.",
               "# Settings the traces do not show are chaoslab's defaults: queues (limit 1000, fifo), round-robin",
               "# load balancing, no circuit breakers, no fallbacks, no cancellation, no client timeouts or",
               "# retries at the entrypoints. Settings the traces only suggest are marked '# guessed:'.",
               "# Service times are each service's own work (its server span minus its waiting on calls) plus",
               "# its per-hop overhead (what its callers waited beyond its server span, fitted together with the",
               "# work call by call where callers were seen waiting on it): the simulator has no network."]
        if m.flaws:
            out += ["#", "# Not used, or used with a caveat:"]
            out += [f"#   {f.count:,} {f.flaw.value}" for f in m.flaws]
        if self.notes:
            out += ["#", "# What the topology cannot say as the traces show it (operations, routing and request",
                    "# attributes come with issue 16); blended as it can:"]
            for note in self.notes:
                out += _wrapped(note, "#   - ", "#     ")
        return out

    # ------------------------------------------------------------------ services

    def _service(self, s: ObservedService) -> list[str]:
        name = self.names[s.name]
        out = [f"  {name}:" + (self.comment(f"traced as '{s.name}'") if name != s.name else "")]
        out.append(f"    replicas: {min(MAX_REPLICAS, s.replicas.value)}" + self.comment(_mark(s.replicas)))
        out.append(f"    workers: {self._workers(s)}")
        out.append(self._service_time(s))
        ops = [op for op in s.operations if op.requests]
        if len(ops) > 1:
            listed = ", ".join(f"{op.name} ({op.requests:,})" for op in ops)
            self.notes.append(f"{name} handles {len(ops)} operations ({listed}); the topology has one plan per "
                              f"service: their own times are fitted together and their calls blended into one list")
        planned = self._plan(s)
        if planned:
            out.append("    calls:")
            requests = sum(op.requests for op in s.operations)
            for p in planned:
                out.extend(self._call(s, p, requests))
        return out

    def _workers(self, s: ObservedService) -> str:
        if s.workers is not None and s.workers.basis is Basis.INFERRED:
            return f"{min(MAX_WORKERS, s.workers.value)}" + self.comment(_mark(s.workers))
        if s.workers is not None:
            peak = s.workers.value
            n = min(MAX_WORKERS, max(2 * peak, peak + SPARE_WORKERS))
            return f"{n}" + self.comment(
                f"guessed: no queueing seen; at most {peak} requests were in progress on one instance, so the pool "
                f"is at least that: written as {n} so that the simulation queues no more than the traces did")
        t = s.traffic
        period = self.model.rate_period_s
        busy = t.attempts / period * t.ok.mean if period > 0 and t.ok.count else 0.0  # Little's law
        n = min(MAX_WORKERS, max(SPARE_WORKERS, math.ceil(4 * busy)))
        return f"{n}" + self.comment(f"guessed: not instrumented, so its pool is unknown: four times the "
                                     f"{busy:.2g} calls its callers had in flight on average, at least "
                                     f"{SPARE_WORKERS}")

    def _service_time(self, s: ObservedService) -> str:
        chosen = service_time(s)
        if chosen is None:
            return "    service_time: 0ms" + self.comment("guessed: no timing of this service survived")
        dist, why = chosen
        line = f"    service_time: {dist_yaml(dist)}" + self.comment(why)
        paced = paced_times(self.model, s)
        if not paced:
            return line
        values = [f"        {value}: {written}" for value, written in paced]
        return "\n".join([line, "    service_time_by:" + self.comment(PACED_WHY),
                          f"      attribute: {PACE_ATTRIBUTE}", "      values:", *values])

    def _pace(self) -> list[str]:
        pace = pace_attribute(self.model)
        if pace is None:
            return []
        return ["attributes:", f"  {PACE_ATTRIBUTE}: {pace.yaml}" + self.comment(pace.why)]

    # ------------------------------------------------------------------ calls

    def _plan(self, s: ObservedService) -> list[_Planned]:
        """Every operation's calls, blended into one list: the busiest operation's stages first."""
        placed: dict[str, _Planned] = {}
        order: list[_Planned] = []
        for op in sorted(s.operations, key=lambda o: -o.requests):
            for stage_no, stage in enumerate(op.stages, 1):
                fresh: list[_Planned] = []
                for step in stage.steps:
                    calls = [r.call for r in step.routes] if isinstance(step, Router) else [step]
                    if isinstance(step, Router):
                        weights = ", ".join(f"{self._callee(r.call)} {r.weight:.3f}" for r in step.routes)
                        self.notes.append(
                            f"{self.names[s.name]} ({op.name}, stage {stage_no}) calls one of [{weights}] per "
                            f"request ({step.why}); written as independent calls with those probabilities, so "
                            f"a request may make several of them, or none, more often than the traces show")
                    for call in calls:
                        callee = self._callee(call)
                        if callee == self.names[s.name]:
                            self.notes.append(f"{callee} ({op.name}) calls itself ({call.operation.value}), or two "
                                              f"instrumentation libraries nested its server spans; a topology call "
                                              f"to the caller itself cannot be written: left out")
                            continue
                        made = call.probability * op.requests
                        if callee in placed:
                            placed[callee].requests_with += made
                            placed[callee].calls.append(call)
                            continue
                        planned = _Planned(callee, made, [call], stage.mode)
                        placed[callee] = planned
                        fresh.append(planned)
                if not fresh:
                    continue
                mode = CallMode.PARALLEL if stage.mode is CallMode.PARALLEL and len(fresh) > 1 \
                    else CallMode.SEQUENTIAL
                # Adjacent parallel calls form one group: a second group that the traces show starting
                # after the first one ended must begin a stage of its own.
                fresh[0].new_stage = mode is CallMode.PARALLEL and bool(order) and order[-1].mode is CallMode.PARALLEL
                for p in fresh:
                    p.mode = mode
                order.extend(fresh)
        return order

    def _callee(self, call: ObservedCall) -> str:
        return self.names.get(call.callee.value, call.callee.value)

    def _call(self, s: ObservedService, p: _Planned, requests: int) -> list[str]:
        main = max(p.calls, key=lambda c: c.probability)
        probability = min(1.0, p.requests_with / requests) if requests else 0.0
        operations = sorted({c.operation.value for c in p.calls})
        name = self.names[s.name]
        named = f"operation{'s' if len(operations) > 1 else ''} {', '.join(operations)}"
        if main.callee.basis.guess:  # named from a peer attribute or an address, not from its own spans
            named = f"{_mark(main.callee)}; {named}"
        out = [f"      - to: {p.callee}" + self.comment(named)]
        if p.mode is CallMode.PARALLEL:
            out.append("        mode: parallel" + self.comment("measured: overlapped the calls beside it in most "
                                                               "requests that made both"))
        if p.new_stage:
            out.append("        new_stage: true" + self.comment("measured: starts after the parallel calls before "
                                                                "it have ended, in most requests that made both"))
        alone = len(p.calls) == 1 and abs(probability - main.probability) < 1e-9
        out.append(f"        probability: {_plain(probability, 4)}" + self.comment(
            f"measured: in {round(p.requests_with):,} of {requests:,} requests" +
            (f" (±{main.probability_stderr:.3f})" if alone else "")))
        if len(p.calls) > 1:
            self.notes.append(f"{name} calls {p.callee} from several operations or as several of its operations "
                              f"({', '.join(operations)}): one call with the probability of either, and the "
                              f"settings of the most frequent")
        if main.shared is not None and main.shared.value:
            out.append("        # " + _mark(main.shared) + "; the topology draws the call again for each attempt")
            self.guesses += 1
            self.notes.append(f"{name} -> {p.callee}: whether the call is made is shared by every attempt of a "
                              f"retried request (a request attribute); the topology draws it again for each "
                              f"attempt, with the call's probability")
        if main.calls_per_request > 1.0005:
            self.notes.append(f"{name} calls {p.callee} {main.calls_per_request:.2f} times per request that calls "
                              f"it (a loop); the topology makes one call per request")
        if main.timeout is not None:
            out.append(f"        timeout: {duration(main.timeout.value)}" + self.comment(_mark(main.timeout)))
        if main.retries is not None:
            backoff = main.retries.backoff_p50 or 0.0
            retries = min(MAX_RETRIES, main.retries.max.value)
            out.append(f"        retries: {{max: {retries}, backoff: {{base: {duration(backoff)}, "
                       f"cap: {duration(backoff)}, jitter: none}}}}" + self.comment(
                           f"{_mark(main.retries.max)}; backoff: the median gap between attempts, "
                           f"{_ms(backoff)}, as a constant delay"))
        unexplained = main.error_ratio if main.timeout is None else 0.0
        if unexplained > 0:
            out.append(f"        # traces: {main.error_ratio:.2%} of attempts failed ({main.final_error_ratio:.2%} "
                       f"after retries), not from a timeout; the topology has no standing error ratio (an "
                       f"'errors' fault in an experiment can add one)")
            self.notes.append(f"{name} -> {p.callee}: {main.error_ratio:.2%} of attempts failed with no timeout "
                              f"to explain them; the topology cannot hold a standing error ratio")
        return out

    # ------------------------------------------------------------------ entrypoints

    def _entrypoint(self, e: ObservedEntrypoint, name: str) -> list[str]:
        latency = e.latency
        return [f"  {name}:" + self.comment(f"'{e.operation}' at {e.service}"),
                f"    to: {self.names[e.service]}",
                f"    share: {_plain(max(e.share, 1e-6), 6)}" + self.comment(
                    f"measured: {e.requests:,} requests, {e.rate:.4g}/s, errors {e.error_ratio:.2%}, "
                    f"p50 {_ms(latency.p50)}, p99 {_ms(latency.p99)}")]

    def _entry_blending(self) -> None:
        by_service: dict[str, list[str]] = {}
        for e in self.model.entrypoints:
            by_service.setdefault(e.service, []).append(e.operation)
        for service, ops in by_service.items():
            if len(ops) > 1:
                self.notes.append(f"entrypoints {', '.join(repr(o) for o in ops)} all enter "
                                  f"{self.names[service]}: each gets its one blended plan, so their latencies "
                                  f"in a simulation are alike where the traces show them apart")


def _clean(text: str) -> str:
    """Text for a YAML comment: one line, every character YAML or a terminal would act on written as an escape
    (names come from the traces, and a service name may hold a newline)."""
    return " ".join(visible(text).split())


def _wrapped(text: str, first: str, rest: str, width: int = 110) -> list[str]:
    words, lines, line = _clean(text).split(), [], first
    for word in words:
        if len(line) + len(word) + 1 > width and line.strip("# -"):
            lines.append(line.rstrip())
            line = rest
        line += word + " "
    lines.append(line.rstrip())
    return lines


def draft_topology(model: ObservedModel, name: str) -> Draft:
    """The topology the traces show, as YAML text; ``name`` is the topology's name."""
    return _Writer(model, name).write()


@dataclass(frozen=True)
class Calibrated:
    """A service's time as the traces show it, ready for a topology file."""

    service: str       # the topology's name
    yaml: str          # the service_time value, in the topology's notation
    why: str
    operations: tuple[tuple[str, Calibrated], ...] = ()  # each traced operation's own (its traced name, its time)
    paced: tuple[tuple[str, str], ...] = ()  # its time in each pace of request (see :func:`paced_times`)

    def operation(self, name: str) -> tuple[str, Calibrated] | None:
        """The traced operation a topology operation ``name`` is: the one of that name, else the only one whose
        last word is ``name`` (``GET /op/find`` and ``SELECT find`` are ``find``); None when none or several are."""
        exact = [pair for pair in self.operations if pair[0] == name]
        if exact:
            return exact[0]
        tail = [pair for pair in self.operations if re.split(r"[\s/.:]+", pair[0].strip())[-1] == name]
        return tail[0] if len(tail) == 1 else None


def _calibrated(model: ObservedModel, name: str, op: ObservedOperation, hop: float) -> Calibrated | None:
    """One operation's time as its callers waited on it (as :func:`service_time` for a service), and its times
    by the request's pace; where no caller was seen waiting on it, its own time moved by the service's per-hop
    overhead (its first percentile)."""
    paced = paced_times(model, op)
    if op.seen_work is not None:
        return Calibrated(name, dist_yaml(op.seen_work.value), _mark(op.seen_work), paced=paced)
    marked = op.work_time.distribution
    if marked is None:
        return None
    dist, _ = shifted(marked.value, hop)
    why = f"{_mark(marked)}" + (f"; plus the per-hop overhead, {_ms(hop)}" if dist is not marked.value else "")
    return Calibrated(name, dist_yaml(dist), why, paced=paced)


def calibrations(model: ObservedModel) -> dict[str, Calibrated]:
    """Each traced service's time as ``from-traces`` writes it (:func:`service_time`, and its times by the
    request's pace where the traces show one), keyed by its name in a topology; with each of its operations'
    times as their callers waited on them (and by the pace), for a topology that declares them."""
    taken: set[str] = set()
    out = {}
    for s in model.services:
        name = safe_name(s.name, taken)
        chosen = service_time(s)
        if chosen is None:
            continue
        dist, why = chosen
        hop = s.hop.value if s.hop is not None else 0.0
        ops = tuple((op.name, fit) for op in s.operations
                    if (fit := _calibrated(model, f"{name}.{op.name}", op, hop)) is not None)
        out[name] = Calibrated(name, dist_yaml(dist), why, operations=ops, paced=paced_times(model, s))
    return out
