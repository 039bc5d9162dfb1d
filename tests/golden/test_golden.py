"""The bundled experiments' results, compared byte for byte with the goldens recorded in this directory.

A difference is a change of figures: if it is meant, regenerate (tests/golden/README.md) in a commit of
its own that says why the figures changed. The cases run once per session, one process per core.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest
from golden_cases import (
    GAME_DAY_ONLY,
    HERE,
    NORMALISED,
    PLAYBOOK_OF,
    ROOT,
    CaseRun,
    canonical,
    cases,
    experiments,
    normalise,
    read_exit_codes,
    read_golden,
    run_all,
)

pytestmark = pytest.mark.slow  # about two minutes of CPU, one process per core

CASES = {c.name: c for c in cases()}


@pytest.fixture(scope="session")
def golden_runs() -> dict[str, CaseRun]:
    return run_all(list(CASES.values()))


def first_difference(want: str, got: str) -> str:
    diff = difflib.unified_diff(want.splitlines(), got.splitlines(), "golden", "now", n=2, lineterm="")
    return "\n".join(list(diff)[:40])


@pytest.mark.parametrize("name", sorted(CASES))
def test_result_is_the_golden(name: str, golden_runs: dict[str, CaseRun]) -> None:
    case, got = CASES[name], golden_runs[name]
    want = read_golden(case)
    assert want is not None, f"no golden for {name}: regenerate (tests/golden/README.md)"
    assert got.text, f"{name} wrote no {case.output} (exit {got.code}):\n{got.stderr}"
    assert got.text == want, f"{name} differs from its golden:\n{first_difference(want, got.text)}"
    assert got.code == read_exit_codes()[name], f"{name} exit code {got.code}, golden {read_exit_codes()[name]}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_file_is_written_as_normalised(name: str, golden_runs: dict[str, CaseRun]) -> None:
    """The comparison re-writes the file after normalising it: that is byte for byte only if the file was
    written in that very notation (one-space indents, keys in their order, floats as Python prints them)."""
    raw = golden_runs[name].raw
    assert raw == canonical(json.loads(raw))


def test_every_bundled_experiment_and_playbook_has_a_golden() -> None:
    simulated = {c.argv[1] for c in CASES.values() if c.argv[0] == "simulate"}
    for name in experiments():
        assert f"experiments/{name}.yaml" in simulated or name in GAME_DAY_ONLY, name
    playbooks = {c.argv[c.argv.index("--playbook") + 1] for c in CASES.values() if "--playbook" in c.argv}
    assert {f"playbooks/{p.name}" for p in (ROOT / "playbooks").glob("*.yaml")} <= playbooks
    assert set(PLAYBOOK_OF) <= set(experiments())
    stored = {p.name.removesuffix(".json.gz") for p in HERE.glob("*.json.gz")}
    assert stored == set(CASES) == set(read_exit_codes())


def test_normalise_replaces_the_machine_and_the_clock_only() -> None:
    doc = {"seed": 7, "series": {"t_s": [0, 1]},
           "audit": {"inputs": {"experiments/x.yaml": {"sha256": "ab"}}, "seeds": [7], "chaoslab_version": "1",
                     "python": "3.11.7", "packages": {"simpy": "4.1"}, "host": "vm", "platform": "Linux",
                     "started": "2026-12-06T15:00:00+00:00", "finished": "2026-12-06T15:01:00+00:00",
                     "command": ["chaoslab", "simulate", "--out", "/tmp/x"]}}
    out = normalise(json.loads(json.dumps(doc)))
    assert out["seed"] == 7 and out["series"] == doc["series"]
    assert out["audit"]["seeds"] == [7] and list(out["audit"]["inputs"]) == ["experiments/x.yaml"]
    assert out["audit"]["inputs"]["experiments/x.yaml"] == {"sha256": NORMALISED}
    assert out["audit"]["packages"] == {"simpy": NORMALISED}
    assert out["audit"]["command"] == [NORMALISED]
    for key in ("chaoslab_version", "python", "host", "platform", "started", "finished"):
        assert out["audit"][key] == NORMALISED
    sweep = {"variants": [{"runs": 3}], "executor": "local, 2 worker processes",
             "runs": {"total": 36, "simulated": 36, "wall_s": 12.9, "worker_s": 23.7, "worker_cpu_s": 10.8,
                      "variants_per_minute": 55.7}}
    got = normalise(json.loads(json.dumps(sweep)))
    assert got["executor"] == NORMALISED and got["variants"] == sweep["variants"]
    assert got["runs"] == {"total": 36, "simulated": 36, "wall_s": 0, "worker_s": 0, "worker_cpu_s": 0,
                           "variants_per_minute": 0}


def test_goldens_stay_small() -> None:
    assert sum(p.stat().st_size for p in Path(HERE).glob("*.json.gz")) < 5_000_000
