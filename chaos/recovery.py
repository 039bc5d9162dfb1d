"""Whether a run recovered, did not, or ended too soon to tell: decided here, and only here.

Recovery is judged by SLOs over a trailing window (an objective's ``window``, a playbook's
``recovery_window``): the SLOs cannot say "healthy" again until one whole window has passed
after what recovery counts from (the end of the last fault, or the mitigation). So a run that
ends less than one window after it could not have shown a recovery, whatever the system did:
its recovery is *not measurable*, which is not the same as *not recovered* (there was a whole
window, and the SLOs were still missed at the end). Every place that shows or judges a time to
recover (sweep tables and JSON, the run summary, the playbook's recover phase and its
deadlines, diff, drills and their CDF plots) reads the :class:`Recovery` decided by
:func:`judge_recovery` and words it with :func:`recovery_words`, so that none of them says
"never" when nobody could have known. This module imports only the standard library and the
seconds formatter, so the reports can use it without the engines.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from chaos.model.quantities import seconds as fmt_s

EPS = 1e-9


class RecoveryState(enum.Enum):
    """What is known about recovery at the end of a run."""

    RECOVERED = "recovered"            # the SLOs were met again; ``time_s`` says when
    NOT_RECOVERED = "not_recovered"    # a whole window passed and the SLOs were still missed at the end
    NOT_MEASURABLE = "not_measurable"  # the run could not have shown a recovery (``NotMeasurable`` says why)

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class NotMeasurable(enum.Enum):
    """Why recovery could not be measured in a run."""

    RUN_ENDED = "run_ended"            # the run ended less than one SLO window after recovery's reference
    FAULT_NOT_OVER = "fault_not_over"  # a fault lasted to the end of the run
    NO_FAULT = "no_fault"              # nothing to recover from
    NO_SLO = "no_slo"                  # the experiment states no SLO to judge recovery by


class CountsFrom(enum.Enum):
    """What a time to recover counts from."""

    FAULT_END = "fault_end"      # the end of the last fault (sweeps, diff)
    MITIGATION = "mitigation"    # the playbook's mitigation
    TRIGGER = "trigger"          # the playbook's trigger, when nothing mitigated
    FAULT_START = "fault_start"  # the first fault's start, when the response came before it

    @property
    def words(self) -> str:
        return {CountsFrom.FAULT_END: "the last fault ended", CountsFrom.MITIGATION: "the mitigation",
                CountsFrom.TRIGGER: "the trigger", CountsFrom.FAULT_START: "the first fault"}[self]


@dataclass(frozen=True, kw_only=True)
class Recovery:
    """Recovery in one run: its state, the time to recover when there is one, and what the verdict rests on.

    ``after_s``: how long the run went on after ``counts_from``; ``window_s``: the window the SLOs
    must hold over (for a sweep, the shortest window among the objectives still missed at the end).
    """

    state: RecoveryState
    time_s: float | None = None
    counts_from: CountsFrom | None = None
    after_s: float | None = None
    window_s: float | None = None
    why: NotMeasurable | None = None

    @property
    def recovered(self) -> bool:
        return self.state is RecoveryState.RECOVERED

    @property
    def measurable(self) -> bool:
        return self.state is not RecoveryState.NOT_MEASURABLE


def judge_recovery(time_s: float | None, counts_from: CountsFrom, after_s: float, window_s: float) -> Recovery:
    """The one rule: recovered when a time is known; otherwise not recovered only if the run went on
    for at least one whole window after ``counts_from``, else not measurable."""
    if time_s is not None:
        return Recovery(state=RecoveryState.RECOVERED, time_s=time_s, counts_from=counts_from, after_s=after_s,
                        window_s=window_s)
    if after_s < window_s - EPS:
        return Recovery(state=RecoveryState.NOT_MEASURABLE, counts_from=counts_from, after_s=after_s,
                        window_s=window_s, why=NotMeasurable.RUN_ENDED)
    return Recovery(state=RecoveryState.NOT_RECOVERED, counts_from=counts_from, after_s=after_s, window_s=window_s)


def not_measurable(why: NotMeasurable) -> Recovery:
    return Recovery(state=RecoveryState.NOT_MEASURABLE, why=why)


def recovery_reason(r: Recovery) -> str:
    """Why a run has no time to recover, in words ("" when it has one)."""
    if r.state is RecoveryState.RECOVERED:
        return ""
    since = r.counts_from.words if r.counts_from is not None else "the fault"
    if r.state is RecoveryState.NOT_RECOVERED:
        return (f"the SLOs were still missed when the run ended, {fmt_s(r.after_s)} after {since} "
                f"(at least one {fmt_s(r.window_s)} SLO window)")
    return {NotMeasurable.RUN_ENDED: f"the run ended {fmt_s(r.after_s)} after {since}, less than the "
                                     f"{fmt_s(r.window_s)} SLO window recovery is judged over",
            NotMeasurable.FAULT_NOT_OVER: "a fault lasted to the end of the run",
            NotMeasurable.NO_FAULT: "the run has no fault to recover from",
            NotMeasurable.NO_SLO: "the experiment states no SLO to judge recovery by",
            None: "unknown"}[r.why]


def recovery_words(r: Recovery | None, *, why: bool = True) -> str:
    """A time to recover as a reader sees it: ``70 s``, ``not recovered: ...``, ``not measurable: ...``."""
    if r is None:
        return "-"
    if r.state is RecoveryState.RECOVERED:
        return fmt_s(r.time_s)
    return f"{r.state.label}: {recovery_reason(r)}" if why else r.state.label
