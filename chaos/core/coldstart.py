"""A cold start: service times multiplied by a factor that decays exponentially after a restart.

``factor_at(age) = 1 + (factor - 1) * exp(-age / decay)``; several cold starts of one
replica add their excesses over 1. Both the simulator's replicas and the emulator's
``cold_start`` fault slow down by this rule.
"""

from __future__ import annotations

import math


def cold_excess(factor: float, decay: float, age: float) -> float:
    """How much a cold start ``age`` seconds old adds to the factor on service times."""
    return (factor - 1.0) * math.exp(-age / decay)


def cold_factor(factor: float, decay: float, age: float) -> float:
    """The factor on service times ``age`` seconds after a cold start."""
    return 1.0 + cold_excess(factor, decay, age)
