"""A run that ends less than one recovery window after the mitigation cannot show a recovery: through the CLI,
every place that shows the recover phase says "not measurable" and why, never "not reached" or "never"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_playbook_timing import FIXED, write_case

from chaos.cli import main


def test_the_recover_phase_of_a_run_ending_within_its_window_is_not_measurable_everywhere(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # FIXED mitigates at 48 s of the incident (68 s of the run, test_playbook_timing). With a 30 s recovery
    # window and a 90 s run (70 s on the incident's clock) only 22 s follow the mitigation: the SLOs cannot
    # have held over 30 s of it, whatever the system did.
    exp, pb = write_case(tmp_path, FIXED.replace("recovery_window: 5s", "recovery_window: 30s"), duration="90s")
    out = tmp_path / "out"
    assert main(["simulate", str(exp), "--playbook", str(pb), "--out", str(out), "--no-progress"]) == 1
    printed = capsys.readouterr().out
    incident = json.loads((out / "result.json").read_text())["playbook"]["incident"]
    assert incident["time_to_mitigate_s"] == 48.0 and incident["time_to_recover_s"] is None
    assert incident["recovery"] == {"state": "not_measurable", "time_s": None, "counts_from": "mitigation",
                                    "after_s": 22.0, "window_s": 30.0, "why": "run_ended"}
    why = "the run ended 22 s after the mitigation, less than the 30 s SLO window recovery is judged over"
    assert f"recover      not measurable  {why}" in printed
    # The recover deadline (60 s) is missed all the same, and the message says why it is known to be:
    # recovery could not come before 48 + 30 = 78 s.
    missed = (f"'recover within 60s': recovery was not measurable ({why}); it could not have come before 78 s "
              "from the incident's start, after the deadline of 60 s")
    assert missed in printed and missed in (out / "junit.xml").read_text()
    assert missed in (out / "summary.md").read_text()
    assert f"not measurable: {why}" in (out / "report.html").read_text()
    for text in (printed, (out / "summary.md").read_text()):
        assert "recover was never reached" not in text and "recover      not reached" not in text


def test_a_window_after_the_mitigation_measures_recovery(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The same response with 100 s of run after the mitigation: recovered 30 s after it.
    exp, pb = write_case(tmp_path, FIXED.replace("recovery_window: 5s", "recovery_window: 30s"), duration="170s")
    out = tmp_path / "out"
    main(["simulate", str(exp), "--playbook", str(pb), "--out", str(out), "--no-progress"])
    capsys.readouterr()
    incident = json.loads((out / "result.json").read_text())["playbook"]["incident"]
    assert incident["time_to_recover_s"] == 78.0
    assert incident["recovery"]["state"] == "recovered" and incident["recovery"]["time_s"] == 78.0


def test_a_drill_counts_runs_whose_recovery_was_not_measurable_apart(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    exp, pb = write_case(tmp_path, FIXED.replace("recovery_window: 5s", "recovery_window: 30s"), duration="90s")
    out = tmp_path / "out"
    main(["drill", str(exp), "--playbook", str(pb), "--runs", "2", "--executor", "inline", "--out", str(out),
          "--no-progress"])
    printed = capsys.readouterr().out
    recover = json.loads((out / "result.json").read_text())["drill"]["phases"]["recover"]
    assert (recover["reached"], recover["not_measurable"], recover["p50"]) == (0, 2, None)
    assert ("0/2  (2 not measurable: the run ended less than one recovery window after the mitigation)"
            in printed)
