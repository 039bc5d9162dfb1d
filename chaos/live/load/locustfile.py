"""Locust's side of chaoslab's load generator: run only as ``locust -f`` by :mod:`chaos.live.load.generator`.

Importing Locust monkey-patches the standard library with gevent, so this file is
never imported by chaoslab's own process: the parent starts Locust on it, in its own
process group, and talks to it through two pipes and one JSON file (environment
variables ``CHAOSLAB_LOAD_RUN``, ``CHAOSLAB_LOAD_STATS_FD``, ``CHAOSLAB_LOAD_CONTROL_FD``).

Three roles, from Locust's runner:

    standalone  sends the load and writes its per-second records to the parent
    worker      sends its share of the load; its records go to the master as custom messages
    master      sends no load; merges the workers' records and writes them to the parent

:class:`PlanShape` is the plan as Locust's LoadTestShape: one dispatcher user per load
process for as long as the plan runs, then the end of the test. The arrival rate
itself is not a user count: the dispatchers follow each entrypoint's rate curve.
"""

from __future__ import annotations

import gc
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import gevent
import locust.runners
from locust import LoadTestShape, User, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from chaos.live.load.plan import LoadPlan
from chaos.live.load.process import (
    Aggregator,
    Generator,
    LineWriter,
    StopReason,
    serve_metrics,
    warning_lines,
    watch_control,
)

RUN_ENV = "CHAOSLAB_LOAD_RUN"
STATS_FD_ENV = "CHAOSLAB_LOAD_STATS_FD"
CONTROL_FD_ENV = "CHAOSLAB_LOAD_CONTROL_FD"
# Second 0 is fixed once every dispatcher is ready, this much later: in distributed mode
# the start time must reach every worker before it comes.
START_LEAD_S = 0.05
START_LEAD_MASTER_S = 0.3
# A tick watches for the end of the load this long of Locust's one-second tick interval, every END_POLL_S.
END_WATCH_S = 0.9
END_POLL_S = 0.05
READY_MESSAGE = "chaoslab_ready"
T0_MESSAGE = "chaoslab_t0"
REPORT_MESSAGE = "chaoslab_report"

# Workers report to the master every WORKER_REPORT_INTERVAL seconds (3 by default); our own
# records travel as custom messages the moment a second closes, and the final report of a
# stopping worker rides on Locust's last stats report, so keep it at one second.
locust.runners.WORKER_REPORT_INTERVAL = 1.0


@dataclass
class Side:
    """This process's part, kept on the Locust Environment for the shape, the users and the listeners."""

    plan: LoadPlan
    processes: int
    generator: Generator | None = None  # standalone and workers
    aggregator: Aggregator | None = None  # master
    writer: LineWriter | None = None  # standalone and master

    def done(self) -> bool:
        if self.aggregator is not None:
            return self.aggregator.done()
        gen = self.generator
        assert gen is not None
        return gen.finished.is_set() or (gen.started.is_set() and time.monotonic() > gen.deadline())


def side_of(environment: Environment) -> Side:
    return environment.chaoslab  # type: ignore[attr-defined, no-any-return]


class PlanShape(LoadTestShape):
    """One dispatcher per load process until the plan is done; then None, which ends a headless test.

    Locust asks the shape once a second. Once the dispatchers are out, a tick watches for the
    end itself for most of that second (it runs in the shape's own greenlet, so waiting blocks
    nothing else), and the process ends within ``END_POLL_S`` of its work instead of up to a
    second after it: about half a second off every load run, many times over in a test suite.
    """

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        side = side_of(self.runner.environment)
        until = time.monotonic() + END_WATCH_S if self.runner.user_count else 0.0  # the first tick starts them
        while not side.done():
            if time.monotonic() >= until:
                return side.processes, float(side.processes) * 10.0
            gevent.sleep(END_POLL_S)
        return None


class Dispatcher(User):
    """Not a simulated user: draws the arrivals of every entrypoint at its share of the rate."""

    @task
    def dispatch(self) -> None:
        gen = side_of(self.environment).generator
        assert gen is not None
        gen.run_user()
        gen.finished.wait(timeout=gen.plan.duration_s + gen.plan.drain_s + 60.0)
        raise StopUser()


@events.init.add_listener
def on_init(environment: Environment, **_: Any) -> None:
    with open(os.environ[RUN_ENV], encoding="utf-8") as f:
        run = json.load(f)
    plan = LoadPlan.from_json(run["plan"], os.environ[RUN_ENV])
    side = Side(plan=plan, processes=int(run["processes"]))
    environment.chaoslab = side  # type: ignore[attr-defined]
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        _init_master(environment, side)
    elif isinstance(runner, WorkerRunner):
        _init_worker(environment, side)
    else:
        _init_standalone(environment, side)
    _watch_parent(side)
    # Locust and its imports leave a large heap; a full garbage collection walking it stalls
    # the event loop for tens of milliseconds, which delays arrivals. Freezing the startup
    # heap keeps the collector to what the load itself allocates.
    gc.collect()
    gc.freeze()


def _init_standalone(environment: Environment, side: Side) -> None:
    writer = side.writer = LineWriter(int(os.environ[STATS_FD_ENV]))

    def ready() -> None:
        t0 = time.monotonic() + START_LEAD_S
        _started(writer, t0, "standalone", side.processes)
        gen.begin(t0, 0, 1)

    def deliver(records: list[dict[str, Any]], report: dict[str, Any]) -> None:
        writer.write(records + warning_lines(report["warnings"]))

    gen = side.generator = Generator(side.plan, side.processes, deliver, ready)
    if side.plan.metrics_listen is not None:  # before second 0: the stack's Prometheus sees every count from zero
        serve_metrics(side.plan.metrics_listen, gen.metrics)

    ended = False

    @environment.events.quitting.add_listener
    def quitting(**_: Any) -> None:
        nonlocal ended
        if ended:
            # Locust quits again on a SIGTERM that comes while we linger (the parent's stop gave up waiting):
            # the end line is out and nobody waits for another scrape, so no second end line and no second
            # linger, which would only hold the process until its SIGKILL.
            return
        ended = True
        gen.abort(StopReason.STOPPED)  # after a normal end: nothing; after a SIGTERM: count what is in flight
        writer.write(warning_lines(gen.report()["warnings"]))
        writer.write([{"type": "end", "reason": gen.reason.value, "totals": gen.tally.totals_wire(),
                       "capped": gen.reason is StopReason.CAPPED, "stragglers": 0, "workers_reported": 1}])
        if side.plan.metrics_listen is not None:
            gevent.sleep(side.plan.metrics_linger_s)  # the final counts reach one more scrape


def _init_worker(environment: Environment, side: Side) -> None:
    runner = environment.runner
    assert isinstance(runner, WorkerRunner)
    unsent: list[dict[str, Any]] = []

    def deliver(records: list[dict[str, Any]], report: dict[str, Any]) -> None:
        try:
            runner.send_message(REPORT_MESSAGE, {**report, "records": unsent + records})
            unsent.clear()
        except Exception:  # the master is not reachable right now: the next report carries them
            unsent.extend(records)

    gen = side.generator = Generator(side.plan, side.processes, deliver,
                                     lambda: runner.send_message(READY_MESSAGE, {}))

    def on_t0(msg: Any, **_: Any) -> None:
        gen.begin(float(msg.data["t0"]), int(runner.worker_index), side.processes)

    runner.register_message(T0_MESSAGE, on_t0)

    @environment.events.test_stop.add_listener
    def stopped(**_: Any) -> None:
        # The master ended the test: hand everything over before Locust's last report.
        gen.abort(StopReason.STOPPED)

    @environment.events.quitting.add_listener
    def quitting(**_: Any) -> None:
        # A worker does get Locust's own SIGTERM handler, which quits at once: our last
        # records must reach the master before the worker's quit message does.
        gen.abort(StopReason.STOPPED)

    @environment.events.report_to_master.add_listener
    def report(data: dict[str, Any], **_: Any) -> None:
        data["chaoslab"] = {**gen.report(), "records": list(unsent)}
        unsent.clear()


def _init_master(environment: Environment, side: Side) -> None:
    runner = environment.runner
    assert isinstance(runner, MasterRunner)
    writer = side.writer = LineWriter(int(os.environ[STATS_FD_ENV]))
    agg = side.aggregator = Aggregator(side.plan, side.processes, writer)

    def on_report(msg: Any, **_: Any) -> None:
        agg.add(str(msg.node_id), msg.data)

    ready: list[str] = []

    def on_ready(msg: Any, **_: Any) -> None:
        # Every dispatcher (one per worker, as Locust shares the users out) exists: fix second 0, tell the workers.
        ready.append(str(msg.node_id))
        if len(ready) >= side.processes and not agg.started:
            t0 = time.monotonic() + START_LEAD_MASTER_S
            runner.send_message(T0_MESSAGE, {"t0": t0})
            _started(writer, t0, "master", side.processes)
            agg.begin(t0)

    runner.register_message(REPORT_MESSAGE, on_report)
    runner.register_message(READY_MESSAGE, on_ready)

    @environment.events.worker_report.add_listener
    def worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
        if "chaoslab" in data:
            agg.add(str(client_id), data["chaoslab"])

    @environment.events.quitting.add_listener
    def quitting(**_: Any) -> None:
        agg.final()


def _started(writer: LineWriter, t0: float, role: str, processes: int) -> None:
    # CLOCK_MONOTONIC is one clock for every process of this machine: the parent uses t0 as is.
    writer.write([{"type": "started", "t0_monotonic": t0, "t0_wall": time.time() + (t0 - time.monotonic()),
                   "role": role, "processes": processes}])


def _watch_parent(side: Side) -> None:
    import signal

    def stop(reason: StopReason) -> None:
        if side.generator is not None:
            side.generator.stop(reason, drain=False)
        if side.aggregator is not None:
            side.aggregator.stop(reason)

    gevent.spawn(watch_control, int(os.environ[CONTROL_FD_ENV]),
                 lambda: stop(StopReason.STOPPED), lambda: stop(StopReason.PARENT_GONE))
    # Headless Locust installs its own SIGTERM handler only after a shape test has ended, so
    # until then SIGTERM would kill a standalone or master process outright and lose the last
    # seconds. Treat it as a stop: the load ends, the last records and the end line go out,
    # and the process exits. (A worker gets Locust's handler, which replaces this one: its
    # quitting listener hands the counts over.)
    gevent.signal_handler(signal.SIGTERM, stop, StopReason.STOPPED)
