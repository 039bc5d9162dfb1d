"""``chaoslab simulate --openmetrics FILE --annotations FILE --origin TIME``: a run for the team's own tools.

The series go out as OpenMetrics text under the experiment's metric mapping
(:mod:`chaos.metrics.openmetrics`), the faults and playbook steps as Grafana annotations
(:mod:`chaos.metrics.annotations`), both placed on the wall clock at ``origin`` (the run's
second 0; ``--origin`` is read by :func:`chaos.model.arguments.wall_clock`). The files are
checked before the run (:func:`check_exports`) and written whole after it. This is the one
module here that reads the wall clock: for the default origin.
"""

from __future__ import annotations

import io
import json
import math
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from chaos.errors import InputError, RunError
from chaos.metrics import openmetrics
from chaos.metrics.annotations import grafana_annotations
from chaos.metrics.mapping import resolve
from chaos.outdir import check_out_file
from chaos.result import write_atomic
from chaos.run import Run

DEFAULT_AGE = 3 * 3600.0
"""The default origin lies this long before now: older than the head block a running Prometheus still writes
(backfilled blocks there may overlap it), well inside its default retention of 15 days."""

OPTIONS = ("--openmetrics", "--annotations")


def default_origin(now: float | None = None) -> float:
    """Three hours ago, on a whole minute."""
    current = time.time() if now is None else now
    return math.floor((current - DEFAULT_AGE) / 60) * 60


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Exports:
    """The files a run is exported to, checked before it runs, and the wall-clock time of its second 0."""

    origin: float
    openmetrics: Path | None = None
    annotations: Path | None = None


def check_exports(openmetrics: Path | None, annotations: Path | None, origin: float | None,
                  results: Path) -> Exports | None:
    """The export files, checked before the run (None: none asked for); bad ones are InputErrors naming the option.

    Each must be a file chaoslab may create or replace (never a directory, FIFO or device), outside
    the results directory: a run replaces that directory as a whole, so a file written into it would
    be deleted by the next run, and the next run would refuse a directory holding it.
    """
    if openmetrics is None and annotations is None:
        if origin is not None:
            raise InputError("--origin places --openmetrics and --annotations; give one of them", path="--origin")
        return None
    inside = Path(os.path.abspath(results)).resolve()
    seen: dict[Path, str] = {}
    for option, path in zip(OPTIONS, (openmetrics, annotations), strict=True):
        if path is None:
            continue
        check_out_file(path, overwrite=True, argument=option,
                       hint=f"{option} takes a file: a new one, or one chaoslab may replace")
        target = Path(os.path.abspath(path)).resolve()
        if target == inside or inside in target.parents:
            raise InputError(f"lies inside the results directory {results}, which a run replaces as a whole",
                             path=f"{option} {path}", hint=f"write it beside the results, e.g. {option} "
                                                           f"{results.parent / (results.name + '-export') / path.name}")
        if target in seen:
            raise InputError(f"is also the file of {seen[target]}", path=f"{option} {path}",
                             hint="give each export a file of its own")
        seen[target] = option
    return Exports(default_origin() if origin is None else origin, openmetrics, annotations)


@dataclass(frozen=True)
class Exported:
    """What was written where, for the summary."""

    path: Path
    what: str


def export_run(run: Run, exports: Exports) -> list[Exported]:
    """Write the files asked for, each whole (a temporary file renamed into place); what was written.

    A file that cannot be written is a RunError naming it (the run's results are written already).
    """
    written = []
    if exports.openmetrics is not None:
        mapping = resolve(run.experiment.metrics, run.experiment.topology)
        buffer = io.StringIO()
        count = openmetrics.write(run.series, run.seconds, run.bounds, mapping, exports.origin, buffer)
        _write(exports.openmetrics, buffer.getvalue(), "--openmetrics")
        written.append(Exported(exports.openmetrics, f"{count:,} samples under preset "
                                                     f"{mapping.convention.preset.value}, second 0 at "
                                                     f"{iso(exports.origin)}"))
    if exports.annotations is not None:
        notes = grafana_annotations(run, exports.origin)
        _write(exports.annotations, json.dumps(notes, indent=1) + "\n", "--annotations")
        written.append(Exported(exports.annotations, f"{len(notes)} Grafana annotations"))
    return written


def _write(path: Path, text: str, option: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
    except OSError as exc:
        raise RunError(f"could not write {option} {path}: {exc.strerror or exc}; the run's results are written",
                       hint=f"free some space or fix the permissions, or choose another {option}") from None
