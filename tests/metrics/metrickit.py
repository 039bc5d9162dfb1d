"""A small experiment written as a user writes it, for the metric mapping and rule-file tests.

Users reach the web entrypoint, which calls ``front`` (two replicas), which calls ``back``.
At 60 s ``back`` starts failing a share of its requests fast (an injected error), for the
rest of the run unless said otherwise: its callers see the errors, ``front`` passes them on.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from chaos.model.experiment import Experiment
from chaos.model.files import load_experiment
from chaos.run import Run
from chaos.sim.simulation import simulate

EXPERIMENT = """\
name: small
topology:
  name: small
  services:
    front:
      replicas: 2
      workers: 8
      service_time: {{dist: lognormal, median: 5ms, p99: 40ms}}
      calls: [{{to: back, timeout: 500ms}}]
    back:
      workers: 8
      service_time: {{dist: exponential, mean: 10ms}}
  entrypoints:
    web: {{to: front, timeout: 2s}}
duration: {duration}
warmup: {warmup}
seed: 3
load: {{profile: constant, rate: {rate}}}
faults:
  - {{name: back-errors, kind: errors, target: back, ratio: {ratio}, at: {fault_at}{fault_for}}}
"""


def write(directory: Path, extra: str = "", rules: dict[str, str] | None = None, *, duration: str = "150s",
          warmup: str = "20s", rate: float = 100, ratio: float = 0.4, fault_at: str = "60s",
          fault_for: str | None = None) -> Path:
    """The experiment, with ``extra`` YAML appended and rule files beside it; its path."""
    for name, text in (rules or {}).items():
        (directory / name).write_text(textwrap.dedent(text), encoding="utf-8")
    path = directory / "experiment.yaml"
    text = EXPERIMENT.format(duration=duration, warmup=warmup, rate=rate, ratio=ratio, fault_at=fault_at,
                             fault_for="" if fault_for is None else f", duration: {fault_for}")
    path.write_text(text + textwrap.dedent(extra), encoding="utf-8")
    return path


def run(path: Path) -> tuple[Experiment, Run]:
    experiment = load_experiment(path)
    return experiment, simulate(experiment)
