"""Same inputs and seed give the same result, byte for byte; another seed gives other figures.

Runs go through ``python -m chaos simulate`` in fresh interpreters with different
PYTHONHASHSEED values, so neither set iteration order, string hashing, nor anything
else that varies between processes can leak into a result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# Every source of randomness the kernel has: Poisson arrivals, exponential and
# lognormal service times, jittered backoff, injected errors, packet loss, latency
# jitter, a random load balancer, optional calls, a breaker, and two replications.
EXPERIMENT = """\
name: dice
duration: 40s
warmup: 5s
seed: 5
replications: 2
load: {profile: spike, rate: 150, peak: 400, at: 15s, for: 5s}
topology:
  name: t
  entrypoints:
    web: {to: front, share: 2, timeout: 1s, retries: {max: 2, backoff: {base: 20ms, jitter: full}}}
    api: {to: back, share: 1, timeout: 500ms}
  services:
    front:
      replicas: 2
      workers: 8
      load_balancing: random
      service_time: {dist: exponential, mean: 4ms}
      calls:
        - {to: back, mode: parallel, timeout: 200ms, retries: {max: 1, backoff: {base: 10ms, jitter: equal}}}
        - {to: extra, mode: parallel, probability: 0.4, timeout: 100ms, fallback: true,
           circuit_breaker: {min_calls: 10, window: 5s, open_for: 2s}}
    back: {replicas: 2, workers: 4, service_time: {dist: lognormal, median: 8ms, p99: 60ms}}
    extra: {workers: 2, service_time: {dist: exponential, mean: 10ms}}
faults:
  - {kind: errors, target: back, ratio: 0.1, at: 10s, duration: 10s}
  - {kind: packet_loss, target: front->extra, ratio: 0.2, at: 12s, duration: 8s}
  - {kind: latency, target: back, delay: 30ms, jitter: 20ms, at: 25s, duration: 5s}
slos:
  - {entrypoint: web, error_ratio: 0.01, latency: {p99: 300ms}}
alerts:
  - {name: errs, entrypoint: web, metric: error_ratio, threshold: 0.02, window: 5s, every: 1s}
"""


def simulate(spec: Path, out: Path, hash_seed: str, *extra: str) -> tuple[dict[str, Any], bytes]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run([sys.executable, "-m", "chaos", "simulate", str(spec), "--out", str(out), "--quiet",
                           *extra], capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode in (0, 1), done.stderr  # 1: an SLO was missed, a verdict
    doc = json.loads((out / "result.json").read_text(encoding="utf-8"))
    return doc, (out / "series.csv").read_bytes()


def without_audit(path: Path) -> bytes:
    """result.json as written, up to its audit block (times, host, command line), which comes last."""
    raw = path.read_bytes()
    doc = json.loads(raw)
    assert list(doc)[-1] == "audit"
    assert doc["audit"]["seeds"] == doc.get("replications", {}).get("seeds", [doc["seed"]])
    return raw[:raw.index(b'\n "audit": ')]


def test_same_seed_same_bytes_other_seed_other_figures(tmp_path: Path) -> None:
    spec = tmp_path / "dice.yaml"
    spec.write_text(EXPERIMENT, encoding="utf-8")
    first, csv1 = simulate(spec, tmp_path / "a", "1")
    second, csv2 = simulate(spec, tmp_path / "b", "2")
    assert without_audit(tmp_path / "a" / "result.json") == without_audit(tmp_path / "b" / "result.json")
    assert csv1 == csv2
    # The run did exercise what the experiment describes (else equality would be cheap).
    assert first["replications"]["count"] == 2
    assert {f["kind"] for f in first["faults"]} == {"errors", "packet_loss", "latency"}
    assert first["entrypoints"]["web"]["requests"] > 3000
    assert first["services"]["back"]["errors_by_cause"].get("injected", 0) > 0
    assert first["services"]["extra"]["errors_by_cause"].get("timeout", 0) > 0
    assert first["services"]["front"]["retries"] > 0

    other, csv3 = simulate(spec, tmp_path / "c", "1", "--seed", "6")
    assert other["seed"] == 6 and first["seed"] == 5
    assert csv3 != csv1
    for scope in ("web", "api"):
        assert other["entrypoints"][scope]["requests"] != first["entrypoints"][scope]["requests"]
    assert other["services"]["back"]["p99_ms"] != first["services"]["back"]["p99_ms"]
    # The second replication of seed 5 runs seed 6: the same draws as the first of seed 6.
    assert first["replications"]["seeds"] == [5, 6] and other["replications"]["seeds"] == [6, 7]
    assert (first["replications"]["entry_failed_ratio"]["values"][1]
            == other["replications"]["entry_failed_ratio"]["values"][0])
