"""The derivation recovers a shop whose behaviour is known, from traces made by the real OpenTelemetry SDK.

Tolerances are sampling errors, computed from the number of observations: four standard errors
for probabilities and shares; for a lognormal's fitted median and p99, four standard errors of
the maximum-likelihood estimates (sigma/sqrt(n) for log-median, times sqrt(1 + z99^2/2) for
log-p99); for an exponential's mean, four times mean/sqrt(n). Stage modes, counts of orphans
and of sampled-out calls, and the pool size are exact.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import otel_shop as truth
import pytest
from tracekit import ShopTraces

from chaos.core.choices import CallMode, stages
from chaos.model.distributions import Constant, Empirical, Exponential, LogNormal
from chaos.traces.flaws import Flaw
from chaos.traces.observed import Basis, Marked, ObservedCall, ObservedModel, ObservedOperation, Router

Z99 = NormalDist().inv_cdf(0.99)


def within_se(observed: float, p: float, n: int, k: float = 4.0) -> bool:
    return abs(observed - p) <= k * math.sqrt(p * (1 - p) / n)


def flaw_count(model: ObservedModel, flaw: Flaw) -> int:
    return next((f.count for f in model.flaws if f.flaw is flaw), 0)


def check_lognormal(op: ObservedOperation, want: truth.Lognormal) -> None:
    dist = op.work_time.distribution
    assert dist is not None and dist.basis is Basis.FITTED, dist
    fitted = dist.value
    assert isinstance(fitted, LogNormal), f"{op.service} {op.name}: {dist.why}"
    n = op.work_time.times.observed.count
    se = want.sigma / math.sqrt(n)
    assert abs(math.log(fitted.median / want.median)) <= 4 * se, (fitted.median, want.median, n)
    assert abs(math.log(fitted.quantile(0.99) / want.p99)) <= 4 * se * math.sqrt(1 + Z99**2 / 2)
    # The observed median (from the 1%-bucket histogram) agrees with the truth within its own sampling error.
    observed = op.work_time.times.observed.p50
    assert abs(math.log(observed / want.median)) <= 4 * 1.26 * se + 0.005


def stage_shape(op: ObservedOperation) -> list[tuple[CallMode, list[str]]]:
    def name(step: ObservedCall | Router) -> str:
        if isinstance(step, Router):
            return "one of " + "|".join(r.call.callee.value for r in step.routes)
        return step.callee.value
    return [(stage.mode, [name(s) for s in stage.steps]) for stage in op.stages]


def test_services_and_which_are_instrumented(shop: ShopTraces) -> None:
    model = shop.model
    assert {s.name for s in model.services} == {"gateway", "auth", "catalog", "recommend", "checkout", "payment",
                                                "wallet", "db", "redis"}
    assert [s.name for s in model.services if not s.instrumented] == ["redis"]
    assert model.spans_read == shop.spans
    assert model.traces == model.traces_used == truth.Shop().requests
    assert model.service("catalog").replicas == Marked(2, Basis.MEASURED, "2 instances served requests")
    assert {op.name for op in model.service("db").operations} == {"SELECT items", "SELECT recs", "INSERT orders"}


def test_entrypoints_are_the_root_operations_with_their_shares_and_rates(shop: ShopTraces) -> None:
    model = shop.model
    browse = model.entrypoint("gateway", "GET /browse")
    buy = model.entrypoint("gateway", "POST /buy")
    assert (browse.requests, buy.requests) == (shop.browse, shop.buy)
    n = shop.browse + shop.buy
    assert within_se(browse.share, truth.BROWSE_SHARE, n)
    assert browse.share + buy.share == pytest.approx(1.0)
    rate = browse.rate + buy.rate  # a Poisson stream's rate from n arrivals: relative error 1/sqrt(n)
    assert abs(rate / truth.Shop().rate - 1) <= 4 / math.sqrt(n)


def test_stage_modes_are_recovered_exactly(shop: ShopTraces) -> None:
    model = shop.model
    assert stage_shape(model.operation("gateway", "GET /browse")) == [
        (CallMode.SEQUENTIAL, ["auth"]),
        (CallMode.PARALLEL, ["catalog", "recommend"]),
        (CallMode.SEQUENTIAL, ["redis"]),
    ]
    assert stage_shape(model.operation("checkout", "POST /checkout")) == [
        (CallMode.SEQUENTIAL, ["one of payment|wallet"]),
        (CallMode.SEQUENTIAL, ["db"]),
    ]
    assert stage_shape(model.operation("catalog", "GET /items")) == [(CallMode.SEQUENTIAL, ["db"])]
    assert stage_shape(model.operation("gateway", "POST /buy")) == [(CallMode.SEQUENTIAL, ["checkout"])]
    assert stage_shape(model.operation("payment", "POST /card")) == []


def test_the_call_plan_regroups_into_the_same_stages_as_the_model_groups_calls(shop: ShopTraces) -> None:
    for service in shop.model.services:
        for op in service.operations:
            plan = op.call_plan()
            regrouped = stages(plan, lambda entry: entry[1])
            assert [[step for step, _ in group] for group in regrouped] == [list(s.steps) for s in op.stages]


def test_call_probabilities_within_sampling_error(shop: ShopTraces) -> None:
    model = shop.model
    browse = model.operation("gateway", "GET /browse")
    assert browse.call_to("recommend").probability != 1.0
    assert within_se(browse.call_to("recommend").probability, truth.RECOMMEND_P, browse.requests)
    assert browse.call_to("catalog").probability == 1.0
    assert browse.call_to("auth").probability == 1.0
    items = model.operation("catalog", "GET /items")
    assert within_se(items.call_to("db", "SELECT items").probability, truth.CATALOG_DB_P, items.requests)
    assert model.operation("recommend", "GET /recs").call_to("db", "SELECT recs").probability == 1.0


def test_a_router_is_found_with_its_weights(shop: ShopTraces) -> None:
    checkout = shop.model.operation("checkout", "POST /checkout")
    router = checkout.stages[0].steps[0]
    assert isinstance(router, Router)
    weights = {r.call.callee.value: r.weight for r in router.routes}
    assert set(weights) == {"payment", "wallet"}
    for name, p in truth.ROUTES.items():
        assert within_se(weights[name], p, checkout.requests)
    assert within_se(router.none_weight, 1 - sum(truth.ROUTES.values()), checkout.requests)
    assert "no two of these calls occurred together" in router.why


def test_work_times_are_fitted_to_the_distributions_that_made_them(shop: ShopTraces) -> None:
    model = shop.model
    check_lognormal(model.operation("gateway", "GET /browse"), truth.GATEWAY_BROWSE)
    check_lognormal(model.operation("gateway", "POST /buy"), truth.GATEWAY_BUY)
    check_lognormal(model.operation("recommend", "GET /recs"), truth.RECOMMEND)
    check_lognormal(model.operation("checkout", "POST /checkout"), truth.CHECKOUT)
    check_lognormal(model.operation("wallet", "POST /pay"), truth.WALLET)
    for op in model.service("db").operations:
        check_lognormal(op, truth.DB)
    items = model.operation("catalog", "GET /items").work_time
    assert items.distribution is not None and isinstance(items.distribution.value, Exponential), items.distribution
    n = items.times.observed.count
    assert abs(items.distribution.value.mean / truth.CATALOG_MEAN - 1) <= 4 / math.sqrt(n)
    auth = model.operation("auth", "POST /verify").work_time.distribution
    assert auth is not None and auth.value == Constant(truth.AUTH_CONSTANT)


def test_a_fit_states_its_quality_and_a_poor_one_is_written_as_an_empirical_distribution(shop: ShopTraces) -> None:
    model = shop.model
    good = model.operation("gateway", "GET /browse").work_time
    best = good.times.best
    assert best is not None and good.times.good and best.ks <= good.times.threshold
    assert f"KS distance {best.ks:.3f}" in good.distribution.why  # type: ignore[union-attr]
    # payment's own time mixes its lognormal work with attempts that hang for 200 ms: no model distribution fits
    card = model.operation("payment", "POST /card").work_time
    assert not card.times.good
    assert card.distribution is not None and card.distribution.basis is Basis.MEASURED
    assert "written as an empirical distribution" in card.distribution.why
    dist = card.distribution.value
    assert isinstance(dist, Empirical)
    table = {q.q: q.value for q in card.times.empirical}
    assert table[0.99] == pytest.approx(truth.PAYMENT_HANG, rel=0.01)
    assert table[0.5] == pytest.approx(truth.PAYMENT.median, rel=0.15)
    # The model's distribution holds the observed quantiles themselves, p0 to p100.
    for q in (0.5, 0.9, 0.99):
        assert dist.quantile(q) == pytest.approx(table[q], rel=1e-9)
    assert dist.quantile(0.0) == pytest.approx(table[0.0]) and dist.quantile(1.0) == pytest.approx(table[1.0])


def test_retries_their_backoff_and_the_timeout_they_imply(shop: ShopTraces) -> None:
    call = shop.model.operation("checkout", "POST /checkout").call_to("payment")
    assert call.retries is not None
    assert call.retries.max.value == truth.PAYMENT_RETRIES and call.retries.max.basis is Basis.INFERRED
    assert call.retries.backoff_p50 == pytest.approx(truth.PAYMENT_BACKOFF, rel=0.01)
    assert call.timeout is not None and call.timeout.basis is Basis.INFERRED
    assert call.timeout.value == pytest.approx(truth.PAYMENT_TIMEOUT, rel=0.01)
    slow = 1 - NormalDist().cdf(math.log((truth.PAYMENT_TIMEOUT - 2 * truth.NET) / truth.PAYMENT.median)
                                / truth.PAYMENT.sigma)
    q = truth.PAYMENT_HANG_P + (1 - truth.PAYMENT_HANG_P) * slow  # an attempt fails
    attempts = round(call.attempts_per_call * call.calls_per_request * call.probability
                     * shop.model.operation("checkout", "POST /checkout").requests)
    assert within_se(call.error_ratio, q, attempts)
    assert call.attempts_per_call == pytest.approx(1 + q + q * q, abs=4 * math.sqrt(q / attempts))
    wallet = shop.model.operation("checkout", "POST /checkout").call_to("wallet")
    assert wallet.retries is None and wallet.timeout is None and wallet.error_ratio == 0.0


def test_sampled_out_calls_and_orphans_are_counted_not_dropped(shop: ShopTraces) -> None:
    model = shop.model
    call = model.operation("gateway", "GET /browse").call_to("recommend")
    made = call.matching.both + call.matching.client_only
    assert call.matching.both == model.operation("recommend", "GET /recs").requests
    assert call.matching.sampled_out == call.matching.client_only > 0
    assert within_se(call.matching.sampled_out / made, 1 - truth.RECOMMEND_SAMPLED, made)
    assert flaw_count(model, Flaw.SAMPLED_OUT) == call.matching.sampled_out
    assert flaw_count(model, Flaw.ORPHAN_SPAN) == shop.orphans > 0
    # the calls still count towards the caller's plan, their callee named from the address learned elsewhere
    assert call.callee.basis is Basis.MEASURED and call.operation.value == "GET /recs"


def test_workers_are_inferred_only_where_requests_queued(shop: ShopTraces) -> None:
    model = shop.model
    db = model.service("db")
    assert db.workers is not None and db.workers.value == truth.DB_WORKERS and db.workers.basis is Basis.INFERRED
    assert db.concurrency is not None and db.concurrency.max_in_progress == truth.DB_WORKERS
    for name in ("gateway", "catalog", "checkout", "wallet"):
        workers = model.service(name).workers
        assert workers is not None and workers.basis is Basis.GUESSED and "lower bound" in workers.why


def test_clock_skew_is_counted_and_the_offset_estimated(shop: ShopTraces) -> None:
    model = shop.model
    assert flaw_count(model, Flaw.CLOCK_SKEW) >= shop.browse  # every gateway -> catalog call
    offsets = {(c.client_host, c.server_host): c for c in model.clock_offsets}
    for i in (1, 2):
        ahead = offsets[("gateway-1-host", f"catalog-{i}-host")]
        assert ahead.consistent and ahead.low <= truth.CATALOG_CLOCK_AHEAD <= ahead.high
        assert ahead.estimate == pytest.approx(truth.CATALOG_CLOCK_AHEAD, abs=1e-6)
        behind = offsets[(f"catalog-{i}-host", "db-1-host")]
        assert behind.estimate == pytest.approx(-truth.CATALOG_CLOCK_AHEAD, abs=1e-6)
    assert {pair[1] for pair in offsets} == {"catalog-1-host", "catalog-2-host", "db-1-host"}


def test_callees_seen_only_from_one_side(shop: ShopTraces) -> None:
    browse = shop.model.operation("gateway", "GET /browse")
    redis = browse.call_to("redis")
    assert redis.callee.basis is Basis.GUESSED and "server address" in redis.callee.why
    assert redis.operation == Marked("GET", Basis.GUESSED, "no server span names it: the client span's name")
    auth = browse.call_to("auth")
    assert auth.matching.server_only == browse.requests and auth.matching.both == 0
    assert auth.callee.basis is Basis.MEASURED


def test_zipkin_written_by_the_sdk_gives_the_same_model(shop: ShopTraces) -> None:
    def shape(model: ObservedModel) -> list:
        out = []
        for service in model.services:
            for op in service.operations:
                calls = [(c.callee.value, c.operation.value, c.probability, c.attempts_per_call)
                         for c in op.calls()]
                out.append((service.name, op.name, op.requests, stage_shape(op), calls))
        return out

    assert shape(shop.zipkin_model) == shape(shop.model)
    for service in shop.model.services:
        for op in service.operations:
            other = shop.zipkin_model.operation(service.name, op.name).work_time.times.observed
            # Zipkin rounds to microseconds: medians of millisecond work agree to the histogram's 1% buckets
            assert other.p50 == pytest.approx(op.work_time.times.observed.p50, rel=0.011)
    zipkin_db, otlp_db = shop.zipkin_model.service("db").workers, shop.model.service("db").workers
    assert zipkin_db is not None and otlp_db is not None
    assert (zipkin_db.value, zipkin_db.basis) == (otlp_db.value, otlp_db.basis)
