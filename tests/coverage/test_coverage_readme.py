"""The README's coverage example, run as printed: the shop's RED alerts miss a failure, the fix closes it.

The ``sh`` block of "Detection coverage" is run line by line with bash, from a directory holding
copies of the repository's experiments, topologies and rules (the commands' relative paths), with the
project's ``chaoslab`` on the PATH. The claims checked: the first command exits 1 because checkout
failing 3% of purchases misses buying's objective with no alert firing; the second exits 0, that
failure mode detected by the new rule; and the fixed run's time to detect for it is what ``chaoslab
simulate`` of the same fault with the same seed says (a rule-file alert through the sweep's shared
starts against a whole run). docs/alerts.md prints the same commands.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MISSED = "errors(ratio=0.03):checkout"


def section_commands(text: str, heading: str) -> list[str]:
    block = re.search(r"```sh\n(.*?)```", text.split(heading, 1)[1], re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def readme_commands() -> list[str]:
    return section_commands((ROOT / "README.md").read_text(encoding="utf-8"),
                            "## Detection coverage: which failures do your alerts miss?")


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_docs_print_the_readme_commands() -> None:
    doc = (ROOT / "docs" / "alerts.md").read_text(encoding="utf-8")
    assert section_commands(doc, "## Detection coverage") == readme_commands()


def test_the_readme_coverage_example_finds_a_miss_and_the_fix_closes_it(tmp_path: Path) -> None:
    for name in ("experiments", "topologies", "rules"):
        shutil.copytree(ROOT / name, tmp_path / name)
    missed_cmd, fixed_cmd = readme_commands()
    missed = run(missed_cmd, tmp_path)
    assert missed.returncode == 1, missed.stderr
    assert f"UNDETECTED  {MISSED}: missed entrypoint:buy error ratio <= 1%; no alert fired" in missed.stdout
    doc = json.loads((tmp_path / "runs" / "shop-coverage-coverage" / "coverage.json").read_text())
    assert doc["undetected"] == [MISSED] and doc["exit_code"] == 1
    checkout = next(m for m in doc["failure_modes"] if m["label"] == MISSED)
    assert checkout["slos_missed"] == ["entrypoint:buy error ratio <= 1%"]
    assert all(c["seeds_fired"] == 0 for c in checkout["cells"])

    fixed = run(fixed_cmd, tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    doc = json.loads((tmp_path / "runs" / "shop-coverage-fixed-coverage" / "coverage.json").read_text())
    assert doc["undetected"] == [] and doc["late"] == []
    checkout = next(m for m in doc["failure_modes"] if m["label"] == MISSED)
    assert checkout["status"] == "detected" and checkout["detected_by"] == ["BuyErrorRatioHigh"]
    cell = next(c for c in checkout["cells"] if c["alert"] == "BuyErrorRatioHigh")
    assert cell["seeds_fired"] == 1 and cell["mean_s"] <= 120  # the experiment's expect_within: 2m

    # The experiment's own fault is that failure mode (--each-service takes its timing): simulate it alone.
    sim = run("chaoslab simulate experiments/shop-coverage-fixed.yaml --seed 11 --out runs/sim --quiet --no-report",
              tmp_path)
    assert sim.returncode == 1, sim.stderr  # the fix detects the errors; it does not prevent them
    result = json.loads((tmp_path / "runs" / "sim" / "result.json").read_text())
    assert result["faults"][0]["start_s"] == checkout["fault_start_s"]
    assert result["time_to_detect_s"] == checkout["time_to_detect_mean_s"] == cell["mean_s"]
