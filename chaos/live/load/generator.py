"""Runs a :class:`LoadPlan` in Locust processes and streams their per-second records back.

Nothing here imports Locust or gevent: Locust runs as ``python -m locust -f
chaos/live/load/locustfile.py`` in a process group of its own (one standalone process,
or a master and N workers on loopback). Two pipes per process connect it to us:

    stats pipe     Locust (standalone or master) -> us: JSON lines (started, second, warning, end),
                   read by a thread as they come
    control pipe   us -> every Locust process: "stop"; its closing (our death, even by
                   SIGKILL) makes them stop and exit on their own

A load always ends: after the plan's duration and drain, or on :meth:`stop`, or at the
latest when our side of the pipes closes. Whatever is still alive when we stop it is
sent SIGTERM, then SIGKILL, as a whole process group.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.errors import LiveError
from chaos.extras import LOCUST, check
from chaos.live.load.plan import LoadPlan
from chaos.live.load.records import Counts, LoadStart, LoadSummary, SecondStats
from chaos.live_states import LoadStop

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
END_GRACE_S = 10.0  # the Locust side's own limit after duration + drain (chaos.live.load.process)
TERM_WAIT_S = 3.0  # after SIGTERM, how long the group has before SIGKILL
LOG_TAIL_LINES = 15
# The last line of a Python traceback: "FileNotFoundError: ...", "locust.exception.StopUser", ...
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)(: .*)?$")


@dataclass
class _Proc:
    role: str
    popen: subprocess.Popen[bytes]
    control: int  # our write end of its control pipe (-1 once closed)
    log: Path


class LoadGenerator:
    """The load of one run. Use as a context manager, or call :meth:`stop` (it is safe to call twice)::

        with LoadGenerator(plan, workdir) as load:
            start = load.wait_started()
            while (new := load.poll(timeout_s=1.0)) or load.running:
                ...                       # SecondStats as they arrive
            summary = load.wait()
    """

    def __init__(self, plan: LoadPlan, workdir: str | Path, *, workers: int = 0, python: str | None = None,
                 startup_timeout_s: float = 30.0) -> None:
        if workers < 0:
            raise LiveError(f"load workers must be 0 (one process) or more, got {workers}")
        self.plan = plan
        # Absolute: the Locust processes run with this as their working directory, and a path
        # relative to ours would not name the same file from there.
        self.workdir = Path(workdir).absolute()
        self.workers = workers
        self.python = python or sys.executable
        self.startup_timeout_s = startup_timeout_s
        self._procs: list[_Proc] = []
        self._cond = threading.Condition()
        self._start: LoadStart | None = None
        self._records: dict[tuple[str, int], SecondStats] = {}
        self._stream: list[SecondStats] = []
        self._cursor = 0
        self._end: dict[str, Any] | None = None
        self._warnings: list[str] = []
        self._eof = False
        self._reader: threading.Thread | None = None
        self._summary: LoadSummary | None = None
        self._finalizer: weakref.finalize | None = None
        self._spawned_at = 0.0  # time.monotonic() when the processes were started

    # ------------------------------------------------------------------ life

    @property
    def processes(self) -> int:
        """Load processes (a master sends no load)."""
        return max(1, self.workers)

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(p.popen.pid for p in self._procs)

    @property
    def pgid(self) -> int | None:
        """The Locust processes' process group (the first process's pid)."""
        return self._procs[0].popen.pid if self._procs else None

    @property
    def running(self) -> bool:
        return any(p.popen.poll() is None for p in self._procs)

    def __enter__(self) -> LoadGenerator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the Locust processes; returns at once (see :meth:`wait_started`)."""
        if self._procs:
            raise LiveError("this load generator was already started; make a new one for another run")
        check(LOCUST)  # asked, not imported: Locust patches the standard library when imported
        self.workdir.mkdir(parents=True, exist_ok=True)
        run_file = self.workdir / "load-run.json"
        run_file.write_text(json.dumps({"plan": self.plan.to_json(), "processes": self.processes}), "utf-8")
        stats_r, stats_w = os.pipe()
        self._spawned_at = time.monotonic()
        try:
            self._spawn_all(run_file, stats_w)
        except BaseException:
            os.close(stats_r)
            _cleanup(self._procs)
            raise
        finally:
            os.close(stats_w)  # only the Locust side holds it now: its exit is our EOF
        self._finalizer = weakref.finalize(self, _cleanup, list(self._procs))
        self._reader = threading.Thread(target=self._read, args=(stats_r,), name="load-stats", daemon=True)
        self._reader.start()

    def _spawn_all(self, run_file: Path, stats_w: int) -> None:
        base = [self.python, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
                "--loglevel", "INFO"]
        if self.workers == 0:
            self._spawn("standalone", base, run_file, stats_w, group=None)
            return
        port = _free_port()
        self._spawn("master", base + ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port",
                                      str(port), "--expect-workers", str(self.workers),
                                      "--expect-workers-max-wait", str(int(self.startup_timeout_s))],
                    run_file, stats_w, group=None)
        for n in range(1, self.workers + 1):
            self._spawn(f"worker-{n}", base + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                        run_file, None, group=self.pgid)

    def _spawn(self, role: str, cmd: list[str], run_file: Path, stats_w: int | None, group: int | None) -> None:
        control_r, control_w = os.pipe()
        env = dict(os.environ, PYTHONUNBUFFERED="1", CHAOSLAB_LOAD_RUN=str(run_file),
                   CHAOSLAB_LOAD_CONTROL_FD=str(control_r))
        fds = [control_r]
        if stats_w is not None:
            env["CHAOSLAB_LOAD_STATS_FD"] = str(stats_w)
            fds.append(stats_w)
        log = self.workdir / f"locust-{role}.log"
        try:
            with open(log, "wb") as out:
                # The first process leads a new process group and the others join it, so one
                # killpg reaches every Locust process and none of ours. (A new session would
                # not do: a process can only join a group of its own session.)
                popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         env=env, pass_fds=fds, cwd=self.workdir,
                                         process_group=0 if group is None else group)
        except BaseException:
            os.close(control_w)
            raise
        finally:
            os.close(control_r)
        self._procs.append(_Proc(role, popen, control_w, log))

    def wait_started(self, timeout_s: float | None = None) -> LoadStart:
        """Block until second 0 is fixed; raises LiveError (after cleaning up) if Locust does not get there."""
        self._require_started()
        began = time.monotonic()
        limit = self.startup_timeout_s if timeout_s is None else timeout_s
        with self._cond:
            while self._start is None and not self._eof and time.monotonic() - began < limit:
                self._cond.wait(timeout=0.1)
            start, eof = self._start, self._eof
        if start is not None:
            return start
        elapsed = time.monotonic() - self._spawned_at
        exited = eof or not self.running
        # Before second 0 nothing was counted, so there is nothing to hand over: no grace for a
        # stop the process may never read (it may not even be Locust yet), straight to SIGTERM.
        self.stop(timeout_s=0.0)
        tail = self._log_tail()  # after the stop: the exit codes are known and the logs complete
        # The stats pipe closes when the Locust side exits: that, not the clock, ended the wait.
        why = f"exited {elapsed:.1f} s after it was started" if exited else f"did not start within {elapsed:.0f} s"
        cause = self._cause()
        raise LiveError(f"the Locust load generator {why}, before the load began"
                        f"{': ' + cause if cause else ''}\n{tail}",
                        hint=f"its logs are in {self.workdir}")

    # ------------------------------------------------------------------ records

    def poll(self, timeout_s: float = 0.0) -> list[SecondStats]:
        """Records that arrived since the last poll, waiting up to ``timeout_s`` for at least one."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._cursor == len(self._stream) and not self._eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(timeout=left)
            out = self._stream[self._cursor:]
            self._cursor = len(self._stream)
        return out

    def record(self, entrypoint: str, second: int) -> SecondStats | None:
        with self._cond:
            return self._records.get((entrypoint, second))

    def records(self) -> dict[tuple[str, int], SecondStats]:
        """Every record so far, keyed by (entrypoint, second since the load started)."""
        with self._cond:
            return dict(self._records)

    def series(self, entrypoint: str) -> list[SecondStats]:
        """One entrypoint's records so far, by second."""
        with self._cond:
            return sorted((r for (e, _), r in self._records.items() if e == entrypoint), key=lambda r: r.second)

    @property
    def warnings(self) -> tuple[str, ...]:
        with self._cond:
            return tuple(self._warnings)

    # ------------------------------------------------------------------ end

    def wait(self, timeout_s: float | None = None) -> LoadSummary:
        """Block until the load ends by itself (duration and drain over), then return its summary.

        The default timeout is the planned end plus the Locust side's own grace: past it,
        the processes are stopped and LiveError says so.
        """
        self._require_started()
        if timeout_s is None:
            start = self._start
            begin = start.t0_monotonic if start is not None else time.monotonic()
            timeout_s = max(0.0, begin - time.monotonic()) + self.plan.duration_s + self.plan.drain_s \
                + END_GRACE_S + 5.0
        deadline = time.monotonic() + timeout_s
        for proc in self._procs:
            try:
                proc.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stop()
                raise LiveError(f"the load generator was still running {timeout_s:.0f} s later; it was stopped",
                                hint=f"its logs are in {self.workdir}") from None
        summary = self._finish()
        if self._end is None:
            raise LiveError(f"the Locust load generator ended without its end report "
                            f"(exit codes {summary.exit_codes}):\n{self._log_tail()}",
                            hint=f"its logs are in {self.workdir}")
        return summary

    def stop(self, timeout_s: float = 10.0) -> LoadSummary:
        """Stop the load now (requests in flight count as unfinished); then SIGTERM, then SIGKILL, if need be."""
        if self._summary is not None:
            return self._summary
        for proc in sorted(self._procs, key=lambda p: p.role == "master"):  # workers first
            _send(proc, b"stop\n")
        deadline = time.monotonic() + timeout_s
        for proc in self._procs:
            try:
                proc.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                break
        self._kill_group()
        return self._finish()

    def _require_started(self) -> None:
        if not self._procs:
            raise LiveError("the load generator was not started", hint="call start() first, or use it in a with block")

    def _kill_group(self) -> None:
        _terminate(self._procs)

    def _finish(self) -> LoadSummary:
        for proc in self._procs:
            _close_control(proc)
        if self._reader is not None:
            self._reader.join(timeout=5.0)
        if self._finalizer is not None:
            self._finalizer.detach()
        self._summary = self._summarize()
        return self._summary

    def _summarize(self) -> LoadSummary:
        codes = tuple(p.popen.poll() for p in self._procs)
        with self._cond:
            end, warnings = self._end, tuple(self._warnings)
            records = list(self._records.values())
        if end is None:
            return LoadSummary(LoadStop.KILLED, _sum_records(records), warnings=warnings, exit_codes=codes)
        totals = {name: Counts.from_wire(raw) for name, raw in end["totals"].items()}
        kinds = {name: {kind: Counts.from_wire(c) for kind, c in raw.get("kinds", {}).items()}
                 for name, raw in end["totals"].items()}
        return LoadSummary(LoadStop(end["reason"]), totals, kinds, capped=bool(end["capped"]),
                           stragglers=int(end["stragglers"]), warnings=warnings, exit_codes=codes)

    # ------------------------------------------------------------------ the stats pipe

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as stream:
            for line in stream:
                self._take(line)
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _take(self, line: bytes) -> None:
        try:
            raw = json.loads(line)
            kind = raw["type"]
            with self._cond:
                if kind == "second":
                    rec = SecondStats.from_wire(raw)
                    self._records[(rec.entrypoint, rec.second)] = rec
                    self._stream.append(rec)
                elif kind == "started":
                    self._start = LoadStart(float(raw["t0_monotonic"]), float(raw["t0_wall"]),
                                            int(raw["processes"]))
                elif kind == "end":
                    self._end = raw
                else:
                    self._warnings.append(str(raw.get("message", raw)))
                self._cond.notify_all()
        except (ValueError, KeyError, TypeError) as exc:
            with self._cond:
                self._warnings.append(f"unreadable line from the Locust side ({exc}): {line[:200]!r}")

    def _cause(self) -> str:
        """The last exception a Locust process logged (``SomeError: what``), if any: the reason it stopped."""
        found = ""
        for proc in self._procs:
            try:
                lines = proc.log.read_text("utf-8", "replace").splitlines()
            except OSError:
                continue
            for line in lines:
                if _EXCEPTION_LINE.match(line):
                    found = line.strip()
        return found

    def _log_tail(self) -> str:
        parts = []
        for proc in self._procs:
            try:
                lines = proc.log.read_text("utf-8", "replace").splitlines()[-LOG_TAIL_LINES:]
            except OSError:
                lines = ["(no log)"]
            parts.append(f"--- {proc.role} (exit code {proc.popen.poll()}) ---\n" + "\n".join(lines))
        return "\n".join(parts)


def _sum_records(records: list[SecondStats]) -> Mapping[str, Counts]:
    """Totals rebuilt from the records, when the Locust side never sent its own."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        t = out.setdefault(r.entrypoint, {"errors": {}, "hist": {}, "attempt_errors": {}, "attempt_hist": {}})
        for name in ("requests", "attempts", "retries", "ok", "client_errors", "unfinished", "attempt_ok",
                     "late", "dropped"):
            t[name] = t.get(name, 0) + getattr(r, name)
        for name in ("errors", "attempt_errors"):
            for cause, n in getattr(r, name).items():
                t[name][cause.value] = t[name].get(cause.value, 0) + n
        statuses = t.setdefault("client_statuses", {})
        for status, n in r.client_statuses.items():
            statuses[status] = statuses.get(status, 0) + n
        for name in ("hist", "attempt_hist"):
            for idx, n in getattr(r, name).items():
                t[name][idx] = t[name].get(idx, 0) + n
        t["max_lag_s"] = max(t.get("max_lag_s", 0.0), r.max_lag_s)
    return {name: Counts.from_wire(raw) for name, raw in out.items()}


def _send(proc: _Proc, data: bytes) -> None:
    if proc.control < 0 or proc.popen.poll() is not None:
        return
    try:
        os.write(proc.control, data)
    except (BrokenPipeError, OSError):
        pass  # it is exiting already; the group kill below covers it


def _close_control(proc: _Proc) -> None:
    if proc.control >= 0:
        os.close(proc.control)
        proc.control = -1


def _terminate(procs: list[_Proc]) -> None:
    """SIGTERM then SIGKILL to the Locust process group, while any of our processes in it is alive.

    While one of them lives the group exists, and Linux never reuses an id still in use
    as a group id: the signal cannot reach anybody else's processes.
    """
    if not procs or all(p.popen.poll() is not None for p in procs):
        return
    group = procs[0].popen.pid
    _killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + TERM_WAIT_S
    for p in procs:
        try:
            p.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            break
    if any(p.popen.poll() is None for p in procs):
        _killpg(group, signal.SIGKILL)
        for p in procs:
            p.popen.wait(timeout=5.0)


def _killpg(group: int, sig: signal.Signals) -> None:
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        pass


def _cleanup(procs: list[_Proc]) -> None:
    """At our exit or when the generator is collected without stop(): close the pipes, end the group."""
    for proc in procs:
        _close_control(proc)
    _terminate(procs)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

