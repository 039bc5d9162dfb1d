"""The load generator against /work servers on 127.0.0.1: rates, spikes, latency, retries, causes, caps.

Each test runs Locust for a few seconds. Rates are checked two ways: against the
plan's own seeded arrival stream (every planned arrival is sent: the total matches
exactly) and against the Poisson error around the target rate.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from loadkit import BOUNDS, constant, entry, make_plan, poisson_ok, run, spike, topology

from chaos.live.in_container.stackspec import Dist, LoadBalancing, ServiceTime
from chaos.live.load import LoadPlan, SecondStats
from chaos.live.load.plan import RequestPlan, UsersPlan, arrival_rng, arrivals
from chaos.live.load.workserver import Reply, WorkServer
from chaos.live_states import LoadStop
from chaos.model.load import Step
from chaos.run import Cause

Server = Callable[..., WorkServer]


def planned(plan: LoadPlan, name: str, processes: int = 1) -> list[float]:
    """The arrival times the seeded plan holds for one entrypoint: one dispatcher per process."""
    i = [e.name for e in plan.entrypoints].index(name)
    curve = plan.entrypoints[i].curve()
    return sorted(t for process in range(processes)
                  for t in arrivals(curve, 1.0 / processes, arrival_rng(plan.seed, process, 0, i))
                  if t < plan.duration_s)


def matches_plan(series: list[SecondStats], times: list[float], seconds: int) -> bool:
    """Does each second hold the planned arrivals, give or take those sent late across its edges?

    A request counts in the second it started: one planned at 0.999 s and sent 2 ms late
    counts in second 1. So a second may lose the arrivals planned within the largest lag
    of its end, and gain those planned within the largest lag of its start.
    """
    lag = max(r.max_lag_s for r in series) + 0.001
    for k in range(seconds):
        planned_k = sum(1 for t in times if k <= t < k + 1)
        leave = sum(1 for t in times if k + 1 - lag <= t < k + 1)
        enter = sum(1 for t in times if k - lag <= t < k)
        if not planned_k - leave <= series[k].requests <= planned_k + enter:
            return False
    return True


def test_a_constant_rate_is_sent_in_full_and_counted_consistently(server: Server, tmp_path: Path) -> None:
    srv = server(lambda n: Reply(delay_s=0.02))
    plan = make_plan(topology(), constant(300.0, 4.0), {"web": srv.url}, 4.0)
    out = run(plan, tmp_path)
    series = out.series("web")
    want = planned(plan, "web")
    assert out.summed("web", "requests") == len(want)  # every planned arrival was sent
    assert matches_plan(series, want, 4)
    assert all(poisson_ok(rec.requests, 300.0) for rec in series[:4])
    web = out.summary.totals["web"]
    assert out.summary.reason is LoadStop.FINISHED and not out.summary.capped
    # On a busy machine the process may stall for some milliseconds (late arrivals are
    # counted), but it never falls behind for good: nothing dropped, nothing far off.
    assert web.dropped == 0 and web.max_lag_s < 0.5
    assert web.requests == web.ok == web.attempts == srv.hits and web.failed == 0
    for field in ("requests", "ok", "attempts"):
        assert out.summed("web", field) == getattr(web, field)
    for rec in series:
        assert sum(rec.hist.values()) == rec.ok and rec.complete
    # Latency is end to end: nothing faster than the server's 20 ms, and most of it just above.
    hist: dict[int, int] = {}
    for rec in series:
        for k, v in rec.hist.items():
            hist[k] = hist.get(k, 0) + v
    assert dict(web.hist) == hist
    assert min(hist) >= bisect.bisect_left(BOUNDS, 0.02)
    fast = sum(v for k, v in hist.items() if k < len(BOUNDS) and BOUNDS[k] <= 0.05)
    assert fast >= 0.9 * web.ok


def test_a_step_changes_the_rate_at_its_second(server: Server, tmp_path: Path) -> None:
    srv = server()
    plan = make_plan(topology(), Step(rate=100.0, to=400.0, at=2.0).segments(4.0), {"web": srv.url}, 4.0)
    out = run(plan, tmp_path)
    got = [r.requests for r in out.series("web")][:4]
    for n, rate in zip(got, (100.0, 100.0, 400.0, 400.0), strict=True):
        assert poisson_ok(n, rate), got
    assert sum(got[2:]) > 3 * sum(got[:2])
    assert out.summary.totals["web"].requests == len(planned(plan, "web"))


def test_a_load_spike_multiplies_only_its_entrypoint_during_its_window(server: Server, tmp_path: Path) -> None:
    a, b = server(), server()
    plan = make_plan(topology(entry("a"), entry("b")), constant(200.0, 5.0), {"a": a.url, "b": b.url}, 5.0,
                     spikes=[spike("a", 2.0, 2.0, 3.0)])
    out = run(plan, tmp_path)
    ra = [r.requests for r in out.series("a")][:5]
    rb = [r.requests for r in out.series("b")][:5]
    for n, rate in zip(ra, (100.0, 100.0, 300.0, 300.0, 100.0), strict=True):
        assert poisson_ok(n, rate), ra
    assert all(poisson_ok(n, 100.0) for n in rb), rb
    spiked, base = ra[2] + ra[3], ra[0] + ra[1] + ra[4]
    assert 2.4 < (spiked / 2) / (base / 3) < 3.6
    assert (a.hits, b.hits) == (out.summary.totals["a"].attempts, out.summary.totals["b"].attempts)


def test_the_load_is_open_loop_a_slow_server_does_not_slow_it(server: Server, tmp_path: Path) -> None:
    # Each answer takes 1 s: a closed loop of a few users would send a few requests a second.
    srv = server(lambda n: Reply(delay_s=1.0))
    plan = make_plan(topology(), constant(150.0, 3.0), {"web": srv.url}, 3.0, drain_s=2.0)
    out = run(plan, tmp_path)
    series = out.series("web")
    assert all(poisson_ok(r.requests, 150.0) for r in series[:3]), [r.requests for r in series]
    assert series[1].in_flight > 100  # about 150 requests wait on the server at any time
    web = out.summary.totals["web"]
    assert web.ok == web.requests == len(planned(plan, "web")) and web.unfinished == 0
    slow = bisect.bisect_left(BOUNDS, 1.0)
    assert min(web.hist) >= slow and max(web.hist) <= slow + 2


def test_retries_are_applied_and_counted(server: Server, tmp_path: Path) -> None:
    coin = random.Random(5)
    flaky = server(lambda n: Reply(503, "injected") if coin.random() < 0.5 else Reply())
    dead = server(lambda n: Reply(503, "rejected"))
    topo = topology(entry("flaky", retries=2, base=0.005), entry("dead", retries=3, budget=0.1))
    plan = make_plan(topo, constant(300.0, 3.0), {"flaky": flaky.url, "dead": dead.url}, 3.0)
    out = run(plan, tmp_path)
    f, d = out.summary.totals["flaky"], out.summary.totals["dead"]
    for t in (f, d):
        assert t.retries == t.attempts - t.requests and t.unfinished == 0
        assert t.requests == t.ok + t.failed
        # The attempts' view: every attempt ended, each successful request in exactly one successful attempt.
        assert t.attempts == t.requests + t.retries == t.attempt_ok + t.attempts_failed
        assert t.attempt_ok == t.ok == sum(t.attempt_hist.values()) == sum(t.hist.values())
    assert (flaky.hits, dead.hits) == (f.attempts, d.attempts)
    assert f.attempt_errors[Cause.INJECTED] == f.attempts - f.ok == f.attempts_failed
    assert d.attempt_errors[Cause.REJECTED] == d.attempts
    # A successful attempt is never slower than its request (which waited out the backoff of the
    # attempts before it): the attempts' latencies are below the requests', bucket by bucket.
    below = zip(_cumulative(f.attempt_hist), _cumulative(f.hist), strict=True)
    assert all(attempts >= requests for attempts, requests in below) and f.attempt_hist != f.hist
    for name, t in (("flaky", f), ("dead", d)):
        series = out.series(name)
        for field in ("attempt_ok", "attempts_failed"):
            assert sum(getattr(r, field) for r in series) == getattr(t, field), (name, field)
        assert all(sum(r.attempt_hist.values()) == r.attempt_ok for r in series)
        assert all(r.attempt_errors[c] >= 0 for r in series for c in Cause)
    # p = 0.5, two retries: (1 - p^3) / (1 - p) = 1.75 attempts per request; p^3 of them fail.
    assert f.attempts / f.requests == pytest.approx(1.75, abs=0.1)
    assert f.errors[Cause.INJECTED] / f.requests == pytest.approx(0.125, abs=0.04)
    assert f.failed == f.errors[Cause.INJECTED]
    # A budget of 0.1 tokens per request allows about one retry in ten, not three per request.
    assert d.errors[Cause.REJECTED] == d.requests and d.ok == 0
    assert d.retries <= 0.1 * d.requests + 1 and d.retries >= 0.1 * d.requests - 2
    assert out.summed("flaky", "retries") == f.retries and out.summed("dead", "attempts") == d.attempts


def _cumulative(hist: Mapping[int, int]) -> list[int]:
    """Counts at or below each bucket, from the first to the last bucket."""
    out, acc = [], 0
    for k in range(len(BOUNDS) + 1):
        acc += hist.get(k, 0)
        out.append(acc)
    return out


def test_timeouts_end_each_attempt_and_are_retried(server: Server, tmp_path: Path) -> None:
    srv = server(lambda n: Reply(delay_s=0.5))
    plan = make_plan(topology(entry(timeout=0.05, retries=1, base=0.02, cancel=True)), constant(100.0, 3.0),
                     {"web": srv.url}, 3.0)
    out = run(plan, tmp_path)
    web = out.summary.totals["web"]
    assert web.errors[Cause.TIMEOUT] == web.requests > 200 and web.ok == 0 and not web.hist
    assert web.attempts == 2 * web.requests == srv.hits == srv.cancellable  # cancel_on_timeout asks the server
    assert web.attempt_errors[Cause.TIMEOUT] == web.attempts and web.attempt_ok == 0 and not web.attempt_hist
    assert out.series("web")[1].in_flight < 20  # requests end after 0.05 + 0.02 + 0.05 s, not 0.5 s


@pytest.mark.parametrize("balancing", list(LoadBalancing))
def test_two_replicas_each_get_about_half_of_the_attempts(server: Server, tmp_path: Path,
                                                          balancing: LoadBalancing) -> None:
    one, two = server(lambda n: Reply(delay_s=0.005)), server(lambda n: Reply(delay_s=0.005))
    plan = make_plan(topology(balancing=balancing), constant(200.0, 3.0), {"web": [one.url, two.url]}, 3.0)
    out = run(plan, tmp_path)
    web = out.summary.totals["web"]
    assert web.requests > 400 and web.ok == web.attempts == one.hits + two.hits
    if balancing is LoadBalancing.ROUND_ROBIN:
        assert abs(one.hits - two.hits) <= 1  # in turn, exactly
    else:  # no worse than fair coin flips
        assert abs(one.hits - web.attempts / 2) <= 4.5 * (web.attempts / 4) ** 0.5, (one.hits, two.hits)


def test_least_outstanding_sends_most_attempts_to_the_replica_that_answers_first(server: Server,
                                                                                 tmp_path: Path) -> None:
    fast, slow = server(lambda n: Reply(delay_s=0.001)), server(lambda n: Reply(delay_s=0.1))
    plan = make_plan(topology(balancing=LoadBalancing.LEAST_OUTSTANDING), constant(100.0, 3.0),
                     {"web": [slow.url, fast.url]}, 3.0)
    out = run(plan, tmp_path)
    # The slow one has an attempt in flight for 100 ms of every 100 ms it is picked: the fast one
    # (almost always idle) wins every pick but the ties, about one in ten arrivals.
    assert fast.hits > 3 * slow.hits > 0 and fast.hits + slow.hits == out.summary.totals["web"].attempts


@pytest.mark.parametrize("death", ["refused", "hang_up"])
def test_a_replica_whose_connections_break_is_skipped_for_a_second(server: Server, tmp_path: Path,
                                                                   death: str) -> None:
    live = server()
    dead = server(lambda n: Reply(hang_up=True))
    if death == "refused":
        dead.close()  # its port now refuses connections
    plan = make_plan(topology(), constant(200.0, 3.0), {"web": [dead.url, live.url]}, 3.0)
    out = run(plan, tmp_path)
    web = out.summary.totals["web"]
    crashed = web.errors[Cause.CRASHED]
    # Round robin would send half of about 600 attempts to the dead replica; it is tried again
    # only once its hold of a second is over, so a few times over three seconds.
    assert web.requests > 400 and 1 <= crashed <= 10, crashed
    assert live.hits == web.ok == web.requests - crashed
    if death == "hang_up":
        assert dead.hits == crashed


REPLIES = (Reply(), Reply(503, "rejected"), Reply(503, "injected"), Reply(503, "dependency"),
           Reply(503, "circuit_open"), Reply(504, "timeout"), Reply(503), Reply(500), Reply(404), Reply(201))
CAUSE_OF = (None, Cause.REJECTED, Cause.INJECTED, Cause.DEPENDENCY, Cause.CIRCUIT_OPEN, Cause.TIMEOUT,
            Cause.REJECTED, Cause.DEPENDENCY, "client", None)


def test_causes_are_decoded_from_answers_and_broken_connections(server: Server, tmp_path: Path) -> None:
    mixed = server(lambda n: REPLIES[n % len(REPLIES)])
    hangup = server(lambda n: Reply(hang_up=True))
    closed = server()
    closed.close()  # its port now refuses connections
    urls = {"mixed": mixed.url, "hangup": hangup.url, "refused": closed.url}
    plan = make_plan(topology(entry("mixed"), entry("hangup"), entry("refused")), constant(300.0, 3.0), urls, 3.0)
    out = run(plan, tmp_path)
    m = out.summary.totals["mixed"]
    assert m.requests == mixed.hits
    expected: dict[object, int] = {}
    for n in range(mixed.hits):
        expected[CAUSE_OF[n % len(REPLIES)]] = expected.get(CAUSE_OF[n % len(REPLIES)], 0) + 1
    assert m.ok == expected[None] and m.client_errors == expected["client"]
    assert "entrypoint mixed: client error HTTP 404 on GET /work" in out.warnings
    for cause in Cause:
        assert m.errors[cause] == expected.get(cause, 0), cause
    for name in ("hangup", "refused"):
        t = out.summary.totals[name]
        assert t.requests > 200 and t.errors[Cause.CRASHED] == t.requests and t.ok == 0
    assert hangup.hits == out.summary.totals["hangup"].attempts


def test_the_request_cap_stops_the_load(server: Server, tmp_path: Path) -> None:
    srv = server()
    plan = make_plan(topology(), constant(200.0, 5.0), {"web": srv.url}, 5.0, max_requests=150)
    out = run(plan, tmp_path)
    assert out.summary.reason is LoadStop.CAPPED and out.summary.capped
    assert out.summary.totals["web"].requests == 150 == srv.hits
    assert out.summed("web", "requests") == 150


def test_a_generator_that_falls_behind_says_so(server: Server, tmp_path: Path) -> None:
    srv = server(lambda n: Reply(delay_s=0.5))
    plan = make_plan(topology(), constant(100.0, 2.0), {"web": srv.url}, 2.0, max_in_flight=10)
    out = run(plan, tmp_path)
    web = out.summary.totals["web"]
    assert web.dropped > 100 and web.requests + web.dropped == len(planned(plan, "web"))
    assert out.summary.behind and out.summed("web", "dropped") == web.dropped
    assert out.warnings == ("more than 10 requests in flight: arrivals dropped",)
    assert max(r.in_flight for r in out.series("web")) <= 10


def test_distributed_mode_streams_the_same_totals_as_its_workers_count(server: Server, tmp_path: Path) -> None:
    srv = server(lambda n: Reply(503, "injected") if n % 10 == 0 else Reply(delay_s=0.005))
    plan = make_plan(topology(entry(retries=1)), constant(400.0, 4.0), {"web": srv.url}, 4.0)
    out = run(plan, tmp_path, workers=2)
    web = out.summary.totals["web"]
    series = out.series("web")
    assert all(r.complete for r in series)
    for field in ("requests", "attempts", "retries", "ok", "unfinished"):
        assert out.summed("web", field) == getattr(web, field), field
    assert sum(r.failed for r in series) == web.failed
    assert srv.hits == web.attempts and web.requests == web.ok + web.failed
    assert web.requests == len(planned(plan, "web", processes=2))  # each worker sent its own seeded stream
    assert all(poisson_ok(r.requests, 400.0) for r in series[:4]), [r.requests for r in series]
    assert web.retries == pytest.approx(0.1 * web.requests, abs=4.5 * (0.09 * web.requests) ** 0.5)


def test_request_kinds_are_sent_as_written_in_their_weights_and_counted_each_on_its_own(server: Server,
                                                                                          tmp_path: Path) -> None:
    srv = server(routes={"GET /shop/missing": Reply(status=404), "POST /shop/orders": Reply(status=201),
                         "PUT /shop/cart?id=7": Reply(status=200)})
    kinds = (RequestPlan(name="home", weight=5.0),
             RequestPlan(name="order", method="POST", target="/orders", body='{"item": 42}',
                         headers=(("Content-Type", "application/json"),), success=(201,), weight=3.0),
             RequestPlan(name="cart", method="PUT", target="/cart?id=7", success=(201,), weight=1.0),
             RequestPlan(name="missing", target="/missing", weight=1.0))
    plan = make_plan(topology(), constant(200.0, 4.0), {"web": srv.url + "/shop"}, 4.0,
                     requests={"web": kinds})
    out = run(plan, tmp_path)
    web, by_kind = out.summary.totals["web"], out.summary.kinds["web"]
    assert list(by_kind) == ["home", "order", "cart", "missing"]
    # Each kind got its weight's share of the entry requests (binomial, 4.5 sigmas), and the server
    # saw exactly what each kind sends: its method, path, query and body.
    for kind in kinds:
        share = kind.weight / 10.0
        n = by_kind[kind.name].requests
        assert abs(n - share * web.requests) <= 4.5 * (web.requests * share * (1 - share)) ** 0.5, kind.name
    assert srv.seen == {"GET /shop": by_kind["home"].requests, "POST /shop/orders": by_kind["order"].requests,
                        "PUT /shop/cart?id=7": by_kind["cart"].requests,
                        "GET /shop/missing": by_kind["missing"].requests}
    assert srv.bodies["POST /shop/orders"] == b'{"item": 42}'
    # Success is what each kind says: 201 for the order; the cart's 200 is not its listed 201, and
    # the 404 is nobody's success: both are client errors, counted by status, never system failures.
    assert by_kind["home"].ok == by_kind["home"].requests and by_kind["order"].ok == by_kind["order"].requests
    assert by_kind["missing"].client_errors == by_kind["missing"].requests > 0
    assert dict(by_kind["missing"].client_statuses) == {"404": by_kind["missing"].requests}
    assert dict(web.client_statuses) == {"404": by_kind["missing"].requests, "200": by_kind["cart"].requests}
    assert web.failed == 0 and web.client_errors == by_kind["missing"].requests + by_kind["cart"].requests
    assert sum(r.client_errors for r in out.series("web")) == web.client_errors
    assert "entrypoint web: client error HTTP 404 on GET /missing (request 'missing')" in out.warnings


@pytest.mark.parametrize("workers", [0, 2])
def test_closed_loop_users_wait_for_each_answer_so_a_slow_server_is_sent_less(server: Server, tmp_path: Path,
                                                                             workers: int) -> None:
    # N users, think time Z, response time R: X = N / (R + Z) (the interactive response time law).
    # The work server answers every request after its delay, never queueing, so R is that delay.
    # The count's noise depends on the cycles N * T / (R + Z) (about 144 and 51 here), not on how
    # they are split into users and seconds: twelve users for 3 s test as much as six for 6 s.
    users, think, seconds = 12, 0.2, 3.0
    think_spec = ServiceTime(Dist.EXPONENTIAL, mean=think)
    sent = {}
    for delay in (0.05, 0.5):
        srv = server(lambda n, d=delay: Reply(delay_s=d))
        plan = make_plan(topology(), constant(1.0, seconds), {"web": srv.url}, seconds,
                         users=UsersPlan(users, think_spec), drain_s=2.0)
        assert LoadPlan.from_json(plan.to_json()) == plan
        out = run(plan, tmp_path / f"{delay}", workers=workers)
        web = out.summary.totals["web"]
        sent[delay] = web.requests
        # Each user has one request at a time: never more in flight than users.
        assert max(r.in_flight for r in out.series("web")) <= users
        # The law with R the server's delay (plus milliseconds of overhead, and the noise of a few
        # hundred exponential think times: hence the tolerance).
        expected = users * seconds / (delay + think)
        assert web.requests == pytest.approx(expected, rel=0.3), (delay, web.requests, expected)
        assert web.ok == web.requests == srv.hits and web.dropped == 0
    assert sent[0.5] < 0.5 * sent[0.05]  # a slow server gets fewer requests: the users wait for it
