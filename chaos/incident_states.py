"""The states of an incident response, and the kinds of marker on a run's timeline, as the record, the
analysis and the reports name them.

One set of enums for every side: the responder sets a step's :class:`StepStatus`, the
analysis decides the :class:`IncidentOutcome` and why a deadline went unjudged
(:class:`NotJudged`), result.json carries their values, and the reports read them back
into the same enums. This module imports nothing, so the reports can use it without the
engines.
"""

from __future__ import annotations

import enum


class MarkerKind(enum.Enum):
    """What a marker on a run's timeline records (``Run.markers``, result.json's ``markers``)."""

    FAULT_ON = "fault_on"
    FAULT_OFF = "fault_off"
    FAULT_FAILED = "fault_failed"      # live: a fault could not be injected
    ABORT = "abort"                    # live: the run's abort condition held
    CRASH = "crash"                    # a replica crashed (or was killed)
    RESTART = "restart"                # a replica came back
    STOP = "stop"                      # live: a replica's container stopped
    PAUSE = "pause"                    # live: ... paused
    CPU = "cpu"                        # live: ... its CPU limited
    DISCONNECT = "disconnect"          # live: ... disconnected from its network
    DROP = "drop"                      # live: ... its packets dropped
    BREAKER_CLOSED = "breaker_closed"
    BREAKER_OPEN = "breaker_open"
    BREAKER_HALF_OPEN = "breaker_half_open"
    HEALTHY = "healthy"                # live, a user's stack: a replica's health URL answers again
    UNHEALTHY = "unhealthy"            # ... stopped answering
    INCIDENT = "incident"              # the playbook's response was triggered
    STEP = "step"                      # a playbook step started
    STEP_FAILED = "step_failed"        # live: a step's action failed
    CONFIRMED = "confirmed"            # live: the operator confirmed a manual step

    @property
    def is_breaker(self) -> bool:
        return self.value.startswith("breaker_")

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class StepStatus(enum.Enum):
    """How far a playbook step got."""

    NOT_REACHED = "not_reached"  # never started
    RUNNING = "running"          # started, not over when the run ended
    DONE = "done"                # acted and, with a verify, verified
    FAILED = "failed"            # its verify did not hold in time; the response went on
    ESCALATED = "escalated"      # its verify did not hold; the response jumped to another step
    ABORTED = "aborted"          # its verify did not hold; the response stopped there

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class IncidentOutcome(enum.Enum):
    """How the response to the incident ended."""

    NOT_TRIGGERED = "not_triggered"  # the trigger never fired: no step ran, no deadline was due
    COMPLETED = "completed"          # it ran to its last step, or to a step that stops it
    ABORTED = "aborted"              # a failed step aborted it
    UNFINISHED = "unfinished"        # it was still going when the run ended

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class NotJudged(enum.Enum):
    """Why a step or phase deadline has no verdict (``met`` is null): none of these is a miss."""

    NOT_TRIGGERED = "not_triggered"  # the playbook was never triggered, so nothing was ever due
    RUN_ENDED = "run_ended"          # the run ended before the deadline, with the step or phase not over
    NOT_NEEDED = "not_needed"        # the response was over without this step (an escalation target)


class FindingKind(enum.Enum):
    """What a reviewer of a playbook is told about (result.json's ``findings``)."""

    NO_VERIFY = "no_verify"                      # a step that acts without checking its effect
    NO_EFFECT = "no_effect"                      # a step whose action changed nothing the fault did
    NOT_TRIGGERED = "not_triggered"              # the trigger never fired
    TRIGGER_BEFORE_FAULT = "trigger_before_fault"
    NEVER_REACHED = "never_reached"              # a step the response never got to
    IMPOSSIBLE_DEADLINE = "impossible_deadline"  # a deadline shorter than the steps before it can take


class ClockBase(enum.Enum):
    """What second 0 of the incident's clock is: every time in a playbook section counts from it."""

    FIRST_FAULT = "first_fault"  # the start of the run's first fault (the usual case)
    TRIGGER = "trigger"          # a run with no fault: the moment the response was triggered
