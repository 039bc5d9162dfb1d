"""Fidelity: a topology simulated at the traced load, judged against the traces it should reproduce. Pure.

Per service (attempts sent to it, as its callers saw them) and per entrypoint (requests as
users sent them), the figures a simulation's ``result.json`` has, taken from the traces the
same way:

- **throughput**: successful attempts per second, over the period of the entry arrivals;
- **error ratio**: failed attempts / attempts (a client span's error status, or the server
  span's where the caller made none);
- **p50, p90, p99**: of successful attempts, the caller's client span (the server span where
  the caller made none, and for an entrypoint, which has no caller in the traces).

An entrypoint's traced figures are what the entry service saw (its root server span). A client
measures more: its own hop to the entry service (connection, proxies, network), and its own
timeout, after which it counts a failure that the entry service may still finish and record as a
success. So a live run's load-generator latency (``result.json`` of ``chaoslab run``) is higher
than the traced one, and a topology with an entrypoint timeout fails, in simulation, entry
requests that the traces show as slow successes: the report says both (:data:`ENTRY_MEASURES`,
:func:`entry_caveats`).

Each pair is judged by the bounds of ``chaoslab compare`` (``chaos.agreement.TRACE_BOUNDS``):
the simulation is the prediction, the traces the observation. A latency quantile of fewer
than ``MIN_TIMED`` traced successes is shown but not judged: its sampling error is larger
than the bound. Scopes found on one side only are listed, not judged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chaos.agreement import TRACE_BOUNDS, Check, judge
from chaos.model.scope import Scope, ScopeKind
from chaos.run import Run
from chaos.traces.fit import Summary
from chaos.traces.observed import ObservedModel, Traffic

MIN_TIMED = 50
QUANTILES = {"p50_ms": 0.5, "p90_ms": 0.9, "p99_ms": 0.99}
ENTRY_MEASURES = (
    "An entrypoint's traced figures are the entry service's root server span: from its first byte in to its last "
    "byte out. A client measures more: its own hop to the entry service (connection, proxies, network), which no "
    "trace shows, and its own timeout. A load generator's latency at the same entrypoint is therefore higher: on "
    "two traced game days of chaoslab's round trip the generator's p50 was 41% and 38% above the traced one (the "
    "traced p50 29% and 28% below it); on a third, overloaded, the generator gave up on 23% of requests at its 2 s "
    "timeout, which the traces show as 4% failed. Compare a simulation with the traces, not with the generator.")


@dataclass(frozen=True)
class Figures:
    attempts: int
    ok: int
    throughput_rps: float
    error_ratio: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None

    def value(self, figure: str) -> float | None:
        x = getattr(self, figure)
        return None if x is None else float(x)


@dataclass(frozen=True)
class Fidelity:
    """The checks, scope by scope, and what could not be paired."""

    checks: tuple[Check, ...]
    traced_only: tuple[str, ...]       # scopes in the traces that the topology does not name
    simulated_only: tuple[str, ...]    # scopes of the topology no trace showed
    rate: float
    sim_seconds: float
    seed: int
    caveats: tuple[str, ...] = ()      # how to read some figures (what a trace measures at the entrypoint, ...)

    @property
    def divergent(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.ok is False)

    @property
    def agrees(self) -> bool:
        return not self.divergent

    def verdict(self) -> str:
        if self.agrees:
            judged = sum(1 for c in self.checks if c.ok is not None)
            return f"AGREE: all {judged} judged figures within their bounds"
        by_scope: dict[str, list[str]] = {}
        for c in self.divergent:
            by_scope.setdefault(c.scope, []).append(c.figure)
        return "DIVERGE: " + "; ".join(f"{scope} on {', '.join(figs)}" for scope, figs in by_scope.items())


def _traced(t: Traffic, period: float) -> Figures:
    ok = t.attempts - t.errors
    timed = t.ok.count >= 1

    def q(s: Summary, figure: str) -> float | None:
        return getattr(s, figure.removesuffix("_ms")) * 1000.0 if timed else None

    return Figures(t.attempts, ok, ok / period if period > 0 else 0.0, t.error_ratio,
                   q(t.ok, "p50_ms"), q(t.ok, "p90_ms"), q(t.ok, "p99_ms"))


def traced_figures(model: ObservedModel, services: dict[str, str],
                   entrypoints: dict[tuple[str, str], str]) -> dict[Scope, Figures]:
    """The traces' figures, keyed by the topology's names (``services`` and ``entrypoints`` map traced names)."""
    period = model.rate_period_s
    out = {Scope.service(services[s.name]): _traced(s.traffic, period)
           for s in model.services if s.name in services and s.traffic.attempts}
    for e in model.entrypoints:
        name = entrypoints.get((e.service, e.operation))
        if name is not None:
            out[Scope.entrypoint(name)] = _traced(e.traffic, period)
    return out


def entry_caveats(model: ObservedModel, entrypoints: dict[tuple[str, str], str],
                  timeouts: dict[str, float]) -> tuple[str, ...]:
    """Where the topology's entrypoint times its clients out (``timeouts``, by entrypoint name, seconds) below the
    traced successes' p90 or p99: the simulation fails entry requests that the traces show as slow successes."""
    out = []
    for e in model.entrypoints:
        name = entrypoints.get((e.service, e.operation))
        timeout = timeouts.get(name) if name is not None else None
        ok = e.traffic.ok
        if timeout is None or not ok.count or timeout >= ok.p99:
            continue
        label, q, share = ("p90", ok.p90, "10%") if timeout < ok.p90 else ("p99", ok.p99, "1%")
        out.append(f"entrypoint:{name}: its clients' timeout, {timeout * 1000:g} ms, is below the traced {label} of "
                   f"its successful requests ({q * 1000:.0f} ms): more than {share} of them lasted longer and still "
                   f"succeeded at the entry service (which does not know that its client gave up), while the "
                   f"simulation fails them at the timeout: its error ratio comes out higher than the traced one, and "
                   f"its latency lower")
    return tuple(out)


def simulated_figures(run: Run) -> dict[Scope, Figures]:
    from chaos.analysis.slos import measured_latency_s

    measured = run.duration_s - run.warmup_s
    out = {}
    for scope, totals in run.totals.items():
        quantiles = {}
        for figure, q in QUANTILES.items():
            x = measured_latency_s(run, scope, q * 100)
            quantiles[figure] = None if x is None else x * 1000.0
        out[scope] = Figures(totals.answered, totals.ok, totals.ok / measured if measured > 0 else 0.0,
                             totals.error_ratio, **quantiles)
    return out


def judge_fidelity(simulated: dict[Scope, Figures], traced: dict[Scope, Figures], rate: float,
                   sim_seconds: float, seed: int, caveats: tuple[str, ...] = ()) -> Fidelity:
    """The checks; ``caveats`` (:func:`entry_caveats`) go with them, after :data:`ENTRY_MEASURES` when an
    entrypoint is judged."""
    checks: list[Check] = []
    order = sorted(set(simulated) & set(traced), key=lambda s: (s.kind is not ScopeKind.ENTRYPOINT, s.name))
    for scope in order:
        sim, seen = simulated[scope], traced[scope]
        for bound in TRACE_BOUNDS:
            check = judge(str(scope), bound, sim.value(bound.figure), seen.value(bound.figure))
            if bound.figure in QUANTILES and seen.ok < MIN_TIMED:
                check = Check(check.scope, check.figure, check.sim, check.live,
                              f"n<{MIN_TIMED}", None)  # shown, not judged: too few traced successes
            checks.append(check)
    if any(s.kind is ScopeKind.ENTRYPOINT for s in order):
        caveats = (ENTRY_MEASURES, *caveats)
    return Fidelity(tuple(checks), tuple(str(s) for s in sorted(set(traced) - set(simulated))),
                    tuple(str(s) for s in sorted(set(simulated) - set(traced))), rate, sim_seconds, seed, caveats)


# --------------------------------------------------------------------------- rendering


def _value(figure: str, x: float | None) -> str:
    if x is None:
        return "-"
    if figure == "error_ratio":
        return f"{x:.4f}"
    if figure == "throughput_rps":
        return f"{x:.1f}/s"
    return f"{x:.2f} ms"


def _verdict(c: Check) -> str:
    return "n/a" if c.ok is None else ("ok" if c.ok else "DIVERGES")


def render_text(f: Fidelity) -> str:
    lines = [f"Fidelity: the topology simulated at {f.rate:.4g} requests/s for {f.sim_seconds:g} s (seed {f.seed}) "
             f"against the traces",
             f"  {'scope':<28}{'figure':<16}{'simulated':>12}{'traced':>12}{'diff':>9}  {'bound':>6}  verdict"]
    for c in f.checks:
        lines.append(f"  {c.scope:<28}{c.figure:<16}{_value(c.figure, c.sim):>12}{_value(c.figure, c.live):>12}"
                     f"{c.difference():>9}  {c.bound:>6}  {_verdict(c)}")
    lines += _unpaired(f)
    lines += [f"Note: {c}" for c in f.caveats]
    lines.append(f"Fidelity verdict: {f.verdict()}")
    return "\n".join(lines)


def _unpaired(f: Fidelity) -> list[str]:
    out = []
    if f.traced_only:
        out.append(f"In the traces but not in the topology (not judged): {', '.join(f.traced_only)}")
    if f.simulated_only:
        out.append(f"In the topology but not in the traces (not judged): {', '.join(f.simulated_only)}")
    return out


def render_markdown(f: Fidelity, notes: tuple[str, ...] = ()) -> str:
    lines = ["# Fidelity of a topology derived from traces", "",
             f"**{f.verdict()}**", "",
             f"Simulated at the traced load, {f.rate:.4g} entry requests/s, for {f.sim_seconds:g} s (seed {f.seed}); "
             "bounds as `chaoslab compare`'s: throughput and p50 within 10%, p90 and p99 within 25%, error ratio "
             f"within 0.05; a quantile of fewer than {MIN_TIMED} traced successes is not judged.", "",
             "| scope | figure | simulated | traced | difference | bound | verdict |",
             "|---|---|---:|---:|---:|---:|---|"]
    for c in f.checks:
        verdict = _verdict(c) if c.ok is not False else "**diverges**"
        lines.append(f"| {c.scope} | {c.figure} | {_value(c.figure, c.sim)} | {_value(c.figure, c.live)} | "
                     f"{c.difference()} | {c.bound} | {verdict} |")
    extra = _unpaired(f)
    if extra:
        lines += [""] + extra
    if f.caveats:
        lines += ["", "## How to read it", ""] + [f"- {c}" for c in f.caveats]
    if notes:
        lines += ["", "## What the topology blends", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def to_json_doc(f: Fidelity, notes: tuple[str, ...] = ()) -> dict[str, object]:
    def num(x: float | None) -> float | None:
        return None if x is None or not math.isfinite(x) else round(x, 6)

    return {"agrees": f.agrees, "verdict": f.verdict(), "rate": num(f.rate), "sim_seconds": f.sim_seconds,
            "seed": f.seed, "min_timed": MIN_TIMED,
            "checks": [{"scope": c.scope, "figure": c.figure, "simulated": num(c.sim), "traced": num(c.live),
                        "bound": c.bound, "ok": c.ok} for c in f.checks],
            "traced_only": list(f.traced_only), "simulated_only": list(f.simulated_only), "caveats": list(f.caveats),
            "notes": list(notes)}
