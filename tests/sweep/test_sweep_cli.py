"""``chaoslab sweep`` end to end: what it writes, what it prints, how it fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from written_schemas import schema_errors, written_again

from chaos.cli import main
from chaos.sweep.grid import FAULT_AXIS, Axis
from chaos.sweep.report import heatmap_axes

PNG = b"\x89PNG\r\n\x1a\n"


def sweep(fan_file: Path, out: Path, *args: str) -> int:
    return main(["sweep", str(fan_file), "--executor", "inline", "--seeds", "2", "--out", str(out), *args])


def test_crash_sweep_with_a_grid(fan_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert sweep(fan_file, out, "--each-service", "crash", "--set", "load.rate=60,120") == 0
    printed = capsys.readouterr()
    assert printed.err == ""  # no progress bar when stderr is not a terminal
    assert "8 variants x 2 seeds: 16 simulated, 0 reused" in printed.out
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["seeds"] == [5, 6]
    assert [a["name"] for a in doc["axes"]] == [FAULT_AXIS, "load.rate"]
    assert len(doc["variants"]) == 8 and doc["runs"]["simulated"] == 16
    assert set(doc["criticality"]) == {"load.rate=60", "load.rate=120"}
    for rows in doc["criticality"].values():
        assert [r["target"] for r in rows] == ["leaf", "a", "b", "iso"]
    assert doc["heatmap"] == "heatmap.png" and (out / "heatmap.png").read_bytes().startswith(PNG)
    markdown = (out / "sweep.md").read_text()
    assert "## Criticality (load.rate=60)" in markdown and "![entry requests failed" in markdown
    assert len(list(out.glob("runs/*/seed-*.json"))) == 16
    text = (out / "sweep.json").read_text()
    assert schema_errors("sweep", doc) == [] and written_again("sweep", text) == text
    assert doc["runs"]["wall_s"] > 0 and doc["runs"]["variants_per_minute"] > 0


def test_rerun_reuses_everything(fan_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert sweep(fan_file, out, "--each-edge", "errors=0.5") == 0
    first = json.loads((out / "sweep.json").read_text())
    capsys.readouterr()
    assert sweep(fan_file, out, "--each-edge", "errors=0.5") == 0
    assert "2 variants x 2 seeds: 0 simulated, 4 reused" in capsys.readouterr().out
    again = json.loads((out / "sweep.json").read_text())
    assert again["variants"] == first["variants"] and again["criticality"] == first["criticality"]
    assert again["heatmap"] is None  # faults alone: the criticality table, not a heatmap
    # nothing simulated: no pace to report, and the document still satisfies its schema
    assert "variants_per_minute" not in again["runs"] and again["runs"]["wall_s"] >= 0
    assert schema_errors("sweep", again) == []


def test_two_parameter_grid_draws_a_heatmap(fan_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert sweep(fan_file, out, "--set", "load.rate=60,120", "--set", "services.leaf.workers=1,8") == 0
    assert (out / "heatmap.png").read_bytes().startswith(PNG)
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["criticality"] == {}
    one_worker = [v for v in doc["variants"] if v["coordinates"]["services.leaf.workers"] == "1"]
    eight = [v for v in doc["variants"] if v["coordinates"]["services.leaf.workers"] == "8"]
    # one worker at 3 ms serves ~330/s: 120/s fits, and nothing is faulted, so nothing fails either way
    assert all(v["entry_failed_ratio"]["mean"] == 0.0 for v in one_worker + eight)


def test_heatmap_axes() -> None:
    fault, rate, workers = Axis(FAULT_AXIS, ("a", "b")), Axis("load.rate", ("1", "2")), Axis("w", ("1", "2"))
    assert heatmap_axes((fault,)) is None
    assert heatmap_axes((rate,)) == (rate,)
    assert heatmap_axes((fault, rate)) == (rate, fault)   # the --set values across, faults down
    assert heatmap_axes((rate, workers)) == (rate, workers)
    assert heatmap_axes((fault, rate, workers)) is None


@pytest.mark.parametrize(("args", "needle"), [
    (["--set", "services.leef.workers=1,2"], "did you mean 'leaf'"),
    (["--each-service", "crash,replicas=9"], "only 2 replica(s)"),
    (["--each-service", "explode"], "unknown fault kind"),
    (["--seeds", "0"], "--seeds"),
    (["--executor", "yarn"], "unknown executor"),
])
def test_bad_input_exits_2_before_running(fan_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          args: list[str], needle: str) -> None:
    out = tmp_path / "out"
    assert main(["sweep", str(fan_file), "--executor", "inline", "--out", str(out), *args]) == 2
    assert needle in capsys.readouterr().err
    assert not out.exists()


def test_sweep_md_says_how_long_each_variant_was_simulated(fan_file: Path, tmp_path: Path) -> None:
    """The variant's duration, not the base experiment's 60 s."""
    out = tmp_path / "out"
    assert sweep(fan_file, out, "--set", "duration=30s") == 0
    markdown = (out / "sweep.md").read_text()
    assert "30 s simulated each" in markdown and "60 s simulated" not in markdown
    assert json.loads((out / "sweep.json").read_text())["variants"][0]["duration_s"] == 30.0
    both = tmp_path / "both"
    assert sweep(fan_file, both, "--set", "duration=30s,40s") == 0
    markdown = (both / "sweep.md").read_text()
    assert "30 s to 40 s simulated, as each variant sets" in markdown
    assert "| duration=30s | 30 s |" in markdown and "| duration=40s | 40 s |" in markdown


def test_sweep_md_states_the_noise_threshold_for_hurt(fan_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert sweep(fan_file, out, "--each-service", "crash") == 0
    markdown = (out / "sweep.md").read_text()
    assert "in breach for at least 10 s in all and the run spent at least 25% of that objective's error budget" \
        in markdown


def test_an_experiment_with_overrides_can_be_swept(fan_file: Path, tmp_path: Path) -> None:
    """Overrides hold their YAML value unconverted until applied; the sweep's fingerprint must read it as YAML."""
    text = fan_file.read_text() + "overrides:\n  services.leaf.workers: 4\n"
    fan_file.write_text(text)
    out = tmp_path / "out"
    assert sweep(fan_file, out, "--set", "load.rate=60") == 0
    assert json.loads((out / "sweep.json").read_text())["variants"][0]["runs"] == 2


def test_a_run_ending_within_one_slo_window_of_the_fault_has_recovery_not_measurable(
        fan_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The leaf is down from 30 s to 55 s; the 60 s runs end 5 s later, inside the 10 s SLO window, so their
    # SLOs could not have said "recovered" whatever the system did; the 90 s runs have time, and recover.
    fan_file.write_text(fan_file.read_text() + "faults:\n  - {kind: crash, target: leaf, at: 30s, duration: 25s}\n")
    out = tmp_path / "out"
    assert sweep(fan_file, out, "--set", "duration=60s,90s") == 0
    capsys.readouterr()
    doc = json.loads((out / "sweep.json").read_text())
    figures = {v["label"]: v for v in doc["variants"]}
    short, long = figures["duration=60s"], figures["duration=90s"]
    assert (short["recovered"], short["not_measurable"], short["time_to_recover_s"]["known"]) == (0, 2, 0)
    assert (long["recovered"], long["not_measurable"]) == (2, 0) and long["time_to_recover_s"]["mean"] >= 0
    summaries = [json.loads(p.read_text())["summary"] for p in out.glob("runs/duration=60s-*/seed-*.json")]
    assert [s["recovery"] for s in summaries] == [
        {"state": "not_measurable", "time_s": None, "counts_from": "fault_end", "after_s": 5.0, "window_s": 10.0,
         "why": "run_ended"}] * 2
    markdown = (out / "sweep.md").read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| duration=60s "))
    assert "never" not in row and row.split(" | ")[-2] == "not measurable¹"
    assert ("duration=60s: the run ended 5 s after the last fault ended, less than the 10 s SLO window recovery "
            "is judged over") in markdown
    assert schema_errors("sweep", doc) == []


def test_without_alerts_time_to_detect_is_not_never(fan_file: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # No alert could have fired, so "never detected" would blame alerts nobody wrote.
    fan_file.write_text(fan_file.read_text().split("alerts:")[0])
    out = tmp_path / "out"
    assert sweep(fan_file, out, "--each-service", "crash", "--seeds", "1") == 0
    capsys.readouterr()
    rows = [line for line in (out / "sweep.md").read_text().splitlines() if "crash" in line and line.startswith("| ")]
    assert len(rows) == 8  # four in the criticality table, four variants
    assert all("| no alert defined |" in line and "never" not in line for line in rows)
