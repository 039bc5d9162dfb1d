"""``chaoslab coverage`` end to end on a chain whose alerts watch error ratios only (conftest.py).

What is known by construction: latency added to ``api`` breaks the latency objective without one
error, so no alert can see it (undetected, exit 1); ``api-busy`` holds whenever traffic flows, so it
fires in the fault-free baseline (noise); nothing ever calls ``iso``, so its alert never fires (never
useful); a fault on ``iso`` hurts nobody and nothing fires (quiet). Time to detect in a cell must be
what ``chaoslab simulate`` of that one fault, with the same seed, says.
"""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from chaos.cli import main
from chaos.codec import encode, json_schema
from chaos.coverage.document import CoverageDocument, Role, Status, read

PNG = b"\x89PNG\r\n\x1a\n"


def coverage(experiment: Path, out: Path, *args: str, seeds: int = 1) -> int:
    return main(["coverage", str(experiment), "--executor", "inline", "--seeds", str(seeds), "--out", str(out), *args])


def load(out: Path) -> CoverageDocument:
    path = out / "coverage.json"
    return read(json.loads(path.read_text()), str(path))


def mode(doc: CoverageDocument, label: str):  # noqa: ANN201 - a FailureMode
    return next(m for m in doc.failure_modes if m.label == label)


def cell(doc: CoverageDocument, label: str, alert: str) -> float | None:
    return next(c.mean_s for c in mode(doc, label).cells if c.alert == alert)


def test_a_latency_fault_the_error_alerts_cannot_see_is_undetected(chain_file: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert coverage(chain_file, out, "--each-service", "latency=1s", seeds=2) == 1
    printed = capsys.readouterr().out
    assert "UNDETECTED  latency(delay=1s):api: missed entrypoint:web p99 <= 500 ms; no alert fired" in printed
    doc = load(out)
    assert doc.exit_code == 1
    assert doc.undetected == ("latency(delay=1s):api",)
    api = mode(doc, "latency(delay=1s):api")
    assert api.status is Status.UNDETECTED and api.seeds_undetected == 2 and api.seeds_slo_missed == 2
    assert all(c.seeds_fired == 0 for c in api.cells)
    assert doc.failure_modes[0] is api  # undetected first
    assert mode(doc, "latency(delay=1s):iso").status is Status.QUIET
    roles = {a.name: a.role for a in doc.alerts}
    assert roles["api-busy"] is Role.NOISE and doc.noise == ("api-busy",)
    assert roles["iso-errors"] is Role.NEVER_USEFUL and "iso-errors" in doc.never_useful
    assert doc.baselines[0].noise[0].alert == "api-busy" and doc.baselines[0].noise[0].seeds == 2
    # The noise alert fired before the fault and stayed firing: it detected nothing.
    assert all(c.seeds_fired == 0 for m in doc.failure_modes for c in m.cells if c.alert == "api-busy")
    markdown = (out / "coverage.md").read_text()
    assert markdown.index("## Undetected") < markdown.index("## Matrix") < markdown.index("## Noise")
    assert "| latency(delay=1s):api | entrypoint:web p99 <= 500 ms |" in markdown
    html = (out / "coverage.html").read_text()
    assert 'src="data:image/png;base64,' in html and "latency(delay=1s):api" in html
    assert "exits with code 1" in html
    # The runs are kept: a second coverage run simulates nothing and writes the same document.
    capsys.readouterr()
    assert coverage(chain_file, out, "--each-service", "latency=1s", seeds=2) == 1
    assert "(0 runs simulated, 8 reused" in capsys.readouterr().out
    again = load(out)
    assert again.runs.reused == 8 and dataclasses.replace(again, runs=doc.runs) == doc


def test_time_to_detect_in_a_cell_is_what_simulate_says(chain_file: Path, tmp_path: Path) -> None:
    # --each-service takes the experiment's first fault's timing: errors(ratio=0.5):db is its own fault.
    assert coverage(chain_file, tmp_path / "cov", "--each-service", "errors=0.5") == 0
    doc = load(tmp_path / "cov")
    assert main(["simulate", str(chain_file), "--seed", "3", "--out", str(tmp_path / "sim"), "--quiet",
                 "--no-report"]) == 1
    result = json.loads((tmp_path / "sim" / "result.json").read_text())
    start = result["faults"][0]["start_s"]
    db = mode(doc, "errors(ratio=0.5):db")
    assert db.fault_start_s == start
    assert db.time_to_detect_mean_s == result["time_to_detect_s"] is not None
    assert db.detected_by == (result["detections"][0]["alert"],)
    checked = 0
    for alert in ("web-errors", "api-errors", "iso-errors", "api-busy"):
        after = [f["fired_at_s"] for f in result["alerts"] if f["name"] == alert and f["fired_at_s"] >= start]
        assert cell(doc, "errors(ratio=0.5):db", alert) == (min(after) - start if after else None), alert
        checked += bool(after)
    assert checked == 2  # the two error alerts fired; the noise and iso's did not fire after the fault


def test_alerts_slower_than_expect_within_make_a_failure_mode_late(slow_alert_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert coverage(slow_alert_file, out, "--each-service", "errors=0.5") == 0  # late fails nothing
    doc = load(out)
    assert doc.deadline_s == 3.0
    for label in ("errors(ratio=0.5):api", "errors(ratio=0.5):db"):
        m = mode(doc, label)
        assert m.status is Status.LATE and m.time_to_detect_mean_s is not None and m.time_to_detect_mean_s >= 4
        assert next(c for c in m.cells if c.alert == "api-errors").seeds_late == 1
    assert set(doc.late) == {"errors(ratio=0.5):api", "errors(ratio=0.5):db"}
    assert [m.status for m in doc.failure_modes][:2] == [Status.LATE, Status.LATE]  # listed first
    assert "## Late" in (out / "coverage.md").read_text()


def test_junit_has_one_case_per_failure_mode_failing_when_undetected(chain_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert coverage(chain_file, out, "--each-service", "latency=1s", "--each-edge", "errors=0.5") == 1
    doc = load(out)
    root = ET.parse(out / "junit.xml").getroot()
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [m.variant for m in doc.failure_modes]
    assert len(cases) == 3 + 1  # three services, one edge (api->db)
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == list(doc.undetected) == ["latency(delay=1s):api"]
    assert root.find("testsuite").get("failures") == "1"  # type: ignore[union-attr]
    assert (out / "coverage.html").read_text().count("<tr") > len(cases)


def test_the_json_is_the_typed_document_and_validates_against_its_schema(chain_file: Path, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    coverage(chain_file, out, "--each-service", "latency=1s")
    raw = json.loads((out / "coverage.json").read_text())
    capsys.readouterr()
    assert main(["schema", "coverage"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema == json_schema(CoverageDocument, "chaoslab coverage")
    jsonschema.validate(raw, schema)
    assert encode(read(raw, "coverage.json")) == raw
    raw["failure_modes"][0]["status"] = "missed"
    with pytest.raises(Exception, match="failure_modes"):
        read(raw, "coverage.json")


@pytest.mark.parametrize(("args", "message"), [
    (["--each-service", "explode"], "--each-service: unknown fault kind 'explode'"),
    (["--each-edge", "crash"], "a crash fault targets service, not each edge"),
    (["--set", "seed=1,2"], "'seed' cannot be swept"),
])
def test_bad_input_is_exit_2_with_nothing_written(chain_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  args: list[str], message: str) -> None:
    out = tmp_path / "out"
    assert coverage(chain_file, out, *args) == 2
    assert message in capsys.readouterr().err
    assert not (out / "coverage.json").exists()



def test_an_experiment_without_faults_needs_each_service_or_each_edge(faultless_file: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert coverage(faultless_file, tmp_path / "out") == 2
    assert "nothing to cover: the experiment has no faults" in capsys.readouterr().err
    assert coverage(faultless_file, tmp_path / "out", "--each-edge", "errors=0.5") == 0
    doc = load(tmp_path / "out")
    assert [m.label for m in doc.failure_modes] == ["errors(ratio=0.5):api->db"]


def test_an_alert_that_flaps_without_a_fault_detects_no_fault_that_leaves_its_scope_alone(
        flappy_file: Path, tmp_path: Path) -> None:
    # web-flaps watches the entrypoint's request rate over 2 s against its mean (100/s): it flaps with the
    # arrivals' noise, fault or no fault. A fault on iso (called by nobody) leaves web's arrivals as they are
    # in the fault-free twin (common random numbers), so web-flaps fires at the same seconds in both: noise,
    # never a detection of iso's fault.
    out = tmp_path / "out"
    coverage(flappy_file, out, "--each-service", "latency=1s")
    doc = load(out)
    assert "web-flaps" in doc.noise
    iso = mode(doc, "latency(delay=1s):iso")
    assert iso.status is Status.QUIET and iso.detected_by == ()
    assert all(c.seeds_fired == 0 for c in iso.cells)
    # The same run's raw firings: web-flaps did fire after iso's fault started (so the old rule, any firing
    # after the fault, would have called iso's fault detected).
    fired_after = False
    for path in sorted((out / "runs").rglob("seed-*.json")):  # the kept run summaries coverage read
        kept = json.loads(path.read_text())
        summary = kept["summary"]
        if kept["variant"] == "latency(delay=1s):iso":
            fired_after |= any(f["name"] == "web-flaps" and f["fired_at_s"] >= summary["faults_start_s"]
                               for f in summary["firings"])
    assert fired_after


def test_duration_set_on_the_command_line_is_the_duration_reported(chain_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    coverage(chain_file, out, "--each-service", "errors=0.5", "--set", "duration=45s")
    doc = load(out)
    assert doc.duration_s == 45.0
    assert "45 s simulated" in (out / "coverage.html").read_text()
    coverage(chain_file, tmp_path / "axis", "--each-service", "errors=0.5", "--set", "duration=40s,50s")
    assert load(tmp_path / "axis").duration_s == 50.0
