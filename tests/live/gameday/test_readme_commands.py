"""The README's live commands, run exactly as printed, from a copy of the repository's root.

Parsed out of README.md's tour (every ``chaoslab stack``, ``run``, ``compare`` and
``recover`` line), run in order with the relative paths and default options they have
there; ``runs/<run>`` is the only placeholder, filled with the run directory that the
README's own ``chaoslab run`` wrote. Then docs/live.md's examples that can run here, on
that run's results. The copy lives in a temporary directory, so ``runs/`` and
``.chaoslab/stacks/`` are the test's own and go with it; any stack left up is taken down.

A person is at the terminal for ``--game-day``: every prompt is answered with Enter.

Long (a game day of 150 s on a two-dozen-container shop; the tour's compare simulates it against
that game day rather than running a second one): run it under the live lock.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.live.faults.journal import iter_open

pytestmark = [pytest.mark.live, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
LIVE_VERBS = ("stack", "run", "compare", "recover")
COMMAND_TIMEOUT_S = 600.0


def tour_commands(readme: str) -> list[str]:
    """The README tour's live command lines, without their comments, in order."""
    tour = readme.split("## A tour", 1)[1]
    block = tour.split("```", 2)[1]
    out = []
    for line in block.splitlines():
        line = line.split("  #", 1)[0].strip()
        if line.startswith("chaoslab ") and line.split()[1] in LIVE_VERBS:
            out.append(line)
    return out


def docs_examples(doc: str) -> list[str]:
    """docs/live.md's first code block: its command lines, without their comments."""
    block = doc.split("```", 2)[1]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.startswith("chaoslab ")]


@pytest.fixture
def repo_copy(tmp_path: Path, engine: object) -> Iterator[Path]:
    root = tmp_path / "chaoslab"
    root.mkdir()
    for name in ("experiments", "playbooks", "topologies"):
        shutil.copytree(ROOT / name, root / name)
    try:
        yield root
    finally:
        for state in [*root.glob(".chaoslab/stacks/*/state.json"), *root.glob("runs/**/stack/state.json")]:
            subprocess.run([str(BIN / "chaoslab"), "stack", "down", "--dir", str(state.parent)], cwd=root,
                           capture_output=True, timeout=180)


def shell(line: str, cwd: Path, *, operator: bool = False) -> tuple[int, str]:
    """Run one printed command line as a shell would (the venv's chaoslab first on PATH)."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONUNBUFFERED="1")
    seen: list[str] = []
    with subprocess.Popen(line, shell=True, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT,
                          stdin=subprocess.PIPE if operator else subprocess.DEVNULL) as proc:
        timer = threading.Timer(COMMAND_TIMEOUT_S, proc.kill)
        timer.start()
        try:
            assert proc.stdout is not None
            for text in proc.stdout:
                seen.append(text)
                if operator and ">>> step" in text and proc.stdin is not None:
                    proc.stdin.write("\n")  # the on-call person confirms the step
                    proc.stdin.flush()
            code = proc.wait()
        finally:
            timer.cancel()
    output = "".join(seen)
    print(f"$ {line}  (exit {code})\n{output[-3000:]}", file=sys.stderr)
    return code, output


def test_the_readme_live_commands_run_as_printed(repo_copy: Path) -> None:
    commands = tour_commands((ROOT / "README.md").read_text("utf-8"))
    assert [c.split()[1] for c in commands] == ["stack", "stack", "run", "compare", "recover"], commands
    run_dir = Path("runs/gameday-db-latency-live")  # the default: runs/<experiment>-live
    for line in commands:
        line = line.replace("runs/<run>", str(run_dir))
        started = time.monotonic()
        code, output = shell(line, repo_copy, operator="--game-day" in line)
        assert "Traceback" not in output, line
        if line.startswith("chaoslab run"):
            # Exit 0: every objective and deadline held, as the README reports for this game day;
            # 1 would be a missed one, which a busy machine may cause: the run itself worked.
            assert code in (0, 1), output[-3000:]
            doc = json.loads((repo_copy / run_dir / "result.json").read_text())
            # Completed, or aborted by the default abort rule (users failing for 30 s) when a shared
            # machine cannot carry two dozen containers: either way the commands did their work.
            assert doc["engine"] == "live" and doc["live"]["stopped"] in ("completed", "aborted")
            sent = sum(e["requests"] for e in doc["entrypoints"].values())
            measured = doc["live"]["seconds_measured"] - doc["warmup_s"]
            # The fault starts 10 s into the measured part and the abort rule waits 30 s of failing
            # users, so even an aborted run measures 40 s: 30 s is well past the fault's start.
            assert measured >= 30 and sent == pytest.approx(20 * measured, rel=0.15)  # the planned load was sent
            assert ">>> step" in output  # a person was asked, and answered
            assert list(iter_open(repo_copy / run_dir)) == []
        elif line.startswith("chaoslab compare"):
            assert code in (0, 1), output[-3000:]
            comparison = json.loads((repo_copy / "runs/gameday-db-latency-compare/compare.json").read_text())
            assert comparison["experiment"] == "gameday-db-latency" and comparison["checks"]
            # against the tour's game day: no second live run
            assert not (repo_copy / "runs/gameday-db-latency-compare/live").exists()
        else:
            assert code == 0, output[-3000:]
            if line.startswith("chaoslab stack down"):
                assert " is down " in output  # the stack the tour's stack up brought up, found without --dir
        print(f"[{line.split()[1]}] {time.monotonic() - started:.0f} s", file=sys.stderr)

    # docs/live.md's examples that run here, on the game day's results.
    examples = docs_examples((ROOT / "docs/live.md").read_text("utf-8"))
    sim_dir = "runs/gameday-db-latency"
    code, _ = shell(f"chaoslab simulate experiments/gameday-db-latency.yaml --seed 21 --out {sim_dir}", repo_copy)
    assert code in (0, 1)
    fill = {"EXPERIMENT": "experiments/gameday-db-latency.yaml", "runs/x-live": str(run_dir),
            "runs/x-sim": sim_dir}
    ran = 0
    for line in examples:
        if " --game-day" in line or line.startswith("chaoslab compare EXPERIMENT"):
            # a 300 requests/s game day and a compare running a second one: more than CI carries; the
            # compare of an experiment against a live run is the tour's, run above
            continue
        for placeholder, value in fill.items():
            line = line.replace(placeholder, value)
        line = re.sub(r" \[--playbook P\]", "", line)
        code, output = shell(line, repo_copy)
        assert "Traceback" not in output, line
        assert code in ((0, 1) if "compare" in line else (0,)), output[-3000:]
        ran += 1
    assert ran == 4  # --dry-run, compare of two directories, calibrate, recover
    assert (repo_copy / "calibrated.yaml").is_file()
