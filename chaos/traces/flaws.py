"""What could not be used, and why: counted and reported, never silently dropped.

Each flaw has a count and up to a few example places (``file:line`` of the span, or of the
record it came in), so a team can look at the raw data behind a number.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from chaos.errors import Location

EXAMPLES_KEPT = 3


class Flaw(enum.Enum):
    """Why a span, call or trace was not used (or used with a caveat). The value is how it reads in a report."""

    NO_TIMESTAMP = "span without a start time or duration (Zipkin allows these; nothing can be timed)"
    NEGATIVE_DURATION = "span ending before it starts"
    DUPLICATE_SPAN = "span id seen twice in one trace (the later one dropped)"
    LATE_SPAN = "span arriving after its trace's window had closed"
    CLOSED_EARLY = "trace closed before its window ended, because too many traces were open"
    ORPHAN_SPAN = "span whose parent is not in the trace (it and its descendants are left out)"
    NO_ROOT = "trace with no root span (every span's parent is missing)"
    SEVERAL_ROOTS = "trace with more than one root span"
    NO_SERVER_SPAN = "trace with no server span (nothing to call an entrypoint)"
    ASYNCHRONOUS = "producer, consumer or follows-from span (asynchronous hand-offs are not modelled yet)"
    CLOCK_SKEW = "server span not inside its client span beyond the tolerance (clocks of two hosts disagree)"
    SAMPLED_OUT = "client span to an instrumented service with no server span below it (sampled out or lost)"
    NO_CALLEE = "client span with neither a server span below it nor peer attributes naming the callee"

    @property
    def breaks_trace(self) -> bool:
        return self in (Flaw.NO_ROOT, Flaw.SEVERAL_ROOTS, Flaw.NO_SERVER_SPAN)


@dataclass(frozen=True)
class FlawCount:
    flaw: Flaw
    count: int
    examples: tuple[Location, ...]


class Tally:
    """Counts of flaws with their first few places; the one mutable collector the reading steps share."""

    def __init__(self) -> None:
        self._counts: dict[Flaw, int] = {}
        self._examples: dict[Flaw, list[Location]] = {}

    def add(self, flaw: Flaw, where: Location, count: int = 1) -> None:
        self._counts[flaw] = self._counts.get(flaw, 0) + count
        examples = self._examples.setdefault(flaw, [])
        if len(examples) < EXAMPLES_KEPT and where not in examples:
            examples.append(where)

    def count(self, flaw: Flaw) -> int:
        return self._counts.get(flaw, 0)

    def summary(self) -> tuple[FlawCount, ...]:
        return tuple(FlawCount(f, self._counts[f], tuple(self._examples.get(f, ())))
                     for f in Flaw if self._counts.get(f))
