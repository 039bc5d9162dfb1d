"""What a reviewer is told about a playbook: steps that check nothing, cannot help, cannot be on time, never ran."""

from __future__ import annotations

from pathlib import Path

from chaos.drill import incident_result
from chaos.model.files import load, load_experiment
from chaos.model.playbook import Playbook, bind

TOPOLOGY = """
name: two-islands
services:
  api: {service_time: 2ms, workers: 20, calls: [{to: db, timeout: 1s}]}
  db: {service_time: 2ms, workers: 20}
  batch: {service_time: 2ms, workers: 4}      # nothing calls it and it calls nothing the users use
entrypoints:
  web: {to: api}
  jobs: {to: batch, share: 0.1}
"""

EXPERIMENT = """
name: db-down
topology: topology.yaml
duration: 120s
seed: 2
load: {rate: 20}
faults: [{name: db-crash, kind: crash, target: db, at: 10s}]
alerts:
  - {name: web-errors, entrypoint: web, metric: error_ratio, threshold: 0.2, window: 5s, for: 5s, every: 1s}
"""

PLAYBOOK = """
name: review-me
trigger: {alerts: [web-errors]}
roles:
  oncall: {respond: 1m}
steps:
  - name: ack
    role: oncall
    action: {kind: page}
    deadline: {within: 30s}          # the alert needs 5 s and on-call 60 s: impossible
  - name: restart batch
    role: oncall
    action: {kind: restart, service: batch}      # no verify, and batch is unrelated to db
  - name: restart db
    role: oncall
    action: {kind: restart, service: db}
    verify: {entrypoint: web, metric: error_ratio, below: 0.01, for: 10s, within: 30s}
    on_success: stop
  - name: fail over
    role: oncall
    action: {kind: wait}
"""


def findings(tmp_path: Path) -> dict[str, set[str]]:
    (tmp_path / "topology.yaml").write_text(TOPOLOGY)
    (tmp_path / "experiment.yaml").write_text(EXPERIMENT)
    (tmp_path / "playbook.yaml").write_text(PLAYBOOK)
    experiment = load_experiment(tmp_path / "experiment.yaml")
    pb = load(tmp_path / "playbook.yaml", Playbook)
    bind(pb, experiment)
    out: dict[str, set[str]] = {}
    for f in incident_result(experiment, pb, 2).to_dict()["playbook"]["findings"]:
        out.setdefault(f["kind"], set()).add(f["step"])
    return out


def test_each_kind_of_finding_names_the_right_steps(tmp_path: Path) -> None:
    found = findings(tmp_path)
    assert found["no_verify"] == {"restart batch"}
    assert found["no_effect"] == {"restart batch"}
    assert found["impossible_deadline"] == {"ack"}
    assert found["never_reached"] == {"fail over"}
