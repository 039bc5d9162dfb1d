"""A request's life at one replica, measured: service time, queue, shedding, timeouts, cancellation, hang,
faults, stages, and the consistency of the metrics the live driver will difference."""

from __future__ import annotations

import bisect
import itertools
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from chaos.core.streams import stream
from chaos.live.in_container import stackspec
from chaos.live.in_container.emulator.servicetime import sampler


@pytest.mark.parametrize("service_time", [
    {"dist": "exponential", "mean": 0.05},
    {"dist": "lognormal", "median": 0.04, "p90": 0.1},
    {"dist": "constant", "value": 0.04},
])
def test_service_times_at_low_load_are_the_seeded_draws(launch, service_time):
    bounds = (0.01, 0.025, 0.05, 0.1, 0.2)
    n, seed = 200, 7
    stack = launch({"a": {"workers": 64, "service_time": service_time},
                    "control": {"workers": 64, "service_time": {"dist": "constant", "value": 0.02}}},
                   bounds=bounds, seed=seed)
    # About 5 in service at a time, far from 64 workers: nobody waits.
    replies, control = stack.poisson_with_control("a", "control", n, rate=100)
    assert all(r.status == 200 for r in replies + control)
    overhead = sorted(r.seconds - 0.02 for r in control)
    # The same draws the replica made (its stream is seeded), as an oracle.
    spec = stackspec.service_time(service_time, "service_time", "test")
    draw = sampler(spec, stream(seed, "service_time"))
    draws = sorted(draw() for _ in range(n))
    seen = sorted(r.seconds for r in replies)
    # Quartiles, not means: on a busy machine a few requests lose milliseconds to preemption.
    # Each may be late by about what the machine added to the control's requests; the 90th
    # percentile of that, because noise added to a spread-out sample moves its upper quartile
    # by more than the noise's own upper quartile.
    allowed = overhead[9 * n // 10] + 0.002
    for q in (n // 4, n // 2, 3 * n // 4):
        assert -0.001 < seen[q] - draws[q] < allowed, (q, seen[q], draws[q], allowed)
    # The replica's own histogram is the draws' histogram, but for a few requests that the
    # overhead pushed over a bound: 4%, plus as many as the machine held up by over 2 ms.
    server = stack.metrics("a")["server"]
    assert server["ok"] == n == sum(server["latency_hist"])
    expected = [0] * (len(bounds) + 1)
    for x in draws:
        expected[bisect.bisect_left(bounds, x)] += 1
    held_up = sum(1 for o in overhead if o > 0.002)
    assert max(abs(a - b) for a, b in zip(itertools.accumulate(server["latency_hist"]),
                                         itertools.accumulate(expected), strict=True)) <= 0.04 * n + held_up


def test_requests_beyond_workers_plus_queue_are_rejected_at_once(launch):
    stack = launch({"a": {"workers": 2, "queue_limit": 3, "service_time": {"dist": "constant", "value": 0.4}}})
    replies = stack.fire("a", 10, concurrency=10)
    ok = [r for r in replies if r.status == 200]
    rejected = [r for r in replies if r.status == 503]
    assert len(ok) == 5 and len(rejected) == 5  # 2 working + 3 waiting; the rest turned away
    assert all(r.cause == "rejected" for r in rejected)
    assert max(r.seconds for r in rejected) < 0.2  # at once, not after waiting for a worker
    assert max(r.seconds for r in ok) > 1.1  # the last queued waited for two rounds of 0.4 s
    server = stack.metrics("a")["server"]
    assert server["requests"] == 10 and server["ok"] == 5 and server["errors"]["rejected"] == 5


def test_a_request_that_waited_longer_than_max_wait_is_shed(launch):
    stack = launch({"a": {"workers": 1, "queue_limit": 10, "max_wait_s": 0.15,
                          "service_time": {"dist": "constant", "value": 0.1}}})
    replies = stack.fire("a", 4, concurrency=4)
    ok = [r for r in replies if r.status == 200]
    shed = [r for r in replies if r.status == 503]
    # First works 0-0.1 s; second waited 0.1 s (< 0.15) and works 0.1-0.2 s; the others waited 0.2 s: shed.
    assert len(ok) == 2 and len(shed) == 2
    assert all(r.cause == "rejected" and 0.15 < r.seconds < 0.4 for r in shed)


def test_a_callee_slower_than_the_timeout_is_a_timeout_at_the_caller_and_wasted_work_at_the_callee(launch, helpers):
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0),
                          "calls": [{"to": "b", "timeout_s": 0.1}]},
                    "b": {"workers": 4, "service_time": helpers.const(0.3)}})
    reply = stack.work("a")
    assert reply.status == 503 and reply.cause == "dependency"
    assert 0.09 < reply.seconds < 0.25
    assert stack.metrics("a")["calls"]["b"]["errors"]["timeout"] == 1
    assert stack.metrics("b")["busy"] == 1  # still working on what nobody waits for
    assert helpers.wait_for(lambda: stack.metrics("b")["server"]["wasted"] == 1, timeout=1.0)
    b = stack.metrics("b")
    assert b["busy"] == 0 and b["server"]["ok"] == 1


def test_cancel_on_timeout_frees_the_callee_worker_and_cancels_its_own_calls(launch, helpers):
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0),
                          "calls": [{"to": "b", "timeout_s": 0.1, "cancel_on_timeout": True}]},
                    "b": {"workers": 1, "service_time": helpers.const(0),
                          "calls": [{"to": "c", "cancel_on_timeout": True}]},
                    "c": {"workers": 1, "service_time": helpers.const(3.0)}})
    started = time.monotonic()
    reply = stack.work("a")
    assert reply.status == 503 and reply.cause == "dependency"
    # The disconnect travels a -> b -> c: both release their worker long before c's 3 s are up.
    assert helpers.wait_for(lambda: stack.metrics("c")["busy"] == 0 and stack.metrics("b")["busy"] == 0, 1.0)
    assert time.monotonic() - started < 1.0
    for name in ("b", "c"):
        server = stack.metrics(name)["server"]
        assert server["errors"]["timeout"] == 1 and server["ok"] == 0 and server["wasted"] == 0
    # b's worker is free: a second request reaches c at once instead of waiting 3 s behind the first.
    assert stack.work("a").status == 503
    assert stack.metrics("c")["server"]["requests"] == 2


def test_a_cancelled_request_leaves_the_queue(launch, helpers):
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0),
                          "calls": [{"to": "b", "timeout_s": 0.15, "cancel_on_timeout": True}]},
                    "b": {"workers": 1, "queue_limit": 5, "service_time": helpers.const(1.0)}})
    replies = stack.fire("a", 3, concurrency=3)
    assert all(r.cause == "dependency" for r in replies)
    assert helpers.wait_for(lambda: stack.metrics("b")["queue"] == 0 and stack.metrics("b")["busy"] == 0, 1.0)


def test_hang_holds_requests_and_they_resume_when_it_ends(launch, helpers):
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0.01)}})
    stack.faults("a", hang=True)
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(stack.work, "a") for _ in range(3)]
        time.sleep(0.4)
        assert not any(f.done() for f in futures)  # accepted, not answered
        status, state, seconds = stack.admin("a", "GET", "/admin/state")
        assert status == 200 and state["faults"]["hang"] is True and seconds < 0.1
        assert stack.metrics("a")["server"]["requests"] == 3
        released = time.perf_counter()
        stack.faults("a", hang=False)
        replies = [f.result(timeout=helpers.WAIT) for f in futures]
        assert time.perf_counter() - released < 0.3
    assert all(r.status == 200 and r.seconds > 0.4 for r in replies)


def test_injected_errors_follow_their_ratio_and_delete_clears_them(launch, helpers):
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0)}})
    stack.faults("a", errors=0.5)
    replies = stack.fire("a", 200, concurrency=4)
    injected = sum(1 for r in replies if r.cause == "injected")
    assert 70 < injected < 130  # binomial(200, 0.5): std 7
    status, state, _ = stack.admin("a", "DELETE", "/admin/faults")
    assert status == 200 and state["faults"]["errors"] == 0
    assert all(r.status == 200 for r in stack.fire("a", 20, concurrency=4))


def test_edge_errors_fail_the_callers_attempts_at_once_counted_injected_where_the_callee_never_sees_them(
        launch, helpers):
    stack = launch({"a": {"workers": 8, "service_time": helpers.const(0),
                          "calls": [{"to": "b", "timeout_s": 1, "retries": {"max": 1}}]},
                    "b": {"workers": 8, "service_time": helpers.const(0.02)}})
    status, state, seconds = stack.admin("a", "POST", "/admin/calls/b/faults", {"errors": 1.0})
    assert status == 200 and state["calls"]["b"]["faults"] == {"errors": 1.0} and seconds < 0.1
    replies = stack.fire("a", 20, concurrency=4)
    # Both attempts of every request fail at once: nothing waits on b's 20 ms.
    assert all(r.status == 503 and r.cause == "dependency" and r.seconds < 0.02 for r in replies)
    calls = stack.metrics("a")["calls"]["b"]
    assert (calls["attempts"], calls["retries"], calls["errors"]["injected"], calls["ok"]) == (40, 20, 40, 0)
    assert stack.metrics("b")["server"]["requests"] == 0  # injected by the caller, as the simulator's edge errors
    # A share of the attempts: the others reach b and succeed (retried ones too).
    stack.admin("a", "POST", "/admin/calls/b/faults", {"errors": 0.5})
    stack.fire("a", 200, concurrency=8)
    calls = stack.metrics("a")["calls"]["b"]
    injected = calls["errors"]["injected"] - 40
    sent = calls["attempts"] - 40
    assert 0.38 < injected / sent < 0.62  # binomial, about 300 attempts: std 0.03
    assert stack.metrics("b")["server"]["requests"] == sent - injected == calls["ok"]
    # A request fails only when both its attempts were injected; each success is one ok attempt.
    assert stack.metrics("a")["server"]["errors"]["dependency"] == 20 + 200 - calls["ok"]
    assert sent == 200 + calls["retries"] - 20
    status, state, _ = stack.admin("a", "DELETE", "/admin/calls/b/faults")
    assert status == 200 and state["calls"]["b"]["faults"] == {"errors": 0.0}
    assert all(r.status == 200 for r in stack.fire("a", 20, concurrency=4))


def test_slowdown_and_cold_start_scale_service_times(launch, helpers):
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0.02)}})

    def median_of(k: int) -> float:
        return statistics.median(stack.work("a").seconds for _ in range(k))

    overhead = median_of(5) - 0.02  # what HTTP and this machine add, measured now
    stack.faults("a", slowdown=3)
    assert median_of(5) - overhead == pytest.approx(0.06, abs=0.008)
    stack.faults("a", slowdown=1, cold_start={"factor": 5, "decay_s": 0.2})
    first = stack.work("a").seconds - overhead  # about 5 x 20 ms right after the cold start
    time.sleep(0.8)  # four time constants: the factor is back to about 1.07
    assert 0.07 < first < 0.11, first
    assert median_of(3) - overhead == pytest.approx(0.0215, abs=0.006)


def test_parallel_calls_run_together_and_sequential_ones_in_turn(launch, helpers):
    slow = {"workers": 4, "service_time": helpers.const(0.15)}
    stack = launch({"par": {"workers": 2, "service_time": helpers.const(0),
                            "calls": [{"to": "b", "mode": "parallel"}, {"to": "c", "mode": "parallel"}]},
                    "seq": {"workers": 2, "service_time": helpers.const(0), "calls": [{"to": "b"}, {"to": "c"}]},
                    "b": slow, "c": slow})
    assert 0.15 < stack.work("par").seconds < 0.25
    assert 0.3 < stack.work("seq").seconds < 0.4


def test_a_call_is_made_with_its_probability(launch, helpers):
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0),
                          "calls": [{"to": "b", "probability": 0.3}]},
                    "b": {"workers": 4, "service_time": helpers.const(0)}})
    stack.fire("a", 200, concurrency=4)
    assert 40 < stack.metrics("b")["server"]["requests"] < 80  # binomial(200, 0.3): 60, std 6.5


def test_metrics_histograms_agree_with_the_counts(launch, helpers):
    bounds = (0.01, 0.02, 0.05, 0.1)
    stack = launch({"a": {"workers": 8, "service_time": helpers.const(0),
                          "calls": [{"to": "fast", "timeout_s": 0.1, "probability": 0.5},
                                    {"to": "slow", "timeout_s": 0.1, "probability": 0.5}]},
                    "fast": {"workers": 8, "service_time": {"dist": "exponential", "mean": 0.005}},
                    "slow": {"workers": 8, "service_time": helpers.const(0.25)}}, bounds=bounds)
    stack.fire("a", 40, concurrency=4)

    def settled() -> bool:
        # An attempt the caller gave up on may still sit unread at the callee (its worker count
        # is 0 until it is read): wait until each callee has seen every attempt and is idle.
        calls = stack.metrics("a")["calls"]
        return all(m["busy"] == 0 and m["server"]["requests"] == calls[name]["attempts"]
                   for name, m in (("fast", stack.metrics("fast")), ("slow", stack.metrics("slow"))))

    assert helpers.wait_for(settled, 5.0)
    a, fast, slow = stack.metrics("a"), stack.metrics("fast"), stack.metrics("slow")
    to_fast, to_slow = a["calls"]["fast"], a["calls"]["slow"]
    assert to_fast["ok"] > 5 and to_slow["errors"]["timeout"] > 5  # some of each, so the checks mean something
    for view in (a["server"], fast["server"], slow["server"]):
        assert len(view["latency_hist"]) == len(bounds) + 1
        assert sum(view["latency_hist"]) == view["ok"]
        assert view["requests"] == view["ok"] + sum(view["errors"].values())
    for calls, callee in ((to_fast, fast), (to_slow, slow)):
        assert sum(calls["latency_hist"]) == calls["ok"]
        assert calls["attempts"] == calls["ok"] + sum(calls["errors"].values()) == callee["server"]["requests"]
    assert to_fast["latency_hist"][-1] == 0  # a success took at most the 0.1 s timeout: not above the last bound
    # Every abandoned attempt was finished anyway, and counted wasted where it was done.
    assert slow["server"]["wasted"] == to_slow["errors"]["timeout"] == slow["server"]["ok"]
    assert a["server"]["errors"]["dependency"] == to_slow["errors"]["timeout"]


def test_a_constant_latency_lands_in_its_bucket(launch, helpers):
    bounds = (0.01, 0.02, 0.029, 0.1, 1.0)
    stack = launch({"a": {"workers": 2, "service_time": helpers.const(0), "calls": [{"to": "b"}]},
                    "b": {"workers": 2, "service_time": helpers.const(0.03)}}, bounds=bounds)
    for _ in range(5):
        stack.work("a")
    # 30 ms plus what HTTP and the machine add: in (0.029, 0.1], on both sides of the call.
    assert stack.metrics("b")["server"]["latency_hist"] == [0, 0, 0, 5, 0, 0]
    assert stack.metrics("a")["calls"]["b"]["latency_hist"] == [0, 0, 0, 5, 0, 0]


@pytest.mark.parametrize("path, method, status", [
    ("/nowhere", "GET", 404), ("/metrics", "POST", 405), ("/admin/calls/b", "GET", 405),
    ("/admin/calls/b/faults", "GET", 405)])
def test_unknown_routes_and_methods_say_what_exists(launch, helpers, path, method, status):
    stack = launch({"a": {"service_time": helpers.const(0)}})
    got, body, _ = stack.admin("a", method, path)
    assert got == status and ("routes" in body["error"] or "use" in body["error"])


def test_health_answers_while_every_worker_is_busy(launch, helpers):
    stack = launch({"a": {"workers": 1, "queue_limit": 0, "service_time": helpers.const(0.5)}})
    t = threading.Thread(target=stack.work, args=("a",))
    t.start()
    try:
        assert helpers.wait_for(lambda: stack.metrics("a")["busy"] == 1, 1.0)
        status, body, seconds = stack.admin("a", "GET", "/health")
        assert status == 200 and body == {"ok": True, "service": "a", "replica": 1} and seconds < 0.1
    finally:
        t.join(helpers.WAIT)
