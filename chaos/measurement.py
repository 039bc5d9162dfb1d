"""What measured a service or an entrypoint, if anything: one enum for the record, the analysis and the reports.

The simulator counts every request, so everything it runs is measured. A game day measures a
scope only where something counted its requests: chaoslab's emulators' own ``/admin/metrics`` (the
service's or its callers'), the load generator (an entrypoint, and the service it calls, as the
load saw it), or a Prometheus server. On a team's own stack, a service with none of these is
:attr:`Source.UNMEASURED`: its counts are not zeros but unknowns, so nothing may read it as
healthy. Analysis leaves it out of the cascade and the blast radius (and says how many services
were measured), an SLO or alert expectation scoped to it is judged unmeasured, never met, and
``compare`` and ``diff`` skip it with a note. This module imports nothing, so every side can use it.
"""

from __future__ import annotations

import enum


class Source(enum.Enum):
    """What counted a scope's requests (``measured_by`` in result.json)."""

    SIMULATOR = "simulator"                # the simulator: every request of every scope
    CHAOSLAB_METRICS = "chaoslab_metrics"  # chaoslab's emulators' /metrics: the service's callers', or its own
    LOAD_GENERATOR = "load_generator"      # the load generator: an entrypoint, or its service as the load saw it
    PROMETHEUS = "prometheus"              # a Prometheus server: the team's (live: mapping) or a generated stack's own
    UNMEASURED = "unmeasured"              # nothing counted its requests: its figures are unknown, not zero
    UNRECORDED = "unrecorded"              # a result written before chaoslab recorded it (schema 3 and older)

    @property
    def measured(self) -> bool:
        """Whether the scope's figures are figures; a result too old to say is read as it was written: measured."""
        return self is not Source.UNMEASURED


class AlertSource(enum.Enum):
    """What evaluated an alert's rule, and so decided when it fired (``evaluated_by`` in result.json).

    A firing without it was evaluated by chaoslab on the run's series (the simulator, or a live run
    whose stack no Prometheus evaluates rules for)."""

    CHAOSLAB = "chaoslab"      # chaoslab's evaluation (Prometheus's semantics) of the run's series
    PROMETHEUS = "prometheus"  # the stack's own Prometheus, read back from its ALERTS series


UNMEASURED_MEANS = ("unmeasured: nothing counted its requests (no metrics of its own or of its callers), "
                    "so its figures are unknown, not healthy")
