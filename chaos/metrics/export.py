"""``chaoslab simulate --openmetrics FILE --annotations FILE --origin TIME``: a run for the team's own tools.

The series go out as OpenMetrics text under the experiment's metric mapping
(:mod:`chaos.metrics.openmetrics`), the faults and playbook steps as Grafana annotations
(:mod:`chaos.metrics.annotations`), both placed on the wall clock at ``origin`` (the run's
second 0). This is the one module here that reads the wall clock: for the default origin.
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

from chaos.errors import InputError
from chaos.metrics import openmetrics
from chaos.metrics.annotations import grafana_annotations
from chaos.metrics.mapping import resolve
from chaos.run import Run

DEFAULT_AGE = 3 * 3600.0
"""The default origin lies this long before now: older than the head block a running Prometheus still writes
(backfilled blocks there may overlap it), well inside its default retention of 15 days."""


def parse_origin(text: str, option: str = "--origin") -> float:
    """An origin as RFC 3339 (``2026-12-01T10:00:00Z``, offsets allowed) or seconds since the epoch."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InputError(f"'{text}' is not a time", path=option,
                             hint="write 2026-12-01T10:00:00Z (RFC 3339) or seconds since 1970") from None
        if moment.tzinfo is None:
            raise InputError(f"'{text}' has no time zone", path=option,
                             hint="add Z for UTC or an offset, e.g. 2026-12-01T10:00:00+01:00") from None
        seconds = moment.timestamp()
    if not math.isfinite(seconds) or seconds < 0:
        raise InputError(f"'{text}' is not a time after 1970", path=option)
    return seconds


def default_origin(now: float | None = None) -> float:
    """Three hours ago, on a whole minute."""
    current = time.time() if now is None else now
    return math.floor((current - DEFAULT_AGE) / 60) * 60


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Exported:
    """What was written where, for the summary."""

    path: Path
    what: str


def export_run(run: Run, origin: float, openmetrics_path: Path | None = None,
               annotations_path: Path | None = None) -> list[Exported]:
    """Write the files asked for (each atomically); what was written."""
    written = []
    if openmetrics_path is not None:
        mapping = resolve(run.experiment.metrics, run.experiment.topology)
        buffer = io.StringIO()
        count = openmetrics.write(run.series, run.seconds, run.bounds, mapping, origin, buffer)
        _write(openmetrics_path, buffer.getvalue())
        written.append(Exported(openmetrics_path, f"{count:,} samples under preset {mapping.convention.preset.value}, "
                                                  f"second 0 at {iso(origin)}"))
    if annotations_path is not None:
        notes = grafana_annotations(run, origin)
        _write(annotations_path, json.dumps(notes, indent=1) + "\n")
        written.append(Exported(annotations_path, f"{len(notes)} Grafana annotations"))
    return written


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
