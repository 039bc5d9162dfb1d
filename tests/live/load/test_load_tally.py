"""Counting without Locust: seconds, buckets, the master's merge, answers, and the typed records."""

from __future__ import annotations

import pytest

from chaos.live.load.answers import AnswerKind, classify
from chaos.live.load.records import SecondStats
from chaos.live.load.tally import CAUSES, Merger, Tally, merge_records
from chaos.run import CAUSES as RUN_CAUSES
from chaos.run import Cause, latency_bounds
from chaos.sim.recorder import bucketize


def test_tally_causes_are_the_run_causes() -> None:
    assert set(CAUSES) == {c.value for c in RUN_CAUSES}


def test_events_land_in_their_own_second_and_every_second_is_a_full_grid() -> None:
    t = Tally(["a", "b"], (0.01, 0.1, 1.0))
    t.started(0, 0.2, lag_s=0.0)
    t.attempt(0, 0.2, retry=False)
    t.attempt(0, 1.3, retry=True)
    t.ok(0, 2.5, latency_s=2.3)
    t.started(1, 0.9, lag_s=0.2)
    t.failed(1, 1.0, "timeout")
    records = t.close(3, in_flight=[0, 0])
    assert [(r["second"], r["entrypoint"]) for r in records] == [(s, e) for s in range(3) for e in "ab"]
    by = {(r["second"], r["entrypoint"]): r for r in records}
    assert by[0, "a"]["requests"] == 1 and by[1, "a"]["retries"] == 1 and by[1, "a"]["attempts"] == 1
    assert by[2, "a"]["ok"] == 1 and by[2, "a"]["hist"] == {"3": 1}  # 2.3 s is beyond the last bound
    assert by[0, "b"]["late"] == 1 and by[0, "b"]["max_lag_s"] == 0.2
    assert by[1, "b"]["errors"] == {"timeout": 1}
    assert t.totals_wire()["a"]["attempts"] == 2


def test_an_event_after_its_second_was_closed_goes_to_the_first_open_second() -> None:
    t = Tally(["a"], (1.0,))
    t.close(2, in_flight=[0])
    t.ok(0, 1.5, latency_s=0.5)
    assert t.close(3, in_flight=[4]) == [_record(2, ok=1, hist={"0": 1}, in_flight=4)]


def _record(second: int, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {"type": "second", "second": second, "entrypoint": "a", "requests": 0, "attempts": 0,
                               "retries": 0, "ok": 0, "errors": {}, "client_errors": 0, "unfinished": 0, "hist": {},
                               "attempt_ok": 0, "attempt_errors": {}, "attempt_hist": {},
                               "late": 0, "dropped": 0, "max_lag_s": 0.0, "client_statuses": {}, "in_flight": 0,
                               "complete": True}
    base.update(fields)
    return base


def test_attempts_are_counted_apart_from_entry_requests_each_in_the_second_it_ended() -> None:
    t = Tally(["a"], (0.01, 0.1, 1.0))
    # One entry request: a first attempt times out at 0.6 s, the retry succeeds at 1.2 s after 5 ms.
    t.started(0, 0.1, lag_s=0.0)
    t.attempt(0, 0.1, retry=False)
    t.attempt_failed(0, 0.6, "timeout")
    t.attempt(0, 1.195, retry=True)
    t.attempt_ok(0, 1.2, latency_s=0.005)
    t.ok(0, 1.2, latency_s=1.1)
    first, second = t.close(2, in_flight=[0])
    assert (first["requests"], first["attempts"], first["attempt_errors"]) == (1, 1, {"timeout": 1})
    assert first["errors"] == {} and first["attempt_ok"] == first["ok"] == 0
    assert (second["attempts"], second["retries"], second["attempt_ok"], second["ok"]) == (1, 1, 1, 1)
    assert (second["attempt_hist"], second["hist"]) == ({"0": 1}, {"3": 1})  # 5 ms vs 1.1 s, beyond the last bound
    # The master's merge and the typed record keep both views.
    merged = merge_records(second, second)
    assert (merged["attempt_ok"], merged["attempt_hist"], merged["ok"]) == (2, {"0": 2}, 2)
    typed = SecondStats.from_wire(first)
    assert typed.attempt_errors[Cause.TIMEOUT] == 1 and typed.attempts_failed == 1 and typed.failed == 0
    with pytest.raises(ValueError, match="unknown causes"):
        SecondStats.from_wire({**first, "attempt_errors": {"gremlins": 1}})


def test_histogram_buckets_follow_the_recorder_convention() -> None:
    bounds = latency_bounds((0.009,))
    latencies = sorted([0.009, 0.0090001, 0.0001, 0.00005, 0.5, 0.5000001, 99.0, 1000.0, *bounds[10:20]])
    t = Tally(["a"], bounds)
    for x in latencies:
        t.ok(0, 0.5, x)
    rec = t.close(1, in_flight=[0])[0]
    assert {int(k): v for k, v in rec["hist"].items()} == bucketize(latencies, bounds)


def test_the_master_writes_a_second_only_when_every_worker_closed_it() -> None:
    m = Merger(["a"], workers=2, stale_s=5.0)
    m.add("w1", {"closed": 2, "records": [_record(0, requests=3), _record(1, requests=4)]})
    assert m.ready(now_s=2.5) == []  # w2 has not reported
    m.add("w2", {"closed": 1, "records": [_record(0, requests=5, hist={"2": 1}, ok=1)]})
    out = m.ready(now_s=2.5)
    assert [(r["second"], r["requests"], r["complete"]) for r in out] == [(0, 8, True)]
    assert out[0]["hist"] == {"2": 1}
    m.add("w2", {"closed": 3, "records": [_record(1, requests=6), _record(2, requests=1)]})
    assert [(r["second"], r["requests"]) for r in m.ready(now_s=3.5)] == [(1, 10)]
    m.add("w1", {"finished": True, "records": [_record(2, requests=2)]})
    assert [(r["second"], r["requests"]) for r in m.ready(now_s=3.5)] == [(2, 3)]
    assert not m.finished
    m.add("w2", {"finished": True, "records": []})
    assert m.finished and m.ready(now_s=9.0) == []


def test_a_silent_worker_delays_a_second_only_until_it_is_stale_then_it_is_marked_incomplete() -> None:
    m = Merger(["a"], workers=2, stale_s=2.0)
    m.add("w1", {"closed": 1, "records": [_record(0, requests=3)]})
    m.add("w2", {"closed": 0, "records": []})
    assert m.ready(now_s=2.9) == []
    out = m.ready(now_s=3.1)
    assert [(r["second"], r["requests"], r["complete"]) for r in out] == [(0, 3, False)]
    m.add("w2", {"closed": 1, "records": [_record(0, requests=5)]})
    assert m.ready(now_s=3.2) == [] and m.stragglers == 1


def test_the_master_totals_are_the_sum_of_each_workers_latest_totals() -> None:
    m = Merger(["a"], workers=2, stale_s=2.0)
    total = {k: v for k, v in _record(0).items() if k not in ("type", "second", "entrypoint")}
    m.add("w1", {"closed": 1, "totals": {"a": {**total, "requests": 5}}})
    m.add("w1", {"closed": 2, "totals": {"a": {**total, "requests": 9, "errors": {"crashed": 2}}}})
    m.add("w2", {"closed": 2, "totals": {"a": {**total, "requests": 4, "errors": {"crashed": 1}}}})
    assert m.totals_wire()["a"]["requests"] == 13 and m.totals_wire()["a"]["errors"] == {"crashed": 3}


@pytest.mark.parametrize(("status", "header", "outcome", "cause"), [
    (200, None, AnswerKind.OK, None),
    (204, "timeout", AnswerKind.OK, None),
    (503, "rejected", AnswerKind.FAILED, "rejected"),
    (503, "injected", AnswerKind.FAILED, "injected"),
    (503, "circuit_open", AnswerKind.FAILED, "circuit_open"),
    (503, "dependency", AnswerKind.FAILED, "dependency"),
    (503, "crashed", AnswerKind.FAILED, "crashed"),
    (504, "timeout", AnswerKind.FAILED, "timeout"),
    (503, None, AnswerKind.FAILED, "rejected"),
    (429, None, AnswerKind.FAILED, "rejected"),
    (503, "nonsense", AnswerKind.FAILED, "rejected"),
    (500, None, AnswerKind.FAILED, "dependency"),
    (404, None, AnswerKind.CLIENT_ERROR, None),
    (302, None, AnswerKind.CLIENT_ERROR, None),
])
def test_answers_are_classified(status: int, header: str | None, outcome: AnswerKind, cause: str | None) -> None:
    result = classify(status, header)
    assert (result.outcome, result.cause) == (outcome, cause)


def test_a_wire_record_becomes_typed_stats_and_unknown_causes_are_refused() -> None:
    rec = SecondStats.from_wire(_record(4, requests=9, ok=7, errors={"rejected": 2}, hist={"5": 7}, in_flight=1))
    assert (rec.second, rec.entrypoint, rec.requests, rec.failed) == (4, "a", 9, 2)
    assert rec.errors[Cause.REJECTED] == 2 and rec.errors[Cause.TIMEOUT] == 0 and rec.hist == {5: 7}
    with pytest.raises(ValueError, match="unknown causes"):
        SecondStats.from_wire(_record(0, errors={"gremlins": 1}))


def test_the_master_hands_each_warning_out_once_whichever_worker_sent_it() -> None:
    m = Merger(["a"], workers=2, stale_s=2.0)
    m.add("w1", {"closed": 1, "warnings": ["arrivals dropped"]})
    m.add("w2", {"closed": 1, "warnings": ["arrivals dropped", "client error HTTP 404"]})
    assert m.take_warnings() == ["arrivals dropped", "client error HTTP 404"]
    m.add("w1", {"closed": 2, "warnings": ["arrivals dropped"]})
    assert m.take_warnings() == []


def test_request_kinds_have_their_own_totals_and_client_errors_are_counted_by_status() -> None:
    t = Tally(["a"], (1.0,), [["home", "order"]])
    t.started(0, 0.1, 0.0, kind=0)
    t.ok(0, 0.2, 0.1, kind=0)
    t.started(0, 0.3, 0.0, kind=1)
    t.client_error(0, 0.4, kind=1, status=404)
    t.started(0, 0.5, 0.0, kind=1)
    t.client_error(0, 0.6, kind=1)  # our machine, no answer
    (record,) = t.close(1, in_flight=[0])
    assert record["client_errors"] == 2 and record["client_statuses"] == {"404": 1, "local": 1}
    totals = t.totals_wire()["a"]
    assert totals["kinds"]["home"]["ok"] == 1 and totals["kinds"]["home"]["client_errors"] == 0
    assert totals["kinds"]["order"]["requests"] == 2 and totals["kinds"]["order"]["client_statuses"] == {
        "404": 1, "local": 1}
    # The master adds every worker's kinds up.
    m = Merger(["a"], 2, 5.0)
    m.add("w1", {"records": [], "finished": True, "totals": t.totals_wire()})
    m.add("w2", {"records": [], "finished": True, "totals": t.totals_wire()})
    merged = m.totals_wire()["a"]
    assert merged["requests"] == 6 and merged["kinds"]["order"]["client_statuses"] == {"404": 2, "local": 2}
