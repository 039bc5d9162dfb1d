"""Actions that end a fault early end it in the run's record too: its window, its markers, the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chaos.drill import incident_result
from chaos.model.files import load, load_experiment
from chaos.model.playbook import Playbook, bind
from chaos.report.summary import render
from chaos.run import Run
from chaos.sim.simulation import simulate

TOPOLOGY = """
name: pair
services:
  api:
    replicas: 2
    workers: 50
    service_time: 5ms
entrypoints:
  web: {to: api}
"""

# Both replicas of api crash at 20 s, to come back at 80 s.
EXPERIMENT = """
name: api-down
topology: topology.yaml
duration: 120s
load: {rate: 100}
seed: 3
faults:
  - {name: api-down, kind: crash, target: api, at: 20s, duration: 60s}
slos:
  - {entrypoint: web, error_ratio: 0.01}
"""

# The response starts at 25 s; the action takes effect 5 s later, at 30 s.
PLAYBOOK = """
name: bounce
trigger: {{at: 25s}}
roles:
  automation: {{respond: 0s}}
steps:
  - name: act
    role: automation
    action: {action}
    duration: 5s
"""


def run_with(tmp_path: Path, action: str) -> tuple[Run, dict[str, Any]]:
    (tmp_path / "topology.yaml").write_text(TOPOLOGY)
    (tmp_path / "experiment.yaml").write_text(EXPERIMENT)
    (tmp_path / "playbook.yaml").write_text(PLAYBOOK.format(action=action))
    experiment = load_experiment(tmp_path / "experiment.yaml")
    pb = load(tmp_path / "playbook.yaml", Playbook)
    bind(pb, experiment)
    result = incident_result(experiment, pb, experiment.seed)
    return result.run, result.to_dict()


def moments(run: Run) -> list[tuple[float, str, str]]:
    kinds = ("crash", "restart", "fault_on", "fault_off")
    return [(m.t_s, m.kind.value, m.detail) for m in run.markers if m.kind.value in kinds]


def test_a_restart_of_every_crashed_replica_ends_the_crash_then(tmp_path: Path) -> None:
    run, doc = run_with(tmp_path, "{kind: restart, service: api}")
    (window,) = run.faults
    assert (window.start_s, window.end_s) == (20.0, 30.0)
    assert moments(run) == [(20.0, "crash", "replica 0"), (20.0, "crash", "replica 1"), (20.0, "fault_on", "api-down"),
                            (30.0, "restart", "replica 0"), (30.0, "restart", "replica 1"),
                            (30.0, "fault_off", "api-down")]   # and nothing at the scheduled end (80 s)
    (fault,) = doc["faults"]
    assert (fault["end_s"], fault["scheduled_end_s"]) == (30.0, 80.0)
    assert "Fault:          crash on api from 20 s to 30 s, ended early (scheduled to 80 s)" in render(doc)
    # The users see it: every request fails while both replicas are down, none once they are back.
    web = next(s for scope, s in run.series.items() if scope.name == "web")
    assert all(web.failed(t) == web.requests[t] > 0 for t in range(21, 29))
    assert all(web.failed(t) == 0 for t in range(31, 120))


def test_a_restart_of_some_crashed_replicas_leaves_the_crash_to_its_end(tmp_path: Path) -> None:
    run, doc = run_with(tmp_path, "{kind: restart, service: api, replicas: 1}")
    (window,) = run.faults
    assert (window.start_s, window.end_s) == (20.0, 80.0)   # replica 1 is still down until 80 s
    assert moments(run) == [(20.0, "crash", "replica 0"), (20.0, "crash", "replica 1"), (20.0, "fault_on", "api-down"),
                            (30.0, "restart", "replica 0"),
                            (80.0, "restart", "replica 1"), (80.0, "fault_off", "api-down")]
    assert "ended early" not in render(doc)


def test_remove_fault_ends_the_crash_when_it_acts(tmp_path: Path) -> None:
    run, _ = run_with(tmp_path, "{kind: remove_fault, fault: api-down}")
    (window,) = run.faults
    assert (window.start_s, window.end_s) == (20.0, 30.0)
    assert [m for m in moments(run) if m[0] > 20.0] == [(30.0, "restart", "replica 0"), (30.0, "restart", "replica 1"),
                                                        (30.0, "fault_off", "api-down")]


def test_without_a_playbook_the_crash_lasts_its_scheduled_time(tmp_path: Path) -> None:
    (tmp_path / "topology.yaml").write_text(TOPOLOGY)
    (tmp_path / "experiment.yaml").write_text(EXPERIMENT)
    run = simulate(load_experiment(tmp_path / "experiment.yaml"))
    (window,) = run.faults
    assert (window.start_s, window.end_s) == (20.0, 80.0)
