"""Metastable failure: a short spike leaves a retrying system failed; without retries it drains.

One server, exponential service at mu = 10/s, Poisson arrivals at lambda = 5/s, a client
timeout of 3 s and r immediate retries; a timed-out attempt stays in the queue and is
still served (no cancellation). Arrivals rise to 20/s for 6 s.

- Once a backlog makes every wait longer than the timeout, each request sends r + 1
  attempts, so the server is offered lambda (r + 1). With r = 2 or 4 that exceeds mu: the
  queue keeps growing at lambda (r + 1) - mu and nothing succeeds again.
- With r = 0 the offered load stays lambda < mu and the spike's backlog drains at
  mu - lambda. Near the critical line (r = 1) the outcome is random, so it is not tested.
"""

from __future__ import annotations

import math
import statistics

import pytest
from scipy import stats
from simkit import CONFIDENCE, entry_series, experiment, exponential, run, service_series, svc, topology

from chaos.model.faults import LoadSpike
from chaos.run import Run

MU, LAM, TIMEOUT = 10.0, 5.0, 3.0
SPIKE_AT, SPIKE_FOR, SPIKE_FACTOR = 60, 6, 4   # 5/s -> 20/s from 60 s to 66 s
SPIKE_END = SPIKE_AT + SPIKE_FOR
Z = stats.norm.ppf(0.5 + CONFIDENCE / 2)


def storm(retries: int, seed: int, duration: float = 400) -> Run:
    topo = topology(svc("server", exponential(1 / MU)), timeout=TIMEOUT, retries=retries)
    spike = LoadSpike(target="*", at=SPIKE_AT, duration=SPIKE_FOR, factor=SPIKE_FACTOR)
    return run(experiment(topo, rate=LAM, duration=duration, faults=[spike]), seed=seed)


def in_system(r: Run) -> list[float]:
    """Sampled at the end of each second: index i is the count at time i + 1."""
    s = service_series(r, "server")
    return [q + b for q, b in zip(s.queue, s.busy, strict=True)]


@pytest.mark.parametrize("retries", [2, 4])
@pytest.mark.parametrize("seed", [1, 2])
def test_spike_leaves_a_retrying_server_failed_to_the_end(retries: int, seed: int) -> None:
    r = storm(retries, seed)
    users = entry_series(r)
    # Healthy before the spike: at utilisation 0.5, P(response > 3 s) = exp(-(mu - lambda) 3) ~ 3e-7.
    assert sum(users.requests[10:SPIKE_AT]) > 200
    assert sum(users.failed(i) for i in range(10, SPIKE_AT)) == 0
    # Failed long after: in the last 100 s of the run no user request succeeds.
    offered = sum(users.requests[300:400])
    assert offered > 400
    assert sum(users.ok[300:400]) <= 0.01 * offered
    # The server is offered lambda (r + 1) attempts a second, every one of them timed out...
    server = service_series(r, "server")
    attempts = sum(server.requests[300:400]) / 100
    rate = LAM * (retries + 1)
    assert abs(attempts - rate) <= Z * math.sqrt(rate / 100), (attempts, rate)
    # ...and its queue grows by the excess over mu: a birth-death count whose increments
    # over t seconds have variance (lambda (r + 1) + mu) t.
    n = in_system(r)
    growth, span = n[399] - n[199], 200
    expected = (rate - MU) * span
    assert abs(growth - expected) <= Z * math.sqrt((rate + MU) * span), (growth, expected)


SEEDS = range(1, 41)


def test_without_retries_the_backlog_drains_at_mu_minus_lambda() -> None:
    # The spike adds (20 - 10) * 6 = 60 requests to the backlog (the server is busy
    # throughout); the M/M/1 queue held lambda / (mu - lambda) = 1 on average before it.
    # The backlog then falls at mu - lambda = 5/s: about 61 / 5 = 12 s to drain.
    spike_rate = LAM * SPIKE_FACTOR
    predicted_backlog = (spike_rate - MU) * SPIKE_FOR + LAM / (MU - LAM)
    backlog_var = (spike_rate + MU) * SPIKE_FOR  # births and deaths over the spike
    level = 1  # "drained": back to the normal mean count
    backlogs, lags, runs = [], [], []
    for seed in SEEDS:
        r = storm(0, seed, duration=160)
        n = in_system(r)
        backlog = n[SPIKE_END - 1]  # sampled at the instant the spike ends
        drained = next(i for i in range(SPIKE_END - 1, len(n)) if n[i] <= level) + 1
        # A birth-death walk with drift -(mu - lambda) first reaches the level after
        # (backlog - level) / (mu - lambda) on average (Wald), so the time measured from
        # once-a-second samples exceeds that only by the wait for a sample that finds it.
        lags.append(drained - SPIKE_END - (backlog - level) / (MU - LAM))
        backlogs.append(backlog)
        runs.append(r)
    n_seeds = len(SEEDS)
    mean_backlog = statistics.fmean(backlogs)
    assert abs(mean_backlog - predicted_backlog) <= Z * math.sqrt(backlog_var / n_seeds), mean_backlog
    lag = statistics.fmean(lags)
    lag_se = statistics.stdev(lags) / math.sqrt(n_seeds)
    # The sampling wait is at least nothing and rarely more than a couple of seconds
    # (the queue is at or below its mean level 3/4 of the time once drained).
    assert -Z * lag_se <= lag <= 2.0 + Z * lag_se, (lag, lag_se)
    assert Z * lag_se < 0.25 * predicted_backlog / (MU - LAM)  # tight compared with the 12 s drain
    # And the users see a healthy service again: after three drain times, nothing fails.
    recovered = SPIKE_END + math.ceil(3 * predicted_backlog / (MU - LAM))
    for r in runs:
        users = entry_series(r)
        assert sum(users.failed(i) for i in range(recovered, len(users))) == 0
        expected = LAM * (len(users) - recovered)  # Poisson arrivals, all served
        assert sum(users.ok[recovered:]) >= expected - Z * math.sqrt(expected)
