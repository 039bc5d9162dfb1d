"""The closed choices of the model, shared with the live emulator's stack spec (standard library only).

The topology parser, both engines and the stdlib-only emulator name these the same way;
defining them once here keeps a YAML value, a stack.json value and an engine's branch
from drifting apart.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar


class QueueDiscipline(enum.Enum):
    FIFO = "fifo"
    LIFO = "lifo"


class LoadBalancing(enum.Enum):
    ROUND_ROBIN = "round_robin"
    RANDOM = "random"
    LEAST_OUTSTANDING = "least_outstanding"


class Jitter(enum.Enum):
    NONE = "none"
    FULL = "full"    # uniform in [0, delay]
    EQUAL = "equal"  # delay/2 + uniform in [0, delay/2]


class CallMode(enum.Enum):
    SEQUENTIAL = "sequential"
    PARALLEL = "parallel"  # adjacent parallel calls run together
    ROUTE = "route"        # adjacent routed calls: exactly one of them is made, chosen by weight


GROUPED = (CallMode.PARALLEL, CallMode.ROUTE)


_C = TypeVar("_C")


def stages(calls: Iterable[_C], mode: Callable[[_C], CallMode],
           new_stage: Callable[[_C], bool] | None = None) -> tuple[tuple[_C, ...], ...]:
    """Calls grouped in the order they run: adjacent parallel calls form one group, adjacent routed calls
    another (a router: one of them is made), groups run in sequence. A call for which ``new_stage`` is true
    begins a group of its own even after a call of its mode: two parallel stages written one after the other
    stay two stages.

    One rule for the model's ``Service.stages`` and the emulator's stack spec, so both engines fan out alike.
    """
    groups: list[list[_C]] = []
    for call in calls:
        joins = new_stage is None or not new_stage(call)
        if joins and mode(call) in GROUPED and groups and mode(groups[-1][-1]) is mode(call):
            groups[-1].append(call)
        else:
            groups.append([call])
    return tuple(tuple(g) for g in groups)


class Dist(enum.Enum):
    """Kinds of duration distribution (the ``dist`` tag in YAML)."""

    CONSTANT = "constant"
    EXPONENTIAL = "exponential"
    LOGNORMAL = "lognormal"
    EMPIRICAL = "empirical"


def cumulative_shares(weights: Sequence[float]) -> tuple[float, ...]:
    """A router's cumulative shares by weight, the last exactly 1.0: one rule for the simulator's
    routers and the emulator's, so a uniform draw picks the same call in both engines."""
    total = sum(weights)
    shares, acc = [], 0.0
    for w in weights:
        acc += w
        shares.append(acc / total)
    shares[-1] = 1.0
    return tuple(shares)


def routed_index(u: float, shares: Sequence[float]) -> int:
    """The call a uniform draw ``u`` in [0, 1) picks from a router's ``cumulative_shares``."""
    return next((i for i, c in enumerate(shares) if u < c), len(shares) - 1)
