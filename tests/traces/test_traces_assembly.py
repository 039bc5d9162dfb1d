"""Assembly of single traces, and the window that groups a stream of spans into traces, on hand-built spans."""

from __future__ import annotations

from chaos.errors import Location
from chaos.traces.assemble import Match, Resolver, SkewBook, assemble
from chaos.traces.fields import Batch
from chaos.traces.flaws import Flaw, Tally
from chaos.traces.spans import Span, SpanKind
from chaos.traces.window import TraceWindow

MS = 1_000_000
T = 1_800_000_000 * 1_000_000_000
S, C, INTERNAL, P = SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL, SpanKind.PRODUCER


def span(sid: str, parent: str | None, service: str, kind: SpanKind, start_ms: float, end_ms: float,
         error: bool = False, trace: str = "t1", name: str = "op", peer_host: str = "") -> Span:
    return Span(trace.rjust(32, "0"), sid, parent, service, kind, name, name, T + int(start_ms * MS),
                T + int(end_ms * MS), error, peer_host=peer_host, origin=Location("x", int(start_ms)))


def run(spans: list[Span]) -> tuple[list, Tally]:
    tally = Tally()
    return assemble(spans, Resolver(), SkewBook(MS), tally), tally  # type: ignore[return-value]


def test_own_time_counts_a_parallel_fan_out_once_and_internal_spans_as_work() -> None:
    executions, _ = run([
        span("a", None, "front", S, 0, 100),
        span("i", "a", "front", INTERNAL, 5, 70),           # the handler's own internal span: work, not waiting
        span("c1", "i", "front", C, 10, 40),
        span("c2", "i", "front", C, 20, 60),         # overlaps c1: waiting 10-60 counts once
        span("s1", "c1", "back", S, 11, 39),
        span("s2", "c2", "other", S, 21, 59),
    ])
    front = next(e for e in executions if e.span.service == "front")
    assert front.own_ns == 50 * MS
    assert [c.callee for c in front.calls] == ["back", "other"]
    assert all(c.attempts[0].match is Match.BOTH for c in front.calls)
    assert {e.span.service: e.entry for e in executions} == {"front": True, "back": False, "other": False}


def test_attempts_after_a_failure_are_retries_and_after_a_success_a_new_call() -> None:
    executions, _ = run([
        span("a", None, "front", S, 0, 200),
        span("c1", "a", "front", C, 10, 60, error=True),
        span("c2", "a", "front", C, 70, 80),           # retry of c1
        span("c3", "a", "front", C, 90, 100),          # a second call: c2 succeeded
        span("s1", "c1", "back", S, 11, 90),
        span("s2", "c2", "back", S, 71, 79),
        span("s3", "c3", "back", S, 91, 99),
    ])
    front = next(e for e in executions if e.span.service == "front")
    assert [len(c.attempts) for c in front.calls] == [2, 1]
    assert front.own_ns == (200 - 70 - 10) * MS  # the backoff between attempts is waiting, not work


def test_shared_zipkin_halves_are_told_apart() -> None:
    executions, tally = run([
        span("a", None, "front", S, 0, 50),
        span("b", "a", "front", C, 10, 40),
        span("b", "a", "back", S, 12, 38),            # Brave's shared span: the server half has the client's id
        span("c", "b", "back", C, 15, 20),            # the server's own call names the shared id as its parent
        span("d", "c", "db", S, 16, 19),
    ])
    assert not tally.summary()
    back = next(e for e in executions if e.span.service == "back")
    assert [c.callee for c in back.calls] == ["db"] and back.own_ns == 21 * MS


def test_broken_traces_are_counted_with_the_reason() -> None:
    assert run([span("a", "gone", "front", S, 0, 1)])[0] is None
    tally = run([span("a", "gone", "front", S, 0, 1)])[1]
    assert tally.count(Flaw.NO_ROOT) == 1
    _, tally = run([span("a", None, "front", S, 0, 1), span("b", None, "front", S, 0, 1)])
    assert tally.count(Flaw.SEVERAL_ROOTS) == 1
    _, tally = run([span("a", None, "front", INTERNAL, 0, 1)])
    assert tally.count(Flaw.NO_SERVER_SPAN) == 1
    executions, tally = run([span("a", None, "front", S, 0, 10), span("a", None, "front", S, 0, 10),
                             span("p", "a", "front", P, 1, 2), span("q", "p", "queue-worker", S, 5, 9),
                             span("x", "a", "front", C, 3, 2)])
    assert [tally.count(f) for f in (Flaw.DUPLICATE_SPAN, Flaw.ASYNCHRONOUS, Flaw.NEGATIVE_DURATION)] == [1, 1, 1]
    assert [e.span.service for e in executions] == ["front"]  # the consumer side of a hand-off is not a call


def test_a_client_span_names_its_callee_by_address_once_a_trace_taught_it() -> None:
    resolver, tally = Resolver(), Tally()
    first = [span("a", None, "front", S, 0, 10), span("c", "a", "front", C, 1, 9, peer_host="10.0.0.9:80"),
             span("s", "c", "back", S, 2, 8)]
    second = [span("a", None, "front", S, 0, 10, trace="t2"),
              span("c", "a", "front", C, 1, 9, trace="t2", peer_host="10.0.0.9:80")]
    assemble(first, resolver, SkewBook(MS), tally)
    executions = assemble(second, resolver, SkewBook(MS), tally)
    assert executions is not None
    (call,) = executions[0].calls
    assert (call.callee, call.operation, call.attempts[0].match) == ("back", "op", Match.CLIENT_ONLY)


def test_the_window_closes_traces_the_stream_has_moved_past() -> None:
    tally = Tally()
    window = TraceWindow(tally, window_s=0.1, max_open=10)
    a1, b1 = span("a", None, "f", S, 0, 10, trace="a"), span("b", None, "f", S, 5, 20, trace="b")
    closed = list(window.add(Batch([a1, b1], whole_traces=False)))
    assert closed == [] and len(window.open) == 2
    a2 = span("c", "a", "f", C, 2, 8, trace="a")
    late_start = span("z", None, "f", S, 300, 301, trace="z")
    closed = list(window.add(Batch([a2, late_start], whole_traces=False)))
    assert [[s.span_id for s in t] for t in closed] == [["b"], ["a", "c"]]  # least recently extended first
    list(window.add(Batch([span("d", "a", "f", C, 3, 4, trace="a")], whole_traces=False)))
    assert tally.count(Flaw.LATE_SPAN) == 1
    assert [[s.span_id for s in t] for t in window.flush()] == [["z"]]


def test_the_window_holds_at_most_max_open_traces() -> None:
    tally = Tally()
    window = TraceWindow(tally, window_s=3600, max_open=3)
    closed = []
    for i in range(10):  # ten traces at once, none old enough to close by time
        closed += window.add(Batch([span("r", None, "f", S, i, i + 1, trace=f"{i + 1:x}")], whole_traces=False))
        assert len(window.open) <= 3
    assert len(closed) == 7 and tally.count(Flaw.CLOSED_EARLY) == 7
