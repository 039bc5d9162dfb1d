"""Coverage fixtures: a chain whose alerts are known to catch some faults and miss others.

    web (entrypoint) -> api -> db        iso (called by nobody)

The alerts watch error ratios only (and one request rate that holds all the time), so a latency
fault that breaks the latency objective is invisible to them: undetected by construction.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TOPOLOGY = """\
name: chain
entrypoints:
  web: {to: api, share: 1.0, timeout: 5s}
services:
  api:
    replicas: 2
    workers: 16
    service_time: {dist: exponential, mean: 2ms}
    calls:
      - {to: db, timeout: 3s}
  db:
    replicas: 1
    workers: 16
    service_time: {dist: exponential, mean: 2ms}
  iso:
    replicas: 1
    workers: 2
    service_time: 5ms
"""

EXPERIMENT = """\
name: chain-coverage
topology: chain.yaml
duration: 60s
warmup: 5s
seed: 3
load: {rate: 100}
faults:
  - {kind: errors, target: db, ratio: 0.5, at: 20s, duration: 20s}
slos:
  - {entrypoint: web, error_ratio: 0.01, latency: {p99: 500ms}, window: 10s}
alerts:
  - {name: web-errors, entrypoint: web, metric: error_ratio, threshold: 0.05, window: 10s, every: 1s}
  - {name: api-errors, service: api, metric: error_ratio, threshold: 0.05, window: 10s, every: 2s, for: 4s,
     expect_within: 30s}
  - {name: iso-errors, service: iso, metric: error_ratio, threshold: 0.05, window: 10s, every: 1s}
  - {name: api-busy, service: api, metric: request_rate, threshold: 10, window: 10s, every: 1s}
"""


def write_chain(directory: Path, experiment: str = EXPERIMENT) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "chain.yaml").write_text(TOPOLOGY)
    path = directory / "chain-coverage.yaml"
    path.write_text(experiment)
    return path


@pytest.fixture()
def chain_file(tmp_path: Path) -> Path:
    return write_chain(tmp_path / "inputs")


@pytest.fixture()
def slow_alert_file(tmp_path: Path) -> Path:
    """The chain with only api-errors (every 2 s, for 4 s) left, and a deadline it cannot meet: 3 s."""
    text = "\n".join(line for line in EXPERIMENT.splitlines() if "web-errors" not in line)
    return write_chain(tmp_path / "slow", text.replace("expect_within: 30s", "expect_within: 3s") + "\n")


@pytest.fixture()
def faultless_file(tmp_path: Path) -> Path:
    """The chain without the experiment's fault."""
    text = "\n".join(line for line in EXPERIMENT.splitlines() if "faults:" not in line and "kind: errors" not in line)
    return write_chain(tmp_path / "faultless", text + "\n")


@pytest.fixture()
def flappy_file(tmp_path: Path) -> Path:
    """The chain with one more alert, web-flaps: web's request rate over 2 s above its mean rate (100/s), which
    the arrivals' noise crosses back and forth with or without a fault."""
    text = EXPERIMENT.replace("alerts:\n", "alerts:\n  - {name: web-flaps, entrypoint: web, metric: request_rate, "
                                            "threshold: 100, window: 2s, every: 1s}\n")
    return write_chain(tmp_path / "flappy", text)
