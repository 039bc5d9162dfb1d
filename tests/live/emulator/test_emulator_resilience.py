"""Callers' resilience policies, measured on real emulators: retry amplification, the retry budget,
the circuit breaker, fallbacks, live policy changes and passive health checks."""

from __future__ import annotations

import time

import pytest


def chain(helpers, depth: int, retries: int, **leaf: object) -> dict[str, dict]:
    """s0 -> s1 -> ... -> s{depth}, each call with ``retries`` immediate retries."""
    services: dict[str, dict] = {}
    for i in range(depth + 1):
        svc: dict = {"workers": 8, "service_time": helpers.const(0)}
        if i < depth:
            svc["calls"] = [{"to": f"s{i + 1}", "timeout_s": 2, "retries": {"max": retries}}]
        services[f"s{i}"] = svc
    services[f"s{depth}"].update(leaf)
    return services


@pytest.mark.parametrize("depth, retries", [(2, 2), (3, 1)])
def test_retry_amplification_of_a_chain_with_a_failing_leaf_is_exactly_r_plus_1_to_the_d(
        launch, helpers, depth, retries):
    stack = launch(chain(helpers, depth, retries))
    leaf = f"s{depth}"
    stack.faults(leaf, errors=1.0)
    n = 3
    replies = [stack.work("s0") for _ in range(n)]
    assert all(r.status == 503 and r.cause == "dependency" for r in replies)
    for level in range(1, depth + 1):
        got = stack.metrics(f"s{level}")["server"]["requests"]
        assert got == n * (retries + 1) ** level, (level, got)
        calls = stack.metrics(f"s{level - 1}")["calls"][f"s{level}"]
        assert calls["attempts"] == got and calls["retries"] == got - got // (retries + 1)
    assert stack.metrics(leaf)["server"]["errors"]["injected"] == n * (retries + 1) ** depth


def test_a_retry_budget_caps_attempts_at_one_plus_the_budget(launch, helpers):
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0),
                          "calls": [{"to": "b", "retries": {"max": 3, "budget": 0.2}}]},
                    "b": {"workers": 4, "service_time": helpers.const(0)}})
    stack.faults("b", errors=1.0)
    n = 150
    for _ in range(n):
        assert stack.work("a").cause == "dependency"
    calls = stack.metrics("a")["calls"]["b"]
    # Without the budget every request would make 4 attempts; with it, a retry per 5 requests.
    assert calls["retries"] == n * 0.2
    assert calls["attempts"] == stack.metrics("b")["server"]["requests"] == n * 1.2


def test_the_breaker_fails_fast_while_open_and_closes_after_good_probes(launch, helpers):
    breaker = {"failure_ratio": 0.5, "min_calls": 4, "window_s": 10, "open_for_s": 0.6, "half_open_probes": 2}
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0),
                          "calls": [{"to": "b", "timeout_s": 1, "breaker": breaker}]},
                    "b": {"workers": 4, "service_time": helpers.const(0.01)}})
    stack.faults("b", errors=1.0)
    opened = None
    for _ in range(4):
        assert stack.work("a").cause == "dependency"
        opened = time.monotonic()
    assert stack.admin("a", "GET", "/admin/state")[1]["calls"]["b"]["breaker_state"] == "open"
    stack.admin("b", "DELETE", "/admin/faults")  # b is healthy again, but the breaker does not know yet
    fast = [stack.work("a") for _ in range(5)]
    assert time.monotonic() - opened < 0.6  # all within the open window
    assert all(r.status == 503 and r.cause == "circuit_open" and r.seconds < 0.05 for r in fast)
    assert stack.metrics("b")["server"]["requests"] == 4  # nothing reached b
    time.sleep(max(0.0, opened + 0.65 - time.monotonic()))
    after = [stack.work("a") for _ in range(4)]
    assert all(r.status == 200 for r in after)  # two probes succeed, then closed
    calls = stack.metrics("a")["calls"]["b"]
    assert calls["breaker_state"] == "closed" and calls["breaker_opens"] == 1
    assert calls["short_circuited"] == 5 and calls["attempts"] == 8
    assert stack.metrics("a")["server"]["errors"]["circuit_open"] == 5


def test_a_fallback_answers_200_and_counts_the_call_degraded(launch, helpers):
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0),
                          "calls": [{"to": "b", "fallback": True, "retries": {"max": 1}}]},
                    "b": {"workers": 4, "service_time": helpers.const(0)}})
    stack.faults("b", errors=1.0)
    replies = stack.fire("a", 10, concurrency=2)
    assert all(r.status == 200 for r in replies)
    a = stack.metrics("a")
    assert a["server"]["ok"] == 10
    assert a["calls"]["b"]["degraded"] == 10 and a["calls"]["b"]["attempts"] == 20
    assert a["calls"]["b"]["errors"]["injected"] == 20


def test_an_admin_policy_change_takes_effect_on_the_next_call(launch, helpers):
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0),
                          "calls": [{"to": "b", "timeout_s": 0.05}]},
                    "b": {"workers": 4, "service_time": helpers.const(0.15)}})
    before = stack.work("a")
    assert before.cause == "dependency" and before.seconds < 0.12
    status, state, seconds = stack.admin("a", "POST", "/admin/calls/b", {"timeout_s": 1.0})
    assert status == 200 and state["calls"]["b"]["timeout_s"] == 1.0 and seconds < 0.1
    after = stack.work("a")
    assert after.status == 200 and after.seconds >= 0.15
    # Retries set through the admin route apply too; keys left out keep their values.
    stack.faults("b", errors=1.0)
    status, state, _ = stack.admin("a", "POST", "/admin/calls/b", {"retries": {"max": 2}})
    assert state["calls"]["b"]["retries"]["max"] == 2 and state["calls"]["b"]["timeout_s"] == 1.0
    requests_before = stack.metrics("b")["server"]["requests"]
    stack.work("a")
    assert stack.metrics("b")["server"]["requests"] - requests_before == 3


@pytest.mark.parametrize("path, body, status, words", [
    ("/admin/calls/b", {"timeout_s": -1}, 400, "greater than 0"),
    ("/admin/calls/b", {"retries": {"max": "two"}}, 400, "whole number"),
    ("/admin/calls/b", {"timout_s": 1}, 400, "unknown key 'timout_s'"),
    ("/admin/calls/zz", {"timeout_s": 1}, 404, "does not call 'zz'"),
    ("/admin/calls/b/faults", {"errors": 1.5}, 400, "at most 1"),
    ("/admin/calls/b/faults", {"slowdown": 2}, 400, "unknown key 'slowdown'"),
    ("/admin/calls/zz/faults", {"errors": 0.5}, 404, "does not call 'zz'"),
    ("/admin/faults", {"errors": 2}, 400, "at most 1"),
    ("/admin/faults", {"hang": "yes"}, 400, "true or false"),
    ("/admin/faults", {"cold_start": {"factor": 2}}, 400, "decay_s"),
])
def test_bad_admin_requests_are_refused_with_a_reason(launch, helpers, path, body, status, words):
    stack = launch({"a": {"service_time": helpers.const(0), "calls": [{"to": "b"}]},
                    "b": {"service_time": helpers.const(0)}})
    got, answer, _ = stack.admin("a", "POST", path, body)
    assert got == status and words in answer["error"], answer
    state = stack.admin("a", "GET", "/admin/state")[1]
    assert state["calls"]["b"]["timeout_s"] is None and state["faults"]["errors"] == 0  # nothing changed
    assert state["calls"]["b"]["faults"] == {"errors": 0.0}


def test_a_dead_replica_is_skipped_and_load_shifts_back_when_it_returns(launch, helpers):
    stack = launch({"a": {"workers": 4, "service_time": helpers.const(0),
                          "calls": [{"to": "b", "timeout_s": 1, "retries": {"max": 1}}]},
                    "b": {"replicas": 2, "workers": 4, "service_time": helpers.const(0)}})
    stack.stop("b", 2)
    started = time.monotonic()
    replies = [stack.work("a") for _ in range(20)]
    assert time.monotonic() - started < 1.0  # all inside one hold period
    assert all(r.status == 200 for r in replies)  # the one refused attempt was retried
    calls = stack.metrics("a")["calls"]["b"]
    assert calls["errors"]["crashed"] == 1  # refused once, then skipped
    assert stack.metrics("b", 1)["server"]["requests"] == 20
    stack.restart("b", 2)
    time.sleep(1.05)  # the hold expires: the replica is tried again
    for _ in range(20):
        assert stack.work("a").status == 200
    assert stack.metrics("b", 2)["server"]["requests"] == 10  # round robin again: half of them
    assert stack.metrics("a")["calls"]["b"]["errors"]["crashed"] == 1
