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
