"""The work of one Locust process: open-loop arrivals (or closed-loop users), entry requests with retries,
per-second records.

Imports gevent: only the Locust process, already monkey-patched, may import this module.

Open loop. Locust's users are closed loops (a user waits for its answer before its next
request), so a slow system would slow the load down, which is the opposite of what a
game day must show. Here a Locust user is only an arrival *dispatcher*: for each
entrypoint it draws Poisson arrival times at its share of the entrypoint's rate and, at
each, spawns a greenlet that carries out one entry request (attempts, backoff, retries)
while the dispatcher moves on. The rate therefore never depends on latency; only the
in-flight cap (``max_in_flight``) or a process too busy to keep its timers can make
the load fall short, and both are counted (``dropped``, ``late``).

Closed loop (``plan.users``): when the experiment's load is a number of users, each is a
greenlet that thinks, sends one entry request, waits for its end, and thinks again, as a
Locust user does; a slow system is then sent less, by design.

Each attempt goes to one replica of the entrypoint's target, picked as the emulator's
callers pick one (:class:`~chaos.live.in_container.emulator.balancer.Balancer`: the target's
``load_balancing`` over this process's own in-flight attempts, a replica whose
connection broke skipped for a second): the load generator is the entry service's caller.

:class:`Generator` sends requests and counts them (standalone and worker processes);
:class:`Aggregator` merges the workers' records on the master; :class:`LineWriter`
writes JSON lines to the parent; :func:`watch_control` reads the parent's commands.
"""

from __future__ import annotations

import bisect
import enum
import json
import logging
import os
import random
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import gevent.lock
import gevent.os
import gevent.pool
from gevent import GreenletExit

from chaos.core.retry import RetryBudget, backoff_delay
from chaos.live.in_container.emulator.balancer import Balancer
from chaos.live.in_container.emulator.servicetime import sampler
from chaos.live.load import client
from chaos.live.load.answers import AnswerKind, Result
from chaos.live.load.metrics import CLIENT_ERROR, OK, LoadMetrics
from chaos.live.load.plan import LoadPlan, UsersPlan, arrival_rng, arrivals
from chaos.live.load.tally import Merger, Tally

log = logging.getLogger("chaoslab.load")

END_GRACE_S = 10.0  # after duration + drain, a process quits whatever is still going on
STALE_S = 5.0  # the master writes a second without a silent worker's part this long after it ended
PARENT_GONE_EXIT_S = 5.0  # with the parent gone, the process exits at the latest this much later
_FINISH_POLL_S = 0.05


class StopReason(enum.Enum):
    FINISHED = "finished"  # the plan's duration (and drain) is over
    STOPPED = "stopped"  # the parent asked it to stop
    CAPPED = "capped"  # max_requests was reached
    PARENT_GONE = "parent_gone"  # the parent's end of the control pipe closed
    DEADLINE = "deadline"  # END_GRACE_S after the planned end, something still ran


class Generator:
    """Arrivals and entry requests of one load process, counted by second into a :class:`Tally`.

    ``deliver(records, report)`` receives the records of every second as it closes,
    and ``report`` (the process's state: closed seconds, totals, finished) with them.
    """

    def __init__(self, plan: LoadPlan, users_total: int,
                 deliver: Callable[[list[dict[str, Any]], dict[str, Any]], None],
                 ready: Callable[[], None]) -> None:
        self.plan = plan
        self.users_total = users_total
        self.deliver = deliver
        self.ready = ready  # a dispatcher is waiting for the start time
        self.tally = Tally((e.name for e in plan.entrypoints), plan.bounds,
                           [[r.name for r in e.requests] for e in plan.entrypoints])
        # The same events, cumulative, for Prometheus (served only where the plan says: serve_metrics)
        self.metrics = LoadMetrics.of(plan.bounds, [(e.name, e.service or e.name,
                                                     [(r.name, r.method) for r in e.requests])
                                                    for e in plan.entrypoints])
        self.targets = [[client.Target(url, e.requests, e.cancel_on_timeout) for url in e.urls]
                        for e in plan.entrypoints]
        # Each entry request is one kind, drawn by weight (a Locust task mix), from its own seeded stream.
        self.kind_weights = [_cumulative([r.weight for r in e.requests]) for e in plan.entrypoints]
        self.kind_rngs = [random.Random() for _ in plan.entrypoints]
        # One random stream per entrypoint for random balancing, seeded in begin() like the jitter.
        self.balance_rngs = [random.Random() for _ in plan.entrypoints]
        self.balancers = [Balancer(len(t), e.load_balancing, rng.random)
                          for t, e, rng in zip(self.targets, plan.entrypoints, self.balance_rngs, strict=True)]
        self.curves = [e.curve() for e in plan.entrypoints]
        self.budgets = [RetryBudget() for _ in plan.entrypoints]
        self.in_flight = [0 for _ in plan.entrypoints]
        self.inflight = gevent.pool.Group()
        self.started = gevent.event.Event()
        self.finished = gevent.event.Event()
        self.finishing = False
        self.wake = gevent.event.Event()  # set when the dispatchers must stop at once
        self.nudge = gevent.event.Event()  # wakes the closer early (a stop)
        self.t0 = 0.0  # time.monotonic() of second 0 (CLOCK_MONOTONIC: one clock for every process here)
        self.index = 0
        self._processes = 1
        self.cap = plan.max_requests
        self.sent = 0
        self.users = 0
        self.end_s = plan.duration_s  # no arrival at or after this
        self.drain_s = plan.drain_s
        self.reason = StopReason.FINISHED
        self.noted: set[str] = set()
        self.notes: list[str] = []  # warnings not reported yet
        self.jitter = random.Random()

    # ------------------------------------------------------------------ life

    def begin(self, t0: float, index: int, processes: int) -> None:
        """Start the clock: second 0 begins at ``t0`` (monotonic); this is process ``index`` of ``processes``."""
        if self.started.is_set():
            return
        self.t0, self.index, self._processes = t0, index, processes
        # The request cap is shared out exactly: together the processes never exceed it.
        self.cap = self.plan.max_requests // processes + (1 if index < self.plan.max_requests % processes else 0)
        if self.plan.seed is not None:
            self.jitter = random.Random(f"{self.plan.seed}/{index}/jitter")
            for i, rng in enumerate(self.balance_rngs):
                rng.seed(f"{self.plan.seed}/{index}/balance/{i}")
            for i, rng in enumerate(self.kind_rngs):
                rng.seed(f"{self.plan.seed}/{index}/kind/{i}")
        self.started.set()
        gevent.spawn(self._closer)

    def stop(self, reason: StopReason, drain: bool) -> None:
        """No more arrivals; requests in flight may finish within the drain time only if ``drain``."""
        if self.finished.is_set():
            return
        if self.reason is StopReason.FINISHED:
            self.reason = reason
        if not self.started.is_set():
            self.finished.set()
            self.deliver([], self.report())
            return
        self.end_s = min(self.end_s, self.now())
        if not drain:
            self.drain_s = 0.0
        self.wake.set()
        self.nudge.set()

    def abort(self, reason: StopReason) -> None:
        """Stop now and hand out everything at once: requests in flight count as unfinished.

        For Locust's own shutdown (SIGTERM, the master's quit), which does not wait for
        the closer to notice a stop.
        """
        self.stop(reason, drain=False)
        if self.started.is_set():
            self._finish()
            self.finished.wait(timeout=5.0)  # if the closer was already finishing, let it hand out all

    def now(self) -> float:
        return time.monotonic() - self.t0

    def report(self) -> dict[str, Any]:
        """This process's state for the parent or the master; hands out the warnings noted since the last one."""
        notes, self.notes = self.notes, []
        return {"closed": self.tally.closed_until, "finished": self.finished.is_set(),
                "totals": self.tally.totals_wire(), "capped": self.reason is StopReason.CAPPED,
                "reason": self.reason.value, "warnings": notes}

    # ------------------------------------------------------------------ dispatch

    def run_user(self) -> None:
        """A Locust user's whole life: one dispatcher per entrypoint, until the arrivals end."""
        ordinal = self.users
        self.users += 1
        self.ready()
        if not self.started.wait(timeout=60.0):
            log.error("the load never started (no start time from the master within 60 s)")
            return
        seed = self.plan.seed
        if self.plan.users is not None:
            self._run_users(self.plan.users)
            return
        dispatchers = [gevent.spawn(self._dispatch, i, arrival_rng(seed, self.index, ordinal, i))
                       for i in range(len(self.curves))]
        try:
            gevent.joinall(dispatchers)
        finally:
            gevent.killall(dispatchers)

    def _run_users(self, users: UsersPlan) -> None:
        """A closed loop: this process's share of the users, each in a greenlet of the in-flight group
        (so the end of the run counts a request it still waits for as unfinished)."""
        count = users.for_process(self.index, max(1, self._processes))
        shares = _cumulative([e.share for e in self.plan.entrypoints])
        for n in range(count):
            rng = random.Random(None if self.plan.seed is None else f"{self.plan.seed}/{self.index}/user/{n}")
            self.inflight.spawn(self._user, sampler(users.think, rng), rng, shares)
        while not self.finished.is_set() and self.now() < self.end_s:
            self.wake.wait(max(0.001, self.end_s - self.now()))

    def _user(self, think: Callable[[], float], rng: random.Random, shares: list[float]) -> None:
        """One user: think, send one entry request, wait for its end (answer, failure, timeout), again."""
        while True:
            pause = think()
            if self.now() + pause >= self.end_s:
                return  # its next request would come after the arrivals end
            if pause > 0 and self.wake.wait(pause):
                return  # stopped
            if self.sent >= self.cap:
                self.stop(StopReason.CAPPED, drain=True)
                return
            self.sent += 1
            i = min(bisect.bisect_right(shares, rng.random() * shares[-1]), len(shares) - 1)
            self._request(i, 0.0)

    def _dispatch(self, i: int, rng: random.Random) -> None:
        for t in arrivals(self.curves[i], 1.0 / self.users_total, rng):
            if t >= self.end_s:
                return
            wait = self.t0 + t - time.monotonic()
            # Below a millisecond a timer costs more than it buys; yield so requests can start.
            if wait > 0.001:
                if self.wake.wait(wait) and t >= self.end_s:
                    return
            else:
                gevent.sleep(0)
            if self.sent >= self.cap:
                self.stop(StopReason.CAPPED, drain=True)
                return
            if len(self.inflight) >= self.plan.max_in_flight:
                self.tally.dropped(i, self.now())
                self._note(f"more than {self.plan.max_in_flight} requests in flight: arrivals dropped")
                continue
            self.sent += 1
            self.inflight.spawn(self._request, i, max(0.0, time.monotonic() - self.t0 - t))

    # ------------------------------------------------------------------ requests

    def _request(self, i: int, lag_s: float) -> None:
        start = time.monotonic()
        kind = self._kind(i)
        self.tally.started(i, start - self.t0, lag_s, kind)
        self.metrics.request_started(i, kind)
        self.in_flight[i] += 1
        try:
            self._attempts(i, kind, start)
        except GreenletExit:
            self.tally.unfinished(i, self.now(), kind)
            self.metrics.request_cut(i)
            raise
        except Exception as exc:  # a bug here must not look like the system failing
            self.tally.client_error(i, self.now(), kind)
            self.metrics.request_ended(i, kind, CLIENT_ERROR, time.monotonic() - start)
            self._note(f"entry request failed inside the load generator: {exc!r}")
            log.exception("entry request failed inside the load generator")
        finally:
            self.in_flight[i] -= 1

    def _kind(self, i: int) -> int:
        weights = self.kind_weights[i]
        if len(weights) == 1:
            return 0
        return bisect.bisect_right(weights, self.kind_rngs[i].random() * weights[-1])

    def _attempts(self, i: int, kind: int, start: float) -> None:
        entry = self.plan.entrypoints[i]
        policy, budget = entry.retries, self.budgets[i]
        budget.deposit(policy.budget)
        retry = 0
        while True:
            sent = time.monotonic()
            self.tally.attempt(i, sent - self.t0, retry > 0)
            self.metrics.attempt_sent(i, retry > 0)
            result = self._send(i, kind, entry.timeout_s)
            end = time.monotonic()
            if result.outcome is AnswerKind.OK:
                self.tally.attempt_ok(i, end - self.t0, end - sent)
                self.tally.ok(i, end - self.t0, end - start, kind)
                self.metrics.attempt_ended(i, kind, None, end - sent)
                self.metrics.request_ended(i, kind, OK, end - start)
                return
            if result.outcome is AnswerKind.CLIENT_ERROR:  # our failure, not the system's: in neither view's errors
                self.tally.client_error(i, end - self.t0, kind, result.status)
                self.metrics.request_ended(i, kind, CLIENT_ERROR, end - start)
                request = entry.requests[kind]
                named = f" (request '{request.name}')" if len(entry.requests) > 1 else ""
                self._note(f"entrypoint {entry.name}: client error {result.detail} on {request.method} "
                           f"{request.target or 'the URL'}{named}")
                return
            cause = result.cause or "dependency"
            self.tally.attempt_failed(i, end - self.t0, cause)
            self.metrics.attempt_ended(i, kind, cause, end - sent)
            if retry >= policy.max or not budget.try_spend(policy.budget):
                self.tally.failed(i, end - self.t0, cause, kind)
                self.metrics.request_ended(i, kind, cause, end - start)
                return
            retry += 1
            delay = backoff_delay(retry, policy.base_s, policy.cap_s, policy.jitter, self.jitter.random)
            if delay > 0:
                gevent.sleep(delay)

    def _send(self, i: int, kind: int, timeout_s: float | None) -> Result:
        """One attempt, to the replica the balancer picks; a broken connection holds that replica back."""
        balancer = self.balancers[i]
        replica = balancer.pick(time.monotonic())
        balancer.started(replica)
        try:
            result = client.attempt(self.targets[i][replica], kind, timeout_s)
        finally:
            balancer.finished(replica)
        if result.broken:
            balancer.connection_failed(replica, time.monotonic())
        return result

    def _note(self, message: str) -> None:
        """Warn once per message: in the Locust log and, with the next report, to the parent."""
        if message not in self.noted:
            self.noted.add(message)
            self.notes.append(message)
            log.warning(message)

    # ------------------------------------------------------------------ seconds

    def _closer(self) -> None:
        """Closes each second as it ends, and finishes the process when its work is done."""
        while True:
            now = self.now()
            if self._done(now):
                self._finish()
                return
            second = int(now)
            if second > self.tally.closed_until:
                self.deliver(self.tally.close(second, self.in_flight), self.report())
            wait = self.tally.closed_until + 1 - now
            if now >= self.end_s:
                wait = min(wait, _FINISH_POLL_S)
            self.nudge.wait(max(wait, 0.001))
            self.nudge.clear()

    def _done(self, now: float) -> bool:
        if now < self.end_s:
            return False
        return not self.inflight or now >= self.end_s + self.drain_s

    def _finish(self) -> None:
        if self.finishing:
            return
        self.finishing = True
        self.inflight.kill(block=True, timeout=2.0)  # each counts itself unfinished
        for targets in self.targets:
            for target in targets:
                target.close()
        self.finished.set()  # before the last report, which must say so; nothing can be counted any more
        self.deliver(self.tally.close(int(self.now()) + 1, self.in_flight), self.report())

    def deadline(self) -> float:
        """Monotonic time by which this process must be gone, whatever still runs."""
        return self.t0 + self.plan.duration_s + self.plan.drain_s + END_GRACE_S


class Aggregator:
    """The master's part: merges the workers' records and writes them, in order, to the parent."""

    def __init__(self, plan: LoadPlan, workers: int, writer: LineWriter) -> None:
        self.plan = plan
        self.writer = writer
        self.merger = Merger((e.name for e in plan.entrypoints), workers, STALE_S)
        self.t0 = 0.0
        self.started = False
        self.stop_at: float | None = None
        self.reason = StopReason.FINISHED

    def begin(self, t0: float) -> None:
        self.t0 = t0
        self.started = True
        gevent.spawn(self._loop)

    def add(self, worker: str, report: dict[str, Any]) -> None:
        self.merger.add(worker, report)

    def stop(self, reason: StopReason) -> None:
        if self.stop_at is None:
            self.stop_at = time.monotonic()
            self.reason = reason

    def done(self) -> bool:
        now = time.monotonic()
        if not self.started:
            return self.stop_at is not None
        if self.merger.finished:
            return True
        if self.stop_at is not None and now > self.stop_at + STALE_S:
            return True  # a worker did not answer the stop: do not wait for it any longer
        return now > self.t0 + self.plan.duration_s + self.plan.drain_s + END_GRACE_S

    def _loop(self) -> None:
        while not self.done():
            self._write()
            gevent.sleep(0.2)
        self._write()

    def _write(self, force: bool = False) -> None:
        records = self.merger.ready(time.monotonic() - self.t0, force)
        self.writer.write(records + warning_lines(self.merger.take_warnings()))

    def final(self) -> None:
        """Everything not written yet (marked incomplete if a worker's part is missing), then the end line."""
        self._write(force=True)
        reason = self.reason
        if reason is StopReason.FINISHED and self.merger.capped:
            reason = StopReason.CAPPED
        elif reason is StopReason.FINISHED and not self.merger.finished:
            reason = StopReason.DEADLINE
        self.writer.write([{"type": "end", "reason": reason.value, "totals": self.merger.totals_wire(),
                            "capped": self.merger.capped, "stragglers": self.merger.stragglers,
                            "workers_reported": len(self.merger.closed)}])


def _cumulative(weights: list[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


def serve_metrics(listen: str, metrics: LoadMetrics) -> Any:
    """Serve ``metrics`` at ``GET /metrics`` on ``listen`` (``HOST:PORT``), started now; returns the server.

    The address is the one the generated stack planned (``chaos.live.stack.emulator_stack``): the host's
    address on Docker's default bridge, which the stack's Prometheus reaches and no other machine does.
    Raises OSError if it cannot listen there."""
    from gevent.pywsgi import WSGIServer

    from chaos.live.in_container.exposition import CONTENT_TYPE

    host, _, port = listen.rpartition(":")

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"only /metrics here\n"]
        body = metrics.render()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
        return [body]

    server = WSGIServer((host.strip("[]"), int(port)), app, log=None, error_log=None)
    server.start()
    return server


def warning_lines(messages: list[str]) -> list[dict[str, Any]]:
    return [{"type": "warning", "message": m} for m in messages]


class LineWriter:
    """JSON lines to the parent over a pipe; a parent that went away only stops the writing."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.broken = False
        self.lock = gevent.lock.Semaphore()  # a full pipe makes a write yield: lines must not interleave
        gevent.os.make_nonblocking(fd)

    def write(self, objects: list[dict[str, Any]]) -> None:
        if not objects or self.broken:
            return
        data = "".join(json.dumps(o, separators=(",", ":")) + "\n" for o in objects).encode()
        with self.lock:
            try:
                while data:
                    data = data[gevent.os.nb_write(self.fd, data):]
            except BrokenPipeError:
                self.broken = True


def watch_control(fd: int, on_stop: Callable[[], None], on_parent_gone: Callable[[], None]) -> None:
    """Reads the parent's commands (``stop``) until the pipe closes, which means the parent is gone.

    The parent holds the only write end, so its death, even by SIGKILL, closes the pipe:
    this is how the Locust processes never outlive it.
    """
    gevent.os.make_nonblocking(fd)
    pending = b""
    while True:
        data = gevent.os.nb_read(fd, 4096)
        if not data:
            on_parent_gone()
            gevent.spawn_later(PARENT_GONE_EXIT_S, os._exit, 3)
            return
        pending += data
        *lines, pending = pending.split(b"\n")
        if any(line.strip() == b"stop" for line in lines):
            on_stop()
