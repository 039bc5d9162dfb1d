"""Per-second series from cumulative scrapes: the caller's view summed, restarts and gaps, the load's view."""

from __future__ import annotations

from typing import Any

import pytest

from chaos.live.gameday.measure import Assembler, EntryRef, LoadSecond, ReplicaRef, Snapshot, hist_mean
from chaos.model.scope import Scope
from chaos.run import Cause, latency_bounds, percentile_from_hist

BOUNDS = latency_bounds()
B10MS = BOUNDS.index(min(b for b in BOUNDS if b >= 0.01))   # bucket of (.., 10 ms]
B100MS = BOUNDS.index(min(b for b in BOUNDS if b >= 0.1))


def hist(*pairs: tuple[int, int]) -> list[int]:
    out = [0] * (len(BOUNDS) + 1)
    for idx, n in pairs:
        out[idx] += n
    return out


def metrics(*, requests: int = 0, ok: int = 0, errors: dict[str, int] | None = None, lat: list[int] | None = None,
            own: list[int] | None = None, wasted: int = 0, calls: dict[str, dict[str, Any]] | None = None,
            queue: int = 0, busy: int = 0) -> dict[str, Any]:
    return {"service": "x", "replica": 1, "time": 0.0, "queue": queue, "busy": busy,
            "server": {"requests": requests, "ok": ok, "errors": errors or {}, "latency_hist": lat or hist(),
                       "wasted": wasted, "own_time_hist": own or hist()},
            "calls": calls or {}}


def call(attempts: int, ok: int, errors: dict[str, int] | None = None, lat: list[int] | None = None,
         retries: int = 0, degraded: int = 0) -> dict[str, Any]:
    return {"attempts": attempts, "ok": ok, "errors": errors or {}, "latency_hist": lat or hist(),
            "retries": retries, "degraded": degraded, "short_circuited": 0, "breaker_state": None, "breaker_opens": 0}


def trio(first_measured: int = 0) -> Assembler:
    """web -> front -> api (2 replicas) -> db."""
    replicas = [ReplicaRef("front-1", "front"), ReplicaRef("api-1", "api"), ReplicaRef("api-2", "api"),
                ReplicaRef("db-1", "db")]
    return Assembler(["front", "api", "db"], {"front": [], "api": ["front"], "db": ["api"]}, replicas,
                     [EntryRef("web", "front")], BOUNDS, first_measured)


def load(requests: int, ok: int, errors: dict[Cause, int] | None = None, hist_: dict[int, int] | None = None
         ) -> LoadSecond:
    """A second without retries: each entry request is one attempt, both views alike."""
    return LoadSecond(requests, requests, 0, ok, errors or {}, hist_ or {}, ok, errors or {}, hist_ or {})


def test_a_service_is_the_sum_of_its_callers_views_differenced_between_scrapes() -> None:
    a = trio()
    a.baseline({"api-1": metrics(calls={"db": call(100, 100, lat=hist((B10MS, 100)))}),
                "api-2": metrics(calls={"db": call(50, 49, {"timeout": 1}, lat=hist((B10MS, 49)))}),
                "db-1": metrics(requests=150, ok=150)})
    a.add_second({"api-1": metrics(calls={"db": call(110, 108, {"timeout": 2}, lat=hist((B10MS, 103), (B100MS, 5)),
                                                      retries=3, degraded=1)}),
                  "api-2": metrics(calls={"db": call(57, 55, {"timeout": 1, "rejected": 1},
                                                     lat=hist((B10MS, 55)))}),
                  "db-1": metrics(requests=167, ok=166, wasted=2, queue=3, busy=4)},
                 {"web": None})
    db = a.series[Scope.service("db")]
    assert (db.requests, db.ok) == ([17], [14])
    assert (db.errors[Cause.TIMEOUT], db.errors[Cause.REJECTED]) == ([2], [1])
    assert db.hist == [{B10MS: 9, B100MS: 5}]
    assert (db.wasted, db.queue, db.busy) == ([2], [3.0], [4.0])
    # Retries and fallbacks are counted where they were sent: at the caller, api.
    api = a.series[Scope.service("api")]
    assert (api.retries, api.degraded, db.retries) == ([3], [1], [0])
    assert db.p99_ms[0] == pytest.approx(percentile_from_hist({B10MS: 9, B100MS: 5}, BOUNDS, 0.99) * 1000)


def test_the_entry_service_is_seen_by_the_load_generator_as_its_caller() -> None:
    a = trio()
    a.baseline({"front-1": metrics(requests=1000, ok=1000)})
    a.add_second({"front-1": metrics(requests=1040, ok=1039, errors={"rejected": 1})},
                 {"web": load(40, 38, {Cause.TIMEOUT: 2}, {B10MS: 38})})
    front, web = a.series[Scope.service("front")], a.series[Scope.entrypoint("web")]
    assert (front.requests, front.ok, front.errors[Cause.TIMEOUT]) == ([40], [38], [2])  # what the clients saw
    assert (web.requests, web.ok, web.hist) == ([40], [38], [{B10MS: 38}])


def test_with_entry_retries_the_entry_service_is_the_clients_attempts_plus_its_other_callers_views() -> None:
    # web -> front, and admin calls front too; the clients retry.
    a = Assembler(["front", "admin"], {"front": ["admin"], "admin": []},
                  [ReplicaRef("front-1", "front"), ReplicaRef("admin-1", "admin")], [EntryRef("web", "front")],
                  BOUNDS, 0)
    a.baseline({"front-1": metrics(requests=10, ok=10),
                "admin-1": metrics(calls={"front": call(3, 3, lat=hist((B10MS, 3)))})})
    web_second = LoadSecond(requests=40, attempts=50, retries=10, ok=38, errors={Cause.TIMEOUT: 2},
                            hist={B100MS: 38}, attempt_ok=44, attempt_errors={Cause.TIMEOUT: 6},
                            attempt_hist={B10MS: 30, B100MS: 14})
    a.add_second({"front-1": metrics(requests=99, ok=1, errors={"dependency": 98}),  # its own view: not used
                  "admin-1": metrics(calls={"front": call(10, 9, {"rejected": 1}, lat=hist((B10MS, 9)),
                                                          retries=1)})},
                 {"web": web_second})
    front, web = a.series[Scope.service("front")], a.series[Scope.entrypoint("web")]
    assert (front.requests, front.ok) == ([50 + 7], [44 + 6])
    assert (front.errors[Cause.TIMEOUT], front.errors[Cause.REJECTED], front.errors[Cause.DEPENDENCY]) == (
        [6], [1], [0])
    assert front.hist == [{B10MS: 30 + 6, B100MS: 14}]
    # The clients' retries are theirs, as admin's are admin's: front sent none.
    assert (front.retries, a.series[Scope.service("admin")].retries) == ([0], [1])
    assert (web.requests, web.ok, web.retries, web.hist) == ([40], [38], [10], [{B100MS: 38}])


def test_a_restarted_replica_counts_from_zero_and_a_silent_one_is_made_up_by_its_next_answer() -> None:
    a = trio()
    a.baseline({"api-1": metrics(calls={"db": call(500, 500)})})
    a.add_second({"api-1": None}, {"web": None})                        # no answer: nothing this second
    a.add_second({"api-1": metrics(calls={"db": call(520, 520)})}, {"web": None})  # both seconds' worth
    a.add_second({"api-1": metrics(calls={"db": call(7, 6, {"crashed": 1})})}, {"web": None})  # restarted
    db = a.series[Scope.service("db")]
    assert db.requests == [0, 20, 7]
    assert db.errors[Cause.CRASHED] == [0, 0, 1]
    assert a.gaps >= 1


def test_totals_merge_the_measured_seconds_only_and_take_percentiles_from_the_merged_histogram() -> None:
    a = trio(first_measured=1)
    a.baseline({"api-1": metrics(calls={"db": call(0, 0)})})
    cumulative = [(hist((B100MS, 10)), 10), (hist((B100MS, 10), (B10MS, 90)), 100),
                  (hist((B10MS, 280), (B100MS, 20)), 300)]  # seconds 1 and 2: 90 + 180 at 10 ms, 10 at 100 ms
    for lat, ok in cumulative:
        a.add_second({"api-1": metrics(calls={"db": call(ok, ok, lat=lat)})}, {"web": None})
    totals = a.totals()[Scope.service("db")]
    assert (totals.requests, totals.ok) == (290, 290)
    merged = {B10MS: 280, B100MS: 10}
    assert totals.p99_ms == pytest.approx(percentile_from_hist(merged, BOUNDS, 0.99) * 1000)
    assert totals.mean_ms == pytest.approx(hist_mean(merged, BOUNDS) * 1000)


def test_after_a_failover_the_callers_calls_count_at_the_service_they_now_reach() -> None:
    a = Assembler(["front", "a", "b"], {"a": ["front"], "b": []}, [ReplicaRef("front-1", "front")],
                  [], BOUNDS, 0)
    a.baseline({"front-1": metrics(calls={"a": call(0, 0)})})
    a.add_second({"front-1": metrics(calls={"a": call(10, 10)})}, {})
    a.redirect("front", "a", "b")
    a.add_second({"front-1": metrics(calls={"a": call(25, 25)})}, {})
    assert a.series[Scope.service("a")].requests == [10, 0]
    assert a.series[Scope.service("b")].requests == [0, 15]


def test_a_histogram_mean_is_within_half_a_bucket_and_snapshots_keep_own_time() -> None:
    snap = Snapshot.parse(metrics(requests=3, ok=3, own=hist((B10MS, 3))))
    assert snap.server.own == {B10MS: 3}
    mean = hist_mean({B10MS: 1}, BOUNDS)
    assert mean is not None and BOUNDS[B10MS - 1] < mean < BOUNDS[B10MS]
    assert hist_mean({}, BOUNDS) is None


def test_abort_figures_are_one_seconds_error_ratio_and_p99() -> None:
    a = trio()
    a.baseline({})
    a.add_second({}, {"web": load(10, 4, {Cause.TIMEOUT: 6}, {B10MS: 4})})
    figures = a.figures(0)[Scope.entrypoint("web")]
    assert figures["error_ratio"] == pytest.approx(0.6)
    assert figures["p99_ms"] is not None and figures["p99_ms"] <= BOUNDS[B10MS] * 1000


def test_a_service_no_reporting_caller_calls_is_measured_by_its_own_server_view() -> None:
    a = Assembler(["api", "db"], {"db": ["api"]}, [ReplicaRef("db-1", "db")], [], BOUNDS, 0)
    a.baseline({"db-1": metrics(requests=5, ok=5)})
    a.add_second({"db-1": metrics(requests=12, ok=11, errors={"injected": 1})}, {})
    db = a.series[Scope.service("db")]
    assert (db.requests, db.ok, db.errors[Cause.INJECTED]) == ([7], [6], [1])


def test_what_measures_each_scope_on_a_stack_where_only_some_replicas_have_metrics() -> None:
    # front -> mid -> backend -> store; only mid's replica has metrics. mid is measured by its own server
    # view, backend by mid's calls, front by the load generator; store, called only by backend (no metrics),
    # and lonely, called by nobody, are measured by nothing.
    from chaos.measurement import Source

    callers = {"front": [], "mid": ["front"], "backend": ["mid"], "store": ["backend"], "lonely": []}
    a = Assembler(list(callers), callers, [ReplicaRef("mid-1", "mid")], [EntryRef("web", "front")], BOUNDS, 0)
    assert a.sources() == {
        Scope.entrypoint("web"): Source.LOAD_GENERATOR, Scope.service("front"): Source.LOAD_GENERATOR,
        Scope.service("mid"): Source.CHAOSLAB_METRICS, Scope.service("backend"): Source.CHAOSLAB_METRICS,
        Scope.service("store"): Source.UNMEASURED, Scope.service("lonely"): Source.UNMEASURED}
    # With every replica reporting (the generated stack), nothing is unmeasured.
    every = [ReplicaRef(f"{s}-1", s) for s in callers]
    full = Assembler(list(callers), callers, every, [EntryRef("web", "front")], BOUNDS, 0)
    assert all(source.measured for source in full.sources().values())


def test_each_operation_is_its_replicas_server_view_and_the_operations_add_up_to_them() -> None:
    """db declares find and insert: each operation's series is the difference of its replicas' counts."""
    replicas = [ReplicaRef("api-1", "api"), ReplicaRef("db-1", "db"), ReplicaRef("db-2", "db")]
    a = Assembler(["api", "db"], {"api": [], "db": ["api"]}, replicas, [EntryRef("web", "api")], BOUNDS, 0,
                  operations={"db": ["find", "insert"], "api": []})

    def db(find: int, find_ok: int, insert: int) -> dict[str, Any]:
        out = metrics(requests=find + insert, ok=find_ok + insert)
        out["operations"] = {"find": {"requests": find, "ok": find_ok, "errors": {"dependency": find - find_ok},
                                      "latency_hist": hist((B10MS, find_ok)), "wasted": 0},
                             "insert": {"requests": insert, "ok": insert, "errors": {},
                                        "latency_hist": hist((B100MS, insert)), "wasted": 0}}
        return out

    a.baseline({"db-1": db(10, 10, 5), "db-2": db(0, 0, 0)})
    a.add_second({"db-1": db(40, 35, 6), "db-2": db(20, 20, 3)}, {})
    find, insert = a.series[Scope.operation("db", "find")], a.series[Scope.operation("db", "insert")]
    assert (find.requests, find.ok, find.errors[Cause.DEPENDENCY]) == ([50], [45], [5])
    assert (insert.requests, insert.ok) == ([4], [4])
    assert insert.p99_ms[0] is not None and insert.p99_ms[0] > find.p99_ms[0]  # type: ignore[operator]
    sources = a.sources()
    assert sources[Scope.operation("db", "find")].measured and Scope.operation("api", "x") not in sources
