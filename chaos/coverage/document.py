"""The coverage document (``coverage.json``): frozen, typed values, written and read by :mod:`chaos.codec`.

``chaoslab schema coverage`` prints its JSON Schema, generated from these types. Times are seconds;
a time to detect counts from the first fault's start to the first firing of an alert at or after it,
as ``simulate`` counts it (``chaos.analysis.detections``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from chaos.codec import build

COVERAGE_SCHEMA_VERSION = 1


class Status(enum.Enum):
    """What a failure mode's runs say about the alerts, worst seed first (the order of the members)."""

    UNDETECTED = "undetected"  # an SLO was missed and no alert fired at or after the fault's start
    LATE = "late"              # an alert fired, but later than the experiment's expect_within
    DETECTED = "detected"      # an alert fired within the deadline (or there is no deadline)
    QUIET = "quiet"            # no SLO missed and no alert fired: nothing to detect

    @property
    def rank(self) -> int:
        return list(Status).index(self)


class Role(enum.Enum):
    """What an alert did over the whole coverage run."""

    USEFUL = "useful"              # fired after a fault's start in some failure mode, never in the baseline
    NOISE = "noise"                # fired (or was firing) in the measured part of a fault-free baseline
    NEVER_USEFUL = "never_useful"  # fired in no failure mode and not in the baseline


class Source(enum.Enum):
    CHAOSLAB = "chaoslab"    # the experiment's own ``alerts:``
    RULE_FILE = "rule_file"  # a rule file's alert, or one generated from an SLO spec


@dataclass(frozen=True, kw_only=True)
class Alert:
    """One alert of the experiment: chaoslab's own, or a rule file's (every instance counted as one alert)."""

    name: str
    source: Source
    deadline_s: float | None        # its expect_within, if the experiment states one
    role: Role
    detects: int                    # failure modes in which it fired after the fault's start (in any seed)
    first_detects: int              # failure modes in which it was the first alert to fire (in any seed)
    noise_seeds: int                # baseline runs in which it fired or was firing


@dataclass(frozen=True, kw_only=True)
class Cell:
    """One alert in one failure mode: in how many seeds it fired after the fault's start, and how soon."""

    alert: str
    seeds_fired: int
    mean_s: float | None            # over the seeds in which it fired
    min_s: float | None
    max_s: float | None
    seeds_late: int                 # seeds in which it fired later than its own expect_within


@dataclass(frozen=True, kw_only=True)
class FailureMode:
    """One single-fault variant of the sweep (with its --set values), over every seed."""

    label: str                      # the sweep's fault label, e.g. "latency(delay=1s):db"
    variant: str                    # the sweep's variant label (with --set values) and key under OUT/runs
    key: str
    target: str | None
    fault: str                      # the fault kind, or "" for the experiment's own faults
    settings: Mapping[str, str]
    status: Status                  # the worst of its seeds'
    seeds: int
    seeds_slo_missed: int
    seeds_undetected: int
    seeds_late: int
    seeds_detected: int             # detected at all (in time or late)
    fault_start_s: float | None
    time_to_detect_mean_s: float | None  # first alert after the fault's start, over the seeds that had one
    time_to_detect_max_s: float | None
    detected_by: tuple[str, ...]    # the alerts that were first to fire, most often first
    slos_missed: tuple[str, ...]    # objectives missed in some seed, as "scope name"
    entry_failed_ratio: float       # mean over seeds: entry requests failed or too slow
    cells: tuple[Cell, ...]         # one per alert, in the order of ``alerts``


@dataclass(frozen=True, kw_only=True)
class NoiseFiring:
    alert: str
    seeds: int
    first_fired_at_s: float


@dataclass(frozen=True, kw_only=True)
class Baseline:
    """The fault-free run of one combination of --set values, over every seed."""

    variant: str
    settings: Mapping[str, str]
    seeds: int
    seeds_slo_missed: int
    slos_missed: tuple[str, ...]
    noise: tuple[NoiseFiring, ...]


@dataclass(frozen=True, kw_only=True)
class Runs:
    total: int
    simulated: int
    reused: int
    executor: str


@dataclass(frozen=True, kw_only=True)
class CoverageDocument:
    """Which alerts fired, and how soon, for every single fault of a sweep; noise and never-useful alerts.

    ``failure_modes`` are ordered undetected first, then late, detected and quiet, each by the share of
    entry requests that failed (most first). ``exit_code`` is 1 when a failure mode that missed an SLO
    went undetected in some seed, else 0."""

    schema_version: int
    experiment: str
    topology: str
    seeds: tuple[int, ...]
    duration_s: float               # what the runs simulated (after --set); the longest where it is an axis
    warmup_s: float
    deadline_s: float | None        # the shortest expect_within: detection later than this is late
    alerts: tuple[Alert, ...]
    failure_modes: tuple[FailureMode, ...]
    baselines: tuple[Baseline, ...]
    undetected: tuple[str, ...]     # failure modes' labels, by status
    late: tuple[str, ...]
    noise: tuple[str, ...]          # alerts' names
    never_useful: tuple[str, ...]
    exit_code: int
    runs: Runs


def read(raw: object, source: str) -> CoverageDocument:
    """A coverage.json read back, every value checked against these types."""
    return build(CoverageDocument, raw, "", source)
