"""The closed choices of the model, shared with the live emulator's stack spec (standard library only).

The topology parser, both engines and the stdlib-only emulator name these the same way;
defining them once here keeps a YAML value, a stack.json value and an engine's branch
from drifting apart.
"""

from __future__ import annotations

import enum


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
    PARALLEL = "parallel"


class Dist(enum.Enum):
    """Kinds of duration distribution (the ``dist`` tag in YAML)."""

    CONSTANT = "constant"
    EXPONENTIAL = "exponential"
    LOGNORMAL = "lognormal"
