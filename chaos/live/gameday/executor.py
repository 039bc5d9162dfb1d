"""The live side of ``chaos.responder``: the Responder's Executor on the wall clock.

Time is the run's clock (second 0 = the load's); ``at`` puts a callback on the run loop's
:class:`~chaos.live.gameday.clock.Scheduler`. Actions are done on the live stack by
``chaos.live.gameday.actions``.

Who does a step. A role named ``automation`` (and any role given with ``--automated``) is
a machine: its steps take their sampled duration, as in the simulator. Every other role is
a person. In ``--unattended`` mode (the default, for CI) a person's steps take sampled
durations too, and their response times are sampled, so an unattended game day walks the
playbook exactly as a simulated one does. In ``--game-day`` mode a person's step waits for
the operator: the terminal names the step, its deadline and the time left, and Enter
confirms it is done (then its action is carried out); a page step is confirmed when the
paged person has acknowledged, which is then the acknowledge time. Ctrl-C ends the run,
every fault reverted.
"""

from __future__ import annotations

import select
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from chaos.errors import ChaosError
from chaos.incident_states import MarkerKind, StepStatus
from chaos.live.gameday.clock import RunClock, Scheduler
from chaos.model.playbook import AnyAction, Page, Step, describe
from chaos.model.scope import Scope
from chaos.responder import Responder
from chaos.run import Marker, Series

AUTOMATION = "automation"
REMIND_EVERY_S = 15.0


def is_automated(role: str, automated: frozenset[str]) -> bool:
    return role == AUTOMATION or role in automated


@dataclass(frozen=True)
class Prompt:
    step: str
    role: str
    what: str                 # the action, in words
    deadline_s: float | None  # run time by which the step should be over


class Operator:
    """Asks the person running a game day to confirm steps, without stopping the run's loop.

    ``ask`` prints the prompt; ``poll`` (called by the loop a few times a second) reads
    whatever lines have arrived on the terminal, confirms the oldest pending step per line,
    and reminds of the time left every ``remind_every_s``.
    """

    def __init__(self, stdin: TextIO, out: TextIO, clock: RunClock,
                 remind_every_s: float = REMIND_EVERY_S) -> None:
        self.stdin = stdin
        self.out = out
        self.clock = clock
        self.remind_every_s = remind_every_s
        self.pending: list[tuple[Prompt, Callable[[], None], float]] = []  # prompt, done, last shown
        self.closed = False

    def ask(self, prompt: Prompt, done: Callable[[], None]) -> None:
        self.pending.append((prompt, done, self.clock.now()))
        self._show(prompt)

    def _show(self, prompt: Prompt) -> None:
        now = self.clock.now()
        if prompt.deadline_s is None:
            when = "no deadline"
        else:
            left = prompt.deadline_s - now
            when = (f"deadline {prompt.deadline_s:.0f}s, {left:.0f}s left" if left >= 0
                    else f"deadline {prompt.deadline_s:.0f}s, {-left:.0f}s overdue")
        self.out.write(f"\n[{now:6.1f}s] >>> step '{prompt.step}' ({prompt.role}): {prompt.what} -- {when}.\n"
                       "          Press Enter when it is done (Ctrl-C ends the game day, every fault reverted).\n")
        self.out.flush()

    def poll(self) -> None:
        if self.pending and not self.closed:
            while self.pending and self._line_ready():
                line = self.stdin.readline()
                if line == "":
                    self.closed = True
                    self.out.write("[game day] the terminal's input is closed: steps left waiting for the operator "
                                   "will not be confirmed; Ctrl-C ends the run\n")
                    self.out.flush()
                    break
                _, done, _ = self.pending.pop(0)
                done()
        now = self.clock.now()
        for i, (prompt, done, shown) in enumerate(self.pending):
            if now - shown >= self.remind_every_s:
                self.pending[i] = (prompt, done, now)
                self._show(prompt)

    def _line_ready(self) -> bool:
        try:
            ready, _, _ = select.select([self.stdin], [], [], 0)
        except (ValueError, OSError):  # not a file descriptor (a test's StringIO): read as if ready
            return True
        return bool(ready)


class LiveExecutor:
    """The Responder's engine on a live run."""

    def __init__(self, clock: RunClock, scheduler: Scheduler, series: Callable[[], dict[Scope, Series]],
                 bounds: tuple[float, ...], act: Callable[[Step, AnyAction], str], *,
                 operator: Operator | None = None, automated: frozenset[str] = frozenset(),
                 incident_start: Callable[[], float | None] = lambda: None,
                 say: Callable[[str], None] = lambda text: None) -> None:
        self.clock = clock
        self.scheduler = scheduler
        self._series = series
        self.bounds = bounds
        self.act = act
        self.operator = operator
        self.automated = automated
        self.incident_start = incident_start
        self.say = say
        self.markers: list[Marker] = []
        self.responder: Responder | None = None  # set by attach(), for notes and acknowledgements

    def now(self) -> float:
        return self.clock.now()

    def at(self, t: float, fn: Callable[[], None]) -> None:
        self.scheduler.at(t, fn)

    def series(self) -> dict[Scope, Series]:
        return self._series()

    def mark(self, marker: Marker) -> None:
        self.markers.append(marker)

    def human(self, role: str) -> bool:
        return self.operator is not None and not is_automated(role, self.automated)

    def perform(self, step: Step, action: AnyAction) -> None:
        now = self.now()
        try:
            note = self.act(step, action)
        except ChaosError as exc:
            self.mark(Marker(now, MarkerKind.STEP_FAILED, step.name, exc.message))
            self._note(step, f"action failed: {exc.message}")
            self.say(f"{now:8.2f}s  step '{step.name}': {action.TAG} FAILED: {exc.message}")
            return
        kind, target = describe(action)
        self.say(f"{now:8.2f}s  step '{step.name}': {kind.value} {target}".rstrip() + (f" ({note})" if note else ""))
        if note:
            self._note(step, note)

    def carry_out(self, step: Step, start: float, duration: float, done: Callable[[], None]) -> None:
        if not self.human(step.role):
            self.at(start + duration, done)
            return
        assert self.operator is not None
        operator = self.operator
        kind, target = describe(step.act)
        what = f"{kind.value} {target}".strip() if not isinstance(step.act, Page) else \
            f"page {step.act.role or step.role} and confirm once they have acknowledged"
        prompt = Prompt(step.name, step.role, what, self.deadline(step))
        self.at(start, lambda: operator.ask(prompt, lambda: self._confirmed(step, done)))

    def deadline(self, step: Step) -> float | None:
        """Run time by which ``step`` should be over, as ``chaos.analysis.incident`` will judge it."""
        d = step.deadline
        if d is None or self.responder is None:
            return None
        record = self.responder.record
        if d.after is not None:
            end = record.steps[self.responder.playbook.step_index(d.after)].end_s
            return None if end is None else end + d.within
        start = self.incident_start()
        start = record.triggered_s if start is None else start
        return None if start is None else start + d.within

    def _confirmed(self, step: Step, done: Callable[[], None]) -> None:
        now = self.now()
        record = None if self.responder is None else self.responder.record
        if isinstance(step.act, Page) and record is not None:
            role = step.act.role or step.role
            was = record.engaged.get(role)
            record.engaged[role] = now  # the person responded now, whatever was sampled
            if record.acknowledged_s is not None and was is not None and abs(record.acknowledged_s - was) < 1e-9:
                record.acknowledged_s = now
        self.mark(Marker(now, MarkerKind.CONFIRMED, step.name, f"by the operator ({step.role})"))
        done()

    def _note(self, step: Step, note: str) -> None:
        if self.responder is None:
            return
        for rec in self.responder.record.steps:
            if rec.name == step.name and rec.status is StepStatus.RUNNING:
                rec.note = f"{rec.note}; {note}" if rec.note else note
                return


def attach(executor: LiveExecutor, responder: Responder) -> None:
    """Tie the executor to its responder; on a game day, people respond for real (no sampled delay)."""
    executor.responder = responder
    if executor.operator is None:
        return
    for role in list(responder.responses):
        if not is_automated(role, executor.automated):
            responder.responses[role] = 0.0
