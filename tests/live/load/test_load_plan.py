"""The load plan, without Locust: rate curves from profile, shares and spikes; Poisson arrivals; its file form."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest
from loadkit import constant, entry, make_plan, spike, topology

from chaos.errors import InputError
from chaos.live.in_container.stackspec import Jitter, LoadBalancing
from chaos.live.load import LoadPlan, plan_experiment
from chaos.live.load.plan import WORK_REQUEST, RequestPlan, arrivals, default_cap, request_plans
from chaos.model.files import load_experiment
from chaos.model.load import RateCurve, Segment, Step
from chaos.run import as_bound

ROOT = Path(__file__).resolve().parents[3]
URLS = {"a": "http://127.0.0.1:1", "b": "http://127.0.0.1:2"}


def two_entries() -> object:
    return topology(entry("a", share=3.0), entry("b", share=1.0))


def test_shares_are_relative_and_a_spike_multiplies_only_its_entrypoint_over_its_window() -> None:
    plan = make_plan(two_entries(), constant(100.0, 10.0), URLS, 10.0, spikes=[spike("a", 2.0, 3.0, 4.0)])
    a, b = plan.entry("a").curve(), plan.entry("b").curve()
    assert [a.rate_at(t) for t in (0.0, 1.99, 2.0, 4.99, 5.0, 9.9)] == [75.0, 75.0, 300.0, 300.0, 75.0, 75.0]
    assert [b.rate_at(t) for t in (0.0, 3.0, 9.9)] == [25.0, 25.0, 25.0]
    assert plan.entry("a").expected(0.0, 10.0) == pytest.approx(75.0 * 10 + 225.0 * 3)
    assert plan.expected() == pytest.approx(75.0 * 10 + 225.0 * 3 + 250.0)


def test_spikes_on_all_entrypoints_and_overlapping_spikes_multiply() -> None:
    spikes = [spike("*", 1.0, 4.0, 2.0), spike("b", 3.0, 4.0, 3.0)]
    plan = make_plan(two_entries(), constant(40.0, 10.0), URLS, 10.0, spikes=spikes)
    b = plan.entry("b").curve()
    assert [b.rate_at(t) for t in (0.5, 1.5, 3.5, 5.5, 7.5)] == [10.0, 20.0, 60.0, 30.0, 10.0]
    assert plan.entry("a").curve().rate_at(3.5) == 60.0


def test_a_spike_without_duration_lasts_to_the_end_and_ramps_keep_their_slope() -> None:
    ramp = (Segment(0.0, 10.0, 0.0, 100.0),)
    plan = make_plan(topology(entry("a")), ramp, {"a": URLS["a"]}, 10.0,
                     spikes=[spike("a", 5.0, None, 2.0)])  # type: ignore[arg-type]
    curve = plan.entry("a").curve()
    assert curve.rate_at(2.5) == pytest.approx(25.0)
    assert curve.rate_at(7.5) == pytest.approx(150.0)
    assert plan.entry("a").expected(0.0, 10.0) == pytest.approx(125.0 + 2 * 375.0)


@pytest.mark.parametrize("rate", [5.0, 200.0])
def test_arrivals_are_poisson_at_the_curve_rate(rate: float) -> None:
    curve = RateCurve(Step(rate=rate, to=2 * rate, at=50.0).segments(100.0))
    times = list(arrivals(curve, 1.0, random.Random(3)))
    first = [t for t in times if t < 50.0]
    assert abs(len(first) - 50 * rate) < 4 * (50 * rate) ** 0.5
    assert abs(len(times) - len(first) - 100 * rate) < 4 * (100 * rate) ** 0.5
    # Poisson, not evenly spaced: counts per second have variance equal to their mean.
    per_second = [0] * 50
    for t in first:
        per_second[int(t)] += 1
    assert 0.6 < statistics.variance(per_second) / statistics.mean(per_second) < 1.5
    assert times == sorted(times) and times[-1] < 100.0


def test_split_streams_add_up_to_the_whole_rate() -> None:
    curve = RateCurve(constant(300.0, 20.0))
    counts = [sum(1 for _ in arrivals(curve, 1 / 3, random.Random(k))) for k in range(3)]
    assert abs(sum(counts) - 6000) < 4 * 6000**0.5
    assert len(set(counts)) == 3  # independent streams, not copies


def test_plan_file_round_trip_keeps_everything() -> None:
    plan = make_plan(topology(entry("a", timeout=0.5, retries=2, base=0.02, budget=0.2),
                              entry("b", share=2.0)),
                     constant(30.0, 4.0), URLS, 4.0, spikes=[spike("*", 1.0, 1.0, 3.0)], max_requests=77,
                     drain_s=2.5, max_in_flight=9)
    again = LoadPlan.from_json(plan.to_json())
    assert again == plan
    assert again.entry("a").retries.max == 2 and again.entry("a").retries.jitter is Jitter.NONE
    assert again.entry("a").request_urls(WORK_REQUEST) == ("http://127.0.0.1:1/work",)


def test_an_entrypoint_takes_one_url_per_replica_and_its_targets_load_balancing() -> None:
    urls = {"a": ["http://127.0.0.1:1/", "http://127.0.0.1:2"], "b": "http://127.0.0.1:3"}
    plan = make_plan(topology(entry("a"), entry("b"), balancing=LoadBalancing.LEAST_OUTSTANDING),
                     constant(10.0, 1.0), urls, 1.0)
    a = plan.entry("a")
    assert a.request_urls(WORK_REQUEST) == ("http://127.0.0.1:1/work", "http://127.0.0.1:2/work")
    assert plan.entry("b").urls == ("http://127.0.0.1:3",)
    assert a.load_balancing is LoadBalancing.LEAST_OUTSTANDING
    assert LoadPlan.from_json(plan.to_json()) == plan
    with pytest.raises(InputError, match="no URL for entrypoint 'a'"):
        make_plan(two_entries(), constant(10.0, 1.0), {"a": [], "b": URLS["b"]}, 1.0)
    with pytest.raises(InputError, match="'ftp://x' is not a plain"):
        make_plan(two_entries(), constant(10.0, 1.0), {"a": [URLS["a"], "ftp://x"], "b": URLS["b"]}, 1.0)


def test_the_default_cap_is_far_above_what_the_profile_sends() -> None:
    plan = make_plan(topology(entry("a")), constant(100.0, 10.0), {"a": URLS["a"]}, 10.0)
    assert plan.max_requests == default_cap(1000.0)
    assert plan.max_requests > 1000 + 10 * 1000**0.5


def test_an_experiment_becomes_a_plan_with_its_spikes_retries_and_thresholds() -> None:
    experiment = load_experiment(ROOT / "experiments" / "retry-storm.yaml")
    plan = plan_experiment(experiment, {"browse": "http://127.0.0.1:9001/", "buy": "http://127.0.0.1:9002"})
    browse, buy = plan.entry("browse"), plan.entry("buy")
    assert browse.curve().rate_at(30.0) == pytest.approx(270.0)
    assert browse.curve().rate_at(65.0) == pytest.approx(1350.0)
    assert buy.curve().rate_at(80.0) == pytest.approx(30.0)
    assert (browse.timeout_s, browse.retries.max, browse.retries.base_s) == (3.0, 1, 0.2)
    assert browse.requests == (WORK_REQUEST,)  # a generated stack: its emulators serve /work
    assert browse.request_urls(WORK_REQUEST) == ("http://127.0.0.1:9001/work",)
    assert {as_bound(1.0), as_bound(3.0)} <= set(plan.bounds)
    assert plan.seed == experiment.seed and plan.duration_s == 360.0


@pytest.mark.parametrize(("urls", "message"), [
    ({"a": URLS["a"]}, "no URL for entrypoint 'b'"),
    ({**URLS, "bb": "http://127.0.0.1:3"}, "unknown entrypoint 'bb' (did you mean 'b'?)"),
    ({"a": "https://127.0.0.1:1", "b": URLS["b"]}, "not a plain http://host:port/prefix URL"),
])
def test_urls_must_match_the_entrypoints(urls: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        make_plan(two_entries(), constant(10.0, 1.0), urls, 1.0)


def test_a_spike_on_an_unknown_entrypoint_is_refused() -> None:
    with pytest.raises(InputError, match="unknown entrypoint 'aa'"):
        make_plan(two_entries(), constant(10.0, 1.0), URLS, 1.0, spikes=[spike("aa", 0.0, 1.0, 2.0)])


def test_a_users_entrypoint_sends_its_url_as_written_or_the_request_kinds_it_lists(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text((ROOT / "tests/live/gameday/trio.yaml").read_text())
    (tmp_path / "e.yaml").write_text("""
name: e
topology: t.yaml
duration: 10s
load: {profile: constant, rate: 5}
live:
  compose: dc.yml
  entrypoints:
    web:
      url: http://127.0.0.1:8080/shop
      requests:
        - {name: home, weight: 6}
        - {path: /search, query: {q: red shoes, page: "2"}, weight: 3}
        - name: order
          method: post
          path: /api/orders
          headers: {Content-Type: application/json}
          body: '{"item": 42}'
          success: [200, 201]
""")
    experiment = load_experiment(tmp_path / "e.yaml")
    web = plan_experiment(experiment, {"web": "http://127.0.0.1:8080/shop"}).entry("web")
    home, search, order = web.requests
    assert home == RequestPlan(name="home", weight=6.0)
    assert web.request_urls(home) == ("http://127.0.0.1:8080/shop",)  # the URL itself, no /work
    assert search.name == "GET /search" and search.weight == 3.0
    assert web.request_urls(search) == ("http://127.0.0.1:8080/shop/search?q=red%20shoes&page=2",)
    assert (order.method, order.headers, order.body, order.success) == (
        "POST", (("Content-Type", "application/json"),), '{"item": 42}', (200, 201))
    assert LoadPlan.from_json(plan_experiment(experiment, {"web": "http://h:1"}).to_json()).entry("web") \
        .requests == web.requests
    (tmp_path / "e.yaml").write_text((tmp_path / "e.yaml").read_text().replace(
        "      requests:\n        - {name: home, weight: 6}\n        - {path: /search, query: {q: red shoes, "
        "page: \"2\"}, weight: 3}\n        - name: order\n          method: post\n          path: /api/orders\n"
        "          headers: {Content-Type: application/json}\n          body: '{\"item\": 42}'\n"
        "          success: [200, 201]\n", ""))
    plain = plan_experiment(load_experiment(tmp_path / "e.yaml"), {"web": "http://127.0.0.1:8080/shop"})
    (only,) = plain.entry("web").requests
    assert plain.entry("web").request_urls(only) == ("http://127.0.0.1:8080/shop",) and only.method == "GET"
    assert request_plans(()) == ()
