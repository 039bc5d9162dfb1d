"""Run an experiment's faults against a live stack on schedule, and always undo them.

:class:`FaultRunner` is what the game-day driver drives::

    runner = FaultRunner(experiment, stack, run_dir, drivers=default_drivers(stack, ...))
    runner.start()                       # plan and preflight every fault, lock the journal, t = 0
    try:
        while not runner.finished:
            runner.tick()                # inject / revert what is due
            runner.observe(t, figures)   # per-second figures: may trigger an abort condition
            clock.sleep(...)
    finally:
        runner.stop()                    # revert whatever is still applied; RevertError if it cannot

Faults are reverted at their scheduled end, and by ``stop`` on success, on failure, on an
abort condition and on Ctrl-C or SIGTERM (the runner turns SIGTERM into an exception in
the main thread, so the stack unwinds through ``stop``; signals that arrive while it is
reverting wait until it is done). Each fault is journaled before it is applied
(``chaos.live.faults.journal``), so :func:`recover` can revert from the journal what a harness
killed with SIGKILL left applied.

Times in the :class:`~chaos.run.FaultWindow` and :class:`~chaos.run.Marker` records are
seconds since ``start``, on the runner's clock.
"""

from __future__ import annotations

import enum
import heapq
import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from chaos.errors import ChaosError, LiveError, RevertError, RunError
from chaos.incident_states import MarkerKind
from chaos.live.faults.actions import Action, DockerOp, DriverKind, Faked, Handle, Kill
from chaos.live.faults.drivers.base import Driver, InjectContext
from chaos.live.faults.drivers.fake import FakeDriver
from chaos.live.faults.drivers.routes import plan_all
from chaos.live.faults.journal import Journal, NullJournal, OpenFault, iter_open
from chaos.live.stack.state import StackState
from chaos.model.experiment import Experiment
from chaos.model.scope import Scope
from chaos.model.slos import ALL
from chaos.run import FaultWindow, Marker

# --------------------------------------------------------------------------- clocks


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """Wall time that never goes back."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when told to (tests, dry runs): ``sleep`` advances it at once."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)


# --------------------------------------------------------------------------- abort conditions


class AbortMetric(enum.Enum):
    ERROR_RATIO = "error_ratio"  # failed / requests over the last second
    P99_MS = "p99_ms"


@dataclass(frozen=True)
class AbortRule:
    """End the run early when ``metric`` of ``scope`` stays above ``above`` for ``for_s`` seconds.

    ``scope`` ``entrypoint:*`` matches every entrypoint. The default: users fail on more than
    half their requests for 30 s, so the experiment has done all it can teach.
    """

    scope: str = f"entrypoint:{ALL}"
    metric: AbortMetric = AbortMetric.ERROR_RATIO
    above: float = 0.5
    for_s: float = 30.0

    def matches(self, scope: Scope) -> bool:
        kind, _, name = self.scope.partition(":")
        return kind == scope.kind.value and name in (ALL, scope.name)

    def describe(self) -> str:
        return f"{self.scope} {self.metric.value} above {self.above:g} for {self.for_s:g}s"


DEFAULT_ABORT = (AbortRule(),)


class AbortMonitor:
    """Tracks, per rule and scope, since when the condition has held without a break."""

    def __init__(self, rules: Sequence[AbortRule]) -> None:
        self.rules = tuple(rules)
        self._since: dict[tuple[AbortRule, Scope], float] = {}

    def observe(self, t_s: float, figures: Mapping[Scope, Mapping[str, float | None]]) -> str | None:
        """The reason to abort, once a condition has held long enough; else None."""
        for rule in self.rules:
            for scope, values in figures.items():
                if not rule.matches(scope):
                    continue
                value = values.get(rule.metric.value)
                key = (rule, scope)
                if value is None or value <= rule.above:
                    self._since.pop(key, None)
                    continue
                since = self._since.setdefault(key, t_s)
                if t_s - since >= rule.for_s:
                    return (f"{scope} {rule.metric.value} {value:g} > {rule.above:g} since {since:g}s "
                            f"({rule.describe()})")
        return None


# --------------------------------------------------------------------------- the runner


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that the run unwinds through its reverts."""


class StopReason(enum.Enum):
    COMPLETED = "completed"
    ABORTED = "aborted"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class Phase(enum.Enum):
    READY = "ready"
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass(order=True)
class _Due:
    t_s: float
    order: int                     # reverts before injects at the same moment, then fault order
    action: Action = field(compare=False)
    inject: bool = field(compare=False)


@dataclass
class _Applied:
    action: Action
    handle: Handle
    intent_s: float
    start_s: float | None = None   # None: intent only (inject did not finish)
    end_s: float | None = None


class FaultRunner:
    """The faults of one experiment, on one stack, on one clock."""

    def __init__(self, experiment: Experiment, stack: StackState, run_dir: Path | None, *,
                 drivers: Mapping[DriverKind, Driver], clock: Clock | None = None,
                 abort: Sequence[AbortRule] = DEFAULT_ABORT, handle_signals: bool = True,
                 with_load: bool = False, run_id: str | None = None,
                 on_event: Callable[[float, str], None] | None = None) -> None:
        self.experiment = experiment
        self.stack = stack
        self.run_dir = run_dir
        self.drivers = dict(drivers)
        self.clock = clock or MonotonicClock()
        self.monitor = AbortMonitor(abort)
        self.handle_signals = handle_signals
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.on_event = on_event or (lambda t, text: None)
        if not stack.resolved:
            raise RunError(f"the containers of stack '{stack.name}' were not looked up",
                           hint="resolve a user's stack first (chaos.live.stack.user_stack.resolve)")
        self.actions = plan_all(experiment, stack, with_load=with_load)
        self._faults = {a.id: f for a, f in zip(self.actions, experiment.fault_list, strict=True)}
        self.phase = Phase.READY
        self.reason: StopReason | None = None
        self.abort_reason: str | None = None
        self.markers: list[Marker] = []
        self._applied: dict[str, _Applied] = {}
        self._changes: set[str] = set()  # ids of changes made by perform(): journaled, reverted, no fault window
        self._queue: list[_Due] = []
        self._t0 = 0.0
        self._journal: Journal = NullJournal()
        self._saved_handlers: dict[int, Any] = {}
        self._deferred: int | None = None
        self._stopping = False

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Preflight every action (nothing is changed if one fails), open the journal, start the clock."""
        if self.phase is not Phase.READY:
            raise RunError("a FaultRunner starts once")
        for action in self.actions:
            self._driver(action).preflight(action)
        self._journal = Journal(self.run_dir) if self.run_dir is not None else NullJournal()
        self._journal.run(self.run_id, experiment=self.experiment.name, stack=self.stack.name,
                          faults=[a.describe() for a in self.actions])
        self._schedule()
        self._install_signals()
        self._t0 = self.clock.now()
        self.phase = Phase.RUNNING

    def elapsed(self) -> float:
        return self.clock.now() - self._t0

    @property
    def finished(self) -> bool:
        """The run's duration is over, or it stopped (aborted, failed)."""
        return self.phase is Phase.STOPPED or self.elapsed() >= self.experiment.duration

    def next_due(self) -> float | None:
        """Seconds (since start) of the next inject or revert, if any."""
        return self._queue[0].t_s if self._queue else None

    def tick(self) -> None:
        """Inject and revert whatever is due now. A failure stops the run (reverting all) and raises."""
        if self.phase is not Phase.RUNNING:
            return
        while self._queue and self._queue[0].t_s <= self.elapsed():
            due = heapq.heappop(self._queue)
            try:
                if due.inject:
                    self._inject(due.action)
                else:
                    self._revert(due.action.id, by="schedule")
            except ChaosError as exc:
                self.stop(StopReason.FAILED, cause=exc)
                raise

    def observe(self, t_s: float, figures: Mapping[Scope, Mapping[str, float | None]]) -> str | None:
        """Feed one second of figures (``{scope: {"error_ratio": ..}}``); aborts the run when a rule fires."""
        if self.phase is not Phase.RUNNING:
            return None
        reason = self.monitor.observe(t_s, figures)
        if reason is not None:
            self.abort(reason)
        return reason

    def remove(self, label: str) -> list[str]:
        """A playbook's ``remove_fault``: revert now every applied fault with this label ('*': every
        fault), and cancel the injects of those not started yet. Returns the labels reverted."""
        if self.phase is not Phase.RUNNING:
            return []
        wanted = [a for a in self.actions if label in ("*", a.label)]
        ids = {a.id for a in wanted}
        self._queue = [d for d in self._queue if d.action.id not in ids]
        heapq.heapify(self._queue)
        done = []
        for action in wanted:
            applied = self._applied.get(action.id)
            if applied is not None and applied.end_s is None:
                try:
                    self._revert(action.id, by="playbook")
                except ChaosError as exc:
                    self.stop(StopReason.FAILED, cause=exc)
                    raise
                done.append(action.label)
        return done

    def perform(self, action: Action) -> Handle:
        """Make a change that is no fault of the experiment (a playbook step's), journaled before it is
        made like a fault, and undone by :meth:`stop` with the faults (and by ``recover``). It gets no
        fault window. ``action.id`` must be new. Raises the driver's error if it cannot be made."""
        if self.phase is not Phase.RUNNING:
            raise RunError(f"{action.label}: the run is not going (it is {self.phase.value})")
        if action.id in self._applied or action.id in self._faults:
            raise RunError(f"{action.label}: action id {action.id} is already used in this run")  # a caller's bug
        self._driver(action).preflight(action)
        self._changes.add(action.id)
        # A change that fails part way is left to stop() to undo (its intent is journaled); the run
        # goes on, because a playbook step that fails is something the game day should record.
        self._inject(action)
        return self._applied[action.id].handle

    def abort(self, reason: str) -> None:
        """End early: no more faults, revert those applied."""
        self.abort_reason = reason
        self._mark(MarkerKind.ABORT, "run", reason)
        self.on_event(self.elapsed(), f"abort: {reason}")
        self.stop(StopReason.ABORTED)

    def stop(self, reason: StopReason | None = None, *, cause: BaseException | None = None) -> None:
        """Revert everything still applied (latest first). Raises RevertError naming what is left.

        Safe to call more than once; signals are held until the reverts are done.
        """
        if self.phase is Phase.STOPPED:
            return
        if self.phase is Phase.READY:
            self.phase = Phase.STOPPED
            return
        self._stopping = True
        try:
            self.reason = reason or (StopReason.COMPLETED if self.elapsed() >= self.experiment.duration
                                     else StopReason.INTERRUPTED)
            self._queue.clear()
            failures = []
            for fault_id in reversed(list(self._applied)):
                if self._applied[fault_id].end_s is None:
                    try:
                        self._revert(fault_id, by=self.reason.value)
                    except Exception as exc:  # noqa: BLE001 - one failed revert must not stop the others
                        failures.append((fault_id, _as_live_error(exc)))
            self.phase = Phase.STOPPED
            self._journal.close()
        finally:
            self._stopping = False
            self._restore_signals()
        if failures:
            raise self._revert_error(failures) from cause
        if self._deferred is not None:
            raise (Terminated() if self._deferred == signal.SIGTERM else KeyboardInterrupt())

    # --- records ----------------------------------------------------------------------------

    @property
    def windows(self) -> list[FaultWindow]:
        out = []
        for applied in self._applied.values():
            if applied.start_s is None or applied.action.id in self._changes:
                continue
            a = applied.action
            out.append(FaultWindow(a.label, a.target, applied.start_s, applied.end_s,
                                   self._faults[a.id].params(driver=a.driver.value, live=a.summary)))
        return out

    def still_applied(self) -> list[Handle]:
        return [a.handle for a in self._applied.values() if a.end_s is None]

    # --- inject / revert ----------------------------------------------------------------------

    def _schedule(self) -> None:
        for order, action in enumerate(self.actions):
            fault = self._faults[action.id]
            heapq.heappush(self._queue, _Due(fault.at, 1_000_000 + order, action, True))
            if fault.duration is not None and fault.at + fault.duration < self.experiment.duration:
                heapq.heappush(self._queue, _Due(fault.at + fault.duration, order, action, False))

    def _inject(self, action: Action) -> None:
        def record(handle: Handle) -> None:
            # Written to disk before the driver changes anything: the revert path's source of truth.
            now = self.elapsed()
            self._journal.intent(handle, now)
            self._applied[action.id] = _Applied(action, handle, now)

        try:
            handle = self._driver(action).inject(action, InjectContext(record))
        except ChaosError as exc:
            self._journal.failed(action.id, exc.message)
            self._mark(MarkerKind.FAULT_FAILED, action.target, f"{action.label}: {exc.message}")
            raise
        now = self.elapsed()
        self._journal.applied(handle, now)
        intended = self._applied.get(action.id)
        self._applied[action.id] = _Applied(action, handle, intended.intent_s if intended else now, now)
        if action.id in self._changes:
            self.on_event(now, f"change {action.describe()}")
            return  # a playbook's change: the step that made it has its own marker
        self._mark(MarkerKind.FAULT_ON, action.target, action.label, now)
        for victim in handle.victims:
            self._mark(MarkerKind.CRASH if action.op is DockerOp.KILL else MarkerKind(action.op.value), action.target,
                       self._replica(victim), now)
        self.on_event(now, f"inject {action.describe()}")

    def _revert(self, fault_id: str, *, by: str) -> None:
        applied = self._applied.get(fault_id)
        if applied is None or applied.end_s is not None:
            return
        driver = self._driver(applied.action)
        try:
            driver.revert(applied.handle)
        except Exception as exc:  # noqa: BLE001 - journaled and raised as a LiveError either way
            error = _as_live_error(exc)
            self._journal.revert_failed(fault_id, error.message)
            if error is exc:
                raise
            raise error from exc
        now = self.elapsed()
        self._journal.reverted(fault_id, now, by)
        applied.end_s = now
        if applied.start_s is None:
            applied.start_s = applied.intent_s  # partly applied from its intent on: it still gets a window
        if fault_id in self._changes:
            self.on_event(now, f"undo {applied.action.label} ({by})")
            return
        self._mark(MarkerKind.FAULT_OFF, applied.action.target, applied.action.label, now)
        self._after_restart(applied)
        self.on_event(now, f"revert {applied.action.label} ({by})")

    def _after_restart(self, applied: _Applied) -> None:
        kill = applied.action.params
        victims = applied.handle.victims
        if not isinstance(kill, Kill) or not victims:
            return
        for victim in victims:
            self._mark(MarkerKind.RESTART, applied.action.target, self._replica(victim))
        # A restarted emulator starts clean: give it the admin faults still in effect on it.
        emulator = self.drivers.get(DriverKind.EMULATOR)
        reassert = getattr(emulator, "reassert", None)
        if reassert is not None:
            reassert({name: kill.admin[name] for name in victims if name in kill.admin})

    def _driver(self, action: Action) -> Driver:
        driver = self.drivers.get(action.driver)
        if driver is None:
            raise RunError(f"{action.label}: no {action.driver.value} driver in this run")
        return driver

    def _replica(self, container: str) -> str:
        for replica in self.stack.replicas:
            if replica.container == container:
                return f"replica {replica.index}"
        return container

    def _mark(self, kind: MarkerKind, subject: str, detail: str, t_s: float | None = None) -> None:
        self.markers.append(Marker(self.elapsed() if t_s is None else t_s, kind, subject, detail))

    def _revert_error(self, failures: list[tuple[str, ChaosError]]) -> RevertError:
        return revert_error([(self._applied[fid].handle, exc, self._driver(self._applied[fid].action))
                             for fid, exc in failures], self.run_dir)

    # --- signals ----------------------------------------------------------------------------

    def _install_signals(self) -> None:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._saved_handlers[signum] = signal.signal(signum, self._on_signal)

    def _restore_signals(self) -> None:
        for signum, handler in self._saved_handlers.items():
            signal.signal(signum, handler)
        self._saved_handlers.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stopping:
            self._deferred = signum  # finish reverting first; stop() raises it afterwards
            return
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _as_live_error(exc: Exception) -> ChaosError:
    """A driver's own error as it is; anything else (an SDK's exception) wrapped, so it is reported like one."""
    return exc if isinstance(exc, ChaosError) else LiveError(f"{type(exc).__name__}: {exc}")


def revert_error(failures: Sequence[tuple[Handle, ChaosError, Driver]], run_dir: Path | None) -> RevertError:
    """One error naming every fault still applied, why, and how to undo it by hand."""
    lines = [f"{len(failures)} fault(s) could not be reverted and may still be applied:"]
    for handle, exc, driver in failures:
        a = handle.action
        lines.append(f"  - {a.label} ({a.driver.value} {a.op.value} on {', '.join(handle.touched)}): {exc.message}")
        for command in driver.undo_hint(handle):
            lines.append(f"      undo by hand: {command}")
    again = f"chaoslab recover {run_dir}" if run_dir is not None else "the commands above"
    return RevertError("\n".join(lines), hint=f"fix the cause, then run {again} (safe to run more than once)")


# --------------------------------------------------------------------------- drivers and helpers


def default_drivers(stack: StackState, run_id: str, *, allow_remote: bool = False) -> dict[DriverKind, Driver]:
    """The real drivers for ``stack``. Refuses a Docker host that is not local before anything else."""
    from chaos.live.faults.drivers.docker import DockerDriver
    from chaos.live.faults.drivers.emulator import EmulatorDriver
    from chaos.live.faults.drivers.toxiproxy import ToxiproxyDriver
    from chaos.live.stack.docker_env import docker_host_from_env, require_local

    require_local(docker_host_from_env(), allow_remote=allow_remote)
    docker = DockerDriver(run_id, allow_remote=allow_remote)
    drivers: dict[DriverKind, Driver] = {
        DriverKind.DOCKER: docker,
        DriverKind.TOXIPROXY: ToxiproxyDriver(run_id, probe=docker.presence),
    }
    if stack.has_admin:
        drivers[DriverKind.EMULATOR] = EmulatorDriver(probe=docker.presence)
    return drivers


def fake_drivers() -> dict[DriverKind, Driver]:
    return {kind: FakeDriver(kind) for kind in DriverKind}


@dataclass(frozen=True)
class ScheduleResult:
    windows: list[FaultWindow]
    markers: list[Marker]
    reason: StopReason
    abort_reason: str | None
    run_id: str


def run_fault_schedule(experiment: Experiment, stack: StackState, run_dir: Path | None,
                       clock: Clock | None = None, *, drivers: Mapping[DriverKind, Driver] | None = None,
                       allow_remote: bool = False, dry_run: bool = False, abort: Sequence[AbortRule] = DEFAULT_ABORT,
                       poll_s: float = 0.25, out: Callable[[str], None] | None = None) -> ScheduleResult:
    """Run the faults (and no load) for the experiment's duration, then revert what is left.

    ``dry_run`` plans and prints every step on a manual clock, changing nothing and writing
    no journal. Without ``drivers`` the real ones are used.
    """
    say = out or print
    if dry_run:
        clock, drivers, run_dir = ManualClock(), fake_drivers(), None
    run_id = uuid.uuid4().hex[:8]
    chosen = drivers if drivers is not None else default_drivers(stack, run_id, allow_remote=allow_remote)
    runner = FaultRunner(experiment, stack, run_dir, drivers=chosen, clock=clock, abort=abort, run_id=run_id,
                         handle_signals=not dry_run,
                         on_event=lambda t, text: say(f"{t:8.2f}s  {'(dry run) ' if dry_run else ''}{text}"))
    runner.start()
    try:
        while not runner.finished:
            runner.tick()
            due = runner.next_due()
            left = experiment.duration - runner.elapsed()
            wait = left if due is None else min(left, due - runner.elapsed())
            runner.clock.sleep(max(0.0, min(wait, poll_s if not dry_run else wait)))
    finally:
        runner.stop()
    assert runner.reason is not None
    return ScheduleResult(runner.windows, runner.markers, runner.reason, runner.abort_reason, runner.run_id)


# --------------------------------------------------------------------------- recovery


@dataclass(frozen=True)
class Recovered:
    reverted: list[str]  # labels of the faults reverted now
    journal: Path


def recover(run_dir: Path, *, allow_remote: bool = False,
            drivers: Mapping[DriverKind, Driver] | None = None) -> Recovered:
    """Revert every fault the run's journal shows as still applied; safe to run again.

    Raises RunError if the run is still going (its lock is held), RevertError naming what
    could not be reverted and how to undo it by hand.
    """
    from chaos.live.faults.journal import JOURNAL_FILE

    path = run_dir / JOURNAL_FILE
    if not path.is_file():
        raise RunError(f"no fault journal in {run_dir} ({JOURNAL_FILE} is missing)",
                       hint="give the run directory of a live run")
    with Journal(run_dir) as journal:
        pending = list(iter_open(run_dir))
        built: dict[DriverKind, Driver] = dict(drivers or {})
        reverted: list[str] = []
        failures: list[tuple[Handle, ChaosError, Driver]] = []
        for fault in reversed(pending):
            driver = _recovery_driver(fault, built, allow_remote)
            try:
                if driver is not None:
                    driver.revert(fault.handle)
            except Exception as exc:  # noqa: BLE001 - one failed revert must not stop the others
                error = _as_live_error(exc)
                journal.revert_failed(fault.id, error.message, run_id=fault.run_id)
                failures.append((fault.handle, error, driver))  # type: ignore[arg-type]
                continue
            journal.reverted(fault.id, None, "recover", run_id=fault.run_id)
            reverted.append(fault.label)
        for driver in built.values():
            close = getattr(driver, "close", None)
            if close is not None:
                close()
    if failures:
        raise revert_error(failures, run_dir)
    return Recovered(reverted, path)


def _recovery_driver(fault: OpenFault, built: dict[DriverKind, Driver], allow_remote: bool) -> Driver | None:
    """The driver that can undo ``fault`` in a fresh process; None when nothing of it can outlive the harness."""
    kind = fault.handle.action.driver
    if isinstance(fault.handle.undo, Faked):
        return built.setdefault(kind, FakeDriver(kind))
    if kind is DriverKind.LOAD:
        return None  # the load generator died with the harness, and its spike with it
    if kind not in built:
        built.update({k: v for k, v in _fresh_drivers(fault.run_id, allow_remote).items() if k not in built})
    return built[kind]


def _fresh_drivers(run_id: str, allow_remote: bool) -> dict[DriverKind, Driver]:
    from chaos.live.faults.drivers.docker import DockerDriver
    from chaos.live.faults.drivers.emulator import EmulatorDriver
    from chaos.live.faults.drivers.toxiproxy import ToxiproxyDriver
    from chaos.live.stack.docker_env import docker_host_from_env, require_local

    require_local(docker_host_from_env(), allow_remote=allow_remote)
    docker = DockerDriver(run_id, allow_remote=allow_remote)
    return {DriverKind.DOCKER: docker, DriverKind.TOXIPROXY: ToxiproxyDriver(run_id, probe=docker.presence),
            DriverKind.EMULATOR: EmulatorDriver(probe=docker.presence)}

