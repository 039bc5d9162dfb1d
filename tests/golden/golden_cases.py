"""The golden results: what each case runs, how a result is normalised, and how the goldens are regenerated.

A case is a ``chaoslab`` command line exactly as a user types it from the repository root (relative
paths, the bundled files as shipped, no overrides), run in a fresh interpreter. Its golden is the file it
writes (``result.json``, or ``sweep.json``), normalised by :func:`normalise`, stored gzip-compressed in
this directory as ``<case>.json.gz``; ``exit_codes.json`` holds each case's exit code.

Regenerate (only in a commit that says why the figures changed)::

    .venv/bin/python tests/golden/golden_cases.py            # every case
    .venv/bin/python tests/golden/golden_cases.py sweep-gameday-db-latency   # some cases
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
EXIT_CODES = HERE / "exit_codes.json"

# A playbook named after its experiment goes with it; these go with an experiment of another name.
PLAYBOOK_OF = {"db-slow-retry-cascade": "db-slow"}
# Bundled experiments the simulator cannot run offline (a game day only), with the reason. None today:
# gameday-db-latency is simulated too (its own comment shows ``chaoslab simulate`` beside ``run``).
GAME_DAY_ONLY: dict[str, str] = {}

# The cheapest bundled experiment (150 simulated seconds at 20 requests/s) carries the drill and the sweep,
# so that the suite stays fast; the sweep is the README's kind (every service crashed in turn, 3 seeds).
# ``--no-report``: the reports are drawn from result.json after it is written and take longer than the run.
DRILL = ("drill", "experiments/gameday-db-latency.yaml", "--playbook", "playbooks/gameday-db-latency.yaml",
         "--runs", "20", "--no-report")
SWEEP = ("sweep", "experiments/gameday-db-latency.yaml", "--each-service", "crash", "--seeds", "3")

NORMALISED = "<normalised>"
# What differs between two runs of the same inputs: the machine, the clock and the command line.
AUDIT_MACHINE = ("chaoslab_version", "python", "host", "platform", "started", "finished")
# sweep.json: how the runs were carried out and how long they took, in wall or CPU seconds.
SWEEP_CLOCK = ("worker_s", "worker_cpu_s", "wall_s", "variants_per_minute")


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]   # after ``chaoslab``; the output directory is added as ``--out``
    output: str             # the file of the output directory that is the golden

    @property
    def golden(self) -> Path:
        return HERE / f"{self.name}.json.gz"


def experiments() -> list[str]:
    return sorted(p.stem for p in (ROOT / "experiments").glob("*.yaml"))


def playbook_for(experiment: str) -> str | None:
    name = PLAYBOOK_OF.get(experiment, experiment)
    return f"playbooks/{name}.yaml" if (ROOT / "playbooks" / f"{name}.yaml").exists() else None


def cases() -> list[Case]:
    """Every bundled experiment simulated alone and with its playbook, one drill and one sweep."""
    out = []
    for name in experiments():
        if name in GAME_DAY_ONLY:
            continue
        path = f"experiments/{name}.yaml"
        out.append(Case(f"simulate-{name}", ("simulate", path, "--no-report"), "result.json"))
        playbook = playbook_for(name)
        if playbook is not None:
            argv = ("simulate", path, "--playbook", playbook, "--no-report")
            out.append(Case(f"simulate-{name}+{Path(playbook).stem}", argv, "result.json"))
    out.append(Case("drill-gameday-db-latency", DRILL, "result.json"))
    out.append(Case("sweep-gameday-db-latency", SWEEP, "sweep.json"))
    return out


def normalise(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with what depends on the machine, the clock or the command line replaced by a placeholder.

    This is the one place that decides what a golden ignores. The audit keeps its shape (the same keys,
    the same types) so that a normalised result still validates against the result schema:

    - ``audit``: chaoslab's, Python's and the key packages' versions, host, platform, start and finish
      times, the command line (it names a temporary output directory), and each input's sha256. The input
      files' paths and the seeds stay. A hash changes with a comment in an experiment; a change that
      matters changes the figures, which the golden compares.
    - ``sweep.json``: the executor's description (it counts the machine's cores) and the run's wall and
      CPU times.
    """
    audit = doc.get("audit")
    if isinstance(audit, dict):
        for key in AUDIT_MACHINE:
            if key in audit:
                audit[key] = NORMALISED
        if isinstance(audit.get("packages"), dict):
            audit["packages"] = {name: NORMALISED for name in audit["packages"]}
        if "command" in audit:
            audit["command"] = [NORMALISED]
        for entry in (audit.get("inputs") or {}).values():
            if isinstance(entry, dict) and "sha256" in entry:
                entry["sha256"] = NORMALISED
    if "variants" in doc and "executor" in doc:  # sweep.json
        doc["executor"] = NORMALISED
        runs = doc.get("runs")
        if isinstance(runs, dict):
            for key in SWEEP_CLOCK:
                if key in runs:
                    runs[key] = 0
    return doc


def canonical(doc: Any) -> str:
    """JSON as chaoslab writes its documents: one-space indents, no NaN, a final newline."""
    return json.dumps(doc, indent=1, allow_nan=False) + "\n"


@dataclass(frozen=True)
class CaseRun:
    """What a case produced: its exit code, its file as written and as normalised."""

    code: int
    raw: str
    text: str
    stderr: str


def run(case: Case) -> CaseRun:
    """Run ``case`` in a fresh interpreter from the repository root, as a user would."""
    with tempfile.TemporaryDirectory(prefix=f"golden-{case.name}-") as tmp:
        out = Path(tmp) / "out"
        done = subprocess.run([sys.executable, "-m", "chaos", *case.argv, "--out", str(out), "--no-progress"],
                              cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
                              env={**os.environ, "COLUMNS": "100"})
        path = out / case.output
        raw = path.read_text(encoding="utf-8") if path.exists() else ""
    text = canonical(normalise(json.loads(raw))) if raw else ""
    return CaseRun(done.returncode, raw, text, done.stderr)


def run_all(selected: list[Case], workers: int | None = None) -> dict[str, CaseRun]:
    """Every case in ``selected``, one process per core (the drill and the sweep start their own as well)."""
    # The drill and the sweep take longest: started first, the simulations fill the cores around them.
    ordered = sorted(selected, key=lambda c: c.argv[0] == "simulate")
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        return dict(zip([c.name for c in ordered], pool.map(run, ordered), strict=True))


def read_golden(case: Case) -> str | None:
    return gzip.decompress(case.golden.read_bytes()).decode("utf-8") if case.golden.exists() else None


def read_exit_codes() -> dict[str, int]:
    return json.loads(EXIT_CODES.read_text(encoding="utf-8")) if EXIT_CODES.exists() else {}


def regenerate(names: list[str]) -> int:
    every = cases()
    known = {c.name for c in every}
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}; cases: {', '.join(sorted(known))}", file=sys.stderr)
        return 2
    selected = [c for c in every if not names or c.name in names]
    outcomes = run_all(selected)
    codes = read_exit_codes()
    for case in selected:
        got = outcomes[case.name]
        if not got.text:
            print(f"{case.name}: no {case.output} (exit {got.code}):\n{got.stderr}", file=sys.stderr)
            return 3
        # A file is rewritten only when its content changes: gzip's bytes may differ with zlib's version.
        if read_golden(case) != got.text:
            case.golden.write_bytes(gzip.compress(got.text.encode("utf-8"), compresslevel=9, mtime=0))
            print(f"{case.name}: written")
        else:
            print(f"{case.name}: unchanged")
        codes[case.name] = got.code
    if not names:  # a full regeneration forgets cases that are gone
        codes = {n: c for n, c in codes.items() if n in known}
        for stale in HERE.glob("*.json.gz"):
            if stale.name.removesuffix(".json.gz") not in known:
                stale.unlink()
                print(f"{stale.name}: removed")
    EXIT_CODES.write_text(json.dumps(dict(sorted(codes.items())), indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(regenerate(sys.argv[1:]))
