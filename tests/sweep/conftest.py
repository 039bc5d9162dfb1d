"""Sweep fixtures: a small fan-in topology where reachability predicts what each crash does.

    big   (70% of traffic) -> a --\
                                   >-- leaf        iso (called by nobody)
    small (30% of traffic) -> b --/
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.model.experiment import Experiment
from chaos.model.files import load_experiment

TOPOLOGY = """\
name: fan
entrypoints:
  big: {to: a, share: 0.7, timeout: 2s}
  small: {to: b, share: 0.3, timeout: 2s}
services:
  a:
    replicas: 2
    workers: 8
    service_time: {dist: exponential, mean: 2ms}
    calls:
      - {to: leaf, timeout: 500ms}
  b:
    replicas: 2
    workers: 8
    service_time: {dist: exponential, mean: 2ms}
    calls:
      - {to: leaf, timeout: 500ms}
  leaf:
    replicas: 2
    workers: 8
    service_time: {dist: exponential, mean: 3ms}
  iso:
    replicas: 1
    workers: 2
    service_time: 5ms
"""

EXPERIMENT = """\
name: fan-crash
topology: fan.yaml
duration: 60s
warmup: 5s
seed: 5
load: {rate: 100}
slos:
  - {entrypoint: "*", error_ratio: 0.01, window: 10s}
alerts:
  - {name: big-errors, entrypoint: big, metric: error_ratio, threshold: 0.05, window: 10s, every: 1s}
  - {name: small-errors, entrypoint: small, metric: error_ratio, threshold: 0.05, window: 10s, every: 1s}
"""


def write_fan(directory: Path, experiment: str = EXPERIMENT) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "fan.yaml").write_text(TOPOLOGY)
    path = directory / "fan-crash.yaml"
    path.write_text(experiment)
    return path


@pytest.fixture()
def fan_file(tmp_path: Path) -> Path:
    return write_fan(tmp_path / "inputs")


@pytest.fixture()
def fan(fan_file: Path) -> Experiment:
    return load_experiment(fan_file)


@pytest.fixture(scope="session")
def fan_session(tmp_path_factory: pytest.TempPathFactory) -> Experiment:
    return load_experiment(write_fan(tmp_path_factory.mktemp("fan")))
