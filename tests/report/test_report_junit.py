"""junit.xml read back with junitparser: one case per check, failures exactly the unmet ones,
messages a CI user can act on, and totals that add up."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from junitparser import Failure, JUnitXml, Skipped

from chaos.document import read
from chaos.report.checks import checks
from chaos.report.junit import render_junit

ALLOWED_CASE_CHILDREN = {"failure", "skipped", "error", "system-out", "system-err"}


def cases(path: Path) -> dict[str, Any]:
    xml = JUnitXml.fromfile(str(path))
    return {case.name: case for suite in xml for case in suite}


def failures(path: Path) -> dict[str, str]:
    return {name: r.message for name, c in cases(path).items() for r in c.result if isinstance(r, Failure)}


def skipped(path: Path) -> dict[str, str]:
    return {name: r.message for name, c in cases(path).items() for r in c.result if isinstance(r, Skipped)}


def test_failures_are_exactly_the_unmet_slos(failing_doc: dict[str, Any], failing_reports: dict[str, Path]) -> None:
    unmet = {s["name"] for s in failing_doc["slos"] if not s["met"]}
    assert unmet  # the document must miss some, or this test proves nothing
    failed = failures(failing_reports["junit"])
    assert set(failed) == unmet
    everything = cases(failing_reports["junit"])
    slo_names = {s["name"] for s in failing_doc["slos"]}
    assert slo_names <= set(everything)
    for name in slo_names - unmet:
        assert everything[name].is_passed


def test_failure_messages_say_what_was_required_and_what_happened(failing_doc: dict[str, Any],
                                                                  failing_reports: dict[str, Path]) -> None:
    failed = failures(failing_reports["junit"])
    for slo in (s for s in failing_doc["slos"] if not s["met"]):
        message = failed[slo["name"]]
        assert f"was {slo['observed'] * 100:.1f}%" in message
        assert f"above the objective of at most {slo['target'] * 100:.1f}%" in message
        assert f"{slo['bad']:,} of {slo['total']:,} failed" in message
        assert f"first in breach at {slo['first_breach_s']:.0f} s" in message


def test_suite_totals_add_up(drill_reports: dict[str, Path]) -> None:
    xml = JUnitXml.fromfile(str(drill_reports["junit"]))
    root = ET.parse(drill_reports["junit"]).getroot()
    assert root.tag == "testsuites"
    total = failed = skip = 0
    for suite in xml:
        members = list(suite)
        assert suite.tests == len(members)
        assert suite.failures == sum(c.is_failure for c in members)
        assert suite.skipped == sum(c.is_skipped for c in members)
        assert suite.errors == 0
        total, failed, skip = total + suite.tests, failed + suite.failures, skip + suite.skipped
    assert (int(root.get("tests", -1)), int(root.get("failures", -1)), int(root.get("skipped", -1))) == \
        (total, failed, skip)
    for case in root.iter("testcase"):
        assert case.get("name") and case.get("classname") and case.get("time") == "0"
        assert {child.tag for child in case} <= ALLOWED_CASE_CHILDREN


def test_playbook_deadlines_and_steps_are_cases(playbook_reports: dict[str, Path]) -> None:
    failed = failures(playbook_reports["junit"])
    skip = skipped(playbook_reports["junit"])
    assert "missing its deadline of" in failed["restart the leaf"]
    # Every time of a playbook counts from the incident start (the fault, at 40 s of the run).
    assert failed["restart the leaf"] == ("step 'restart the leaf' (oncall: restart svc-011) ended 70 s after the "
                                          "incident start, missing its deadline of 50 s (slow restart)")
    assert "(slow restart)" in failed["restart the leaf"]
    assert "mitigate took 70 s from the incident's start, missing the deadline of 60 s" in failed["mitigate within 60s"]
    assert skip["write the postmortem"] == ("step 'write the postmortem' (oncall: wait): undecided: not reached when "
                                            "the run ended, before its deadline; deadline 200 s after the incident "
                                            "start, after the end of the run")
    assert "undecided" in skip["recover within 5m"]
    assert cases(playbook_reports["junit"])["detect within 30s"].is_passed
    assert cases(playbook_reports["junit"])["acknowledge page"].is_passed


def test_a_drill_gates_on_its_requirements_only(drill_doc: dict[str, Any], drill_reports: dict[str, Path]) -> None:
    required = {d["name"]: d for d in drill_doc["drill"]["deadlines"]}
    failed = failures(drill_reports["junit"])
    assert set(failed) == {name for name, d in required.items() if d["met"] is False}
    assert failed  # the hand-made drill misses its mitigation requirement
    for name in failed:
        assert f"below the required {required[name]['required'] * 100:.0f}%" in failed[name]
    skip = skipped(drill_reports["junit"])
    unmet_slos = [s["name"] for s in drill_doc["slos"] if not s["met"]]
    for name in unmet_slos:
        assert skip[name].startswith("first run of the drill, not gated (MISSED)")


def test_alert_expectation_message_when_the_alert_fired_late(failing_doc: dict[str, Any], tmp_path: Path) -> None:
    doc = dict(failing_doc)
    start = doc["faults"][0]["start_s"]
    doc["alert_expectations"] = [{"alert": "entry-errors", "within_s": 10.0, "fired_at_s": start + 25, "met": False},
                                 {"alert": "never-fires", "within_s": 30.0, "fired_at_s": None, "met": False}]
    report = read(doc)
    path = tmp_path / "junit.xml"
    path.write_text(render_junit(report, checks(report)))
    failed = failures(path)
    assert failed["alert entry-errors within 10 s"] == (
        f"alert 'entry-errors' fired 25 s after the first fault (at {start + 25:.0f} s), later than the 10 s expected")
    assert failed["alert never-fires within 30 s"] == (
        f"alert 'never-fires' never fired after the first fault (at {start:.0f} s); it should fire within 30 s")


def test_properties_carry_the_audit(failing_doc: dict[str, Any], failing_reports: dict[str, Path]) -> None:
    root = ET.parse(failing_reports["junit"]).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["seed"] == str(failing_doc["seed"])
    assert props["input:experiments/synthetic.yaml"] == "ab" * 32
    assert suite.get("timestamp") == "2026-01-02T03:04:05"  # the schema's timestamp has no zone
    assert suite.get("hostname") == failing_doc["audit"]["host"]


def test_an_expected_alert_already_firing_before_the_fault_is_said_to_be(failing_doc: dict[str, Any]) -> None:
    doc = dict(failing_doc)
    start = doc["faults"][0]["start_s"]
    doc["alerts"] = [{"name": "noisy", "scope": "entrypoint:entry-0", "fired_at_s": start - 9, "resolved_at_s": None,
                      "value": 1.0}]
    doc["alert_expectations"] = [{"alert": "noisy", "within_s": 60.0, "fired_at_s": None, "met": False}]
    (check,) = [c for c in checks(read(doc)) if c.name == "alert noisy within 60 s"]
    assert check.failed and check.message == (
        f"alert 'noisy' was already firing when the first fault started at {start:.0f} s (since {start - 9:.0f} s) "
        "and did not fire anew after it, so it detected nothing; it should fire within 60 s of the fault")
