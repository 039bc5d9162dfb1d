"""The fault journal: every fault written down before it is applied, and again once reverted.

One JSON object per line in ``RUN_DIR/faults.jsonl``, each line flushed and fsynced before
the harness goes on, so what the file says survives the harness being killed with SIGKILL,
the machine losing power, or a driver hanging::

    {"event": "run", "run_id": "3f9c0a1b", "pid": 4242, "version": 1, "experiment": "db-slow", ...}
    {"event": "intent", "run_id": ..., "id": "f1", "handle": {...}, "t_s": 60.0}    before anything is changed
    {"event": "applied", "run_id": ..., "id": "f1", "handle": {...}, "t_s": 60.02}  the fault is in effect
    {"event": "failed", "run_id": ..., "id": "f1", "error": "..."}                  inject failed part way
    {"event": "reverted", "run_id": ..., "id": "f1", "t_s": 180.0, "by": "runner"}  undone
    {"event": "revert_failed", "run_id": ..., "id": "f1", "error": "..."}           still applied: act now

(every line also has ``wall``, the UTC time it was written). A handle is written and read by
``chaos.live.faults.actions`` (:func:`~chaos.live.faults.actions.handle_to_json`), in the shape it
has had since version 1; a run line without ``version`` is version 1. A journal of a later
version is refused with an error rather than half understood.

A fault is *open* (possibly still applied) from its ``intent`` until its ``reverted``;
``chaoslab recover`` reverts every open fault with the last handle written for it. The
runner holds an exclusive lock on the file while it runs, so ``recover`` never races a live
run; the kernel drops the lock when the process dies, however it dies.
"""

from __future__ import annotations

import datetime as dt
import enum
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from chaos.errors import RunError
from chaos.live.faults.actions import Handle, handle_from_json, handle_to_json
from chaos.live.faults.codec import CodecError

JOURNAL_FILE = "faults.jsonl"
VERSION = 1  # of the lines and handles this module writes


class Event(enum.Enum):
    RUN = "run"
    INTENT = "intent"
    APPLIED = "applied"
    FAILED = "failed"
    REVERTED = "reverted"
    REVERT_FAILED = "revert_failed"


@dataclass(frozen=True)
class OpenFault:
    """A fault the journal shows as possibly still applied."""

    id: str
    handle: Handle
    applied: bool  # False: only its intent was written (the harness died while injecting)
    run_id: str

    @property
    def label(self) -> str:
        return self.handle.label


class Journal:
    """Appends events to one run's journal; holds the run's lock until closed."""

    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / JOURNAL_FILE
        self.run_id = ""
        self._file: IO[str] | None = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            self._file = None
            raise RunError(f"{self.path} is locked: another chaoslab process is running this run",
                           hint=f"wait for it to finish; if it is gone, {_holder(self.path)}") from None
        _fsync_dir(run_dir)

    def write(self, event: Event, **fields: Any) -> None:
        if self._file is None:
            raise RunError(f"the journal {self.path} is closed")  # a bug in the caller
        fields.setdefault("run_id", self.run_id)
        line = json.dumps({"event": event.value, "wall": _now(), **fields}, default=str)
        self._file.write(line + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def run(self, run_id: str, **meta: Any) -> None:
        self.run_id = run_id
        self.write(Event.RUN, pid=os.getpid(), version=VERSION, **meta)

    def intent(self, handle: Handle, t_s: float | None) -> None:
        self.write(Event.INTENT, id=handle.id, t_s=t_s, handle=handle_to_json(handle))

    def applied(self, handle: Handle, t_s: float | None) -> None:
        self.write(Event.APPLIED, id=handle.id, t_s=t_s, handle=handle_to_json(handle))

    def failed(self, fault_id: str, error: str) -> None:
        self.write(Event.FAILED, id=fault_id, error=error)

    def reverted(self, fault_id: str, t_s: float | None, by: str, run_id: str | None = None) -> None:
        self.write(Event.REVERTED, id=fault_id, t_s=t_s, by=by, run_id=run_id or self.run_id)

    def revert_failed(self, fault_id: str, error: str, run_id: str | None = None) -> None:
        self.write(Event.REVERT_FAILED, id=fault_id, error=error, run_id=run_id or self.run_id)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the lock
            self._file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class NullJournal(Journal):
    """Writes nothing (dry runs)."""

    def __init__(self) -> None:  # noqa: D107 - no file, no lock
        self.path = Path(os.devnull)
        self.run_id = ""
        self._file = None

    def write(self, event: Event, **fields: Any) -> None:
        return


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every complete event; a last line cut short by a kill mid-write is ignored."""
    return [event for _, event in _numbered(path)]


def _numbered(path: Path) -> list[tuple[int, dict[str, Any]]]:
    events = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    for number, line in enumerate(lines, 1):
        try:
            event = json.loads(line)
        except ValueError:
            if number == len(lines):
                break
            raise RunError(f"{path}:{number}: the journal is damaged (not JSON)",
                           hint="undo the faults it lists by hand; see the lines around it") from None
        if not isinstance(event, dict):
            raise RunError(f"{path}:{number}: the journal is damaged (not a JSON object)",
                           hint="undo the faults it lists by hand; see the lines around it")
        events.append((number, event))
    return events


def open_faults(path: Path) -> list[OpenFault]:
    """Faults of the journal at ``path`` with an intent and no revert, in the order they were applied.

    Raises RunError naming the line of a handle that cannot be read, or of a run written by a
    later version of the journal."""
    current: dict[tuple[str, str], OpenFault] = {}
    for number, event in _numbered(path):
        kind = event.get("event")
        key = (str(event.get("run_id", "")), str(event.get("id")))
        version = event.get("version", 1)
        if kind == Event.RUN.value and version != VERSION:
            raise RunError(f"{path}:{number}: this journal is version {version!r}; this chaoslab reads "
                           f"version {VERSION}", hint="recover with the chaoslab that ran it, or undo its faults "
                                                     "by hand")
        if kind in (Event.INTENT.value, Event.APPLIED.value):
            try:
                handle = handle_from_json(event.get("handle"))
            except CodecError as exc:
                raise RunError(f"{path}:{number}: fault {key[1]}: the journal's handle cannot be read: {exc}",
                               hint="undo the fault by hand; the line shows what was done") from None
            current.pop(key, None)  # re-inserted: keeps the order of the latest write
            current[key] = OpenFault(key[1], handle, kind == Event.APPLIED.value, key[0])
        elif kind == Event.REVERTED.value:
            current.pop(key, None)
    return list(current.values())


def iter_open(run_dir: Path) -> Iterator[OpenFault]:
    yield from open_faults(run_dir / JOURNAL_FILE)


def _holder(path: Path) -> str:
    runs = [e for e in read_events(path) if e.get("event") == Event.RUN.value]
    pid = runs[-1].get("pid") if runs else None
    return f"kill pid {pid} and run chaoslab recover again" if pid else "run chaoslab recover again"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _fsync_dir(directory: Path) -> None:
    # The file's directory entry must be durable too, or a crash can lose the whole file.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
