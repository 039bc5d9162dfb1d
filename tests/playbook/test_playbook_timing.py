"""Playbooks in the simulator: exact timings with fixed durations, deadlines, and drills against theory."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from chaos.analysis.incident import analyze_incident, incident_section
from chaos.drill import drill, incident_result
from chaos.incident_states import FindingKind, IncidentOutcome, StepStatus
from chaos.model.files import load, load_experiment
from chaos.model.playbook import Playbook, bind
from chaos.sweep.executors import InlineExecutor, ProcessExecutor

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
  - {{name: bad-config, kind: errors, target: api, ratio: {ratio}, at: 20s}}
slos:
  - {{entrypoint: web, error_ratio: 0.01}}
alerts:
  - {{name: web-errors, entrypoint: web, metric: error_ratio, threshold: 0.5, window: 5s, for: 0s, every: 1s{expect}}}
  # True from the first second on (100 requests/s): pending at 1 s, it fires 11 s later, at 12 s,
  # 8 s before the fault, and stays firing.
  - {{name: noisy, entrypoint: web, metric: request_rate, threshold: 1, window: 1s, for: 11s, every: 1s}}
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


def write_case(tmp_path: Path, playbook: str, duration: str = "200s", rate: int = 100, ratio: float = 1.0,
               expect: str = "") -> tuple[Path, Path]:
    (tmp_path / "topology.yaml").write_text(TOPOLOGY)
    exp = tmp_path / "experiment.yaml"
    exp.write_text(EXPERIMENT.format(duration=duration, rate=rate, ratio=ratio,
                                     expect=f", expect_within: {expect}" if expect else ""))
    pb = tmp_path / "playbook.yaml"
    pb.write_text(playbook)
    return exp, pb


def section_of(tmp_path: Path, playbook: str, duration: str = "200s", ratio: float = 1.0) -> dict:
    exp_path, pb_path = write_case(tmp_path, playbook, duration, ratio=ratio)
    experiment = load_experiment(exp_path)
    pb = load(pb_path, Playbook)
    bind(pb, experiment)
    return incident_result(experiment, pb, experiment.seed).to_dict()["playbook"]


def test_fixed_durations_give_hand_computed_timings(tmp_path: Path) -> None:
    s = section_of(tmp_path, FIXED)
    inc = s["incident"]
    # Every time counts from the incident start: the fault, at 20 s of the run.
    assert s["clock"] == {"base": "first_fault", "start_run_s": 20.0, "run_end_s": 180.0}
    assert inc["outcome"] == "completed" and inc["trigger"] == "web-errors" and not inc["trigger_before_start"]
    # Alert at 23 of the run (see EXPERIMENT): 3 s; on-call responds 30 s after the page, at 53: 33 s.
    assert inc["triggered_s"] == 3.0 and inc["time_to_detect_s"] == 3.0
    assert inc["time_to_acknowledge_s"] == 33.0 and s["roles"] == {"oncall": 33.0}
    rollback = s["steps"][1]
    # It starts when on-call has responded (53 of the run: 33), acts 10 s later (43). The verify
    # window of 2 s first lies wholly after the action at 45, and must hold for 3 s: verified at 48.
    assert rollback["start_s"] == 33.0 and rollback["acted_s"] == 43.0
    assert rollback["verified_at_s"] == 48.0 and rollback["end_s"] == 48.0
    assert inc["time_to_mitigate_s"] == 48.0
    # Recovered: the first whole second >= 48 + 5 whose trailing 5 s meet every SLO.
    assert inc["time_to_recover_s"] == 53.0
    # The last step starts at 48 and lasts 5 s, which ends the response.
    assert s["steps"][2]["start_s"] == 48.0 and s["steps"][2]["end_s"] == 53.0
    assert inc["finished_s"] == 53.0


def test_deadlines_are_judged_met_or_missed(tmp_path: Path) -> None:
    s = section_of(tmp_path, FIXED)
    rollback, tell = s["steps"][1], s["steps"][2]
    assert rollback["deadline_s"] == 40.0 and rollback["met"] is False   # over at 48, due at 40
    assert tell["deadline_s"] == 68.0 and tell["met"] is True            # due 20 s after the rollback ended (48)
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
    # Waiting fixes nothing: the verify gives up 60 s after acting at 43, at 103, and escalates.
    assert steps["roll back config"]["status"] == "escalated"
    assert steps["roll back config"]["end_s"] == 103.0
    assert "did not hold" in steps["roll back config"]["note"]
    fix = steps["really fix it"]
    assert fix["start_s"] == 103.0 and fix["acted_s"] == 113.0 and fix["verified_at_s"] == 118.0
    mitigate = next(d for d in s["deadlines"] if d["phase"] == "mitigate")
    assert mitigate["met"] is False and mitigate["actual_s"] is None   # the flagged step never verified
    assert s["incident"]["time_to_recover_s"] is not None and s["incident"]["time_to_recover_s"] >= 118.0


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
    result = drill(experiment, pb, runs, executor=ProcessExecutor(2))
    d = result.to_dict()["drill"]["deadlines"][0]
    assert d["undecided"] == 0
    # Mitigation = detection (3 s, fixed) + response + fix duration, from the incident start.
    slack = within - 3.0
    expected = (erlang_cdf(slack, 2, respond) if respond == fix
                else hypoexponential_cdf(slack, respond, fix))
    sigma = math.sqrt(expected * (1 - expected) / runs)
    assert abs(d["p_met"] - expected) < 4 * sigma, (d["p_met"], expected, sigma)
    # And the phase times themselves: their mean is the mean of the sum plus detection.
    values = [v for v in result.to_dict()["drill"]["phases"]["mitigate"]["values"] if v is not None]
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
    result = drill(experiment, pb, 8, executor=InlineExecutor())
    d = result.to_dict()["drill"]["deadlines"][0]
    # Mitigating within 6 s needs response + fix <= 3 s: P = 1 - e^{-3/20}... about 0.01, far below 0.5.
    assert d["required"] == 0.5 and d["met"] is False
    assert result.gate_failed is True


def test_a_drill_on_two_local_workers_gives_the_result_of_one(tmp_path: Path) -> None:
    # Runs finish in any order on two workers; the result lists them by seed, as one worker
    # (and this process) gives them. Random response and fix times make every run differ.
    exp_path, pb_path = write_case(tmp_path, DRILL.format(respond=10.0, fix=20.0, within=30.0), "60s", 50)
    experiment = load_experiment(exp_path)
    pb = load(pb_path, Playbook)
    bind(pb, experiment)
    docs = [drill(experiment, pb, 7, executor=ex).to_dict()
            for ex in (ProcessExecutor(1), ProcessExecutor(2), InlineExecutor())]
    assert docs[0]["drill"]["seeds"] == list(range(experiment.seed, experiment.seed + 7))
    assert len(set(docs[0]["drill"]["phases"]["mitigate"]["values"])) > 3
    assert docs[1] == docs[0] and docs[2] == docs[0]


def test_incident_analysis_works_on_a_run_without_a_playbook_record(tmp_path: Path) -> None:
    exp_path, pb_path = write_case(tmp_path, FIXED)
    experiment = load_experiment(exp_path)
    pb = load(pb_path, Playbook)
    from chaos.sim.simulation import simulate
    run = simulate(experiment)
    section = incident_section(pb, run, analyze_incident(pb, run))
    assert all(st.status is StepStatus.NOT_REACHED for st in section.steps)
    # Without a record the response never triggered: nothing was due, nothing is missed.
    assert section.incident.outcome is IncidentOutcome.NOT_TRIGGERED
    assert all(st.met is None for st in section.steps) and all(d.met is None for d in section.deadlines)
    assert {f.kind for f in section.findings} >= {FindingKind.NOT_TRIGGERED}


def test_an_escalation_step_the_response_never_needed_is_not_judged(tmp_path: Path) -> None:
    # The rollback works and stops the response at 48 (68 of the run); "tell the users" is
    # only an escalation target now. Its deadline (30) passed before the response ended,
    # yet it was never due: it must read as not needed, not as missed.
    playbook = (FIXED.replace("    mitigates: true\n", "    mitigates: true\n    on_success: stop\n")
                .replace("deadline: {within: 20s, after: roll back config}", "deadline: {within: 30s}"))
    s = section_of(tmp_path, playbook)
    tell = s["steps"][2]
    assert tell["status"] == "not_reached" and tell["deadline_s"] == 30.0
    assert tell["met"] is None and tell["not_judged"] == "not_needed"
    assert s["steps"][1]["status"] == "done" and s["steps"][1]["met"] is False   # 48 > 40: still missed


# --------------------------------------------------------------------------- one clock for the incident


def test_a_trigger_before_the_fault_is_detection_at_0_s_and_is_said_to_be(tmp_path: Path) -> None:
    s = section_of(tmp_path, FIXED.replace("alerts: [web-errors]", "alerts: [noisy]"))
    inc = s["incident"]
    # 'noisy' fires at 12 s of the run (see EXPERIMENT), 8 s before the fault at 20 s: the clock
    # still starts at the fault, the trigger is at -8 s on it, and detection is 0 s, never negative.
    assert s["clock"]["start_run_s"] == 20.0
    assert inc["triggered_s"] == -8.0 and inc["trigger"] == "noisy" and inc["trigger_before_start"] is True
    assert inc["time_to_detect_s"] == 0.0
    ack, rollback, tell = s["steps"]
    # The page goes out at 12 (-8 s): on-call responds 30 s later, at 42 (22 s).
    assert (ack["start_s"], ack["end_s"], inc["time_to_acknowledge_s"]) == (-8.0, 22.0, 22.0)
    # The rollback acts 10 s later, at 52 (32 s); the verify window of 2 s lies after it from 54
    # (34 s) and must hold 3 s: verified at 37 s, within its deadline of 40 s.
    assert (rollback["start_s"], rollback["acted_s"], rollback["end_s"]) == (22.0, 32.0, 37.0)
    assert (rollback["deadline_s"], rollback["met"]) == (40.0, True)
    assert (tell["start_s"], tell["end_s"], tell["deadline_s"], tell["met"]) == (37.0, 42.0, 57.0, True)
    assert inc["time_to_mitigate_s"] == 37.0
    assert inc["time_to_recover_s"] == 42.0   # the first whole second >= 37 + 5 with 5 clean seconds behind it
    assert [d["actual_s"] for d in s["deadlines"]] == [0.0, 22.0, 42.0] and all(d["met"] for d in s["deadlines"])
    early = [f for f in s["findings"] if f["kind"] == "trigger_before_fault"]
    assert len(early) == 1 and "alert 'noisy' at 12 s, 8 s before the first fault" in early[0]["message"]
    assert not [f for f in s["findings"] if f["kind"] == "impossible_deadline"]  # met here, so not impossible


def test_the_summary_names_the_alert_the_header_and_the_playbook_each_timed(tmp_path: Path) -> None:
    from chaos.report.summary import render

    exp_path, pb_path = write_case(tmp_path, FIXED.replace("alerts: [web-errors]", "alerts: [noisy]"))
    experiment = load_experiment(exp_path)
    pb = load(pb_path, Playbook)
    bind(pb, experiment)
    text = render(incident_result(experiment, pb, experiment.seed).to_dict())
    # The header: the first alert to fire after the fault (web-errors at 23 s); the playbook: its trigger.
    assert "Time to detect: 3 s (alert 'web-errors' fired at 23 s, the first alert to fire after the fault)" in text
    assert ("Incident response (fixed): completed. Times in seconds from the incident start, the first fault at "
            "20 s of the run; the run ends at 180 s on this clock:") in text
    assert ("detect                 0 s  trigger: alert 'noisy' fired at 12 s of the run, 8 s before the fault"
            in text)
    assert "  ack                          oncall           -8 s     22 s         -  done" in text
    assert "  ok   detect within 3s (took 0 s)" in text


def test_a_deadline_after_the_end_of_the_run_is_said_to_be(tmp_path: Path) -> None:
    from chaos.report.summary import render

    postmortem = """  - name: write the postmortem
    role: oncall
    action: {kind: wait}
    duration: 60s
    deadline: {within: 100s}
"""
    playbook = FIXED.replace("objectives:\n", postmortem + "objectives:\n")
    exp_path, pb_path = write_case(tmp_path, playbook, duration="80s")
    experiment = load_experiment(exp_path)
    pb = load(pb_path, Playbook)
    bind(pb, experiment)
    doc = incident_result(experiment, pb, experiment.seed).to_dict()
    s = doc["playbook"]
    assert s["clock"]["run_end_s"] == 60.0   # 80 s of run, the fault at 20 s
    tell, postmortem_step = s["steps"][2], s["steps"][3]
    # Due 20 s after the rollback ended (48): 68 s, after the run's end at 60 s; it ended at 53: met.
    assert (tell["deadline_s"], tell["end_s"], tell["met"]) == (68.0, 53.0, True)
    # Started at 53 for 60 s, so still going when the run ended at 60, before its deadline of 100.
    assert postmortem_step["status"] == "running" and postmortem_step["start_s"] == 53.0
    assert (postmortem_step["deadline_s"], postmortem_step["met"], postmortem_step["not_judged"]) == \
        (100.0, None, "run_ended")
    text = render(doc)
    assert ("tell the users               oncall           48 s     53 s      68 s  done, deadline met "
            "(its deadline is after the end of the run)") in text
    assert ("write the postmortem         oncall           53 s        -     100 s  running, deadline undecided: "
            "the run ended first (its deadline is after the end of the run)") in text


def test_a_trigger_that_never_fires_is_not_triggered_and_judges_nothing(tmp_path: Path) -> None:
    # One error in a thousand: 'web-errors' (above 50%) never fires, and the SLO (1%) holds.
    s = section_of(tmp_path, FIXED, ratio=0.001)
    inc = s["incident"]
    assert inc["outcome"] == "not_triggered" and inc["triggered_s"] is None
    assert all(inc[f"time_to_{p}_s"] is None for p in ("detect", "acknowledge", "mitigate", "recover"))
    assert [st["status"] for st in s["steps"]] == ["not_reached"] * 3
    assert [(st["met"], st["not_judged"]) for st in s["steps"]] == [
        (None, None), (None, "not_triggered"), (None, "not_triggered")]
    assert [(d["met"], d["not_judged"]) for d in s["deadlines"]] == [(None, "not_triggered")] * 3
    kinds = [f["kind"] for f in s["findings"]]
    assert "not_triggered" in kinds and "never_reached" not in kinds
    # The clock still starts at the fault: a deadline not judged is still shown on it.
    assert s["clock"]["start_run_s"] == 20.0 and s["steps"][1]["deadline_s"] == 40.0


def test_not_triggered_does_not_fail_the_gate_but_a_missed_expectation_does_and_the_console_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from junitparser import JUnitXml, Skipped

    from chaos.cli import main
    from chaos.commands.report import load_result
    from chaos.document import read
    from chaos.report.checks import checks, verdict
    from chaos.report.summary import verdict_words

    exp_path, pb_path = write_case(tmp_path, FIXED, ratio=0.001)
    code = main(["simulate", str(exp_path), "--playbook", str(pb_path), "--out", str(tmp_path / "quiet"),
                 "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert ("Verdict:        PASSED: SLOs HELD (1 objective); playbook 'fixed' NOT TRIGGERED (alert 'web-errors' "
            "never fired): no step ran, no deadline judged") in out
    assert ("Incident response (fixed): NOT TRIGGERED: alert 'web-errors' never fired, so no step ran and no "
            "deadline was judged.") in out
    assert "MISSED" not in out and "MISS " not in out
    xml = JUnitXml.fromfile(str(tmp_path / "quiet" / "junit.xml"))
    cases = {c.name: c for suite in xml for c in suite}
    for name in ("detect within 3s", "acknowledge within 30s", "recover within 60s", "roll back config",
                 "tell the users"):
        (skip,) = [r for r in cases[name].result if isinstance(r, Skipped)]
        assert "the playbook was never triggered (alert 'web-errors' never fired)" in skip.message
    md = (tmp_path / "quiet" / "summary.md").read_text()
    assert "the playbook was never triggered (alert 'web-errors' never fired)" in md

    # The same run, with the alert expected within 30 s of the fault: the only miss, and it fails the gate.
    exp_path, pb_path = write_case(tmp_path, FIXED, ratio=0.001, expect="30s")
    code = main(["simulate", str(exp_path), "--playbook", str(pb_path), "--out", str(tmp_path / "expected"),
                 "--no-progress", "--no-report"])
    out = capsys.readouterr().out
    report = read(load_result(tmp_path / "expected" / "result.json"))
    found = checks(report)
    assert [c.name for c in found if c.failed] == ["alert web-errors within 30 s"]
    assert code == verdict(report).exit_code == 1
    line = next(ln for ln in out.splitlines() if ln.startswith("Verdict:"))
    assert line == "Verdict:        " + verdict_words(report)
    assert line.startswith("Verdict:        FAILED: SLOs HELD (1 objective); alert expectations: 1 of 1 MISSED "
                           "(alert web-errors within 30 s)")
    assert "  MISS alert 'web-errors' never fired after the first fault (at 20 s); it should fire within 30 s" in out
