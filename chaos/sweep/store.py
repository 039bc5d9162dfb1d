"""A sweep's results on disk: one JSON file per variant and seed, so an interrupted sweep resumes.

    OUT/runs/<variant key>/seed-<seed>.json

Each file is written to a temporary name and renamed, so it is either whole or absent.
It records a fingerprint of exactly what was simulated (the variant's whole experiment,
the seed, and the source of the simulator, the model and the analysis): a later sweep
reuses a file only when its fingerprint matches, so editing the experiment, the topology
or the simulator makes the affected variants run again.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import yaml

import chaos
from chaos import __version__
from chaos.errors import InputError
from chaos.model.experiment import Experiment
from chaos.model.parsing import RawValue
from chaos.result import write_atomic
from chaos.sweep.grid import Variant
from chaos.sweep.summary import SUMMARY_VERSION, RunSummary
from chaos.sweep.worker import Task, TaskResult


def canonical(value: Any) -> Any:
    """A JSON-able rendering of a model tree that changes exactly when the model does."""
    if isinstance(value, RawValue):  # a dataclass too, but its parsing context is not part of the value
        return yaml.serialize(value.node)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # A field left out of equality (a compiled regex, rules derived from a spec) is derived from the others.
        return {"__": type(value).__name__,
                **{f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value) if f.compare}}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [canonical(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


# What a run's summary is computed by: a change to any of these files makes old results stale,
# even when the version number stays the same during development.
_CODE = ("model", "sim", "analysis", "sweep/grid.py", "sweep/summary.py", "sweep/measures.py", "run.py")


def code_version() -> str:
    """A hash of the simulator's, the model's and the analysis' source files."""
    root = Path(chaos.__file__).parent
    digest = hashlib.sha256(__version__.encode())
    for name in _CODE:
        target = root / name
        for path in sorted(target.rglob("*.py")) if target.is_dir() else [target]:
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def canonical_text(experiment: Experiment) -> str:
    return json.dumps(canonical(experiment), sort_keys=True)


def fingerprint(base: str, variant: Variant, seed: int, code: str) -> str:
    """What one run is made from: the base experiment (its ``canonical_text``), the variant, the seed
    and the code (see code_version). The variant's experiment is a function of the first two, built
    by code that is part of the third."""
    text = json.dumps([code, SUMMARY_VERSION, seed, repr(variant), base])
    return hashlib.sha256(text.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Store:
    """The directory a sweep writes into."""

    root: Path

    def path(self, task: Task) -> Path:
        return self.root / "runs" / task.variant.key / f"seed-{task.seed}.json"

    def load(self, task: Task, fp: str) -> RunSummary | None:
        """The summary written earlier for this task, if it was made from the same inputs."""
        path = self.path(task)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read an earlier result: {exc}", path=str(path),
                             hint="delete the file to run that variant again") from None
        if doc.get("fingerprint") != fp:
            return None
        return RunSummary.from_dict(doc["summary"])

    def save(self, outcome: TaskResult, fp: str) -> Path:
        path = self.path(outcome.task)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"fingerprint": fp, "variant": outcome.task.variant.label, "key": outcome.task.variant.key,
               "seed": outcome.task.seed, "wall_s": round(outcome.wall_s, 3),
               "cpu_s": round(outcome.cpu_s, 3), "summary": outcome.summary.to_dict()}
        write_atomic(path, json.dumps(doc, indent=1, allow_nan=False) + "\n")
        return path
