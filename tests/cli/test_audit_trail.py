"""The audit trail a command writes: a typed value, written by the codec as result.json has always held it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from chaos.audit import Audit, InputHash, audit
from chaos.codec import encode
from chaos.document import read

ROOT = Path(__file__).resolve().parents[2]
KEYS = ["inputs", "seeds", "chaoslab_version", "python", "packages", "host", "platform", "started", "finished",
        "command"]


def test_the_audit_is_typed_and_written_in_its_documented_shape(tmp_path: Path) -> None:
    source = tmp_path / "exp.yaml"
    source.write_bytes(b"name: x\n")
    trail = audit([source, tmp_path / "gone.yaml"], [7, 8], "2026-12-06T10:00:00+00:00", ["chaoslab", "simulate"])
    assert isinstance(trail, Audit) and trail.seeds == (7, 8) and trail.command == ("chaoslab", "simulate")
    assert trail.inputs[str(source)] == InputHash(sha256=hashlib.sha256(b"name: x\n").hexdigest())
    assert trail.inputs[str(tmp_path / "gone.yaml")].sha256 is None  # unreadable: no hash, no crash
    written = json.loads(json.dumps(encode(trail)))
    assert list(written) == KEYS
    assert written["inputs"][str(source)] == {"sha256": hashlib.sha256(b"name: x\n").hexdigest()}
    assert written["started"] == "2026-12-06T10:00:00+00:00" and written["finished"] >= written["started"]
    assert all(v is None or isinstance(v, str) for v in written["packages"].values())


def test_a_simulated_result_carries_the_audit_the_command_made(tmp_path: Path) -> None:
    from chaos.cli import main
    out = tmp_path / "out"
    experiment = ROOT / "experiments" / "gameday-db-latency.yaml"  # the cheapest bundled one: 150 s at 20/s
    assert main(["simulate", str(experiment), "--out", str(out), "--no-report"]) in (0, 1)
    raw = json.loads((out / "result.json").read_text())
    assert list(raw["audit"]) == KEYS
    inputs = raw["audit"]["inputs"]
    assert any(name.endswith("experiments/gameday-db-latency.yaml") for name in inputs)
    assert all(set(v) == {"sha256"} for v in inputs.values())
    assert read(raw).audit["seeds"] == raw["audit"]["seeds"]
