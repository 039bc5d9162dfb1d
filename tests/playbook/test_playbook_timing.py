"""Playbooks in the simulator: exact timings with fixed durations, deadlines, and drills against theory."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from chaos.analysis.incident import analyze_incident, incident_dict
from chaos.drill import drill, incident_result
from chaos.model.files import load, load_experiment
from chaos.model.playbook import Playbook, bind

TOPOLOGY = """
name: tiny
services:
  api:
    workers: 50
    service_time: 5ms
entrypoints:
  web: {to: api}
"""

# Errors at api from 20 s on; the alert compares the error ratio over the last 5 s with 0.5,
# every second. Seconds 20, 21, 22 fail entirely, so at t=23 three fifths of the window
# failed (0.6 > 0.5) while at t=22 two fifths did (0.4): it fires at exactly 23 s.
EXPERIMENT = """
name: errors-until-fixed
topology: topology.yaml
duration: {duration}
load: {{rate: {rate}}}
seed: 5
faults:
  - {{name: bad-config, kind: errors, target: api, ratio: 1.0, at: 20s}}
slos:
  - {{entrypoint: web, error_ratio: 0.01}}
alerts:
  - {{name: web-errors, entrypoint: web, metric: error_ratio, threshold: 0.5, window: 5s, for: 0s, every: 1s}}
"""

FIXED = """
name: fixed
trigger: {alerts: [web-errors]}
recovery_window: 5s
roles:
  oncall: {respond: 30s}
steps:
  - name: ack
    role: oncall
    action: {kind: page}
  - name: roll back config
    role: oncall
    action: {kind: remove_fault, fault: bad-config}
    duration: 10s
    verify: {entrypoint: web, metric: error_ratio, below: 0.01, window: 2s, for: 3s, within: 60s}
    mitigates: true
    deadline: {within: 40s}
  - name: tell the users
    role: oncall
    action: {kind: wait}
    duration: 5s
    deadline: {within: 20s, after: roll back config}
objectives:
  - {phase: detect, within: 3s}
  - {phase: acknowledge, within: 30s}
  - {phase: recover, within: 1m}
"""


def write_case(tmp_path: Path, playbook: str, duration: str = "200s", rate: int = 100) -> tuple[Path, Path]:
    (tmp_path / "topology.yaml").write_text(TOPOLOGY)
    exp = tmp_path / "experiment.yaml"
    exp.write_text(EXPERIMENT.format(duration=duration, rate=rate))
    pb = tmp_path / "playbook.yaml"
    pb.write_text(playbook)
    return exp, pb


def section_of(tmp_path: Path, playbook: str, duration: str = "200s") -> dict:
    exp_path, pb_path = write_case(tmp_path, playbook, duration)
    experiment = load_experiment(exp_path)
    pb = load(pb_path, Playbook)
    bind(pb, experiment)
    return incident_result(experiment, pb, experiment.seed).extra["playbook"]


def test_fixed_durations_give_hand_computed_timings(tmp_path: Path) -> None:
    s = section_of(tmp_path, FIXED)
    inc = s["incident"]
    # Fault at 20; alert at 23 (see EXPERIMENT); on-call responds 30 s after the page: 53.
    assert inc["start_s"] == 20.0
    assert inc["triggered_s"] == 23.0 and inc["time_to_detect_s"] == 3.0
    assert inc["acknowledged_s"] == 53.0 and inc["time_to_acknowledge_s"] == 33.0
    rollback = s["steps"][1]
    # It starts when on-call has responded (53), acts 10 s later (63). The verify window of
    # 2 s first lies wholly after the action at t=65, and must hold for 3 s: verified at 68.
    assert rollback["start_s"] == 53.0 and rollback["acted_s"] == 63.0
    assert rollback["verified_at_s"] == 68.0 and rollback["end_s"] == 68.0
    assert inc["mitigated_s"] == 68.0 and inc["time_to_mitigate_s"] == 48.0
    # Recovered: the first whole second >= 68 + 5 whose trailing 5 s meet every SLO.
    assert inc["recovered_s"] == 73.0 and inc["time_to_recover_s"] == 53.0
    # The last step starts at 68 and lasts 5 s.
    assert s["steps"][2]["start_s"] == 68.0 and s["steps"][2]["end_s"] == 73.0


def test_deadlines_are_judged_met_or_missed(tmp_path: Path) -> None:
    s = section_of(tmp_path, FIXED)
    rollback, tell = s["steps"][1], s["steps"][2]
    assert rollback["deadline_s"] == 60.0 and rollback["met"] is False   # over at 68, due at 20 + 40
    assert tell["deadline_s"] == 88.0 and tell["met"] is True            # due 20 s after the rollback ended
    phases = {d["phase"]: d for d in s["deadlines"]}
    assert phases["detect"]["met"] is True           # 3 s, due within 3 s
    assert phases["acknowledge"]["met"] is False      # 33 s, due within 30 s
    assert phases["recover"]["met"] is True           # 53 s, due within 60 s


def test_a_failed_verify_escalates_and_a_late_recovery_is_missed(tmp_path: Path) -> None:
    extra_step = """  - name: really fix it
    role: oncall
    action: {kind: remove_fault, fault: "*"}
    duration: 10s
    verify: {entrypoint: web, metric: error_ratio, below: 0.01, window: 2s, for: 3s, within: 60s}
"""
    playbook = (FIXED.replace("action: {kind: remove_fault, fault: bad-config}", "action: {kind: wait}")
                .replace("    mitigates: true\n", "    mitigates: true\n    on_failure: {escalate: really fix it}\n")
                .replace("objectives:\n", extra_step + "objectives:\n  - {phase: mitigate, within: 1m}\n"))
    s = section_of(tmp_path, playbook)
    steps = {st["name"]: st for st in s["steps"]}
    # Waiting fixes nothing: the verify gives up 60 s after acting at 63, at 123, and escalates.
    assert steps["roll back config"]["status"] == "escalated"
    assert steps["roll back config"]["end_s"] == 123.0
    assert "did not hold" in steps["roll back config"]["note"]
    fix = steps["really fix it"]
    assert fix["start_s"] == 123.0 and fix["acted_s"] == 133.0 and fix["verified_at_s"] == 138.0
    mitigate = next(d for d in s["deadlines"] if d["phase"] == "mitigate")
    assert mitigate["met"] is False and mitigate["actual_s"] is None   # the flagged step never verified
    assert s["incident"]["recovered_s"] is not None and s["incident"]["recovered_s"] >= 138.0


def hypoexponential_cdf(x: float, mean_a: float, mean_b: float) -> float:
    """P(A + B <= x) for independent exponentials with different means."""
    if x <= 0:
        return 0.0
    la, lb = 1 / mean_a, 1 / mean_b
    return 1 - (lb * math.exp(-la * x) - la * math.exp(-lb * x)) / (lb - la)


def erlang_cdf(x: float, k: int, mean: float) -> float:
    lam = 1 / mean
    return 1 - sum(math.exp(-lam * x) * (lam * x) ** n / math.factorial(n) for n in range(k))


DRILL = """
name: exponential
trigger: {{alerts: [web-errors]}}
roles:
  oncall: {{respond: {{dist: exponential, mean: {respond}}}}}
steps:
  - name: ack
    role: oncall
    action: {{kind: page}}
  - name: fix
    role: oncall
    action: {{kind: remove_fault, fault: bad-config}}
    duration: {{dist: exponential, mean: {fix}}}
    mitigates: true
objectives:
  - {{phase: mitigate, within: {within}s, probability: 0.5}}
"""


@pytest.mark.slow
@pytest.mark.parametrize("respond, fix, within", [(10.0, 20.0, 30.0), (15.0, 15.0, 25.0)])
def test_drill_probability_matches_the_distribution_of_the_sum(tmp_path: Path, respond: float, fix: float,
                                                               within: float) -> None:
    # 150 s of run leave 130 s after the fault: P(response + fix > 127 s) is below 1e-2 for
    # these means, and such runs only lower the share of *late* runs, never of met ones.
    exp_path, pb_path = write_case(tmp_path, DRILL.format(respond=respond, fix=fix, within=within), "150s", 50)
    experiment = load_experiment(exp_path)
    pb = load(pb_path, Playbook)
    bind(pb, experiment)
    runs = 300
    result = drill(experiment, pb, runs, workers=2)
    d = result.extra["drill"]["deadlines"][0]
    assert d["undecided"] == 0
    # Mitigation = detection (3 s, fixed) + response + fix duration, from the incident start.
    slack = within - 3.0
    expected = (erlang_cdf(slack, 2, respond) if respond == fix
                else hypoexponential_cdf(slack, respond, fix))
    sigma = math.sqrt(expected * (1 - expected) / runs)
    assert abs(d["p_met"] - expected) < 4 * sigma, (d["p_met"], expected, sigma)
    # And the phase times themselves: their mean is the mean of the sum plus detection.
    values = [v for v in result.extra["drill"]["phases"]["mitigate"]["values"] if v is not None]
    assert len(values) >= runs * 0.99
    mean = sum(values) / len(values)
    sd_mean = math.sqrt(respond ** 2 + fix ** 2) / math.sqrt(runs)
    # (The few runs cut off by the end of the run are left out, so allow their bias too.)
    assert abs(mean - (3.0 + respond + fix)) < 4 * sd_mean + 1.0


def test_a_drill_gates_on_the_required_probability(tmp_path: Path) -> None:
    exp_path, pb_path = write_case(tmp_path, DRILL.format(respond=20.0, fix=40.0, within=6.0), "60s", 50)
    experiment = load_experiment(exp_path)
    pb = load(pb_path, Playbook)
    bind(pb, experiment)
    result = drill(experiment, pb, 8, workers=1)
    d = result.extra["drill"]["deadlines"][0]
    # Mitigating within 6 s needs response + fix <= 3 s: P = 1 - e^{-3/20}... about 0.01, far below 0.5.
    assert d["required"] == 0.5 and d["met"] is False
    assert result.extra["gate_failed"] is True


def test_incident_analysis_works_on_a_run_without_a_playbook_record(tmp_path: Path) -> None:
    exp_path, pb_path = write_case(tmp_path, FIXED)
    experiment = load_experiment(exp_path)
    pb = load(pb_path, Playbook)
    from chaos.sim.simulation import simulate
    run = simulate(experiment)
    section = incident_dict(pb, run, analyze_incident(pb, run))
    assert all(st["status"] == "not_reached" for st in section["steps"])
    assert {f["kind"] for f in section["findings"]} >= {"never_reached"}


def test_an_escalation_step_the_response_never_needed_is_not_judged(tmp_path: Path) -> None:
    # The rollback works and stops the response at 68; "tell the users" is only an
    # escalation target now. Its deadline (20 + 30 = 50) passed before the response ended,
    # yet it was never due: it must read as undecided, not as missed.
    playbook = (FIXED.replace("    mitigates: true\n", "    mitigates: true\n    on_success: stop\n")
                .replace("deadline: {within: 20s, after: roll back config}", "deadline: {within: 30s}"))
    s = section_of(tmp_path, playbook)
    tell = s["steps"][2]
    assert tell["status"] == "not_reached" and tell["deadline_s"] == 50.0
    assert tell["met"] is None
    assert s["steps"][1]["status"] == "done" and s["steps"][1]["met"] is False   # 68 > 60: still missed
