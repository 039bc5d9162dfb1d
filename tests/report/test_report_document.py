"""Reading the result document: what is required, what is optional, and the verdict sentences."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from reportkit import healthy, with_drill, with_playbook, with_playbook_v1

from chaos.codec import encode
from chaos.document import SCHEMA_VERSION, Stopped, read
from chaos.errors import InputError
from chaos.incident_states import ClockBase, IncidentOutcome, StepStatus
from chaos.measurement import Source
from chaos.report.checks import CheckOutcome, checks, verdict
from chaos.report.summary import render
from chaos.report.verdict import sentences


def test_a_newer_schema_is_refused(failing_doc: dict[str, Any]) -> None:
    doc = dict(failing_doc, schema_version=99)
    with pytest.raises(InputError, match="schema_version 99 is newer than this chaoslab reads"):
        read(doc, "runs/x/result.json")


def test_a_document_before_schema_3_reads_as_latency_estimates(failing_doc: dict[str, Any]) -> None:
    # Its percentiles were interpolated in histogram buckets, whichever engine wrote it.
    assert not read(failing_doc).latency_estimated
    assert "estimates" not in render(failing_doc)
    old = dict(failing_doc, schema_version=2)
    old.pop("latency_estimated", None)
    assert read(old).latency_estimated
    assert "Latency:        percentiles and alert values are estimates" in render(old)


def test_a_malformed_step_names_where(failing_doc: dict[str, Any]) -> None:
    doc = with_playbook(failing_doc)
    del doc["playbook"]["steps"][1]["name"]
    with pytest.raises(InputError, match=r"playbook\.steps\[1\]: missing 'name'"):
        read(doc)


def test_optional_sections_are_optional(failing_doc: dict[str, Any]) -> None:
    doc = {k: v for k, v in failing_doc.items() if k not in ("graph", "audit", "markers", "alerts", "detections")}
    r = read(doc)
    assert r.graph is None and r.playbook is None and r.drill is None and r.audit == {}


def test_exit_codes(failing_doc: dict[str, Any]) -> None:
    assert verdict(read(failing_doc)).exit_code == 1
    assert verdict(read(healthy(failing_doc))).exit_code == 0
    assert verdict(read(with_playbook(healthy(failing_doc)))).exit_code == 1  # a step and a phase deadline missed
    drill = with_drill(healthy(failing_doc))
    for d in drill["drill"]["deadlines"]:
        d["met"], d["p_met"] = True, 1.0
    drill["gate_failed"] = False
    drill["slos"][0]["met"] = False  # a drill's first run missing an SLO does not fail the drill
    drill["slo_met"] = False
    assert verdict(read(drill)).exit_code == 0


def test_verdict_when_nothing_was_detected(failing_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(failing_doc)
    doc["time_to_detect_s"] = None
    doc["detections"][0].update(alert=None, detected_at_s=None, time_to_detect_s=None)
    r = read(doc)
    detect = sentences(r, checks(r))[2]
    assert detect.ok is False
    assert detect.text == "Not detected: no alert fired after the fault started at 40 s."


def test_verdict_without_faults_slos_or_deadlines(failing_doc: dict[str, Any]) -> None:
    doc = healthy(failing_doc)
    doc.update(faults=[], slos=[], alert_expectations=[], detections=[])
    r = read(doc)
    said = sentences(r, checks(r))
    assert [s.ok for s in said] == [None, None, None, True]
    assert said[0].text == "No SLOs were stated, so none could be missed."
    assert said[1].text == "No deadlines were set (no alert expectation, playbook or drill)."
    assert said[2].text == "No fault was injected, so there was nothing to detect."


def test_replications_that_missed_fail_the_run(failing_doc: dict[str, Any]) -> None:
    doc = healthy(failing_doc)
    doc["replications"] = {"count": 3, "seeds": [1, 2, 3], "slo_met": [True, False, True]}
    doc["slo_met"] = False
    r = read(doc)
    found = checks(r)
    reps = [c for c in found if c.name == "SLOs held in every replication"]
    assert len(reps) == 1 and reps[0].outcome is CheckOutcome.FAILED
    assert reps[0].message == "SLOs held in 2 of 3 replications (missed with seeds 2)"
    assert sentences(r, found)[0].ok is False
    assert verdict(r).exit_code == 1


def test_a_schema_1_playbook_is_read_onto_the_incident_clock(failing_doc: dict[str, Any]) -> None:
    old, new = read(with_playbook_v1(failing_doc)), read(with_playbook(failing_doc))
    assert old.playbook is not None and new.playbook is not None
    assert old.playbook.clock == new.playbook.clock
    assert old.playbook.clock is not None and old.playbook.clock.base is ClockBase.FIRST_FAULT
    assert old.playbook.steps[1].status is StepStatus.DONE
    for a, b in zip(old.playbook.steps, new.playbook.steps, strict=True):
        assert (a.start_s, a.end_s, a.deadline_s, a.verified_at_s, a.met) == \
            (b.start_s, b.end_s, b.deadline_s, b.verified_at_s, b.met)
    assert old.playbook.incident.triggered_s == 12.0 and old.playbook.incident.outcome is IncidentOutcome.COMPLETED
    assert [c.outcome for c in checks(old)] == [c.outcome for c in checks(new)]


def test_a_state_that_is_not_one_of_the_enums_names_where(failing_doc: dict[str, Any]) -> None:
    doc = with_playbook(failing_doc)
    doc["playbook"]["steps"][0]["status"] = "finished"
    with pytest.raises(InputError, match=r"playbook\.steps\[0\]\.status: 'finished' is not one of 'not_reached'"):
        read(doc)


def test_the_console_verdict_is_the_checks_verdict_when_only_an_expectation_is_missed(
        failing_doc: dict[str, Any]) -> None:
    doc = healthy(failing_doc)
    doc["alert_expectations"][0].update(met=False, fired_at_s=None)
    r = read(doc)
    assert r.slo_met and [c.name for c in checks(r) if c.failed] == ["alert entry-errors within 30 s"]
    assert verdict(r).exit_code == 1
    line = next(line for line in render(doc).splitlines() if line.startswith("Verdict:"))
    assert line == ("Verdict:        FAILED: SLOs HELD (13 objectives); alert expectations: 1 of 1 MISSED "
                       "(alert entry-errors within 30 s)")
    doc["alert_expectations"][0].update(met=True, fired_at_s=52.0)
    assert verdict(read(doc)).exit_code == 0
    assert "Verdict:        PASSED: SLOs HELD (13 objectives); alert expectations: 1 of 1 met" in render(doc)


def test_an_expectation_missed_in_another_replication_fails_the_run(failing_doc: dict[str, Any]) -> None:
    doc = healthy(failing_doc)
    doc["replications"] = {"count": 3, "seeds": [1, 2, 3], "slo_met": [True, True, True],
                           "expectations_met": [True, False, True],
                           "entry_failed_ratio": {"values": [0.0, 0.0, 0.0], "mean": 0.0, "ci95": 0.0}}
    r = read(doc)
    failed = [c for c in checks(r) if c.failed]
    assert [(c.name, c.message) for c in failed] == [
        ("alert expectations met in every replication", "alert expectations met in 2 of 3 replications "
                                                        "(missed with seeds 2)")]
    assert verdict(r).exit_code == 1
    assert "FAILED: SLOs HELD (13 objectives); alert expectations: 1 of 1 met; replications: SLOs held in 3 of 3 " \
           "replications, FAILED: alert expectations met in 2 of 3 replications (missed with seeds 2)" in render(doc)


def test_a_live_runs_load_and_rule_file_alerts_are_typed_drawn_and_written_back(failing_doc: dict[str, Any]) -> None:
    # The fields main's live load and rule files add: read into the document's types, drawn by the summary,
    # and written back by the codec exactly as read.
    kinds = [{"name": "home", "method": "GET", "target": "/", "success": [], "weight": 3, "planned_share": 0.75,
              "requests": 30, "ok": 6, "failed": 0, "client_errors": 24, "client_statuses": {"404": 24}},
             {"name": "pay", "method": "POST", "target": "/pay", "success": [200, 201], "weight": 1,
              "planned_share": 0.25, "requests": 10, "ok": 4, "failed": 0, "client_errors": 6,
              "client_statuses": {"401": 6}}]
    load = {"reason": "stopped", "behind": False, "warnings": [],
            "entrypoints": {"browse": {"requests": 40, "client_errors": 30,
                                       "client_statuses": {"401": 6, "404": 24}, "kinds": kinds}}}
    live = {"stack": "shop", "stack_kind": "user", "run_id": "r1", "mode": "unattended", "stopped": "client_errors",
            "load": load}
    alert = {"name": "CatalogSlow", "scope": None, "labels": {"service": "catalog", "severity": "page"},
             "fired_at_s": 12.0, "resolved_at_s": None, "value": 0.4, "metric": "promql"}
    doc = dict(copy.deepcopy(failing_doc), engine="live", live=live, alerts=[alert],
               notes=["rule HighLatency reads a metric the mapping does not expose"])
    r = read(doc)
    assert r.live is not None and r.live.stopped is Stopped.CLIENT_ERRORS and r.live.load is not None
    entry = r.live.load.entrypoints["browse"]
    assert entry.client_statuses == {"401": 6, "404": 24} and entry.kinds[1].success == (200, 201)
    assert r.alerts[0].scope is None and r.alerts[0].labels == {"service": "catalog", "severity": "page"}
    text = render(doc)
    assert "entrypoint browse: 30 client error(s) (75.0% of its requests: HTTP 404 ×24, HTTP 401 ×6)" in text
    assert "request pay (POST /pay): 25.0% of the requests (planned 25.0%), 4 ok, 0 failed" in text
    assert "the run stopped early: its requests mostly came back as client errors" in text
    assert "CatalogSlow service=catalog severity=page" in text
    assert "rule HighLatency reads a metric the mapping does not expose" in text
    assert read(encode(r)) == r


def test_an_older_document_reads_as_the_current_schema(failing_doc: dict[str, Any]) -> None:
    # Read onto the current shape (the playbook's clock, latency estimated, what measured each scope
    # unrecorded), it says so; written again, it is a current document that reads back the same.
    old = with_playbook_v1(failing_doc)
    for scope in (*old["services"].values(), *old["entrypoints"].values()):
        scope.pop("measured_by", None)
    r = read(old)
    assert r.schema_version == SCHEMA_VERSION == 6 and r.latency_estimated
    assert {f.measured_by for f in (*r.services.values(), *r.entrypoints.values())} == {Source.UNRECORDED}
    assert all(f.measured_by.measured for f in r.services.values())  # as it was written: measured
    again = encode(r)
    assert again["schema_version"] == 6 and read(again) == r


def test_a_schema_5_drill_interval_reads_as_the_interval_it_stated(failing_doc: dict[str, Any]) -> None:
    # Schema 5 wrote a normal half-width; read now, it is the interval that document claimed, clipped
    # to [0, 1], not one recomputed with another method.
    old = with_drill(failing_doc)
    old["schema_version"] = 5
    r = read(old)
    assert r.drill is not None
    first, second = r.drill.deadlines
    assert (first.ci95_low, first.ci95_high) == (1.0, 1.0)
    assert second.ci95_low == pytest.approx(max(0.0, second.p_met - 0.1))
    assert second.ci95_high == pytest.approx(min(1.0, second.p_met + 0.1))
