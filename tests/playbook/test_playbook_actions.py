"""Every action in the catalogue really changes the simulation, as measured in its series."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.cli import main
from chaos.drill import incident_result
from chaos.model.files import load, load_experiment
from chaos.model.playbook import ACTION_CLASSES, Playbook, bind
from chaos.model.scope import Scope
from chaos.sim import actions

TOPOLOGY = """
name: pair
services:
  front:
    workers: 100
    service_time: 1ms
    calls:
      - {to: back, timeout: 2s, retries: {max: 3}}
  back:
    replicas: 1
    workers: 1
    queue: {limit: 20}
    service_time: {dist: exponential, mean: 100ms}   # 10 requests/s per replica
  standby:
    workers: 4
    service_time: {dist: exponential, mean: 100ms}
entrypoints:
  web: {to: front}
"""

EXPERIMENT = """
name: actions
topology: topology.yaml
overrides:
  services.front.calls.back.retries.max: 0
duration: 100s
seed: 3
load: {{rate: {rate}}}
faults: [{faults}]
alerts:
  - {{name: always, entrypoint: web, metric: request_rate, threshold: 0, window: 1s, every: 1s}}
"""

PLAYBOOK = """
name: act
trigger: {{at: 50s}}
roles:
  bot: {{respond: 0s}}
steps:
  - name: act
    role: bot
    action: {action}
"""


def run_with(tmp_path: Path, action: str, rate: float = 15, faults: str = "") -> tuple[dict, object]:
    (tmp_path / "topology.yaml").write_text(TOPOLOGY)
    (tmp_path / "experiment.yaml").write_text(EXPERIMENT.format(rate=rate, faults=faults))
    (tmp_path / "playbook.yaml").write_text(PLAYBOOK.format(action=action))
    experiment = load_experiment(tmp_path / "experiment.yaml")
    pb = load(tmp_path / "playbook.yaml", Playbook)
    bind(pb, experiment)
    result = incident_result(experiment, pb, experiment.seed)
    return result.to_dict()["playbook"], result.run


def per_second(run: object, scope: Scope, field: str, lo: int, hi: int) -> float:
    series = run.series[scope]  # type: ignore[attr-defined]
    values = getattr(series, field) if field != "failed" else series.failed_series()
    return sum(values[lo:hi]) / (hi - lo)


BACK, FRONT, STANDBY, WEB = (Scope.service("back"), Scope.service("front"), Scope.service("standby"),
                             Scope.entrypoint("web"))


def test_every_action_kind_has_an_effect_in_the_simulator() -> None:
    assert set(actions.ACTIONS) == set(ACTION_CLASSES)


def test_scale_raises_capacity(tmp_path: Path) -> None:
    # 15 requests/s against one replica serving 10/s: it works flat out (answered in time,
    # or too late for a caller that gave up: wasted), and the rest is rejected. Three
    # replicas serve 30/s: after scaling, nearly all 15/s succeed.
    _, run = run_with(tmp_path, "{kind: scale, service: back, replicas: 3}")
    before = per_second(run, BACK, "ok", 20, 50) + per_second(run, BACK, "wasted", 20, 50)
    after = per_second(run, BACK, "ok", 60, 100)
    assert before == pytest.approx(10, rel=0.15)
    assert after == pytest.approx(15, rel=0.15)
    assert per_second(run, WEB, "failed", 60, 100) < 0.5


def test_remove_fault_makes_the_error_ratio_fall(tmp_path: Path) -> None:
    _, run = run_with(tmp_path, "{kind: remove_fault, fault: broken}", rate=5,
                      faults="{name: broken, kind: errors, target: back, ratio: 0.5, at: 10s}")
    before = per_second(run, WEB, "failed", 20, 50) / per_second(run, WEB, "requests", 20, 50)
    after = per_second(run, WEB, "failed", 55, 100) / per_second(run, WEB, "requests", 55, 100)
    assert before == pytest.approx(0.5, abs=0.12)
    assert after == 0.0


def test_shed_load_admits_at_most_the_limit(tmp_path: Path) -> None:
    _, run = run_with(tmp_path, "{kind: shed_load, entrypoint: web, limit: 6}", rate=15)
    assert per_second(run, BACK, "requests", 60, 100) == pytest.approx(6, rel=0.15)
    assert per_second(run, WEB, "failed", 60, 100) == pytest.approx(9, rel=0.2)


def test_failover_sends_the_calls_elsewhere(tmp_path: Path) -> None:
    _, run = run_with(tmp_path, "{kind: failover, from: back, to: standby}", rate=8)
    assert per_second(run, STANDBY, "requests", 0, 50) == 0
    assert per_second(run, BACK, "requests", 60, 100) == 0
    assert per_second(run, STANDBY, "requests", 60, 100) == pytest.approx(8, rel=0.2)


def test_rollback_restores_the_baseline_topology(tmp_path: Path) -> None:
    # The experiment overrides retries to 0; the baseline has 3. A partition makes every call
    # time out, so attempts per request show the retry setting: 1 before, 4 after the rollback.
    _, run = run_with(tmp_path, "{kind: rollback}", rate=2,
                      faults="{name: cut, kind: partition, target: front->back, at: 5s}")
    assert per_second(run, FRONT, "retries", 10, 45) == 0
    ratio = per_second(run, BACK, "requests", 70, 95) / per_second(run, WEB, "requests", 70, 95)
    assert ratio == pytest.approx(4, rel=0.2)


def test_set_call_changes_the_timeout(tmp_path: Path) -> None:
    # A 1 s latency fault on back: with the 2 s timeout calls succeed slowly; cut to 300ms they time out.
    _, run = run_with(tmp_path, "{kind: set_call, edge: front->back, timeout: 300ms}", rate=3,
                      faults="{name: slow, kind: latency, target: back, delay: 1s, at: 5s}")
    assert per_second(run, BACK, "ok", 10, 45) == pytest.approx(3, rel=0.3)
    assert per_second(run, BACK, "ok", 55, 100) == 0
    assert per_second(run, WEB, "failed", 55, 100) == pytest.approx(3, rel=0.3)


def test_restart_fails_what_the_replica_held(tmp_path: Path) -> None:
    pb, run = run_with(tmp_path, "{kind: restart, service: back}", rate=15)
    crashed = run.series[BACK].errors  # type: ignore[attr-defined]
    from chaos.run import Cause
    assert crashed[Cause.CRASHED][50] >= 1          # the request in service (and the queue) failed at once
    assert sum(crashed[Cause.CRASHED][:50]) == 0
    assert any(m.kind.value == "crash" or m.kind.value == "step" for m in run.markers)  # type: ignore[attr-defined]


def test_unknown_names_in_a_playbook_are_input_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "topology.yaml").write_text(TOPOLOGY)
    (tmp_path / "experiment.yaml").write_text(EXPERIMENT.format(rate=5, faults=""))
    cases = {
        "trigger: {alerts: [alwyas]}": "trigger.alerts: unknown alert 'alwyas' (did you mean 'always'?)",
        "action: {kind: scale, service: bakc, replicas: 2}": "unknown service 'bakc' (did you mean 'back'?)",
        "action: {kind: remove_fault, fault: nothing}": "unknown fault 'nothing'",
        "action: {kind: restrat}": "unknown kind 'restrat' (did you mean 'restart'?)",
        "role: botz": "unknown role 'botz' (did you mean 'bot'?)",
    }
    for change, expected in cases.items():
        text = PLAYBOOK.format(action="{kind: wait}")
        key = change.split(":")[0]
        if key == "trigger":
            text = text.replace("trigger: {at: 50s}", change)
        elif key == "role":
            text = text.replace("    role: bot", "    " + change)
        else:
            text = text.replace("action: {kind: wait}", change)
        (tmp_path / "playbook.yaml").write_text(text)
        code = main(["simulate", str(tmp_path / "experiment.yaml"), "--playbook", str(tmp_path / "playbook.yaml"),
                     "--out", str(tmp_path / "out"), "--quiet", "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2, (change, err)
        assert "playbook.yaml:" in err and expected in err, (change, err)
        assert "Traceback" not in err
        assert not (tmp_path / "out").exists()
