"""Deterministic series for the differential corpus, from a small description (seeded).

A corpus case's ``series.yaml`` lists series; each is a ``counter`` (whole-number counts
at a piecewise rate, with resets), a ``gauge`` (piecewise levels plus noise) or a
``histogram`` (classic ``_bucket``/``_count``/``_sum`` from exponential latencies), with
optional ``start``/``end`` (first and last sample), ``gaps`` (missing samples) and
``stale`` (staleness markers, written ``stale`` for promtool).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from chaos.promql.series import STALE, Series, format_labels, is_stale, labels_of


@dataclass(frozen=True)
class Generated:
    series: tuple[Series, ...]
    resolution: float
    duration: float


def _piecewise(points: list[list[float]], t: float) -> float:
    value = points[0][1]
    for start, v in points:
        if t >= start:
            value = v
    return value


def _times(resolution: float, duration: float) -> list[float]:
    return [round(i * resolution, 3) for i in range(int(duration / resolution) + 1)]


def _mask(spec: dict[str, Any], t: float) -> bool:
    """Whether the series has a sample at ``t``."""
    if t < spec.get("start", 0) or t > spec.get("end", math.inf):
        return False
    return not any(a <= t <= b for a, b in spec.get("gaps", []))


def _finish(name: str, labels: dict[str, str], spec: dict[str, Any], times: list[float],
            values: list[float]) -> Series:
    stale = set(spec.get("stale", []))
    samples = []
    for t, v in zip(times, values, strict=True):
        if t in stale:
            samples.append((t, STALE))
        elif _mask(spec, t):
            samples.append((t, v))
    return Series.of(name, labels, samples)


def _counter(rng: random.Random, spec: dict[str, Any], times: list[float], step: float) -> list[float]:
    rates = spec["rate"]
    resets = set(spec.get("resets", []))
    value, out = float(spec.get("initial", 0)), []
    for t in times:
        if t in resets:
            value = 0.0
        elif t > 0:
            mean = _piecewise(rates, t) * step
            value += max(0, round(rng.gauss(mean, math.sqrt(mean) if mean > 0 else 0)))
        out.append(value)
    return out


def _gauge(rng: random.Random, spec: dict[str, Any], times: list[float]) -> list[float]:
    noise = spec.get("noise", 0.0)
    digits = spec.get("digits", 3)
    return [round(_piecewise(spec["values"], t) + rng.uniform(-noise, noise), digits) for t in times]


def _histogram(rng: random.Random, spec: dict[str, Any], labels: dict[str, str], times: list[float],
               step: float) -> list[tuple[str, dict[str, str], list[float]]]:
    bounds = [float(b) for b in spec["buckets"]]
    counts = [0.0] * (len(bounds) + 1)
    total, total_sum = 0.0, 0.0
    rows: list[list[float]] = [[] for _ in range(len(bounds) + 3)]
    for t in times:
        if t > 0:
            mean = _piecewise(spec["rate"], t) * step
            n = max(0, round(rng.gauss(mean, math.sqrt(mean) if mean > 0 else 0)))
            latency = _piecewise(spec["latency"], t)
            for _ in range(n):
                x = round(rng.expovariate(1 / latency), 4) if latency > 0 else 0.0
                index = next((i for i, b in enumerate(bounds) if x <= b), len(bounds))
                counts[index] += 1
                total += 1
                total_sum = round(total_sum + x, 4)
        cumulative = 0.0
        for i, c in enumerate(counts):
            cumulative += c
            rows[i].append(cumulative)
        rows[-2].append(total)
        rows[-1].append(total_sum)
    name = spec["metric"]
    out = []
    for i, b in enumerate([*bounds, math.inf]):
        le = "+Inf" if math.isinf(b) else _le(b)
        out.append((f"{name}_bucket", {**labels, "le": le}, rows[i]))
    out.append((f"{name}_count", labels, rows[-2]))
    out.append((f"{name}_sum", labels, rows[-1]))
    return out


def _le(bound: float) -> str:
    return str(int(bound)) if bound == int(bound) else repr(bound)


def generate(spec: dict[str, Any]) -> Generated:
    """Every series of a case's description, the same for the same seed."""
    from chaos.promql.documents import prometheus_duration_ms

    resolution = (prometheus_duration_ms(str(spec.get("resolution", "1s"))) or 1000) / 1000
    duration = (prometheus_duration_ms(str(spec["duration"])) or 0) / 1000
    rng = random.Random(spec.get("seed", 0))
    times = _times(resolution, duration)
    out: list[Series] = []
    for item in spec["series"]:
        labels = {k: str(v) for k, v in (item.get("labels") or {}).items()}
        if "counter" in item:
            out.append(_finish(item["metric"], labels, item, times, _counter(rng, item["counter"], times, resolution)))
        elif "gauge" in item:
            out.append(_finish(item["metric"], labels, item, times, _gauge(rng, item["gauge"], times)))
        elif "values" in item:  # given outright: one value per sample, None for a gap
            values = list(item["values"]) + [item["values"][-1]] * (len(times) - len(item["values"]))
            out.append(Series.of(item["metric"], labels, [(t, float(v)) for t, v in zip(times, values, strict=False)
                                                         if v is not None and _mask(item, t)]))
        else:
            for name, lbls, values in _histogram(rng, item["histogram"], labels, times, resolution):
                out.append(_finish(name, lbls, item, times, values))
    return Generated(tuple(out), resolution, duration)


def promtool_values(series: Series, resolution: float, duration: float) -> str:
    """The series in promtool's ``values`` notation: one entry per step, ``_`` for none, ``stale``."""
    by_time = {round(t, 3): v for t, v in zip(series.times, series.values, strict=True)}
    parts = []
    for t in _times(resolution, duration):
        v = by_time.get(t)
        if v is None:
            parts.append("_")
        elif is_stale(v):
            parts.append("stale")
        else:
            parts.append(_number(v))
    while parts and parts[-1] == "_":
        parts.pop()
    return " ".join(parts)


def _number(v: float) -> str:
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    if v != v:
        return "NaN"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def series_name(series: Series) -> str:
    return format_labels(series.labels).replace(", ", ",")


__all__ = ["generate", "promtool_values", "series_name", "labels_of"]
