"""In-memory series: the input the evaluator reads, and the store recording rules write into.

A series is a metric name, labels and samples ``(t, value)`` in seconds, at any resolution
(the simulator's is one second). Times are kept internally as integer milliseconds, as
Prometheus keeps them, so that window edges are compared exactly.

Prometheus semantics kept here:

* a label with an empty value does not exist (``{a=""}`` matches series without ``a``);
* series are ordered by their label sets, compared label by label (name, then value);
* :data:`STALE` is Prometheus's staleness marker (a NaN with a distinct bit pattern): a
  lookup that finds it as the latest sample finds nothing, and range functions skip it;
* nothing later than the evaluation time is visible (what a live Prometheus could not have
  scraped yet), even with a negative ``offset``.
"""

from __future__ import annotations

import struct
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]
"""A label set: ``(name, value)`` pairs sorted by name, without empty values. Includes ``__name__``."""

NAME = "__name__"

_STALE_BITS = 0x7FF0000000000002
STALE: float = struct.unpack("<d", struct.pack("<Q", _STALE_BITS))[0]
"""Prometheus's staleness marker (``value.StaleNaN``): a sample that says "this series ended here"."""


def is_stale(value: float) -> bool:
    """True for the staleness marker only, not for an ordinary NaN sample."""
    return value != value and struct.pack("<d", value) == struct.pack("<Q", _STALE_BITS)


def labels_of(mapping: Mapping[str, str] | Iterable[tuple[str, str]]) -> Labels:
    """A label set from a mapping or pairs; empty values are dropped, as Prometheus drops them."""
    pairs = mapping.items() if isinstance(mapping, Mapping) else mapping
    return tuple(sorted((str(k), str(v)) for k, v in pairs if v != ""))


def get(labels: Labels, name: str) -> str:
    for k, v in labels:
        if k == name:
            return v
    return ""


def without(labels: Labels, names: Iterable[str]) -> Labels:
    drop = set(names)
    return tuple(p for p in labels if p[0] not in drop)


def keep(labels: Labels, names: Iterable[str]) -> Labels:
    wanted = set(names)
    return tuple(p for p in labels if p[0] in wanted)


def with_label(labels: Labels, name: str, value: str) -> Labels:
    """``labels`` with ``name`` set to ``value`` (deleted when ``value`` is empty)."""
    rest = [p for p in labels if p[0] != name]
    if value != "":
        rest.append((name, value))
        rest.sort()
    return tuple(rest)


def format_labels(labels: Labels) -> str:
    """``name{a="1", b="2"}`` as Prometheus prints a series."""
    name = get(labels, NAME)
    inner = ", ".join(f'{k}="{_escape(v)}"' for k, v in labels if k != NAME)
    return f"{name}{{{inner}}}" if name else f"{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_ms(seconds: float) -> int:
    """Seconds to Prometheus's integer milliseconds (rounded to the nearest one)."""
    return int(round(seconds * 1000.0))


@dataclass(frozen=True)
class Series:
    """One input series: its labels (``__name__`` included) and samples in time order.

    ``times`` are seconds. Use :meth:`of` or :meth:`regular` rather than the constructor.
    """

    labels: Labels
    times: tuple[float, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.times) != len(self.values):
            raise ValueError("a series needs as many times as values")
        if any(b <= a for a, b in zip(self.times, self.times[1:], strict=False)):
            raise ValueError(f"{format_labels(self.labels)}: sample times must increase strictly")
        if not get(self.labels, NAME):
            raise ValueError("a series needs a metric name")

    @property
    def name(self) -> str:
        return get(self.labels, NAME)

    @classmethod
    def of(cls, name: str, labels: Mapping[str, str], samples: Iterable[tuple[float, float]]) -> Series:
        """A series from ``(t_seconds, value)`` pairs."""
        pairs = list(samples)
        return cls(labels_of({**labels, NAME: name}), tuple(float(t) for t, _ in pairs),
                   tuple(float(v) for _, v in pairs))

    @classmethod
    def regular(cls, name: str, labels: Mapping[str, str], values: Sequence[float | None],
                start: float = 0.0, step: float = 1.0) -> Series:
        """Samples every ``step`` seconds from ``start``; ``None`` is a missing sample (a gap)."""
        return cls.of(name, labels, ((start + i * step, v) for i, v in enumerate(values) if v is not None))


@dataclass
class StoredSeries:
    """A series inside the store: integer-millisecond times, appendable (recording rules write here)."""

    labels: Labels
    times: list[int]
    values: list[float]
    stale_count: int = 0
    _resets: list[int] = field(default_factory=list, repr=False)
    _resets_upto: int = field(default=0, repr=False)  # how many values _resets has looked at
    _unnamed: Labels | None = field(default=None, repr=False)

    @property
    def unnamed(self) -> Labels:
        """Its labels without ``__name__`` (what a function's result keeps), computed once."""
        if self._unnamed is None:
            self._unnamed = tuple(p for p in self.labels if p[0] != NAME)
        return self._unnamed

    def append(self, t: int, value: float) -> None:
        if self.times and t <= self.times[-1]:
            return  # Prometheus refuses out-of-order and duplicate samples
        self.times.append(t)
        self.values.append(value)
        if is_stale(value):
            self.stale_count += 1

    def latest(self, ref: int, lookback: int, horizon: int) -> tuple[int, float] | None:
        """The newest sample at or before ``ref`` and no older than ``ref - lookback``, unless stale."""
        i = bisect_right(self.times, min(ref, horizon)) - 1
        if i < 0 or self.times[i] < ref - lookback:
            return None
        value = self.values[i]
        if value != value and is_stale(value):
            return None
        return self.times[i], value

    def window(self, mint: int, maxt: int, horizon: int) -> tuple[int, int]:
        """Index bounds ``[lo, hi)`` of samples with ``mint <= t <= maxt`` (both ends included, as in 2.x)."""
        lo = bisect_left(self.times, mint)
        hi = bisect_right(self.times, min(maxt, horizon))
        return lo, hi

    def points(self, lo: int, hi: int) -> tuple[list[int], list[float]]:
        """The samples in ``[lo, hi)``, staleness markers left out."""
        times, values = self.times[lo:hi], self.values[lo:hi]
        if self.stale_count:
            kept = [i for i, v in enumerate(values) if not (v != v and is_stale(v))]
            if len(kept) != len(values):
                times = [times[i] for i in kept]
                values = [values[i] for i in kept]
        return times, values

    def resets_between(self, lo: int, hi: int) -> list[int]:
        """Indexes ``i`` in ``(lo, hi)`` where the value dropped below the one before (a counter reset)."""
        vals = self.values
        if self._resets_upto < len(vals):  # samples only ever come at the end: look at the new ones
            start = max(1, self._resets_upto)
            self._resets.extend(i for i in range(start, len(vals)) if vals[i] < vals[i - 1])
            self._resets_upto = len(vals)
        return self._resets[bisect_right(self._resets, lo):bisect_left(self._resets, hi)]


class Store:
    """The series an evaluation reads: input series plus whatever rules record.

    Series are kept in label order and looked up by metric name; a selector's matching
    series are cached until a new series appears.
    """

    def __init__(self, series: Iterable[Series] = ()) -> None:
        self._by_labels: dict[Labels, StoredSeries] = {}
        self._by_name: dict[str, list[StoredSeries]] = {}
        self.version = 0
        for s in series:
            self.add(s)

    def add(self, series: Series) -> None:
        if series.labels in self._by_labels:
            raise ValueError(f"two input series with the same labels: {format_labels(series.labels)}")
        stored = self._create(series.labels)
        for t, v in zip(series.times, series.values, strict=True):
            stored.append(to_ms(t), v)

    def handle(self, labels: Labels) -> StoredSeries:
        """The stored series with these labels, created empty if there is none (a scraper appends to it)."""
        stored = self._by_labels.get(labels)
        return self._create(labels) if stored is None else stored

    def append(self, labels: Labels, t: int, value: float) -> None:
        stored = self._by_labels.get(labels)
        if stored is None:
            stored = self._create(labels)
        stored.append(t, value)

    def _create(self, labels: Labels) -> StoredSeries:
        stored = StoredSeries(labels, [], [])
        self._by_labels[labels] = stored
        bucket = self._by_name.setdefault(get(labels, NAME), [])
        bucket.append(stored)
        bucket.sort(key=lambda s: s.labels)
        self.version += 1
        return stored

    def named(self, name: str) -> list[StoredSeries]:
        return self._by_name.get(name, [])

    def every(self) -> list[StoredSeries]:
        return sorted(self._by_labels.values(), key=lambda s: s.labels)

    def __len__(self) -> int:
        return len(self._by_labels)

    def series(self, labels: Labels) -> StoredSeries | None:
        return self._by_labels.get(labels)
