"""The observed model as text a person can check line by line; every guess is said to be one."""

from __future__ import annotations

from chaos.model.distributions import AnyDistribution, Constant, Empirical, Exponential, LogNormal
from chaos.traces.fit import Summary
from chaos.traces.observed import Marked, ObservedCall, ObservedModel, ObservedOperation, ObservedService, Router


def describe(model: ObservedModel) -> list[str]:
    files = len(model.sources)
    lines = [f"{files} file{'s' if files != 1 else ''}, {model.spans_read:,} spans, {model.traces:,} traces "
             f"({model.traces_used:,} used), {model.duration_s:.1f} s of traffic"]
    for src in model.sources:
        lines.append(f"  {src.path}: {src.format.value if src.format else 'empty'}, {src.spans:,} spans")
    lines += ["", "Entrypoints (root server spans):"]
    for e in model.entrypoints:
        lines.append(f"  {e.service} {e.operation}: {e.requests:,} requests, {e.rate:.3g}/s, share {e.share:.3f}, "
                     f"errors {e.error_ratio:.1%}, {_latency(e.latency)}")
    lines += ["", "Services:"]
    for service in model.services:
        lines.extend(_service(service))
    if model.flaws:
        lines += ["", "Not used, or used with a caveat:"]
        for f in model.flaws:
            where = f" (e.g. {', '.join(str(w) for w in f.examples)})" if f.examples else ""
            lines.append(f"  {f.count:,} {f.flaw.value}{where}")
    if model.clock_offsets:
        lines += ["", "Clock offsets between hosts (server relative to client):"]
        for c in model.clock_offsets:
            state = "" if c.consistent else "; the calls disagree, so only roughly"
            lines.append(f"  {c.server_host} vs {c.client_host}: {_ms(c.estimate)} (between {_ms(c.low)} and "
                         f"{_ms(c.high)}, from {c.calls:,} calls{state})")
    return lines


def _service(s: ObservedService) -> list[str]:
    head = f"  {s.name}" + ("" if s.instrumented else " (not instrumented: seen from its callers only)")
    head += f": replicas {_marked(s.replicas)}"
    if s.workers is not None:
        head += f", workers {_marked(s.workers)}"
    lines = [head]
    if s.hop is not None:
        lines.append(f"    per-hop overhead {_ms(s.hop.value)} [{s.hop.basis.value}: {s.hop.why}]")
    if s.concurrency is not None and s.concurrency.queue_wait is not None:
        w = s.concurrency.queue_wait
        lines.append(f"    queue wait before the server span: p50 {_ms(w.p50)}, p99 {_ms(w.p99)}; at most "
                     f"{s.concurrency.max_in_progress} in progress on one instance "
                     f"({s.concurrency.share_at_max:.1%} of arrivals found it so)")
    for op in s.operations:
        lines.extend(_operation(op))
    return lines


def _operation(op: ObservedOperation) -> list[str]:
    lines = [f"    {op.name}: {op.requests:,} requests, {op.rate:.3g}/s, errors {op.error_ratio:.1%}, "
             f"{_latency(op.latency)}"]
    work = op.work_time
    if work.distribution is not None:
        lines.append(f"      work time: {_dist(work.distribution.value)} [{work.distribution.basis.value}: "
                     f"{work.distribution.why}]")
        if not work.times.good:
            table = ", ".join(f"p{q.q * 100:g} {_ms(q.value)}" for q in work.times.empirical)
            lines.append(f"      empirical: {table}")
    for i, stage in enumerate(op.stages, 1):
        lines.append(f"      stage {i} ({stage.mode.value}):")
        for step in stage.steps:
            if isinstance(step, Router):
                lines.append(f"        one of [{step.why}]:")
                for route in step.routes:
                    lines.append(f"          {route.weight:.3f} {_call(route.call)}")
                if step.none_weight > 0.0005:
                    lines.append(f"          {step.none_weight:.3f} no call")
            else:
                lines.append(f"        {_call(step)}")
    return lines


def _call(c: ObservedCall) -> str:
    text = f"-> {_name(c.callee)} {_name(c.operation)}: p {c.probability:.3f} (±{c.probability_stderr:.3f})"
    if c.calls_per_request > 1.0005:
        text += f", {c.calls_per_request:.2f} calls per request"
    text += f", {c.attempts_per_call:.3f} attempts per call, errors {c.error_ratio:.1%} of attempts"
    if c.final_error_ratio:
        text += f" ({c.final_error_ratio:.1%} after retries)"
    text += f", {_latency(c.latency)}"
    if c.retries is not None:
        backoff = f", backoff p50 {_ms(c.retries.backoff_p50)}" if c.retries.backoff_p50 is not None else ""
        text += f"; retries {_marked(c.retries.max)}{backoff}"
    if c.timeout is not None:
        text += f"; timeout {_ms(c.timeout.value)} [{c.timeout.basis.value}: {c.timeout.why}]"
    if c.shared is not None:
        text += f"; shared by every attempt of a request [{c.shared.basis.value}: {c.shared.why}]"
    m = c.matching
    if m.client_only or m.server_only:
        text += f"; seen: {m.both} both sides, {m.client_only} client only ({m.sampled_out} sampled out), " \
                f"{m.server_only} server only"
    return text


def _name(m: Marked[str]) -> str:
    return m.value if not m.basis.guess else f"{m.value} [{m.basis.value}: {m.why}]"


def _marked(m: Marked[int]) -> str:
    return f"{m.value} [{m.basis.value}: {m.why}]"


def _latency(s: Summary) -> str:
    if not s.count:
        return "no successful timing"
    return f"p50 {_ms(s.p50)}, p90 {_ms(s.p90)}, p99 {_ms(s.p99)}"


def _dist(d: AnyDistribution) -> str:
    if isinstance(d, Constant):
        return f"constant {_ms(d.value)}"
    if isinstance(d, Exponential):
        return f"exponential, mean {_ms(d.mean)}"
    if isinstance(d, Empirical):
        return f"empirical of {len(d.points)} points, p50 {_ms(d.quantile(0.5))}, p99 {_ms(d.quantile(0.99))}"
    assert isinstance(d, LogNormal)
    return f"lognormal, median {_ms(d.median)}, p99 {_ms(d.quantile(0.99))}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms"
