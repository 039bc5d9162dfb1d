"""Closed-loop users against theory: the machine-repairman model and the interactive response time law.

N users each send one request, wait for its answer, think for an exponential time with
mean Z, and send the next. In front of c exponential servers with mean service time S
this is the finite-source queue M/M/c//N, whose stationary distribution is exact: with
r = S/Z, the probability of k requests in the system is

    p_k = p_0 * N!/(N-k)! * r^k / k!                 for k <= c
    p_k = p_0 * N!/(N-k)! * r^k / (c! c^(k-c))       for k > c,

the throughput X = (mean busy servers) / S and, by the interactive response time law
X = N / (R + Z), the mean response time R = N/X - Z. Each test runs one long seeded
simulation and checks the theoretical X and R against batch-means confidence intervals
(``simkit.CONFIDENCE``), and that those intervals are narrow.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from simkit import (
    batches,
    entry_series,
    entry_totals,
    experiment,
    exponential,
    latency_sums,
    mean_estimate,
    ratio_estimate,
    run,
    service_series,
    svc,
    topology,
)

from chaos.errors import InputError
from chaos.model.distributions import Exponential
from chaos.model.files import load_experiment
from chaos.model.load import Users

BATCHES = 25

pytestmark = pytest.mark.slow


def repairman(users: int, servers: int, service: float, think: float) -> tuple[float, float]:
    """Throughput and mean response time of M/M/c//N (exact)."""
    r = service / think
    weights = []
    for k in range(users + 1):
        ways = math.factorial(users) / math.factorial(users - k) * r ** k
        weights.append(ways / (math.factorial(k) if k <= servers
                               else math.factorial(servers) * servers ** (k - servers)))
    total = sum(weights)
    busy = sum(min(k, servers) * w for k, w in enumerate(weights)) / total
    throughput = busy / service
    return throughput, users / throughput - think


@pytest.mark.parametrize(("users", "servers", "service", "think", "duration", "seed"), [
    (10, 1, 0.05, 0.5, 4000, 31),   # M/M/1//10 near its knee: N* = (S+Z)/S = 11 users
    (5, 1, 0.05, 1.0, 4000, 32),    # lightly loaded: R close to S
    (40, 4, 0.1, 1.0, 2000, 33),    # M/M/4//40 past its knee (N* = 44 / 4 servers): queueing
])
def test_throughput_and_response_time_match_the_finite_source_queue(users: int, servers: int, service: float,
                                                                     think: float, duration: float, seed: int) -> None:
    x_theory, r_theory = repairman(users, servers, service, think)
    load = Users(users=users, think_time=Exponential(think))
    r = run(experiment(topology(svc("s", exponential(service), workers=servers)), load=load,
                       duration=duration, warmup=50), seed=seed)
    series = entry_series(r)
    start = r.first_measured
    throughput = mean_estimate(batches(series.ok[start:], BATCHES))
    per_batch = (len(series.ok) - start) // BATCHES
    x = throughput.mean / per_batch
    assert abs(x - x_theory) <= throughput.half_width / per_batch, (
        f"throughput {x:.4f}/s vs {x_theory:.4f}/s ({throughput})")
    assert throughput.half_width / per_batch < 0.03 * x_theory
    response = ratio_estimate(batches(latency_sums(series)[start:], BATCHES), batches(series.ok[start:], BATCHES))
    assert response.covers(r_theory), f"response time {response} vs {r_theory:.5f} s"
    assert response.half_width < 0.1 * r_theory
    # The interactive response time law on the measured figures themselves: N = X (R + Z).
    totals = entry_totals(r)
    assert users == pytest.approx(x * ((totals.mean_ms or 0.0) / 1000 + think), rel=0.03)
    # A closed loop never has more requests in the system than users.
    s = service_series(r, "s")
    assert max(q + b for q, b in zip(s.queue, s.busy, strict=True)) <= users


def test_a_slower_system_is_sent_less_by_the_same_users() -> None:
    # Open loop would keep sending at its rate; the users slow down with the system instead.
    def sent(service: float) -> int:
        load = Users(users=20, think_time=Exponential(0.5))
        r = run(experiment(topology(svc("s", exponential(service))), load=load, duration=300, warmup=10), seed=5)
        return entry_totals(r).requests

    fast, slow = sent(0.01), sent(0.1)
    assert fast == pytest.approx(300 * 20 / (0.5 + 0.0105), rel=0.05)  # R about S/(1-small)
    assert slow == pytest.approx(300 * 10.0, rel=0.05)  # saturated: the server's 10/s, whatever the users want


def test_a_load_of_users_is_read_from_yaml_and_a_load_spike_on_it_is_refused(tmp_path: Path) -> None:
    text = """\
name: u
topology:
  name: one
  services: {s: {service_time: 10ms}}
  entrypoints: {web: {to: s}}
duration: 10s
load: {profile: users, users: 3, think_time: {dist: exponential, mean: 1s}}
"""
    (tmp_path / "u.yaml").write_text(text)
    load = load_experiment(tmp_path / "u.yaml").load
    assert load == Users(users=3, think_time=Exponential(1.0))
    (tmp_path / "u.yaml").write_text(text + "faults:\n  - {kind: load_spike, target: '*', at: 1s, factor: 2}\n")
    with pytest.raises(InputError, match=r"u.yaml:9:5: faults\[0\].kind: a load spike multiplies an arrival rate, "
                                         "and a load of users has none"):
        load_experiment(tmp_path / "u.yaml")
    (tmp_path / "u.yaml").write_text(text.replace("{dist: exponential, mean: 1s}", "0s"))
    with pytest.raises(InputError, match=r"load.think_time: a think time of 0 makes every user a tight loop"):
        load_experiment(tmp_path / "u.yaml")
