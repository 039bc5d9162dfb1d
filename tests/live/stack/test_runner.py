"""The fault runner on a manual clock with FakeDrivers: schedule, journal, failures, aborts, signals, recovery."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from chaos.errors import LiveError, RevertError, RunError
from chaos.live.faults.actions import Action, DriverKind, Faked, Handle, Nothing
from chaos.live.faults.drivers.base import InjectContext
from chaos.live.faults.drivers.fake import FakeDriver
from chaos.live.faults.journal import JOURNAL_FILE, Journal, iter_open, read_events
from chaos.live.faults.runner import (
    AbortRule,
    FaultRunner,
    ManualClock,
    StopReason,
    Terminated,
    recover,
    run_fault_schedule,
)
from chaos.live.stack.state import StackState
from chaos.model.experiment import Experiment
from chaos.model.faults import FaultKind, LatencyParams
from chaos.model.scope import Scope

Make = Callable[..., Experiment]

THREE = """\
- {kind: latency, target: api->db, at: 10s, duration: 20s, delay: 300ms, name: slow-db}
- {kind: crash, target: api, replicas: 1, at: 15s, duration: 5s}
- {kind: errors, target: db, at: 40s, ratio: 0.5}
"""


def nothing(fid: str, label: str) -> Handle:
    """A fake driver's handle of an action that does nothing anywhere."""
    return Action(fid, label, FaultKind.CRASH, "t", ("t",), Nothing()).handle(Faked())


def fakes(**kwargs: object) -> dict[DriverKind, FakeDriver]:
    return {kind: FakeDriver(kind, **kwargs) for kind in DriverKind}  # type: ignore[arg-type]


def run_to(runner: FaultRunner, clock: ManualClock, until: float, step: float = 1.0) -> None:
    while clock.now() < until:
        runner.tick()
        clock.sleep(step)
    runner.tick()


def calls(drivers: dict[DriverKind, Sequenced]) -> list[tuple[str, str]]:
    """Every inject and revert, by fault id, in the order they happened across drivers."""
    log = next(iter(drivers.values())).log
    return [(c.what.value, c.id) for c in log]


class Sequenced(FakeDriver):
    """FakeDrivers that also write every call into one log they share, to check the order across drivers."""

    def __init__(self, kind: DriverKind, log: list, **kwargs: object) -> None:  # type: ignore[type-arg]
        super().__init__(kind, **kwargs)  # type: ignore[arg-type]
        self.log = log

    def inject(self, action: Action, ctx: InjectContext) -> Handle:
        try:
            return super().inject(action, ctx)
        finally:
            self.log.append(self.calls[-1])

    def revert(self, handle: Handle) -> None:
        try:
            super().revert(handle)
        finally:
            self.log.append(self.calls[-1])


def sequenced(**kwargs: object) -> dict[DriverKind, Sequenced]:
    log: list = []  # type: ignore[type-arg]
    return {kind: Sequenced(kind, log, **kwargs) for kind in DriverKind}


def test_faults_start_and_end_on_schedule(experiment: Make, trio_state: StackState, tmp_path: Path) -> None:
    exp = experiment(THREE)
    clock = ManualClock(1000.0)
    drivers = sequenced()
    runner = FaultRunner(exp, trio_state, tmp_path, drivers=drivers, clock=clock, handle_signals=False)
    runner.start()
    run_to(runner, clock, 1060.0)
    assert runner.finished
    runner.stop()
    assert runner.reason is StopReason.COMPLETED
    assert calls(drivers) == [("inject", "f1"), ("inject", "f2"), ("revert", "f2"), ("revert", "f1"),
                              ("inject", "f3"), ("revert", "f3")]
    windows = {w.label: (w.start_s, w.end_s) for w in runner.windows}
    # f3 has no duration: it lasts to the end of the run and is reverted by stop().
    assert windows == {"slow-db": (10.0, 30.0), "crash:api": (15.0, 20.0), "errors:db": (40.0, 60.0)}
    params = runner.windows[0].params  # the fault's own settings, typed by its kind, and the live driver's notes
    assert isinstance(params, LatencyParams) and params.delay == 0.3 and params.driver == "toxiproxy"
    kinds = [(m.t_s, m.kind.value, m.detail) for m in runner.markers]
    assert (10.0, "fault_on", "slow-db") in kinds and (30.0, "fault_off", "slow-db") in kinds


def test_every_fault_is_journaled_before_it_is_applied_and_marked_reverted_after(
        experiment: Make, trio_state: StackState, tmp_path: Path) -> None:
    exp = experiment(THREE)
    seen_on_disk: list[list[str]] = []

    class Watching(FakeDriver):
        def inject(self, action: Action, ctx: InjectContext) -> Handle:
            handle = super().inject(action, ctx)
            # At the moment the fault takes effect, its intent is already on disk.
            seen_on_disk.append([e["event"] for e in read_events(tmp_path / JOURNAL_FILE) if e.get("id") == action.id])
            return handle

    clock = ManualClock()
    runner = FaultRunner(exp, trio_state, tmp_path, drivers={k: Watching(k) for k in DriverKind}, clock=clock,
                         handle_signals=False)
    runner.start()
    run_to(runner, clock, 60.0)
    runner.stop()
    assert seen_on_disk == [["intent"]] * 3
    events = [(e["event"], e.get("id")) for e in read_events(tmp_path / JOURNAL_FILE)]
    assert events[0] == ("run", None)
    for fid in ("f1", "f2", "f3"):
        mine = [ev for ev, i in events if i == fid]
        assert mine == ["intent", "applied", "reverted"], fid
    assert list(iter_open(tmp_path)) == []


def test_a_failed_inject_stops_the_run_and_reverts_everything_including_itself(
        experiment: Make, trio_state: StackState, tmp_path: Path) -> None:
    exp = experiment(THREE)
    drivers = sequenced(fail_inject={"f2"})
    clock = ManualClock()
    runner = FaultRunner(exp, trio_state, tmp_path, drivers=drivers, clock=clock, handle_signals=False)
    runner.start()
    with pytest.raises(LiveError, match="injected failure of inject"):
        run_to(runner, clock, 60.0)
    assert runner.reason is StopReason.FAILED and runner.finished
    # f2 got as far as its intent: it is reverted too, latest first.
    assert calls(drivers) == [("inject", "f1"), ("inject", "f2"), ("revert", "f2"), ("revert", "f1")]
    events = [(e["event"], e.get("id")) for e in read_events(tmp_path / JOURNAL_FILE)]
    assert ("failed", "f2") in events and ("reverted", "f2") in events
    assert list(iter_open(tmp_path)) == []
    runner.tick()  # a stopped runner does nothing more
    assert len(calls(drivers)) == 4


def test_a_failed_revert_is_an_error_naming_what_is_still_applied_and_recover_undoes_it(
        experiment: Make, trio_state: StackState, tmp_path: Path) -> None:
    exp = experiment("- {kind: partition, target: front->api, at: 1s}\n- {kind: slowdown, target: db, at: 2s, "
                     "factor: 2}\n")
    drivers = fakes(fail_revert={"f1"})
    clock = ManualClock()
    runner = FaultRunner(exp, trio_state, tmp_path, drivers=drivers, clock=clock, handle_signals=False)
    runner.start()
    run_to(runner, clock, 60.0)
    with pytest.raises(RevertError) as raised:
        runner.stop()
    error = raised.value
    assert error.exit_code == 4
    assert "1 fault(s) could not be reverted" in error.message
    assert "partition:front->api (toxiproxy add_toxic on front--api-1, front--api-2)" in error.message
    assert "undo by hand: (fake) nothing to do for partition:front->api" in error.message
    assert f"chaoslab recover {tmp_path}" in str(error)
    assert [f.id for f in iter_open(tmp_path)] == ["f1"]
    assert drivers[DriverKind.EMULATOR].applied == {}  # the other fault was reverted all the same

    done = recover(tmp_path)
    assert done.reverted == ["partition:front->api"]
    assert list(iter_open(tmp_path)) == []
    assert recover(tmp_path).reverted == []  # safe to run twice


def test_recover_reverts_latest_first_and_reports_what_it_cannot_undo(
        experiment: Make, trio_state: StackState, tmp_path: Path) -> None:
    # A harness that died mid-run: faults applied, the journal left open.
    journal = Journal(tmp_path)
    journal.run("dead0001")
    for fid in ("f1", "f2"):
        handle = nothing(fid, f"fault {fid}")
        journal.intent(handle, 1.0)
        journal.applied(handle, 1.1)
    journal.close()
    stubborn = FakeDriver(DriverKind.FAKE, fail_revert={"f1"})
    with pytest.raises(RevertError, match="fault f1"):
        recover(tmp_path, drivers={DriverKind.FAKE: stubborn})
    assert [c.id for c in stubborn.calls] == ["f2", "f1"]
    assert [f.id for f in iter_open(tmp_path)] == ["f1"]
    stubborn.fail_revert.clear()
    assert recover(tmp_path, drivers={DriverKind.FAKE: stubborn}).reverted == ["fault f1"]


def test_an_abort_condition_ends_the_run_early_and_reverts(experiment: Make, trio_state: StackState,
                                                             tmp_path: Path) -> None:
    exp = experiment(THREE, duration="120s")
    drivers = fakes()
    clock = ManualClock()
    rule = AbortRule(scope="entrypoint:*", above=0.5, for_s=30.0)
    runner = FaultRunner(exp, trio_state, tmp_path, drivers=drivers, clock=clock, abort=[rule], handle_signals=False)
    runner.start()
    web = Scope.entrypoint("web")
    fired = None
    while fired is None and clock.now() < 120:
        runner.tick()
        t = runner.elapsed()
        # Errors above half from t=12; one good second at t=20 resets the count.
        ratio = 0.9 if t >= 12 and t != 20 else 0.1
        fired = runner.observe(t, {web: {"error_ratio": ratio}, Scope.service("db"): {"error_ratio": 1.0}})
        clock.sleep(1.0)
    assert fired is not None and "entrypoint:web error_ratio 0.9 > 0.5 since 21s" in fired
    assert runner.elapsed() == pytest.approx(52.0)  # aborted at t=51, then the clock moved on
    assert runner.reason is StopReason.ABORTED and runner.finished
    assert all(d.applied == {} for d in drivers.values())
    assert [m.kind.value for m in runner.markers if m.kind.value == "abort"] == ["abort"]
    # f3 (due at 40s) was applied before the abort; nothing is applied after it.
    assert {w.label for w in runner.windows} == {"slow-db", "crash:api", "errors:db"}


def test_sigterm_unwinds_through_the_reverts(experiment: Make, trio_state: StackState, tmp_path: Path) -> None:
    exp = experiment(THREE)

    class Killer(FakeDriver):
        def inject(self, action: Action, ctx: InjectContext) -> Handle:
            handle = super().inject(action, ctx)
            if action.id == "f2":
                os.kill(os.getpid(), signal.SIGTERM)  # delivered as Terminated in this, the main, thread
            return handle

    drivers = {kind: Killer(kind) for kind in DriverKind}
    clock = ManualClock()
    runner = FaultRunner(exp, trio_state, tmp_path, drivers=drivers, clock=clock)
    before = signal.getsignal(signal.SIGTERM)
    runner.start()
    with pytest.raises(Terminated):
        try:
            run_to(runner, clock, 60.0)
        finally:
            runner.stop()
    assert runner.reason is StopReason.INTERRUPTED
    assert all(d.applied == {} for d in drivers.values())
    assert list(iter_open(tmp_path)) == []
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_signal_during_the_reverts_waits_until_they_are_done(experiment: Make, trio_state: StackState,
                                                                tmp_path: Path) -> None:
    exp = experiment(THREE)

    class Interrupted(FakeDriver):
        def revert(self, handle: Handle) -> None:
            os.kill(os.getpid(), signal.SIGINT)
            super().revert(handle)

    drivers = {kind: Interrupted(kind) for kind in DriverKind}
    clock = ManualClock()
    runner = FaultRunner(exp, trio_state, tmp_path, drivers=drivers, clock=clock)
    runner.start()
    run_to(runner, clock, 12.0)  # f1 applied
    with pytest.raises(KeyboardInterrupt):
        runner.stop()
    assert all(d.applied == {} for d in drivers.values())
    assert list(iter_open(tmp_path)) == []


def test_nothing_is_changed_when_a_preflight_fails(experiment: Make, trio_state: StackState, tmp_path: Path) -> None:
    class Unready(FakeDriver):
        def preflight(self, action: Action) -> None:
            if action.id == "f3":
                raise LiveError("the emulator admin API does not answer")

    drivers = {kind: Unready(kind) for kind in DriverKind}
    runner = FaultRunner(experiment(THREE), trio_state, tmp_path, drivers=drivers, clock=ManualClock())
    with pytest.raises(LiveError, match="does not answer"):
        runner.start()
    assert all(d.calls == [] for d in drivers.values())
    assert not (tmp_path / JOURNAL_FILE).exists()


def test_a_running_run_holds_its_journal(experiment: Make, trio_state: StackState, tmp_path: Path) -> None:
    runner = FaultRunner(experiment(THREE), trio_state, tmp_path, drivers=fakes(), clock=ManualClock(),
                         handle_signals=False)
    runner.start()
    with pytest.raises(RunError, match=f"kill pid {os.getpid()}"):
        recover(tmp_path)
    runner.stop()
    assert recover(tmp_path).reverted == []


def test_a_journal_cut_short_by_a_kill_is_read_up_to_its_last_whole_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.run("cut00001")
    journal.intent(nothing("f1", "f1"), 0.0)
    journal.close()
    with open(tmp_path / JOURNAL_FILE, "a") as f:
        f.write('{"event": "applied", "id": "f1", "han')  # the harness died mid-write
    assert [(f.id, f.applied) for f in iter_open(tmp_path)] == [("f1", False)]
    assert recover(tmp_path).reverted == ["f1"]


def test_journal_lines_of_an_earlier_run_in_the_same_directory_do_not_mix(tmp_path: Path) -> None:
    for run_id in ("run00001", "run00002"):
        with Journal(tmp_path) as journal:
            journal.run(run_id)
            journal.intent(nothing("f1", run_id), 0.0)
            if run_id == "run00002":
                journal.reverted("f1", 1.0, "runner")
    assert [f.label for f in iter_open(tmp_path)] == ["run00001"]


def test_dry_run_prints_the_schedule_and_writes_nothing(experiment: Make, trio_state: StackState,
                                                         tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_fault_schedule(experiment(THREE), trio_state, tmp_path / "run", dry_run=True, out=lines.append)
    assert result.reason is StopReason.COMPLETED
    assert lines[0].split() == ["10.00s", "(dry", "run)", "inject", "slow-db", "via", "toxiproxy:", "latency", "toxic",
                                "300", "ms", "±0", "ms", "on", "api--db-1"]
    assert [line.split()[0] for line in lines] == ["10.00s", "15.00s", "20.00s", "30.00s", "40.00s", "60.00s"]
    assert not (tmp_path / "run").exists()


def test_an_unresolved_user_stack_is_refused(experiment: Make, trio_state: StackState, tmp_path: Path) -> None:
    with pytest.raises(RunError, match="were not looked up"):
        FaultRunner(experiment(THREE), replace(trio_state, resolved=False), tmp_path, drivers=fakes())


def test_journal_lines_are_json_with_wall_time(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        journal.run("abc12345", experiment="x")
    (line,) = (tmp_path / JOURNAL_FILE).read_text().splitlines()
    event = json.loads(line)
    assert event["event"] == "run" and event["run_id"] == "abc12345" and event["pid"] == os.getpid()
    assert event["wall"].endswith("+00:00")


def test_an_unexpected_exception_in_a_revert_is_reported_and_the_others_still_reverted(
        experiment: Make, trio_state: StackState, tmp_path: Path) -> None:
    class Broken(FakeDriver):
        def revert(self, handle: Handle) -> None:
            if handle.id == "f2":
                raise ConnectionResetError("the engine went away")  # an SDK's own exception, not chaoslab's
            super().revert(handle)

    drivers = {kind: Broken(kind) for kind in DriverKind}
    clock = ManualClock()
    runner = FaultRunner(experiment("- {kind: crash, target: db, at: 1s}\n- {kind: hang, target: api, at: 2s}\n"
                                    "- {kind: latency, target: db, at: 3s, delay: 5ms}\n"),
                         trio_state, tmp_path, drivers=drivers, clock=clock, handle_signals=False)
    runner.start()
    run_to(runner, clock, 5.0)
    with pytest.raises(RevertError, match="ConnectionResetError: the engine went away"):
        runner.stop()
    assert [f.id for f in iter_open(tmp_path)] == ["f2"]
    assert sum(len(d.applied) for d in drivers.values()) == 1
