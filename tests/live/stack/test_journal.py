"""Typed handles in the journal: one written before handles were typed is read, recovered and undone as it was.

``journal-v1.jsonl`` was written by chaoslab before handles became typed values (its journal
module, with handles made by its routes and drivers as they made them): every operation of
every driver, with the undo information each adds, a playbook's changes and a fake driver's
handle; ``f1`` is already reverted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chaos.errors import RunError
from chaos.live.faults.actions import (
    PARAMS,
    Action,
    AddToxic,
    CallPolicy,
    Chain,
    CpuLimit,
    Disconnected,
    DriverKind,
    Drop,
    Dropped,
    EmulatorOp,
    Faked,
    FakeOp,
    Handle,
    Killed,
    LimitReplaced,
    Membership,
    PolicyReplaced,
    ServiceFaults,
    SetFaults,
    Spike,
    Stopped,
    Throttled,
    ToxicAdded,
    handle_from_json,
    handle_to_json,
)
from chaos.live.faults.codec import CodecError, from_json
from chaos.live.faults.drivers.docker import DockerDriver
from chaos.live.faults.drivers.emulator import EmulatorDriver
from chaos.live.faults.drivers.fake import FakeDriver
from chaos.live.faults.drivers.toxiproxy import ToxiproxyDriver
from chaos.live.faults.journal import JOURNAL_FILE, iter_open, read_events
from chaos.live.faults.runner import recover
from chaos.live.in_container.stackspec import Jitter, Retries
from chaos.live.in_container.toxiproxy.model import Stream, ToxicType
from chaos.model.faults import FaultKind
from chaos.model.playbook import ActionKind

V1 = Path(__file__).with_name("journal-v1.jsonl")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    shutil.copy(V1, tmp_path / JOURNAL_FILE)
    return tmp_path


def opened(run_dir: Path) -> dict[str, Handle]:
    return {fault.id: fault.handle for fault in iter_open(run_dir)}


def test_every_handle_of_the_old_journal_reads_as_typed_values_and_writes_back_the_same(run_dir: Path) -> None:
    written = [e["handle"] for e in read_events(run_dir / JOURNAL_FILE) if e["event"] == "applied"]
    # Every operation but those made after it was written (faults on one operation: round-tripped in
    # tests/live/stack/test_stack_operations.py, recovered in tests/live/gameday/test_preflight_live.py).
    newer = {FakeOp.NOTHING, EmulatorOp.OPERATION_FAULTS}
    assert {(h["driver"], h["op"]) for h in written} == {
        (cls.DRIVER.value, op.value) for op, cls in PARAMS.items() if op not in newer}
    for raw in written:
        assert handle_to_json(handle_from_json(raw)) == raw  # the journal's shape is unchanged
    handles = opened(run_dir)
    assert list(handles) == [h["id"] for h in written if h["id"] != "f1"]  # f1 was reverted
    assert handles["f2"].undo == Killed(("t-trio-api-1",), ("t-trio-api-1-down",))
    assert handles["f4"].action.params == SetFaults({"t-trio-db-1": "http://127.0.0.1:21004/admin"},
                                                    ServiceFaults(hang=True))
    assert handles["f8"].action.params == AddToxic("http://127.0.0.1:21005", ToxicType.TIMEOUT, Stream.UPSTREAM,
                                                   1.0, {"timeout": 0}, "t-trio-toxiproxy")
    assert handles["f8"].undo == ToxicAdded("chaoslab-0a1b2c3d-f8")
    assert handles["f11"].action.params == Spike(2.0)
    assert handles["u2"].undo == Throttled({"t-trio-db-1": CpuLimit(0, 0)})
    assert handles["u4"].undo == Disconnected({"t-trio-db-1": (Membership("t-trio_default", ("db-1", "abc123")),)})
    assert handles["u5"].action.params == Drop(Chain.OUTPUT, 1.0, ("t-trio-api-1", "t-trio-api-2"))
    assert isinstance(handles["u6"].undo, Dropped) and handles["u6"].undo.rules["t-trio-db-1"][0] == "INPUT"
    policy = CallPolicy(timeout_s=0.5, retries=Retries(2, 0.01, 1.0, Jitter.FULL, 0.1), breaker=None,
                        urls=("http://toxiproxy:20002/work",))
    assert handles["p1"].undo == PolicyReplaced({"t-trio-api-1": policy, "t-trio-api-2": policy})
    assert handles["p2"].undo == LimitReplaced({"t-trio-api-1": None, "t-trio-api-2": None})
    assert handles["p3"].undo == Stopped(("t-trio-api-2",)) and handles["p3"].touched == ("t-trio-api-2",)
    assert handles["x1"].undo == Faked()
    # each handle's kind is the model's enum: a fault's kind, or a playbook step's action's
    assert handles["f2"].action.kind is FaultKind.CRASH and handles["f9"].action.kind is FaultKind.PACKET_LOSS
    assert handles["p1"].action.kind is ActionKind.SET_CALL and handles["p3"].action.kind is ActionKind.SCALE
    kinds = {h["kind"] for h in written}
    assert kinds == {h.action.kind.value for h in handles.values()} | {"latency"}  # f1's latency was reverted
    assert kinds & {k.value for k in FaultKind} and kinds & {k.value for k in ActionKind}


def test_an_action_of_a_kind_given_as_a_string_is_refused() -> None:
    with pytest.raises(TypeError, match="Action.kind must be a FaultKind or an ActionKind, not 'errors'"):
        Action("f1", "errors:db", "errors", "db", ("db-1",), Spike(2.0))  # type: ignore[arg-type]
    assert Action("f1", "errors:db", FaultKind.ERRORS, "db", ("db-1",), Spike(2.0)).kind is FaultKind.ERRORS


def test_a_fault_kind_and_a_playbook_action_kind_never_share_a_name() -> None:
    """The journal writes either as a bare string, so a name in both would be read back as the fault's."""
    assert {k.value for k in FaultKind}.isdisjoint(k.value for k in ActionKind)


@pytest.mark.parametrize(("kind", "message"), [
    ("teleport", r"handle.kind: 'teleport' is neither a fault's kind nor a playbook action's \(one of 'crash', "),
    (None, r"handle.kind: missing \(required\)"),
])
def test_a_handle_whose_kind_cannot_be_read_is_an_error_at_its_line(run_dir: Path, kind: str | None,
                                                                    message: str) -> None:
    lines = (run_dir / JOURNAL_FILE).read_text().splitlines()
    event = json.loads(lines[1])
    if kind is None:
        del event["handle"]["kind"]
    else:
        event["handle"]["kind"] = kind
    lines[1] = json.dumps(event)
    (run_dir / JOURNAL_FILE).write_text("\n".join(lines) + "\n")
    with pytest.raises(RunError, match=r"faults.jsonl:2: fault f1: the journal's handle cannot be read: " + message):
        recover(run_dir)


def test_the_drivers_undo_hints_come_from_the_old_handles(run_dir: Path) -> None:
    handles = opened(run_dir)
    docker = DockerDriver("0a1b2c3d")  # connects to no engine until asked to act
    assert docker.undo_hint(handles["u2"]) == ["docker update --cpu-quota -1 --cpu-period 100000 t-trio-db-1"]
    assert docker.undo_hint(handles["u4"]) == [
        "docker network connect --alias db-1 --alias abc123 t-trio_default t-trio-db-1"]
    assert docker.undo_hint(handles["u6"])[0].endswith(
        "iptables -D INPUT -m statistic --mode random --probability 0.250000 -m comment --comment "
        "chaoslab-0a1b2c3d-u6 -j DROP")
    assert docker.undo_hint(handles["f2"]) == ["docker start t-trio-api-1", "docker rm -f t-trio-api-1-down"]
    assert docker.undo_hint(handles["p3"]) == ["docker start t-trio-api-2"]
    assert ToxiproxyDriver("0a1b2c3d").undo_hint(handles["f8"]) == [
        f"curl -sS -X DELETE http://127.0.0.1:21005/proxies/{p}/toxics/chaoslab-0a1b2c3d-f8"
        for p in ("front--api-1", "front--api-2")]
    (hint, _) = EmulatorDriver().undo_hint(handles["p1"])
    assert json.loads(hint.split("'")[1]) == {"timeout_s": 0.5, "retries": {"max": 2, "base_s": 0.01, "cap_s": 1.0,
                                                                            "jitter": "full", "budget": 0.1},
                                              "breaker": None, "urls": ["http://toxiproxy:20002/work"]}


def test_recover_reverts_every_open_fault_of_the_old_journal_latest_first(run_dir: Path) -> None:
    drivers = {kind: FakeDriver(kind) for kind in DriverKind}
    done = recover(run_dir, drivers=drivers)
    reverted = [c for d in drivers.values() for c in d.calls]
    # The load spike died with the harness's load generator: nothing to undo, but it is closed too.
    assert sorted(c.id for c in reverted) == sorted(h for h in opened_ids(V1) if h not in ("f1", "f11"))
    assert done.reverted[0] == "slow-db" and done.reverted[-1] == "crash:api"  # x1 (written last) first, f2 last
    assert list(iter_open(run_dir)) == []
    assert recover(run_dir, drivers=drivers).reverted == []


def opened_ids(path: Path) -> list[str]:
    return [e["id"] for e in read_events(path) if e["event"] == "applied"]


def test_a_handle_that_cannot_be_read_is_an_error_at_its_line(run_dir: Path) -> None:
    lines = (run_dir / JOURNAL_FILE).read_text().splitlines()
    event = json.loads(lines[2])
    event["handle"]["params"]["api"] = 5
    lines[2] = json.dumps(event)
    (run_dir / JOURNAL_FILE).write_text("\n".join(lines) + "\n")
    with pytest.raises(RunError, match=r"faults.jsonl:3: fault f1: the journal's handle cannot be read: "
                                       r"handle.params.api: expected a string, got int"):
        recover(run_dir)


def test_an_unknown_operation_lists_the_drivers_own(run_dir: Path) -> None:
    lines = (run_dir / JOURNAL_FILE).read_text().splitlines()
    event = json.loads(lines[1])
    event["handle"]["op"] = "teleport"
    lines[1] = json.dumps(event)
    (run_dir / JOURNAL_FILE).write_text("\n".join(lines) + "\n")
    with pytest.raises(RunError, match="'teleport' is not an operation of the toxiproxy driver "
                                       r"\(it has: add_toxic, disable\)"):
        list(iter_open(run_dir))


def test_a_journal_of_a_later_version_is_refused_not_half_read(run_dir: Path) -> None:
    lines = (run_dir / JOURNAL_FILE).read_text().splitlines()
    event = json.loads(lines[0])
    event["version"] = 2
    lines[0] = json.dumps(event)
    (run_dir / JOURNAL_FILE).write_text("\n".join(lines) + "\n")
    with pytest.raises(RunError, match="faults.jsonl:1: this journal is version 2; this chaoslab reads version 1"):
        recover(run_dir)


def test_a_policy_change_tells_a_key_left_alone_from_a_key_set_to_null() -> None:
    """A rollback sets ``breaker`` to null (the baseline has none); a change of the timeout leaves it alone."""
    change = CallPolicy(timeout_s=0.2, breaker=None)
    assert change.json() == {"timeout_s": 0.2, "breaker": None}
    assert from_json(CallPolicy, {"breaker": None}) == CallPolicy(breaker=None) != CallPolicy()
    assert CallPolicy(timeout_s=1.0, fallback=True).update(CallPolicy(timeout_s=None)) == CallPolicy(
        timeout_s=None, fallback=True)
    with pytest.raises(CodecError, match=r"retries.jitter: 'sometimes' is not one of 'none', 'full', 'equal'"):
        from_json(CallPolicy, {"retries": {"max": 1, "jitter": "sometimes"}})
