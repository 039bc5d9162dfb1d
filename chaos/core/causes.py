"""Why an attempt failed: the causes both engines count errors under.

The simulator's kernel counts them by their position in this order (ints on its hot
path); the emulator names them in its ``X-Chaoslab-Cause`` header and its metrics (``/metrics``, ``/admin/metrics``).
"""

from __future__ import annotations

import enum


class Cause(enum.Enum):
    """Why an attempt failed. The order is the kernel's cause code."""

    TIMEOUT = "timeout"            # the caller gave up waiting (slow, hung, lost, partitioned)
    REJECTED = "rejected"          # queue full, or shed after waiting too long, or admission limit
    CIRCUIT_OPEN = "circuit_open"  # the service failed because a breaker toward a dependency was open
    CRASHED = "crashed"            # no replica up, or the replica died while holding the request
    INJECTED = "injected"          # an injected error
    DEPENDENCY = "dependency"      # the service failed because a call it made failed


HTTP_STATUS: dict[Cause | None, int] = {
    None: 200,
    Cause.TIMEOUT: 504,       # the caller gave up: a gateway timeout, as the proxy in front records it
    Cause.REJECTED: 503,      # queue full, shed, or over an admission limit
    Cause.CIRCUIT_OPEN: 503,  # failed fast because a breaker toward a dependency was open
    Cause.CRASHED: 502,       # no replica answered
    Cause.INJECTED: 500,
    Cause.DEPENDENCY: 500,    # a call it made failed, so it failed
}
"""The HTTP status a proxy in front of a service records for each outcome (None: a success)."""

STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "other")
"""HAProxy's ``code`` label values: every class is exported from the start, whether it counted or not."""


def status_class(cause: Cause | None) -> str:
    """The status class an outcome is counted under (``2xx``, or ``5xx`` for every cause)."""
    return f"{HTTP_STATUS[cause] // 100}xx"


def by_status_class(ok: int, errors: dict[Cause, int]) -> dict[str, int]:
    """Answers counted per status class, every class there (a class chaoslab never produces at 0).

    What HAProxy's ``http_responses_total{code}`` holds: one count per class, the causes of a class added up,
    so that a series renamed to it is exactly one of HAProxy's label sets."""
    out = dict.fromkeys(STATUS_CLASSES, 0)
    out[status_class(None)] += ok
    for cause, n in errors.items():
        out[status_class(cause)] += n
    return out
