"""docs/live.md's own-stack guide, run as printed from a copy of the repository's root.

Every ``sh`` block of the section "Your own stack" is run in order, each line as a shell runs it,
except the lines that need the stack up (the game day itself, ``recover`` of its journal and
``stack status`` of its containers: the live tests run those on the same stack,
tests/live/realstack). The guide's ``yaml`` block of steps 3 and 4 is merged into the experiment
that step 1 drafted, as the guide says to, before the dry run: so the mapping and the rule file
it shows are what chaoslab accepts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NEEDS_THE_STACK = (
    "chaoslab run experiments/mystack-gameday.yaml --game-day",
    "chaoslab recover runs/stack-gameday-live",
    "chaoslab stack status --experiment experiments/mystack-gameday.yaml",
)


def section() -> str:
    doc = (ROOT / "docs" / "live.md").read_text()
    return doc.split("## Your own stack\n", 1)[1].split("\n## ", 1)[0]


def blocks(text: str, kind: str) -> list[str]:
    parts = text.split("```")
    return [part[len(kind) + 1:] for part in parts[1::2] if part.startswith(kind + "\n")]


def merge(into: dict, extra: dict) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


def shell(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env = {k: v for k, v in env.items() if not k.endswith(("_IMAGE", "_PORT"))}  # the Compose file's defaults
    return subprocess.run(line, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)


def test_the_guide_runs_as_printed_up_to_the_game_day(tmp_path: Path) -> None:
    root = tmp_path / "chaoslab"
    shutil.copytree(ROOT / "tests" / "live" / "realstack", root / "tests" / "live" / "realstack",
                    ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    text = section()
    commands = [line.strip() for block in blocks(text, "sh") for line in block.splitlines() if line.strip()]
    assert [c for c in commands if c in NEEDS_THE_STACK] == list(NEEDS_THE_STACK)  # still printed, in order
    (snippet,) = blocks(text, "yaml")[:1]
    experiment = root / "experiments" / "mystack-gameday.yaml"
    ran = []
    for line in commands:
        if line in NEEDS_THE_STACK:
            continue
        if line.startswith("chaoslab run") and "--dry-run" in line:  # steps 3 and 4 come before the dry run
            drafted = yaml.safe_load(experiment.read_text())
            merge(drafted, yaml.safe_load(snippet))
            experiment.write_text(yaml.safe_dump(drafted, sort_keys=False))
        if line.startswith("promtool") and shutil.which("promtool") is None:
            continue  # Debian's prometheus package; the live tests need it, .ci/run installs it
        done = shell(line, root)
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        ran.append((line, done.stdout))
    said = dict(ran)
    assert "mid: {containers: [mid1, mid2]" in experiment.read_text() or "mid1" in experiment.read_text()
    guessed = next(out for line, out in ran if line.startswith("grep"))
    assert "# guessed:" in guessed and "TODO" in guessed
    dry = next(out for line, out in ran if "--dry-run" in line)
    assert "dry run, nothing is touched" in dry
    assert "MidBackendErrors" in dry and "evaluated by the Prometheus at http://127.0.0.1:28490" in dry
    assert "alert  MidBackendErrors  (for 15s)" in said["chaoslab rules check tests/live/realstack/alerts.yaml"]
