"""The arithmetic of PromQL's functions, as Prometheus 2.42 computes it (learned from its source).

Everything here is a pure function of numbers. The order of floating-point operations
follows Prometheus's, so that results agree to the last bit wherever Prometheus itself is
deterministic (a sum over many series is not: Prometheus adds them in storage order).
Go's arithmetic differs from Python's at the edges (division by zero, ``math.Mod``,
``math.Pow``): the ``go_*`` helpers give Go's answers instead of raising.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from decimal import Decimal

INF = math.inf
NAN = math.nan


# --------------------------------------------------------------------------- Go arithmetic


def go_div(a: float, b: float) -> float:
    if b != 0.0:
        return a / b
    if a != a or a == 0.0:
        return NAN
    return math.copysign(INF, a) * math.copysign(1.0, b)


def go_mod(a: float, b: float) -> float:
    if b == 0.0 or math.isinf(a) or a != a or b != b:
        return NAN
    if math.isinf(b):
        return a
    return math.fmod(a, b)


def go_pow(x: float, y: float) -> float:
    try:
        return math.pow(x, y)
    except OverflowError:
        if x < 0 and y == math.floor(y) and int(y) % 2 == 1:
            return -INF
        return INF
    except ValueError:
        if x == 0.0:  # a pole: 0 to a negative power
            odd = y == math.floor(y) and int(y) % 2 == 1
            return math.copysign(INF, x) if odd else INF
        return NAN  # a negative base to a non-integer power


def go_atan2(y: float, x: float) -> float:
    return math.atan2(y, x)


MathFunction = Callable[[float], float]


def _domain(f: MathFunction) -> MathFunction:
    """``f`` with Go's answers where Python's math module raises (NaN, infinities)."""
    def safe(v: float) -> float:
        try:
            return f(v)
        except ValueError:
            if f is math.log or f is math.log2 or f is math.log10:
                return -INF if v == 0 else NAN
            if f is math.atanh and abs(v) == 1:
                return math.copysign(INF, v)
            return NAN
        except OverflowError:
            return INF if f is not math.sinh else math.copysign(INF, v)
    return safe


def _sgn(v: float) -> float:
    if v < 0:
        return -1.0
    if v > 0:
        return 1.0
    return v


def _ceil(v: float) -> float:
    return v if math.isinf(v) or v != v else float(math.ceil(v))


def _floor(v: float) -> float:
    return v if math.isinf(v) or v != v else float(math.floor(v))


MATH: dict[str, MathFunction] = {
    "abs": abs, "ceil": _ceil, "floor": _floor, "sgn": _sgn,
    "exp": _domain(math.exp), "sqrt": _domain(math.sqrt), "ln": _domain(math.log),
    "log2": _domain(math.log2), "log10": _domain(math.log10),
    "sin": _domain(math.sin), "cos": _domain(math.cos), "tan": _domain(math.tan),
    "asin": _domain(math.asin), "acos": _domain(math.acos), "atan": _domain(math.atan),
    "sinh": _domain(math.sinh), "cosh": _domain(math.cosh), "tanh": _domain(math.tanh),
    "asinh": _domain(math.asinh), "acosh": _domain(math.acosh), "atanh": _domain(math.atanh),
    "deg": lambda v: v * 180 / math.pi, "rad": lambda v: v * math.pi / 180,
}


def go_round(v: float, to_nearest: float) -> float:
    """``round(v, to_nearest)``: ties round up; computed with the inverse, as Prometheus does."""
    inverse = go_div(1.0, to_nearest)
    return go_div(_floor(v * inverse + 0.5), inverse)


def format_float(v: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f', -1, 64)``: the shortest digits, never an exponent."""
    if v != v:
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return format(Decimal(repr(v)).normalize(), "f")


def format_value(v: float) -> str:
    """Go's ``fmt`` ``%v`` of a float64 (``strconv`` 'g', shortest): ``0.05``, ``1e+06``, ``1.5e-05``."""
    if v != v:
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    sign, digit_tuple, exponent = Decimal(repr(v)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    neg = "-" if sign else ""
    if digits == "0":
        return neg + "0"
    point = len(digits) + exponent  # where the decimal point falls in ``digits``
    exp = point - 1
    if exp < -4 or exp >= 6:  # Go switches to an exponent from 1e+06 on
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{neg}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{neg}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return neg + digits + "0" * (point - len(digits))
    return f"{neg}{digits[:point]}.{digits[point:]}"


# --------------------------------------------------------------------------- sums


def kahan_inc(inc: float, total: float, c: float) -> tuple[float, float]:
    """One step of Neumaier's compensated sum (Prometheus's ``kahanSumInc``)."""
    t = total + inc
    if abs(total) >= abs(inc):
        c += (total - t) + inc
    else:
        c += (inc - t) + total
    return t, c


# --------------------------------------------------------------------------- range functions


def range_seconds(range_ms: int) -> float:
    """``time.Duration.Seconds()`` of a whole-millisecond range, rounded as Go rounds it."""
    secs, rest = divmod(range_ms, 1000)
    return float(secs) + float(rest * 1_000_000) / 1e9


def extrapolated_rate(times: Sequence[int], values: Sequence[float], before_resets: Sequence[float] | None,
                      range_start: int,
                      range_end: int, range_ms: int, is_counter: bool, is_rate: bool) -> float | None:
    """``rate``, ``increase`` and ``delta``: the change over the window, extrapolated to its edges.

    ``before_resets`` are the values just before each counter reset, in order, when the
    caller knows them already; ``None`` means scan ``values`` for them. Extrapolation goes to a
    window edge when the first/last sample is within 1.1 average sample intervals of it,
    otherwise half an interval; a counter is never extrapolated below zero.
    """
    n = len(values)
    if n < 2:
        return None
    result = values[-1] - values[0]
    if is_counter:
        if before_resets is None:
            prev = values[0]
            for cur in values[1:]:
                if cur < prev:
                    result += prev
                prev = cur
        else:
            for before in before_resets:
                result += before
    duration_to_start = (times[0] - range_start) / 1000
    duration_to_end = (range_end - times[-1]) / 1000
    sampled = (times[-1] - times[0]) / 1000
    average = sampled / (n - 1)
    if is_counter and result > 0 and values[0] >= 0:
        duration_to_zero = sampled * (values[0] / result)
        if duration_to_zero < duration_to_start:
            duration_to_start = duration_to_zero
    threshold = average * 1.1
    interval = sampled
    interval += duration_to_start if duration_to_start < threshold else average / 2
    interval += duration_to_end if duration_to_end < threshold else average / 2
    factor = interval / sampled
    if is_rate:
        factor /= range_seconds(range_ms)
    return result * factor


def instant_value(times: Sequence[int], values: Sequence[float], is_rate: bool) -> float | None:
    """``irate`` and ``idelta``: from the last two samples."""
    if len(values) < 2:
        return None
    last, prev = values[-1], values[-2]
    result = last if is_rate and last < prev else last - prev
    interval = times[-1] - times[-2]
    if interval == 0:
        return None
    if is_rate:
        result /= interval / 1000
    return result


def avg_over_time(values: Sequence[float]) -> float:
    mean, count, c = 0.0, 0.0, 0.0
    for v in values:
        count += 1
        if math.isinf(mean):
            if math.isinf(v) and (mean > 0) == (v > 0):
                continue
            if not math.isinf(v) and v == v:
                continue
        mean, c = kahan_inc(go_div(v, count) - go_div(mean, count), mean, c)
    return mean if math.isinf(mean) else mean + c


def sum_over_time(values: Sequence[float]) -> float:
    total, c = 0.0, 0.0
    for v in values:
        total, c = kahan_inc(v, total, c)
    return total if math.isinf(total) else total + c


def max_over_time(values: Sequence[float]) -> float:
    best = values[0]
    for v in values:
        if v > best or best != best:
            best = v
    return best


def min_over_time(values: Sequence[float]) -> float:
    best = values[0]
    for v in values:
        if v < best or best != best:
            best = v
    return best


def stdvar_over_time(values: Sequence[float]) -> float:
    count, mean, c_mean, aux, c_aux = 0.0, 0.0, 0.0, 0.0, 0.0
    for v in values:
        count += 1
        delta = v - (mean + c_mean)
        mean, c_mean = kahan_inc(delta / count, mean, c_mean)
        aux, c_aux = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux)
    return (aux + c_aux) / count


def stddev_over_time(values: Sequence[float]) -> float:
    return _domain(math.sqrt)(stdvar_over_time(values))


def changes(values: Sequence[float]) -> float:
    count, prev = 0, values[0]
    for cur in values[1:]:
        if cur != prev and not (cur != cur and prev != prev):
            count += 1
        prev = cur
    return float(count)


def resets(values: Sequence[float]) -> float:
    count, prev = 0, values[0]
    for cur in values[1:]:
        if cur < prev:
            count += 1
        prev = cur
    return float(count)


def linear_regression(times: Sequence[int], values: Sequence[float], intercept_time: int) -> tuple[float, float]:
    """Least-squares slope and the intercept at ``intercept_time`` (Kahan sums, as Prometheus)."""
    n = 0.0
    sum_x = c_x = sum_y = c_y = sum_xy = c_xy = sum_x2 = c_x2 = 0.0
    init_y = values[0]
    const_y = True
    for i, (t, v) in enumerate(zip(times, values, strict=True)):
        if const_y and i > 0 and v != init_y:
            const_y = False
        n += 1.0
        x = (t - intercept_time) / 1e3
        sum_x, c_x = kahan_inc(x, sum_x, c_x)
        sum_y, c_y = kahan_inc(v, sum_y, c_y)
        sum_xy, c_xy = kahan_inc(x * v, sum_xy, c_xy)
        sum_x2, c_x2 = kahan_inc(x * x, sum_x2, c_x2)
    if const_y:
        if math.isinf(init_y):
            return NAN, NAN
        return 0.0, init_y
    sum_x += c_x
    sum_y += c_y
    sum_xy += c_xy
    sum_x2 += c_x2
    cov_xy = sum_xy - sum_x * sum_y / n
    var_x = sum_x2 - sum_x * sum_x / n
    slope = go_div(cov_xy, var_x)
    intercept = sum_y / n - slope * sum_x / n
    return slope, intercept


# --------------------------------------------------------------------------- quantiles


def _nan_first(v: float) -> tuple[bool, float]:
    return (v == v, v)


def quantile(q: float, values: list[float]) -> float:
    """The ``q`` quantile of ``values`` by linear interpolation between closest ranks."""
    if not values or q != q:
        return NAN
    if q < 0:
        return -INF
    if q > 1:
        return INF
    ordered = sorted(values, key=_nan_first)
    n = float(len(ordered))
    rank = q * (n - 1)
    lower = max(0.0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[int(lower)] * (1 - weight) + ordered[int(upper)] * weight


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """``histogram_quantile`` over classic buckets ``(upper_bound, cumulative_count)``.

    Buckets are sorted and merged by bound, made monotonic, and the quantile interpolated
    linearly inside its bucket (from 0 for the lowest bucket if its bound is positive). A
    quantile in the +Inf bucket gives the highest finite bound; no +Inf bucket, fewer than
    two buckets or no observations give NaN.
    """
    if q != q:
        return NAN
    if q < 0:
        return -INF
    if q > 1:
        return INF
    ordered = sorted(buckets, key=lambda b: b[0])
    if not math.isinf(ordered[-1][0]) or ordered[-1][0] < 0:
        return NAN
    merged = _coalesce(ordered)
    _monotonic(merged)
    if len(merged) < 2:
        return NAN
    observations = merged[-1][1]
    if observations == 0:
        return NAN
    rank = q * observations
    counts = [count for _, count in merged[:-1]]
    b = _search(counts, rank)
    if b == len(merged) - 1:
        return merged[-2][0]
    if b == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start = 0.0
    end, count = merged[b]
    if b > 0:
        start = merged[b - 1][0]
        count -= merged[b - 1][1]
        rank -= merged[b - 1][1]
    return start + (end - start) * go_div(rank, count)


def _search(counts: list[float], rank: float) -> int:
    """The first index whose count is at least ``rank`` (Go's ``sort.Search``, NaN-safe)."""
    lo, hi = 0, len(counts)
    while lo < hi:
        mid = (lo + hi) // 2
        if not counts[mid] >= rank:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _coalesce(buckets: list[tuple[float, float]]) -> list[list[float]]:
    out: list[list[float]] = []
    for bound, count in buckets:
        if out and out[-1][0] == bound:
            out[-1][1] += count
        else:
            out.append([bound, count])
    return out


def _monotonic(buckets: list[list[float]]) -> None:
    top = buckets[0][1]
    for b in buckets[1:]:
        if b[1] > top:
            top = b[1]
        elif b[1] < top:
            b[1] = top


def parse_go_float(text: str) -> float | None:
    """Go's ``strconv.ParseFloat`` for an ``le`` label: None where Go would fail."""
    if not text or text != text.strip() or "_" in text:
        return None
    lowered = text.lower().lstrip("+-")
    if lowered in ("inf", "infinity"):
        return -INF if text.startswith("-") else INF
    if lowered == "nan":
        return NAN
    try:
        if lowered.startswith("0x"):
            return float.fromhex(text)
        return float(text)
    except ValueError:
        return None


# --------------------------------------------------------------------------- dates


def date_part(name: str, seconds: float) -> float:
    """``hour()``, ``day_of_week()`` ... of a Unix time in UTC, truncated to whole seconds."""
    try:
        t = datetime.fromtimestamp(int(seconds), tz=timezone.utc)  # noqa: UP017
    except (ValueError, OverflowError, OSError):
        return NAN
    if name == "days_in_month":
        return float(calendar.monthrange(t.year, t.month)[1])
    return float({
        "day_of_month": t.day, "day_of_week": (t.weekday() + 1) % 7, "day_of_year": t.timetuple().tm_yday,
        "hour": t.hour, "minute": t.minute, "month": t.month, "year": t.year,
    }[name])

