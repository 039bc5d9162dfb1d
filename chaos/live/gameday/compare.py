"""Simulation against reality: two result.json documents side by side, judged figure by figure. Pure.

For every service and entrypoint, the simulated (predicted) and the live (observed)
whole-run figures over the measured window:

=================  =====================================  ==================================
figure             agrees when                            why this bound
=================  =====================================  ==================================
throughput_rps     within 10% of the prediction           Poisson noise of a minute at tens
                                                          per second is a few percent
mean_ms            within 10%                             means of thousands of requests
p99_ms             within 25%                             a tail quantile from a few dozen
                                                          requests and 12%-wide buckets
error_ratio        within 0.05 (absolute)                 ratios near 0 make relative
                                                          bounds meaningless
breach order       the same services breach, in the same  seconds apart in both engines is
                   order; breaches less than 2 s apart    within one evaluation of noise
                   count as simultaneous
=================  =====================================  ==================================

Time to detect, breach times and the playbook's time to mitigate and recover are shown
side by side, not judged: they follow from the figures above and a one-second grid.

A scope either document did not measure (``measured_by: unmeasured``, e.g. a service of a team's
own stack with no metrics) is skipped, figures and breach order alike, with a note: its zeros are
not an observation, so they can neither agree nor diverge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos.agreement import BOUNDS, Check, judge
from chaos.compare_document import BreachOrderCheck, CompareDocument, FigureCheck, ResolutionPair, TimingPair
from chaos.document import Figures, ResultDocument, as_document
from chaos.measurement import Source
from chaos.terminal import visible

TIE_S = 2.0


@dataclass(frozen=True)
class BreachOrder:
    sim: list[tuple[str, float]]
    live: list[tuple[str, float]]
    ok: bool
    detail: str


@dataclass(frozen=True)
class Comparison:
    experiment: str
    seed: tuple[int | None, int | None]
    checks: list[Check]
    breach: BreachOrder
    timing: dict[str, tuple[float | None, float | None]]
    offsets_ms: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # scope -> why it was not compared
    resolution: ResolutionPair = ResolutionPair(predicted=None, observed=None, same=True)

    @property
    def divergent(self) -> list[Check]:
        return [c for c in self.checks if c.ok is False]

    @property
    def agrees(self) -> bool:
        return not self.divergent and self.breach.ok

    def diverging_services(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for c in self.divergent:
            out.setdefault(c.scope, []).append(c.figure)
        return out


def _unmeasured(figures: Figures | None) -> bool:
    return figures is not None and figures.measured_by is Source.UNMEASURED


def _untimed(figures: Figures | None) -> bool:
    """Its counts were measured, its latency not (HAProxy's exporter: no histogram)."""
    return figures is not None and figures.latency_measured_by is Source.UNMEASURED


LATENCY_FIGURES = frozenset({"p50_ms", "p95_ms", "p99_ms", "mean_ms"})


def _scopes(doc: ResultDocument) -> tuple[tuple[str, Mapping[str, Figures]], ...]:
    """The kinds of scope the comparison judges, each with the document's figures of it."""
    return ("entrypoint", doc.entrypoints), ("service", doc.services)


def _figure(figures: Figures, name: str) -> float | None:
    """One of the figures the agreement bounds judge (``Bound.figure``: a field of Figures)."""
    value: float | None = getattr(figures, name)
    return value


def skipped(sim: ResultDocument, live: ResultDocument) -> dict[str, str]:
    """Every scope one of the two documents did not measure, and which: these are not compared."""
    out = {}
    for (kind, predicted), (_, observed) in zip(_scopes(sim), _scopes(live), strict=True):
        for name in {**predicted, **observed}:
            sides = [side for side, figures in (("predicted", predicted), ("observed", observed))
                     if _unmeasured(figures.get(name))]
            if sides:
                out[f"{kind}:{name}"] = f"unmeasured in the {' and the '.join(sides)} run, so not compared"
                continue
            untimed = [side for side, figures in (("predicted", predicted), ("observed", observed))
                       if _untimed(figures.get(name))]
            if untimed:
                out[f"{kind}:{name}"] = (f"latency unmeasured in the {' and the '.join(untimed)} run (no histogram), "
                                         "so its latency is not compared")
    return out


def checks(sim: ResultDocument, live: ResultDocument) -> list[Check]:
    out = []
    for (kind, predicted), (_, observed_all) in zip(_scopes(sim), _scopes(live), strict=True):
        for name, s in predicted.items():
            observed = observed_all.get(name)
            if observed is None or _unmeasured(s) or _unmeasured(observed):
                continue
            for bound in BOUNDS:
                if bound.figure in LATENCY_FIGURES and (_untimed(s) or _untimed(observed)):
                    continue
                out.append(judge(f"{kind}:{name}", bound, _figure(s, bound.figure), _figure(observed, bound.figure)))
    return out


def _cascade(doc: ResultDocument, skip: set[str] | None = None) -> list[tuple[str, float]]:
    return [(c.service, float(c.first_breach_s)) for c in doc.blast.cascade
            if c.first_breach_s is not None and c.service not in (skip or set())]


def _blind(doc: ResultDocument) -> set[str]:
    return {n for n, f in doc.services.items() if _unmeasured(f)} | set(doc.blast.unmeasured)


def breach_order(sim: ResultDocument, live: ResultDocument, tie_s: float = TIE_S) -> BreachOrder:
    """The two cascades, among the services both measured (one nobody measured cannot have breached or not)."""
    skip = _blind(sim) | _blind(live)
    a, b = _cascade(sim, skip), _cascade(live, skip)
    ta, tb = dict(a), dict(b)
    missing, extra = sorted(set(ta) - set(tb)), sorted(set(tb) - set(ta))
    problems = []
    if missing:
        problems.append(f"predicted to breach but did not: {', '.join(missing)}")
    if extra:
        problems.append(f"breached but not predicted: {', '.join(extra)}")
    common = [s for s, _ in a if s in tb]
    for i, x in enumerate(common):
        for y in common[i + 1:]:
            if ta[y] - ta[x] > tie_s and tb[x] - tb[y] > tie_s:
                problems.append(f"{x} breached before {y} in the simulation ({ta[x]:g}s, {ta[y]:g}s), after it "
                                f"live ({tb[x]:g}s, {tb[y]:g}s)")
    detail = "; ".join(problems) if problems else (
        "same order" + (f" (breaches within {tie_s:g}s count as simultaneous)" if common else ": nothing breached"))
    return BreachOrder(a, b, not problems, detail)


def _mitigated(doc: ResultDocument) -> float | None:
    return None if doc.playbook is None else doc.playbook.incident.time_to_mitigate_s


def _recovered(doc: ResultDocument) -> float | None:
    return None if doc.playbook is None else doc.playbook.incident.time_to_recover_s


def timing(sim: ResultDocument, live: ResultDocument) -> dict[str, tuple[float | None, float | None]]:
    out = {"time to detect": (sim.time_to_detect_s, live.time_to_detect_s)}
    for phase, of in (("mitigate", _mitigated), ("recover", _recovered)):
        pair = (of(sim), of(live))
        if pair != (None, None) or sim.playbook is not None or live.playbook is not None:
            out[f"time to {phase}"] = pair
    return out


def resolution_of(doc: ResultDocument) -> int | None:
    """The seconds between the samples a run's rules were evaluated on: a live run's Prometheus step, a
    simulation's scrape interval where it evaluated rule files; None: every second (chaoslab's own measurement)."""
    return doc.live.resolution_s if doc.live is not None else doc.scrape_interval_s


def resolution(sim: ResultDocument, live: ResultDocument) -> ResolutionPair:
    a, b = resolution_of(sim), resolution_of(live)
    return ResolutionPair(predicted=a, observed=b, same=a is None or b is None or a == b)


def resolution_line(c: Comparison) -> str | None:
    """What the reader must know of the two runs' resolutions (None when both measured every second)."""
    r = c.resolution
    if r.predicted is None and r.observed is None:
        return None
    observed = ("measured each second" if r.observed is None
                else f"read from Prometheus at a {r.observed} s step")
    predicted = ("per second" if r.predicted is None
                 else f"per second, its rule files evaluated on scrapes every {r.predicted} s")
    line = f"Resolution: predicted {predicted}; observed {observed}"
    if not r.same:
        assert r.predicted is not None and r.observed is not None
        line += (f". MISMATCH: time to detect can differ by up to {abs(r.predicted - r.observed)} s for that alone "
                 f"(write metrics: scrape_interval: {r.observed}s, or compare EXPERIMENT LIVE_RUN_DIR, which "
                 f"simulates at the live run's step when the experiment writes none)")
    elif r.observed is not None and r.observed > 1:
        line += f"; live breach times can be up to {r.observed} s late"
    return line


def compare_docs(sim: ResultDocument | Mapping[str, Any], live: ResultDocument | Mapping[str, Any],
                 offsets_ms: dict[str, float] | None = None) -> Comparison:
    """``sim`` predicted, ``live`` observed (any two result documents: the first is the reference); a parsed
    result.json is decoded once, through the codec."""
    a, b = as_document(sim, "the predicted result.json"), as_document(live, "the observed result.json")
    return Comparison(experiment=b.experiment, seed=(a.seed, b.seed),
                      checks=checks(a, b), breach=breach_order(a, b), timing=timing(a, b),
                      offsets_ms=dict(offsets_ms or {}), skipped=skipped(a, b), resolution=resolution(a, b))


# --------------------------------------------------------------------------- rendering

UNITS = {"throughput_rps": "/s", "mean_ms": " ms", "p99_ms": " ms", "error_ratio": ""}


def _value(figure: str, x: float | None) -> str:
    if x is None:
        return "-"
    if figure == "error_ratio":
        return f"{x:.3f}"
    return f"{x:.1f}{UNITS[figure]}"


def _seconds(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f} s"


def _order(breaches: list[tuple[str, float]]) -> str:
    return ", ".join(f"{s} {t:g}s" for s, t in breaches) or "none"


def skipped_note(c: Comparison) -> str:
    """What was not compared, in one sentence (empty when everything was)."""
    if not c.skipped:
        return ""
    return (f"skipped {len(c.skipped)} unmeasured scope{'s' if len(c.skipped) != 1 else ''} "
            f"({', '.join(c.skipped)})")


def verdict_line(c: Comparison) -> str:
    if c.agrees:
        note = skipped_note(c)
        return "AGREE: every figure within its bound, same breach order" + (f"; {note}" if note else "")
    parts = [f"{scope} diverges on {', '.join(figs)}" for scope, figs in c.diverging_services().items()]
    if not c.breach.ok:
        parts.append(f"breach order: {c.breach.detail}")
    if c.skipped:
        parts.append(skipped_note(c))
    return "DIVERGE: " + "; ".join(parts)


def render_text(c: Comparison) -> str:
    lines = [f"Simulation against reality: {c.experiment} (seed {c.seed[0]} simulated, {c.seed[1]} live)"]
    if c.offsets_ms:
        lines.append("Per-hop overhead added to simulated service times: "
                     + ", ".join(f"{k} +{v:.2f} ms" for k, v in c.offsets_ms.items()))
    lines.append(f"  {'scope':<22}{'figure':<16}{'predicted':>11}{'observed':>11}{'diff':>9}  {'bound':>6}  verdict")
    for ch in c.checks:
        verdict = "n/a" if ch.ok is None else ("ok" if ch.ok else "DIVERGES")
        lines.append(f"  {ch.scope:<22}{ch.figure:<16}{_value(ch.figure, ch.sim):>11}{_value(ch.figure, ch.live):>11}"
                     f"{ch.difference():>9}  {ch.bound:>6}  {verdict}")
    for scope, why in c.skipped.items():
        lines.append(f"  {scope:<22}{'(every figure)':<16}{'-':>11}{'-':>11}{'':>9}  {'':>6}  SKIPPED: {why}")
    lines.append(f"Breach order: predicted {_order(c.breach.sim)}; observed {_order(c.breach.live)}: "
                 f"{c.breach.detail}")
    for name, (a, b) in c.timing.items():
        lines.append(f"{name[0].upper() + name[1:]}: predicted {_seconds(a)}, observed {_seconds(b)}")
    said = resolution_line(c)
    if said is not None:
        lines.append(said)
    lines.append(f"Verdict: {verdict_line(c)}")
    return visible("\n".join(lines))


def render_markdown(c: Comparison) -> str:
    lines = [f"# Simulation against reality: {c.experiment}", "", f"**{verdict_line(c)}**", ""]
    if c.offsets_ms:
        lines += ["Per-hop overhead measured live and added to the simulated service times: "
                  + ", ".join(f"`{k}` +{v:.2f} ms" for k, v in c.offsets_ms.items()), ""]
    lines += ["| scope | figure | predicted | observed | difference | bound | verdict |",
              "|---|---|---:|---:|---:|---:|---|"]
    for ch in c.checks:
        verdict = "n/a" if ch.ok is None else ("ok" if ch.ok else "**diverges**")
        lines.append(f"| {ch.scope} | {ch.figure} | {_value(ch.figure, ch.sim)} | {_value(ch.figure, ch.live)} | "
                     f"{ch.difference()} | {ch.bound} | {verdict} |")
    lines += [f"| {scope} | (every figure) | - | - | | | skipped: {why} |" for scope, why in c.skipped.items()]
    lines += ["", "| breach order | services (first breach) |", "|---|---|",
              f"| predicted | {', '.join(f'{s} ({t:g} s)' for s, t in c.breach.sim) or 'none'} |",
              f"| observed | {', '.join(f'{s} ({t:g} s)' for s, t in c.breach.live) or 'none'} |",
              "", f"Breach order: {c.breach.detail}.", "", "| timing | predicted | observed |", "|---|---:|---:|"]
    for name, (a, b) in c.timing.items():
        lines.append(f"| {name} | {_seconds(a)} | {_seconds(b)} |")
    said = resolution_line(c)
    if said is not None:
        lines += ["", said + "."]
    lines += ["", "![predicted and observed timelines](compare.png)", ""]
    return visible("\n".join(lines))


def compare_document(c: Comparison) -> CompareDocument:
    return CompareDocument(
        experiment=c.experiment, agrees=c.agrees, verdict=verdict_line(c), offsets_ms=c.offsets_ms,
        checks=tuple(FigureCheck(scope=ch.scope, figure=ch.figure, predicted=ch.sim, observed=ch.live,
                                 bound=ch.bound, ok=ch.ok) for ch in c.checks),
        breach_order=BreachOrderCheck(predicted=tuple(c.breach.sim), observed=tuple(c.breach.live),
                                      ok=c.breach.ok, detail=c.breach.detail),
        timing={k: TimingPair(predicted=a, observed=b) for k, (a, b) in c.timing.items()},
        skipped=dict(c.skipped), diverging={k: tuple(v) for k, v in c.diverging_services().items()},
        resolution_s=c.resolution)
